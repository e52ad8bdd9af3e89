"""Pinned precision / recall / density / coverage (prdc), Vendi scores (vendi-score) and
CMMD (google-research/cmmd's formula evaluated in float64) on generated features.

Run in the reference environment (references/reference-env.sh), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_feature_set_values.py
    /tmp/likeness-reference/bin/python references/make_feature_set_values.py --add-this-cpu

Features: ``features(case)`` below (numpy ``default_rng``), float32 as the encoders give
them.  Writes tests/data/feature_set_values.json with the packages' versions.  The file
was made on a 2-core AMD EPYC Zen 4 (AVX-512); ``--add-this-cpu`` adds another CPU's prdc
values of the exact float64 ties where its BLAS breaks them otherwise (the AMD EPYC Zen 3
of 2026-12-07 did, for one tie of ``duplicated_30x64``).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "feature_set_values.json"
CASES = {
    "gaussians_200x150x64": (200, 150, 64, "shifted"),
    "gaussians_120x130x2048": (120, 130, 2048, "shifted"),
    "duplicates_60x40x16": (60, 40, 16, "duplicates"),
    "near_300x300x768": (300, 300, 768, "near"),
}


def features(case: str) -> tuple[np.ndarray, np.ndarray]:
    real_count, fake_count, dimensions, kind = CASES[case]
    rng = np.random.default_rng(sum(map(ord, case)))
    real = rng.normal(size=(real_count, dimensions))
    if kind == "shifted":
        fake = rng.normal(size=(fake_count, dimensions)) * 1.1 + 0.2
    elif kind == "duplicates":  # repeated rows: ties at distance 0
        real = np.repeat(real[: real_count // 3], 3, axis=0)
        fake = np.repeat(rng.normal(size=(fake_count // 4, dimensions)), 4, axis=0)
    else:  # near sets of unit vectors, as CLIP embeddings are
        fake = real[:fake_count] + 0.05 * rng.normal(size=(fake_count, dimensions))
        real = real / np.linalg.norm(real, axis=1, keepdims=True)
        fake = fake / np.linalg.norm(fake, axis=1, keepdims=True)
    return real.astype(np.float32), fake.astype(np.float32)


# ties at the balls' radii: identical sets (one array passed twice, or a copy) and sets
# of repeated rows, of several sizes, in float32 (as encoders give) and float64
TIE_CASES = {
    "identical_12x2048": (12, 2048, "identical"),
    "identical_30x64": (30, 64, "identical"),
    "copy_30x64": (30, 64, "copy"),
    "copy_61x16": (61, 16, "copy"),
    "duplicated_30x64": (30, 64, "duplicated"),
    "duplicated_40x8": (40, 8, "duplicated"),
    "repeated_both_30x64": (30, 64, "repeated_both"),
}


def tie_features(case: str, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """(real, fake) of a tie case; ``real is fake`` for the ``identical`` ones."""
    count, dimensions, kind = TIE_CASES[case]
    rng = np.random.default_rng(sum(map(ord, case)))
    x = rng.standard_normal((count, dimensions)).astype(np.float32).astype(dtype)
    half = np.concatenate([x[: count // 2]] * 2)
    return {"identical": (x, x), "copy": (x, x.copy()), "duplicated": (half, x),
            "repeated_both": (half, half.copy())}[kind]


def cmmd_reference(x: np.ndarray, y: np.ndarray) -> float:
    """google-research/cmmd distance.py's mmd, in float64."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    x_sq, y_sq = np.diag(x @ x.T), np.diag(y @ y.T)
    gamma = 1 / (2 * 10**2)
    k_xx = np.mean(np.exp(-gamma * (-2 * x @ x.T + x_sq[:, None] + x_sq[None, :])))
    k_xy = np.mean(np.exp(-gamma * (-2 * x @ y.T + x_sq[:, None] + y_sq[None, :])))
    k_yy = np.mean(np.exp(-gamma * (-2 * y @ y.T + y_sq[:, None] + y_sq[None, :])))
    return float(1000 * (k_xx + k_yy - 2 * k_xy))


def this_cpu() -> str:
    """The CPU as /proc/cpuinfo names it (BLAS's kernels, which round float64 distances,
    follow its model and instruction sets)."""
    fields: dict[str, str] = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    avx512 = " AVX-512" if "avx512f" in fields.get("flags", "").split() else ""
    return (f"{fields.get('model name', '?')} family {fields.get('cpu family', '?')} model "
            f"{fields.get('model', '?')}{avx512}")


def prdc_values(compute_prdc: Any, real: np.ndarray, fake: np.ndarray) -> dict[str, Any]:
    record = {}
    for k in (3, 5):
        with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
            values = compute_prdc(real, fake, nearest_k=k)
        record[f"k{k}"] = {name: float(value) for name, value in values.items()}
    return record


def add_this_cpu() -> None:
    """``--add-this-cpu``: where prdc breaks an exact float64 tie otherwise on this CPU than
    on the one the file was made on (its BLAS rounds a distance at a ball's radius the
    other way), add this CPU's values to the tie's record (``also``); nothing else
    changes."""
    from prdc import compute_prdc

    pinned = json.loads(OUT.read_text())
    for record in pinned["ties"]:
        values = prdc_values(compute_prdc, *tie_features(record["case"], record["dtype"]))
        known = [record, *record.get("also", [])]
        if all(values != {k: other[k] for k in ("k3", "k5")} for other in known):
            record.setdefault("also", []).append({"cpu": this_cpu(), **values})
    OUT.write_text(json.dumps(pinned, indent=1) + "\n")


def main() -> None:
    if "--add-this-cpu" in sys.argv:
        add_this_cpu()
        return
    from prdc import compute_prdc  # the references: imported here, so that the test suite
    from vendi_score import vendi  # can import `features` without them

    records = []
    for case in CASES:
        real, fake = features(case)
        record = {"case": case}
        for k in (3, 5):
            with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
                values = compute_prdc(real, fake, nearest_k=k)
            record[f"k{k}"] = {name: float(value) for name, value in values.items()}
        record["vendi_real"] = float(vendi.score_X(real.astype(np.float64)))
        record["vendi_fake"] = float(vendi.score_X(fake.astype(np.float64)))
        record["cmmd"] = cmmd_reference(real, fake)
        records.append(record)
    ties = []
    for case in TIE_CASES:
        for dtype in ("float32", "float64"):
            ties.append({"case": case, "dtype": dtype, "cpu": this_cpu(),
                         **prdc_values(compute_prdc, *tie_features(case, dtype))})
    OUT.write_text(json.dumps({"reference": f"prdc {version('prdc')} compute_prdc; "
                                            f"vendi-score {version('vendi-score')} score_X; "
                                            "google-research/cmmd distance.py mmd in float64",
                               "cases": records, "ties": ties}, indent=1) + "\n")


if __name__ == "__main__":
    main()
