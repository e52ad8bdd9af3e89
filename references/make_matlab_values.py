"""Reference values for likeness's `matlab` restoration convention, from pyiqa.

Run in the reference environment (references/reference-env.sh), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_matlab_values.py

MATLAB itself is not available here.  For each pair (the golden colour pairs, the generated
pairs of tests/data/piq_pairs and a generated 768×800 pair) and crop borders 0 and 4:

- ``pyiqa_ssim``: pyiqa's ``SSIM(test_y_channel=True, color_space='ycbcr',
  downsample=False, crop_border=c)`` (its ``ssim`` metric with Y as MATLAB's rgb2ycbcr) on
  [0, 1] tensors: Y rounded to integers, 11×11 gaussian (``fspecial``, float32), 'valid',
  no downsampling, negative contrast-structure values clipped to 0.
- ``pyiqa_ssim_downsample``: the same with ``downsample=True`` (average pooling by
  f = max(1, round(min/256)) with Python's round).
- ``ssim_m``: Wang's ``ssim.m`` emulated in torch: Y as MATLAB's ``rgb2ycbcr`` computes it
  for uint8 (``imlincomb``: T/255 · R, G, B summed in that order, + 16, rounded half away
  from zero), MATLAB's f (halves up), the f×f box with symmetric borders centred as
  ``imfilter`` centres it, every f-th pixel, the 11×11 gaussian in float64, 'valid', no
  clipping.
- ``psnr_y``: PSNR of that Y, range 255.
- ``y_pixels_unlike_pyiqa``: pixels whose Y differs from pyiqa's (``to_y_channel(x, 255,
  'ycbcr')`` rounds halves to even, so exact halves such as 125.5 go down).
- ``min_cs``: the smallest contrast-structure value of the undownsampled map (below 0,
  pyiqa's clipping changes its value).

Writes tests/data/matlab_values.json with pyiqa's version.
"""

from __future__ import annotations

import json
import math
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pyiqa.archs.ssim_arch import SSIM
from pyiqa.utils.color_util import to_y_channel

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"
DATA = ROOT / "tests" / "data"


def _window() -> torch.Tensor:
    half = torch.arange(11, dtype=torch.float64) - 5
    grid = torch.exp(-(half[:, None] ** 2 + half[None, :] ** 2) / (2 * 1.5**2))
    return (grid / grid.sum()).view(1, 1, 11, 11)


def _matlab_box(y: torch.Tensor, f: int) -> torch.Tensor:
    centre = (f + 1) // 2
    before, after = centre - 1, f - centre
    # symmetric padding (the edge repeated), as imfilter's 'symmetric'
    rows = torch.cat([y[..., :before, :].flip(-2), y, y[..., y.shape[-2] - after:, :].flip(-2)],
                     dim=-2)
    padded = torch.cat([rows[..., :before].flip(-1), rows,
                        rows[..., rows.shape[-1] - after:].flip(-1)], dim=-1)
    boxed = F.avg_pool2d(padded, kernel_size=f, stride=1)
    return boxed[..., ::f, ::f]


def _ssim_m(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    f = max(1, math.floor(min(x.shape[-2:]) / 256 + 0.5))
    window = _window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def maps(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu1, mu2 = F.conv2d(a, window), F.conv2d(b, window)
        s1 = F.conv2d(a * a, window) - mu1**2
        s2 = F.conv2d(b * b, window) - mu2**2
        s12 = F.conv2d(a * b, window) - mu1 * mu2
        cs = (2 * s12 + c2) / (s1 + s2 + c2)
        return ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1)
                                                          * (s1 + s2 + c2)), cs

    _, cs = maps(x, y)
    if f > 1:
        x, y = _matlab_box(x, f), _matlab_box(y, f)
    ssim_map, _ = maps(x, y)
    return float(ssim_map.mean()), float(cs.min())


def _matlab_y(x: torch.Tensor) -> torch.Tensor:
    rgb = torch.round(x * 255)
    y = (65.481 / 255) * rgb[:, :1] + (128.553 / 255) * rgb[:, 1:2] + (24.966 / 255) * rgb[:, 2:]
    return torch.floor(y + 16 + 0.5)


def _unit(path: Path) -> torch.Tensor:
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64) / 255
    return torch.from_numpy(pixels).permute(2, 0, 1)[None]


def _pairs() -> list[tuple[str, str, Path, Path]]:
    expected = json.loads((GOLDEN / "expected.json").read_text())
    pairs = []
    for pair in expected["pairs"]:
        a, b = GOLDEN / "images" / pair["reference"], GOLDEN / "images" / pair["test"]
        with Image.open(a) as first, Image.open(b) as second:
            if first.mode == second.mode == "RGB" and first.size == second.size:
                pairs.append((pair["reference"], pair["test"], a, b))
    for path in sorted((DATA / "piq_pairs").glob("*x3_ref.png")):
        test = path.with_name(path.name.replace("_ref", "_test"))
        pairs.append((f"piq_pairs/{path.name}", f"piq_pairs/{test.name}", path, test))
    rng = np.random.default_rng(768)
    small = rng.integers(0, 256, (102, 98, 3)).astype(np.uint8)
    base = np.asarray(Image.fromarray(small).resize((800, 768), Image.BICUBIC))
    test = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)
    folder = DATA / "matlab_pairs"
    folder.mkdir(exist_ok=True)
    Image.fromarray(base).save(folder / "noise_768x800_ref.png")
    Image.fromarray(test).save(folder / "noise_768x800_test.png")
    pairs.append(("matlab_pairs/noise_768x800_ref.png", "matlab_pairs/noise_768x800_test.png",
                  folder / "noise_768x800_ref.png", folder / "noise_768x800_test.png"))
    return pairs


def main() -> None:
    values = []
    for reference_name, test_name, reference, test in _pairs():
        x, y = _unit(test), _unit(reference)
        for crop in (0, 4):
            record = {"reference": reference_name, "test": test_name, "crop_border": crop}
            for key, downsample in (("pyiqa_ssim", False), ("pyiqa_ssim_downsample", True)):
                metric = SSIM(test_y_channel=True, color_space="ycbcr", downsample=downsample,
                              crop_border=crop)
                record[key] = float(metric(x, y))
            cx = x[..., crop:x.shape[-2] - crop, crop:x.shape[-1] - crop]
            cy = y[..., crop:y.shape[-2] - crop, crop:y.shape[-1] - crop]
            yx, yy = _matlab_y(cx), _matlab_y(cy)
            record["y_pixels_unlike_pyiqa"] = int(
                (yx != to_y_channel(cx, 255, "ycbcr")).sum()
                + (yy != to_y_channel(cy, 255, "ycbcr")).sum())
            record["ssim_m"], record["min_cs"] = _ssim_m(yx, yy)
            mse = float(torch.mean((yx - yy) ** 2))
            record["psnr_y"] = 10 * math.log10(255**2 / mse)
            values.append(record)
    document = {"reference": f"pyiqa {version('pyiqa')} SSIM (ycbcr) and an emulation of "
                             "ssim.m from its pieces; see references/make_matlab_values.py",
                "pairs": values}
    (DATA / "matlab_values.json").write_text(json.dumps(document, indent=1) + "\n")
    print(f"{len(values)} records written")


if __name__ == "__main__":
    main()
