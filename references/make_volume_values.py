"""Pinned SSIM and MS-SSIM of 5-D volumes (N, C, T, H, W) from pytorch-msssim, and SSIM of
volumes from scikit-image (its n-dimensional windows).

Run in the reference environment (references/reference-env.sh), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_volume_values.py

Volumes: numpy ``default_rng(5)`` uniform in [0, 1], the test volume with gaussian noise
(σ = 0.1) clipped to [0, 1], float64.  Writes tests/data/volume_values.json.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytorch_msssim
import torch
from skimage.metrics import structural_similarity

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "volume_values.json"
SHAPES = {"ssim": [(2, 3, 16, 40, 44), (1, 2, 5, 40, 44)], "ms_ssim": [(1, 1, 168, 170, 172)]}


def volumes(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.random(shape)
    return x, np.clip(x + rng.normal(0, 0.1, shape), 0, 1)


def main() -> None:
    records = []
    for metric, shapes in SHAPES.items():
        for shape in shapes:
            x, y = volumes(shape)
            tx, ty = torch.from_numpy(x), torch.from_numpy(y)
            function = pytorch_msssim.ssim if metric == "ssim" else pytorch_msssim.ms_ssim
            record = {"metric": metric, "shape": list(shape),
                      "pytorch_msssim": function(tx, ty, data_range=1.0,
                                                 size_average=False).tolist()}
            if metric == "ssim" and min(shape[2:]) >= 7:
                record["skimage"] = [float(structural_similarity(x[i], y[i], channel_axis=0,
                                                                 data_range=1.0))
                                     for i in range(shape[0])]
            records.append(record)
    OUT.write_text(json.dumps({"reference": f"pytorch-msssim {version('pytorch_msssim')} "
                                            f"ssim / ms_ssim (size_average=False); "
                                            f"scikit-image {version('scikit-image')} "
                                            "structural_similarity(channel_axis=0, "
                                            "data_range=1) per volume",
                               "volumes": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()
