"""Small timing helpers shared by the benchmark scripts (not part of the library)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "data" / "golden"


def stand_in_weights() -> Any:
    """tests/data/golden/weights.py (deterministic stand-in checkpoints) as a module."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("golden_weights", GOLDEN / "weights.py")
    if spec is None or spec.loader is None or not (GOLDEN / "weights.py").is_file():
        sys.exit(f"the stand-in weights are missing: {GOLDEN / 'weights.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def best_of(function: Callable[[], Any], repeats: int = 5) -> tuple[float, float, Any]:
    """Run once to warm up, then ``repeats`` times: (best seconds, median seconds, result)."""
    result = function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def alternating(reference: Callable[[], Any], ours: Callable[[], Any], rounds: int = 5
                ) -> tuple[float, float, Any, Any]:
    """Warm both up, then time them in turn ``rounds`` times (reference, ours, reference,
    ...), so that a machine's slow spells fall on both: (median reference seconds, median
    our seconds, reference result, our result)."""
    want, got = reference(), ours()
    theirs, mine = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        want = reference()
        theirs.append(time.perf_counter() - start)
        start = time.perf_counter()
        got = ours()
        mine.append(time.perf_counter() - start)
    return statistics.median(theirs), statistics.median(mine), want, got


def matmul_peak(side: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matrix-multiply rate in GFLOP/s (best of ``repeats`` side³
    products with torch's threads): the roofline the networks' layers are held against."""
    import torch

    a, b = torch.randn(side, side), torch.randn(side, side)
    best, _, _ = best_of(lambda: a @ b, repeats)
    return 2 * side**3 / best / 1e9


def convolution_roofline(run: Callable[[], Any], peak: float) -> list[str]:
    """Run ``run`` once under torch's profiler and describe each convolution (grouped by
    shape): time, GFLOP/s reached and its fraction of ``peak``; the last line sums them.
    Both ``aten::conv2d`` (FLOPs as the profiler counts them) and oneDNN's convolution on
    packed weights (``mkldnn::_convolution_pointwise``, Inception's CPU route; FLOPs from
    its shapes, stride and padding) are listed."""
    import torch

    with torch.profiler.profile(with_flops=True, record_shapes=True) as profile:
        run()
    groups: dict[str, list[float]] = {}
    for event in profile.events():
        if event.name == "aten::conv2d" and event.flops:
            work = float(event.flops)
        elif event.name == "mkldnn::_convolution_pointwise":
            (n, c_in, h, w), (c_out, _, r_h, r_w) = event.input_shapes[:2]
            padding, stride = event.concrete_inputs[3], event.concrete_inputs[4]
            out_h = (h + 2 * padding[0] - r_h) // stride[0] + 1
            out_w = (w + 2 * padding[1] - r_w) // stride[1] + 1
            work = 2.0 * n * c_out * out_h * out_w * c_in * r_h * r_w
        else:
            continue
        group = groups.setdefault(str(event.input_shapes[:2]), [0, 0.0, 0.0])
        group[0] += 1
        group[1] += work
        group[2] += event.cpu_time_total / 1e6
    lines, flops, seconds = [], 0.0, 0.0
    for shapes, (count, work, spent) in groups.items():
        flops += work
        seconds += spent
        rate = work / spent / 1e9
        lines.append(f"  conv {shapes:70s} x{int(count):3d} "
                     f"{spent * 1e3:8.1f} ms {rate:6.0f} GFLOP/s ({rate / peak:4.0%} of peak)")
    rate = flops / seconds / 1e9 if seconds else 0.0
    lines.append(f"  all listed convolutions: {flops / 1e9:.1f} GFLOP in {seconds * 1e3:.0f} ms, "
                 f"{rate:.0f} GFLOP/s ({rate / peak:.0%} of the {peak:.0f} GFLOP/s peak)")
    return lines


def sample_pair(side: int, *, noise: float = 10.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A bundled sample image resized to side×side (RGB uint8), and a noisy copy of it."""
    with Image.open(SAMPLES / "reference" / "astronaut.png") as image:
        reference = np.array(image.convert("RGB").resize((side, side), Image.Resampling.LANCZOS))
    rng = np.random.default_rng(seed)
    test = np.clip(reference + rng.normal(0.0, noise, reference.shape), 0, 255).astype(np.uint8)
    return reference, test
