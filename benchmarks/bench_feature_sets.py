"""Precision/recall/density/coverage, Vendi and CMMD on 10,000 × 10,000 random 1,024-d
features: likeness against prdc, vendi-score and google-research/cmmd's formula (float64),
in the same process, time and peak memory (tracemalloc: numpy's allocations).

    PYTHONPATH=src /tmp/likeness-reference/bin/python benchmarks/bench_feature_sets.py [N]

The references are installed only in the reference environment (references/reference-env.sh).
One run each (the reference runs are minutes long); N defaults to 10,000.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

try:
    from prdc import compute_prdc
    from vendi_score import vendi as vendi_score
except ImportError:  # `make bench` runs every script with .venv's python: skip, say why
    print("bench_feature_sets: skipped, prdc and vendi-score are not installed here; run it "
          "with the reference environment's python (see the module docstring)")
    sys.exit(0)

from likeness.metrics.feature_sets import cmmd, coverage_density_precision_recall, vendi

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "references"))
from make_feature_set_values import cmmd_reference as cmmd_formula  # noqa: E402


def measured(function: Callable[[], Any]) -> tuple[float, float, Any]:
    """(seconds, peak MB of numpy/Python allocations, result)."""
    tracemalloc.start()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        result = function()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, result


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rng = np.random.default_rng(0)
    real = rng.normal(size=(count, 1024)).astype(np.float32)
    fake = (rng.normal(size=(count, 1024)) * 1.05 + 0.05).astype(np.float32)
    print(f"{count} x {count} features of 1024 dimensions, float32")
    for name, ours, theirs in (
            ("prdc k=5", lambda: coverage_density_precision_recall(real, fake, 5),
             lambda: compute_prdc(real, fake, nearest_k=5)),
            ("vendi", lambda: vendi(fake), lambda: vendi_score.score_X(fake.astype(np.float64))),
            ("cmmd", lambda: cmmd(real, fake), lambda: cmmd_formula(real, fake))):
        our_time, our_peak, got = measured(ours)
        ref_time, ref_peak, want = measured(theirs)
        if isinstance(got, dict):
            same = max(abs(got[k] - float(want[k])) for k in got)
        else:
            same = abs(got - want) / abs(want)
        print(f"{name:9s} reference {ref_time:7.1f} s, {ref_peak:7.0f} MB; likeness "
              f"{our_time:7.1f} s, {our_peak:7.0f} MB; ratio {ref_time / our_time:4.2f}x; "
              f"difference {same:.1e}")


if __name__ == "__main__":
    main()
