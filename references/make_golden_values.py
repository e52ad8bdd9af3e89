"""The golden set's reference values (tests/data/golden/expected.json), recomputed from its
committed images and arrays with the reference implementations themselves.

Run in the reference environment (references/reference-env.sh), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_golden_values.py          # check
    /tmp/likeness-reference/bin/python references/make_golden_values.py --write  # rewrite

The images (tests/data/golden/images, arrays/ and style/) are scikit-image's public-domain
and CC0 sample photographs and their stand-in distortions (tests/data/golden/README.md).
This script recomputes, with each reference named in the README and its version recorded
in ``references`` of expected.json: every pair's SSIM variants, PSNR and MSE
(scikit-image), MS-SSIM (pytorch-msssim), LPIPS for the three nets (lpips v0.1 with the
seeded stand-in backbones of ``weights.py``), the small gray pair's SSIM with its gradient
and full map, the 3-D and 16-bit SSIM and PSNR, the FID features (pytorch-fid's
InceptionV3 with the seeded stand-in) and FIDs, and KID's unbiased MMD² on the two arrays.
Without ``--write`` it reports each value's difference from the committed one and exits 1
when one is beyond its tolerance (1e-9 relative for the pixel metrics, 1e-5 for the
networks, which compute in float32).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from PIL import Image

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "data" / "golden"
PIXEL_TOLERANCE, NETWORK_TOLERANCE = 1e-9, 1e-5


def _rgb(name: str) -> np.ndarray:
    with Image.open(GOLDEN / "images" / name) as image:
        return np.array(image.convert("RGB"))


def _luma(name: str) -> np.ndarray:
    with Image.open(GOLDEN / "images" / name) as image:
        return np.array(image.convert("L"))


def _weights_module():
    spec = importlib.util.spec_from_file_location("golden_weights", GOLDEN / "weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pixel_values(pair: dict) -> dict:
    """scikit-image's and pytorch-msssim's values of one pair."""
    import pytorch_msssim
    import torch
    from skimage.metrics import (
        mean_squared_error,
        peak_signal_noise_ratio,
        structural_similarity,
    )

    a, b = _rgb(pair["reference"]), _rgb(pair["test"])
    values = {"ssim": {
        "default": structural_similarity(a, b, channel_axis=-1, data_range=255),
        "gaussian": structural_similarity(a, b, channel_axis=-1, data_range=255,
                                          gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False),
        "win11": structural_similarity(a, b, channel_axis=-1, data_range=255, win_size=11),
        "k": structural_similarity(a, b, channel_axis=-1, data_range=255, K1=0.02, K2=0.05),
        "gray": structural_similarity(_luma(pair["reference"]), _luma(pair["test"]),
                                      data_range=255),
        "float": structural_similarity(a / 255.0, b / 255.0, channel_axis=-1,
                                       data_range=1.0)},
        "psnr": peak_signal_noise_ratio(a, b, data_range=255),
        "mse": mean_squared_error(a, b)}
    if min(a.shape[:2]) > 160:
        def batch(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(x.astype(np.float64)).permute(2, 0, 1)[None]

        values["ms_ssim"] = float(pytorch_msssim.ms_ssim(batch(a), batch(b), data_range=255))
    return {k: ({n: float(v) for n, v in value.items()} if isinstance(value, dict)
                else float(value)) for k, value in values.items()}


def lpips_values(pair: dict, networks: dict) -> dict:
    import torch

    def unit(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]

    a, b = unit(_rgb(pair["reference"])), unit(_rgb(pair["test"]))
    with torch.no_grad():
        return {net: float(model(a, b)) for net, model in networks.items()}


def lpips_networks(seed: int) -> dict:
    import lpips
    import torch

    weights = _weights_module()
    networks = {}
    for net, backbone in (("alex", "alexnet"), ("vgg", "vgg16"), ("squeeze", "squeezenet1_1")):
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
        state = weights.make_state_dict(backbone, seed=seed)
        features = {k.removeprefix("features."): v for k, v in state.items()
                    if k.startswith("features.")}
        layers = torch.nn.Sequential(*[module for slice_ in
                                       (model.net.slice1, model.net.slice2, model.net.slice3,
                                        model.net.slice4, model.net.slice5)
                                       + ((model.net.slice6, model.net.slice7)
                                          if net == "squeeze" else ())
                                       for module in slice_.children()])
        layers.load_state_dict(features)
        networks[net] = model.eval()
    return networks


def other_values(expected: dict) -> dict:
    """The golden set's other scalar values: the small gray pair, the 3-D volume, the
    16-bit pair, the Fréchet distance and KID of the two arrays (scikit-image, pytorch-fid's
    formula, KID's unbiased MMD² over the whole sets)."""
    from pytorch_fid.fid_score import calculate_frechet_distance
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    def array(name: str) -> np.ndarray:
        return np.load(GOLDEN / "arrays" / f"{name}.npy")

    gray = _luma("small_gray.png"), _luma("small_gray__blur.png")
    u16_a, u16_b = array("u16_a"), array("u16_b")
    x, y = array("frechet_x"), array("frechet_y")
    m, n, d = x.shape[0], y.shape[0], x.shape[1]
    k_xx, k_yy, k_xy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
    kid = ((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
           + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1)) - 2 * k_xy.mean())
    return {
        "small_gray_ssim_default": structural_similarity(*gray, data_range=255),
        "small_gray_ssim_gaussian": structural_similarity(
            *gray, data_range=255, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False),
        "volume_ssim": structural_similarity(array("volume_a"), array("volume_b"),
                                             data_range=255),
        "u16_ssim": structural_similarity(u16_a, u16_b, channel_axis=-1, data_range=65535),
        "u16_psnr": peak_signal_noise_ratio(u16_a, u16_b, data_range=65535),
        "u16_truncated_psnr": peak_signal_noise_ratio(
            (u16_a >> 8).astype(np.uint8), (u16_b >> 8).astype(np.uint8), data_range=255),
        "frechet_xy": calculate_frechet_distance(x.mean(0), np.cov(x, rowvar=False),
                                                 y.mean(0), np.cov(y, rowvar=False)),
        "kid_xy": kid,
    }


def _compare(name: str, got: float, want: float, tolerance: float, report: list) -> None:
    difference = abs(got - want) / max(abs(want), 1e-300)
    report.append((name, got, want, difference, difference <= tolerance))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite expected.json")
    options = parser.parse_args()
    expected = json.loads((GOLDEN / "expected.json").read_text())
    networks = lpips_networks(expected["lpips_seed"])
    report: list = []
    for pair in expected["pairs"]:
        label = f"{pair['reference']} vs {pair['test']}"
        computed = {**pixel_values(pair), "lpips": lpips_values(pair, networks)}
        for key, value in computed.items():
            nested = value if isinstance(value, dict) else {"": value}
            stored = pair.get(key, {}) if isinstance(value, dict) else {"": pair.get(key)}
            tolerance = NETWORK_TOLERANCE if key == "lpips" else PIXEL_TOLERANCE
            for sub, got in nested.items():
                if stored.get(sub) is not None:
                    _compare(f"{label} {key} {sub}".strip(), got, stored[sub], tolerance, report)
        if options.write:
            pair.update(computed)
    for key, got in other_values(expected).items():
        _compare(key, float(got), expected[key], PIXEL_TOLERANCE if "frechet" not in key
                 and "kid" not in key else NETWORK_TOLERANCE, report)
        if options.write:
            expected[key] = float(got)
    failed = [row for row in report if not row[4]]
    for name, got, want, difference, ok in report:
        print(f"{'ok  ' if ok else 'DIFF'} {name}: {got!r} (committed {want!r}, "
              f"relative {difference:.2g})")
    expected["references"] = {package: version(package) for package in
                              ("scikit-image", "pytorch-msssim", "lpips", "pytorch-fid",
                               "torch", "numpy")}
    if options.write:
        (GOLDEN / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"{len(report) - len(failed)} of {len(report)} values within tolerance")
    return 1 if failed and not options.write else 0


if __name__ == "__main__":
    sys.exit(main())
