"""MS-SSIM under piq's and torchmetrics' conventions against piq and torchmetrics themselves,
run in this process, in float64 (the arithmetic likeness's folder runs use).

    references/reference-env.sh /tmp/likeness-reference           # piq, torchmetrics
    /tmp/likeness-reference/bin/pip install -c constraints.txt numba isal filelock rich click
    PYTHONPATH=src /tmp/likeness-reference/bin/python benchmarks/bench_ms_ssim.py

(piq needs the reference environment's patched torchvision, which does not load in the
project's.)  Prints both timings (median of 5), the ratio and the largest difference.
"""

from __future__ import annotations

import importlib.metadata
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from likeness.metrics.ms_ssim import ms_ssim


def median_time(function: Callable[[], Any], repeats: int = 5) -> tuple[float, Any]:
    result = function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    try:
        import piq
        from torchmetrics.functional.image import (
            multiscale_structural_similarity_index_measure as torchmetrics_ms_ssim,
        )
    except ImportError as missing:  # the project's environment (make bench): say how
        print(f"bench_ms_ssim: skipped ({missing}); run it with the reference environment, "
              "as its docstring says")
        return
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 384, 512, generator=generator, dtype=torch.float64)
    y = (x + 0.1 * torch.rand(x.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
    references = {
        "piq": lambda: piq.multi_scale_ssim(x, y, data_range=1.0, reduction="none"),
        "torchmetrics": lambda: torchmetrics_ms_ssim(x, y, data_range=1.0, reduction="none"),
    }
    print(f"threads: torch {torch.get_num_threads()}")
    for name, reference in references.items():
        theirs, want = median_time(reference)
        ours, got = median_time(lambda name=name: ms_ssim(x, y, data_range=1.0,
                                                          convention=name))
        version = importlib.metadata.version(name)
        print(f"MS-SSIM float64 RGB 512x384: {name} {version} {theirs * 1e3:7.1f} ms, "
              f"likeness (convention {name}) {ours * 1e3:5.1f} ms, ratio {theirs / ours:5.1f}x, "
              f"|diff| {float((got - want).abs().max()):.1e}")


if __name__ == "__main__":
    main()
