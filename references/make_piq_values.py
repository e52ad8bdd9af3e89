"""Pinned piq values for likeness's classical full-reference metrics (GMSD, MS-GMSD,
VIFp, MDSI, HaarPSI, FSIM, FSIMc, SR-SIM, VSI, DSS, IW-SSIM).

Run in the reference environment (references/reference-env.sh), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_piq_values.py

On the golden colour pairs and on generated pairs of 384, 640 and 1024 px and odd sizes
(gray and colour, several distortions; written to tests/data/piq_pairs/), piq's functions
on float64 tensors in [0, 255] with data_range=255.  Writes tests/data/piq_values.json
with piq's version.  A metric the pair is outside the domain of (FSIMc of gray images,
IW-SSIM below 161 px) is recorded as null.
"""

from __future__ import annotations

import json
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import piq
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"
OUT = ROOT / "tests" / "data"


def _smooth(rng: np.random.Generator, height: int, width: int, channels: int) -> np.ndarray:
    small = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2, channels)).astype(np.uint8)
    mode = "RGB" if channels == 3 else "L"
    image = Image.fromarray(small.squeeze(), mode).resize((width, height), Image.BICUBIC)
    pixels = np.asarray(image, dtype=np.float64).reshape(height, width, channels)
    return np.clip(pixels + rng.normal(0, 6, pixels.shape), 0, 255).astype(np.uint8)


def generated() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(14)
    cases = []
    for height, width, channels, kind in ((384, 384, 3, "noise"), (640, 480, 3, "blur"),
                                          (1024, 1024, 3, "jpeg"), (97, 131, 1, "noise"),
                                          (257, 193, 3, "shift"), (385, 641, 1, "blur")):
        base = _smooth(rng, height, width, channels)
        if kind == "noise":
            test = np.clip(base + rng.normal(0, 15, base.shape), 0, 255).astype(np.uint8)
        elif kind == "blur":
            mode = "RGB" if channels == 3 else "L"
            blurred = Image.fromarray(base.squeeze(), mode).resize(
                (width // 2, height // 2), Image.BILINEAR).resize((width, height),
                                                                   Image.BILINEAR)
            test = np.asarray(blurred).reshape(base.shape)
        elif kind == "shift":
            test = np.roll(base, 3, axis=0)
        else:
            path = OUT / "piq_pairs" / "tmp.jpg"
            Image.fromarray(base).save(path, quality=30)
            test = np.asarray(Image.open(path).convert("RGB"))
            path.unlink()
        cases.append((f"{kind}_{height}x{width}x{channels}", base, test))
    return cases


def tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.astype(np.float64)).permute(2, 0, 1)[None]


def main() -> None:
    warnings.simplefilter("ignore")  # piq's MDSI warns that gray images are made RGB
    expected = json.loads((GOLDEN / "expected.json").read_text())
    (OUT / "piq_pairs").mkdir(parents=True, exist_ok=True)
    pairs = []
    for pair in expected["pairs"]:
        a = Image.open(GOLDEN / "images" / pair["reference"])
        b = Image.open(GOLDEN / "images" / pair["test"])
        if a.mode != "RGB" or b.mode != "RGB" or a.size != b.size:
            continue
        pairs.append((pair["reference"], pair["test"], np.asarray(a), np.asarray(b)))
    for name, base, test in generated():
        for suffix, pixels in (("ref", base), ("test", test)):
            Image.fromarray(pixels.squeeze()).save(OUT / "piq_pairs" / f"{name}_{suffix}.png")
        pairs.append((f"piq_pairs/{name}_ref.png", f"piq_pairs/{name}_test.png", base, test))
    values = []
    for reference, test, a, b in pairs:
        a3 = a if a.ndim == 3 else a[..., None]
        b3 = b if b.ndim == 3 else b[..., None]
        x, y = tensor(b3), tensor(a3)  # piq's (x: distorted, y: reference) order
        values.append({
            "reference": reference, "test": test,
            "gmsd": float(piq.gmsd(x, y, data_range=255.0, reduction="none")[0]),
            "ms_gmsd": float(piq.multi_scale_gmsd(x, y, data_range=255.0,
                                                  reduction="none")[0]),
            "vif_p": float(piq.vif_p(x, y, data_range=255.0, reduction="none")[0]),
            "mdsi": float(piq.mdsi(x, y, data_range=255.0, reduction="none")[0]),
            "haarpsi": float(piq.haarpsi(x, y, data_range=255.0, reduction="none")[0]),
            "fsim": float(piq.fsim(x, y, data_range=255.0, chromatic=False,
                                   reduction="none")[0]),
            "fsimc": (float(piq.fsim(x, y, data_range=255.0, reduction="none")[0])
                      if x.shape[1] == 3 else None),
            "sr_sim": float(piq.srsim(x, y, data_range=255.0, reduction="none")[0]),
            "vsi": float(piq.vsi(x, y, data_range=255.0, reduction="none")[0]),
            "dss": float(piq.dss(x, y, data_range=255.0, reduction="none")[0]),
            "iw_ssim": (float(piq.information_weighted_ssim(x, y, data_range=255.0,
                                                            reduction="none")[0])
                        if min(x.shape[-2:]) >= 161 else None),
        })
    document = {"reference": f"piq {version('piq')} gmsd / multi_scale_gmsd / vif_p / mdsi / "
                             "haarpsi / fsim / srsim / vsi / dss / information_weighted_ssim "
                             "on float64 tensors in [0, 255], data_range=255, "
                             "x = test, y = reference",
                "pairs": values}
    (OUT / "piq_values.json").write_text(json.dumps(document, indent=1) + "\n")
    print(f"{len(values)} pairs written")


if __name__ == "__main__":
    main()
