"""Short compiled kernel calls run on one thread inside a run that shares the cores with
its decoders (``kernel_threads``), with values identical to the split calls'."""

from __future__ import annotations

import threading

import numba
import numpy as np
import torch

from likeness.metrics._fused_ssim import fused_cpu_means
from likeness.metrics.exact_sums import box_ssim_row_sums, squared_error_sum
from likeness.metrics.kernel_threads import SHORT_CALL, cores_shared, kernel_threads


def _threads_in(seconds: float) -> int:
    with kernel_threads(seconds):
        return numba.get_num_threads()


def test_short_calls_run_on_one_thread_only_while_the_cores_are_shared():
    every = numba.get_num_threads()
    assert _threads_in(SHORT_CALL / 10) == every  # outside a run: split as set
    with cores_shared():
        assert _threads_in(SHORT_CALL / 10) == 1
        assert numba.get_num_threads() == every  # restored after the call
        assert _threads_in(SHORT_CALL * 10) == every  # long calls are split
    assert _threads_in(SHORT_CALL / 10) == every


def test_sharing_the_cores_is_said_for_one_thread():
    seen = []
    with cores_shared():
        other = threading.Thread(target=lambda: seen.append(_threads_in(SHORT_CALL / 10)))
        other.start()
        other.join()
    assert seen == [numba.get_num_threads()]


def test_kernels_give_the_same_values_on_one_thread_and_split():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (96, 80, 3), dtype=np.uint8)
    y = rng.integers(0, 256, (96, 80, 3), dtype=np.uint8)
    fx, fy = (torch.from_numpy(a.transpose(2, 0, 1)[None] / 255.0).contiguous()
              for a in (x, y))
    taps = tuple(np.exp(-0.5 * ((np.arange(11) - 5) / 1.5) ** 2) / 2.6586)

    def values() -> list[np.ndarray]:
        return [np.asarray(squared_error_sum(x.reshape(-1), y.reshape(-1))),
                box_ssim_row_sums(x.reshape(96, -1), y.reshape(96, -1), 3, 7, 6.5, 58.5,
                                  49 / 48),
                *(t.numpy() for t in fused_cpu_means(fx, fy, taps, taps, None, 1e-4, 9e-4,
                                                     1.0))]

    split = values()
    with cores_shared():
        whole = values()
    for a, b in zip(split, whole, strict=True):
        assert np.array_equal(a, b)  # bit for bit
