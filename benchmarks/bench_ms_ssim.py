"""SSIM and MS-SSIM under torchmetrics' and piq's conventions against torchmetrics and piq
themselves, run in this process.  likeness runs in float64 (the arithmetic its folder
runs use), through the fused separable kernel (within ~1e-14 of the references' float64
2-D convolutions); the references run in float64 (the same arithmetic) and in float32
(the way their users call them, ``ToTensor``'s dtype).

    references/reference-env.sh /tmp/likeness-reference           # piq, torchmetrics
    /tmp/likeness-reference/bin/pip install -c constraints.txt numba isal filelock rich click
    PYTHONPATH=src /tmp/likeness-reference/bin/python benchmarks/bench_ms_ssim.py

(piq needs the reference environment's patched torchvision, which does not load in the
project's.)  Prints the timings (median of 5), the ratios and the largest difference from
the float64 reference.
"""

from __future__ import annotations

import importlib.metadata
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from likeness.metrics.ms_ssim import ms_ssim
from likeness.metrics.ssim import ssim


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
        from torchmetrics.functional.image import (
            structural_similarity_index_measure as torchmetrics_ssim,
        )
    except ImportError as missing:  # the project's environment (make bench): say how
        print(f"bench_ms_ssim: skipped ({missing}); run it with the reference environment, "
              "as its docstring says")
        return
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 384, 512, generator=generator, dtype=torch.float64)
    y = (x + 0.1 * torch.rand(x.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
    cases = {
        "SSIM, torchmetrics": (
            lambda: torchmetrics_ssim(x, y, data_range=1.0, reduction="none"),
            lambda: ssim(x, y, data_range=1.0, convention="torchmetrics"), "torchmetrics"),
        "MS-SSIM, piq": (
            lambda: piq.multi_scale_ssim(x, y, data_range=1.0, reduction="none"),
            lambda: ms_ssim(x, y, data_range=1.0, convention="piq"), "piq"),
        "MS-SSIM, torchmetrics": (
            lambda: torchmetrics_ms_ssim(x, y, data_range=1.0, reduction="none"),
            lambda: ms_ssim(x, y, data_range=1.0, convention="torchmetrics"), "torchmetrics"),
    }
    single = x.float(), y.float()
    in_float32 = {
        "SSIM, torchmetrics": lambda: torchmetrics_ssim(*single, data_range=1.0,
                                                        reduction="none"),
        "MS-SSIM, piq": lambda: piq.multi_scale_ssim(*single, data_range=1.0,
                                                     reduction="none"),
        "MS-SSIM, torchmetrics": lambda: torchmetrics_ms_ssim(*single, data_range=1.0,
                                                              reduction="none"),
    }
    print(f"threads: torch {torch.get_num_threads()}; RGB 512x384, median of 5")
    for name, (reference, ours_call, package) in cases.items():
        theirs, want = median_time(reference)
        theirs_32, _ = median_time(in_float32[name])
        ours, got = median_time(ours_call)
        version = importlib.metadata.version(package)
        print(f"{name} {version}: theirs float64 {theirs * 1e3:7.1f} ms, float32 "
              f"{theirs_32 * 1e3:6.1f} ms; likeness (float64) {ours * 1e3:6.1f} ms; ratios "
              f"{theirs / ours:5.1f}x, {theirs_32 / ours:4.1f}x; "
              f"|diff| {float((got - want).abs().max()):.1e}")


if __name__ == "__main__":
    main()
