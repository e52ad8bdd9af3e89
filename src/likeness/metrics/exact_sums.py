"""Exact integer sums behind SSIM, PSNR and MSE, in NumPy or in compiled kernels.

Both routes compute the same thing with the same floating-point operations in the same
order, so they give bit-identical values (``tests/test_skimage_compat.py`` checks it):

- ``box_ssim_row_sums``: for every row of full windows, the sum (left to right) of the
  uniform-window SSIM map, from window sums that are exact in int64;
- ``squared_error_sum``: Σ (x − y)² in int64.

``box_ssim_sums_torch`` and ``squared_error_sums_torch`` compute the same exact sums on a
batch of tensors on any device (a run on CUDA: ``MetricSpec.on_device``).

The compiled kernels (numba, ``_box_ssim_kernel`` and ``_squared_error_kernel``) are
several times faster per image but cost ~0.6 s per process to import and load from
numba's on-disk cache (their first compilation, ~5 s once per installation, is cached in
the package's ``__pycache__``).  So a process uses NumPy for its first
``COMPILED_AFTER`` samples (pixels × channels: a pair of 512² RGB images' SSIM and PSNR)
— a one-pair ``likeness compare a.png b.png`` never loads numba — and the kernels from
then on, or at once when numba is loaded already or
``LIKENESS_COMPILED=1``; ``LIKENESS_COMPILED=0`` keeps NumPy throughout.  Float images
always take the kernel: only its running sums reproduce its rounding.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from likeness.metrics.kernel_threads import kernel_threads
from likeness.switches import switch

__all__ = ["COMPILED_AFTER", "EXACT_LIMIT", "box_ssim_row_sums", "box_ssim_sums_torch",
           "squared_error_sum", "squared_error_sums_torch", "true_divide", "use_compiled"]

# samples (pixels × channels) a process computes in NumPy before loading the kernels:
# ~0.15 s of NumPy work, about a quarter of what loading numba costs
COMPILED_AFTER = 2_000_000
EXACT_LIMIT = 2**53  # below this every float64 partial sum of integers is exact
# one thread's time a sample (``kernel_threads``), measured at 512² RGB on this repository's
# 2-core AMD EPYC
BOX_SSIM_SECONDS = 5.6e-9
SQUARED_ERROR_SECONDS = 0.8e-9
_samples = 0


def use_compiled(integer: bool, samples: int) -> bool:
    """Whether a call over ``samples`` values takes the compiled kernel (see the module
    documentation)."""
    global _samples
    _samples += samples
    choice = switch("LIKENESS_COMPILED")
    if not integer or choice is True:
        return True
    if choice is False:
        return False
    return _samples > COMPILED_AFTER or "numba" in sys.modules


def box_ssim_row_sums(x: np.ndarray, y: np.ndarray, channels: int, win: int, c1: float,
                      c2: float, cov_norm: float) -> np.ndarray:
    """(rows of full windows, channels) sums of the SSIM map, each row left to right.

    Args:
        x, y: (H, W * channels) contiguous arrays, channels interleaved (HWC reshaped).
        win: the odd window side; c1, c2: (K1 R)², (K2 R)²; cov_norm: NP / (NP − 1) for
            the sample covariance, 1 for the population one.
    """
    integer = x.dtype.kind in "iub"
    if use_compiled(integer, x.size):
        from likeness.metrics._box_ssim_kernel import valid_box_ssim_sums

        zero = np.zeros(1, np.int64 if integer else np.float64)
        with kernel_threads(BOX_SSIM_SECONDS * x.size):
            return valid_box_ssim_sums(x, y, channels, win, c1, c2, cov_norm, zero)
    height = x.shape[0]
    a = x.reshape(height, -1, channels).astype(np.int64)
    b = y.reshape(height, -1, channels).astype(np.int64)
    out_h = height - win + 1
    rows = np.zeros((out_h, channels))
    n_win = win * win
    inv2 = 1.0 / (n_win * n_win)
    for c in range(channels):
        hx, hy = _window_sums(a[:, :, c], win), _window_sums(b[:, :, c], win)
        hxx = _window_sums(a[:, :, c] * a[:, :, c], win)
        hyy = _window_sums(b[:, :, c] * b[:, :, c], win)
        hxy = _window_sums(a[:, :, c] * b[:, :, c], win)
        ux = hx / n_win
        uy = hy / n_win
        vx = cov_norm * ((n_win * hxx - hx * hx) * inv2)
        vy = cov_norm * ((n_win * hyy - hy * hy) * inv2)
        vxy = cov_norm * ((n_win * hxy - hx * hy) * inv2)
        a1 = 2.0 * ux * uy + c1
        a2 = 2.0 * vxy + c2
        b1 = ux * ux + uy * uy + c1
        b2 = vx + vy + c2
        ssim_map = (a1 * a2) / (b1 * b2)
        # cumsum adds left to right, one by one, as the kernel does (np.sum would not)
        rows[:, c] = np.cumsum(ssim_map, axis=1)[:, -1]
    return rows


def _window_sums(plane: np.ndarray, win: int) -> np.ndarray:
    """Exact int64 sums over every win × win window inside ``plane`` (integral image)."""
    integral = np.zeros((plane.shape[0] + 1, plane.shape[1] + 1), np.int64)
    np.cumsum(np.cumsum(plane, axis=0), axis=1, out=integral[1:, 1:])
    return (integral[win:, win:] - integral[:-win, win:] - integral[win:, :-win]
            + integral[:-win, :-win])


def squared_error_sum(x: np.ndarray, y: np.ndarray) -> int:
    """Σ (x − y)² over two flat integer arrays of one length, exactly (int64)."""
    if use_compiled(True, x.size):
        from likeness.metrics._squared_error_kernel import squared_error_sum as kernel

        with kernel_threads(SQUARED_ERROR_SECONDS * x.size):
            return int(kernel(x, y))
    difference = x.astype(np.int64) - y.astype(np.int64)
    return int(np.dot(difference, difference))


def box_ssim_sums_torch(x: Any, y: Any, win: int, c1: float, c2: float,
                        cov_norm: float) -> Any:
    """(N, C) sums of the uniform-window SSIM map over the full windows of integer
    (N, C, H, W) tensors, on their device: the window sums exact in int64 (integral
    images), each window's value with ``box_ssim_row_sums``' float64 operations in its
    order — the same map, bit for bit; only the order of the final sum differs."""
    import torch

    a, b = x.to(torch.int64), y.to(torch.int64)
    n_win = win * win
    inv2 = 1.0 / (n_win * n_win)

    def window_sums(plane: Any) -> Any:
        integral = torch.nn.functional.pad(plane.cumsum(-2).cumsum(-1), (1, 0, 1, 0))
        return (integral[..., win:, win:] - integral[..., :-win, win:]
                - integral[..., win:, :-win] + integral[..., :-win, :-win])

    hx, hy = window_sums(a), window_sums(b)
    hxx, hyy, hxy = window_sums(a * a), window_sums(b * b), window_sums(a * b)
    ux = true_divide(hx.to(torch.float64), n_win)
    uy = true_divide(hy.to(torch.float64), n_win)
    vx = cov_norm * ((n_win * hxx - hx * hx).to(torch.float64) * inv2)
    vy = cov_norm * ((n_win * hyy - hy * hy).to(torch.float64) * inv2)
    vxy = cov_norm * ((n_win * hxy - hx * hy).to(torch.float64) * inv2)
    a1 = 2.0 * ux * uy + c1
    a2 = 2.0 * vxy + c2
    b1 = ux * ux + uy * uy + c1
    b2 = vx + vy + c2
    return ((a1 * a2) / (b1 * b2)).sum(dim=(-2, -1))


def true_divide(numerator: Any, denominator: Any) -> Any:
    """``numerator / denominator`` rounded once, as NumPy divides: on CUDA, torch divides
    by a Python number as a product with its reciprocal (and computes ``number / tensor``
    likewise), which can differ in the last bit; a tensor divisor on the same device is
    divided exactly.  The number becomes a tensor there by a fill, not a copy from the
    host, which would wait for the device's queued work."""
    import torch

    def on_device(value: Any, like: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value
        return torch.full((), value, dtype=like.dtype, device=like.device)

    like = numerator if isinstance(numerator, torch.Tensor) else denominator
    return torch.div(on_device(numerator, like), on_device(denominator, like))


def squared_error_sums_torch(x: Any, y: Any) -> Any:
    """(N,) Σ (x − y)² of each image of two integer (N, ...) tensors, exactly (int64), on
    their device."""
    import torch

    difference = (x.to(torch.int64) - y.to(torch.int64)).flatten(1)
    return (difference * difference).sum(dim=1)
