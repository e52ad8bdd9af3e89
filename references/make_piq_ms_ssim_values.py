"""Pinned values of piq's MS-SSIM (``piq.multi_scale_ssim``) and torchmetrics'
(``multiscale_structural_similarity_index_measure``) for likeness's
``ms_ssim(convention="piq" | "torchmetrics")`` / ``--ms-ssim-convention``.

Run in the reference environment (references/reference-env.sh), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_piq_ms_ssim_values.py

On the pairs of tests/data/piq_values.json (the golden colour pairs and the generated pairs
of tests/data/piq_pairs, odd sizes included) and the MATLAB pairs of
tests/data/matlab_pairs: piq's function on float64 tensors in [0, 255] with
data_range=255, x the test image and y the reference (piq's order; torchmetrics' preds
and target), torchmetrics with its defaults and ``reduction="none"``.  Pairs smaller than
161 px a side (piq's minimum for 5 scales) are left out; torchmetrics' value is null below
its own minimum (176 px).  Writes tests/data/piq_ms_ssim_values.json with both versions.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import piq
import torch
from PIL import Image
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
GOLDEN = DATA / "golden" / "images"


def _path(name: str) -> Path:
    for folder in (DATA, GOLDEN, DATA / "matlab_pairs"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(name)


def _tensor(name: str) -> torch.Tensor:
    with Image.open(_path(name)) as image:
        pixels = torch.from_numpy(np.array(image)).to(torch.float64)
    return pixels[None, None] if pixels.ndim == 2 else pixels.permute(2, 0, 1)[None]


def main() -> None:
    pinned = json.loads((DATA / "piq_values.json").read_text())
    pairs = [(p["reference"], p["test"]) for p in pinned["pairs"]]
    pairs += [("goldhill.gif", "goldhill_jpeg.gif"), ("I01.BMP", "i01_01_5.bmp")]
    records = []
    for reference, test in pairs:
        y, x = _tensor(reference), _tensor(test)
        if min(x.shape[-2:]) < 161:
            continue
        value = piq.multi_scale_ssim(x, y, data_range=255, reduction="none")
        theirs = None
        if min(x.shape[-2:]) >= 176:
            theirs = float(multiscale_structural_similarity_index_measure(
                x, y, data_range=255.0, reduction="none")[0])
        records.append({"reference": reference, "test": test, "ms_ssim": float(value[0]),
                        "torchmetrics_ms_ssim": theirs})
    document = {"reference": f"piq {version('piq')}, torchmetrics {version('torchmetrics')}, "
                             f"torch {torch.__version__}, float64",
                "pairs": records}
    (DATA / "piq_ms_ssim_values.json").write_text(json.dumps(document, indent=1) + "\n")
    print(f"{len(records)} pairs written")


if __name__ == "__main__":
    main()
