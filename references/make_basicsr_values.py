"""Pinned BasicSR values for likeness's `basicsr` restoration convention.

Run in the reference environment (references/reference-env.sh), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_basicsr_values.py

For every golden pair (tests/data/golden/expected.json) and for generated odd-sized pairs,
BasicSR's `calculate_psnr` and `calculate_ssim` on the images as cv2 reads them (BGR
uint8), with crop_border 0 and 4, test_y_channel False and True.  Writes
tests/data/basicsr_values.json with BasicSR's version.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import cv2
import numpy as np
from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"
OUT = ROOT / "tests" / "data"


def generated() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Odd-sized pairs with a few kinds of distortion, written as PNG (BGR as cv2 writes)."""
    rng = np.random.default_rng(2024)
    cases = []
    for height, width, kind in ((37, 53, "noise"), (101, 67, "blur"), (64, 129, "shift")):
        base = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
                                (0, 0), 2.0)
        if kind == "noise":
            test = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        elif kind == "blur":
            test = cv2.GaussianBlur(base, (0, 0), 1.5)
        else:
            test = np.roll(base, 2, axis=1)
        cases.append((f"{kind}_{height}x{width}", base, test))
    return cases


def main() -> None:
    expected = json.loads((GOLDEN / "expected.json").read_text())
    images = GOLDEN / "images"
    OUT.mkdir(parents=True, exist_ok=True)
    generated_dir = OUT / "basicsr_pairs"
    generated_dir.mkdir(exist_ok=True)
    pairs = []
    for pair in expected["pairs"]:
        pairs.append((pair["reference"], pair["test"], images / pair["reference"],
                      images / pair["test"]))
    for name, base, test in generated():
        cv2.imwrite(str(generated_dir / f"{name}_ref.png"), base)
        cv2.imwrite(str(generated_dir / f"{name}_test.png"), test)
        pairs.append((f"basicsr_pairs/{name}_ref.png", f"basicsr_pairs/{name}_test.png",
                      generated_dir / f"{name}_ref.png", generated_dir / f"{name}_test.png"))
    values = []
    for reference_name, test_name, reference_path, test_path in pairs:
        a = cv2.imread(str(reference_path), cv2.IMREAD_COLOR)
        b = cv2.imread(str(test_path), cv2.IMREAD_COLOR)
        if a is None or b is None or a.shape != b.shape:
            continue
        record = {"reference": reference_name, "test": test_name}
        for crop in (0, 4):
            for y_channel in (False, True):
                key = f"crop{crop}_{'y' if y_channel else 'rgb'}"
                record[f"psnr_{key}"] = float(calculate_psnr(a, b, crop, test_y_channel=y_channel))
                record[f"ssim_{key}"] = float(calculate_ssim(a, b, crop, test_y_channel=y_channel))
        values.append(record)
    document = {"reference": f"BasicSR {version('basicsr')} calculate_psnr / calculate_ssim "
                             f"(opencv {cv2.__version__}), images read by cv2.imread (BGR)",
                "pairs": values}
    (OUT / "basicsr_values.json").write_text(json.dumps(document, indent=1) + "\n")
    print(f"{len(values)} pairs written")


if __name__ == "__main__":
    main()
