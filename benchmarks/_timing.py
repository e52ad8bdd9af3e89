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
GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "golden"


def stand_in_weights() -> Any:
    """../shared/golden/weights.py (deterministic stand-in checkpoints) as a module."""
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


def sample_pair(side: int, *, noise: float = 10.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A bundled sample image resized to side×side (RGB uint8), and a noisy copy of it."""
    with Image.open(SAMPLES / "reference" / "astronaut.png") as image:
        reference = np.array(image.convert("RGB").resize((side, side), Image.Resampling.LANCZOS))
    rng = np.random.default_rng(seed)
    test = np.clip(reference + rng.normal(0.0, noise, reference.shape), 0, 255).astype(np.uint8)
    return reference, test
