"""Pinned piq values of the classical metrics under piq's other arguments: GMSD's ``t``;
MS-GMSD's ``chromatic`` (MS-GMSDc), ``scale_weights``, ``alpha``, ``beta1``–``beta3`` and
``t``; MDSI's ``combination="mult"`` and its constants; HaarPSI's ``subsample=False``;
VSI's constants; SR-SIM's saliency settings; DSS's; FSIM's phase congruency settings;
IW-SSIM's window, constants, parent flag, block, noise and scale weights.

Run in the reference environment (references/reference-env.sh), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_piq_option_values.py

On five golden colour pairs (astronaut: blur, noise, jpeg, hue; coffee: noise) and
two of the generated pairs of make_piq_values.py (tests/data/piq_pairs/: one gray, one of
odd size), piq's functions on float64 tensors in [0, 255] with data_range=255, x = test,
y = reference.  Writes tests/data/piq_option_values.json with piq's version.
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
DATA = ROOT / "tests" / "data"
PAIRS = [("golden/images/astronaut.png", f"golden/images/astronaut__{kind}.png")
         for kind in ("blur", "noise", "jpeg", "hue")] + [
    ("golden/images/coffee.png", "golden/images/coffee__noise.png"),
    ("piq_pairs/noise_97x131x1_ref.png", "piq_pairs/noise_97x131x1_test.png"),
    ("piq_pairs/shift_257x193x3_ref.png", "piq_pairs/shift_257x193x3_test.png")]
# (function, arguments): JSON-able, as the tests pass them
CASES = [
    ("gmsd", {"t": 0.01}),
    ("multi_scale_gmsd", {"chromatic": True}),
    ("multi_scale_gmsd", {"chromatic": True, "alpha": 0.3, "beta1": 0.05, "beta2": 0.5,
                          "beta3": 10.0, "t": 100.0}),
    ("multi_scale_gmsd", {"scale_weights": [1.0, 2.0, 3.0]}),
    ("mdsi", {"combination": "mult"}),
    ("mdsi", {"combination": "mult", "beta": 0.2, "gamma": 0.3}),
    ("mdsi", {"c1": 100.0, "c2": 40.0, "c3": 500.0, "alpha": 0.5, "rho": 2.0, "q": 0.3,
              "o": 0.2}),
    ("haarpsi", {"subsample": False}),
    ("haarpsi", {"subsample": False, "c": 20.0, "alpha": 3.0}),
    ("vsi", {"c1": 2.0, "c2": 300.0, "c3": 100.0, "alpha": 0.5, "beta": 0.05}),
    ("vsi", {"omega_0": 0.03, "sigma_f": 1.2, "sigma_d": 120.0, "sigma_c": 0.002}),
    ("srsim", {"scale": 0.5, "kernel_size": 5, "sigma": 3.0, "gaussian_size": 9}),
    ("srsim", {"kernel_size": 4, "gaussian_size": 8}),
    ("dss", {"dct_size": 4, "sigma_weight": 1.2, "percentile": 0.1}),
    ("dss", {"kernel_size": 5, "sigma_similarity": 2.0}),
    ("dss", {"kernel_size": 4}),
    ("fsim", {"scales": 3, "orientations": 6}),
    ("fsim", {"min_length": 4, "mult": 3, "sigma_f": 0.65, "delta_theta": 1.5, "k": 3.0}),
    ("fsim", {"chromatic": False, "scales": 5, "k": 1.0}),
    ("information_weighted_ssim", {"kernel_size": 7, "kernel_sigma": 1.0, "k1": 0.02,
                                   "k2": 0.05}),
    ("information_weighted_ssim", {"parent": False, "sigma_nsq": 0.8}),
    ("information_weighted_ssim", {"blk_size": 5}),
    ("information_weighted_ssim", {"blk_size": 1, "kernel_size": 9}),
    ("information_weighted_ssim", {"scale_weights": [1.0, 2.0, 3.0]}),
]
# IW-SSIM's smallest side: (kernel_size − 1) · 2^(levels − 1) + 1 (piq raises below it)
IW_SSIM = "information_weighted_ssim"


def too_small(function: str, arguments: dict, x: torch.Tensor) -> bool:
    if function != IW_SSIM:
        return False
    levels = len(arguments.get("scale_weights", [0] * 5))
    return min(x.shape[-2:]) < (arguments.get("kernel_size", 11) - 1) * 2 ** (levels - 1) + 1


def tensor(path: Path) -> torch.Tensor:
    pixels = np.asarray(Image.open(path), dtype=np.float64)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return torch.from_numpy(pixels).permute(2, 0, 1)[None]


def main() -> None:
    warnings.simplefilter("ignore")  # piq's MDSI warns that gray images are made RGB
    values = []
    for reference, test in PAIRS:
        x, y = tensor(DATA / test), tensor(DATA / reference)
        for function, arguments in CASES:
            if (arguments.get("chromatic") or function == "fsim" and "chromatic" not in
                    arguments) and x.shape[1] != 3:
                continue  # piq asserts: MS-GMSDc and FSIMc (fsim's default) need colour
            if too_small(function, arguments, x):
                continue
            given = dict(arguments)
            if "scale_weights" in given:
                given["scale_weights"] = torch.tensor(given["scale_weights"],
                                                      dtype=torch.float64)
            value = getattr(piq, function)(x, y, data_range=255.0, reduction="none", **given)
            values.append({"reference": reference, "test": test, "function": function,
                           "arguments": arguments, "value": float(value[0])})
    document = {"reference": f"piq {version('piq')} gmsd / multi_scale_gmsd / mdsi / "
                             "haarpsi / vsi / srsim / dss / fsim / information_weighted_ssim "
                             "with the arguments given, on "
                             "float64 tensors in [0, 255], data_range=255, x = test, y = reference",
                "values": values}
    (DATA / "piq_option_values.json").write_text(json.dumps(document, indent=1) + "\n")
    print(f"{len(values)} values written")


if __name__ == "__main__":
    main()
