"""Separable 'valid' filtering of image batches in torch.

A 1-D filter over the last axis is a product with a banded matrix, which runs at BLAS speed
but costs a row's length per output value; on the CPU, float32 images of at least
``DEPTHWISE_FROM`` pixels a side are filtered instead by a depthwise ``conv2d`` over every
image as one channel of one batch (k per output value; SSIM with its backward pass
1.1–2.9× faster than through the banded product from 160² to 1024², measured on a 2-core
AMD EPYC; not faster at 64²–128², nor in float64), and float64 and float32 images
without autograd from ``SHIFTED_FROM`` pixels a side as sums of shifted slices (float32,
7 or 11 taps over 5×3 images: 1.0–8× faster than the depthwise convolutions from 128² to
1024²).  All are differentiable.  Only windows that lie fully inside the image are
kept ("valid"), which is the region every SSIM convention averages over.
``correlate_2d`` applies a 2-D kernel that is not separable (a steerable pyramid's, a
Laplacian pyramid's): in float64 and float32 on the CPU as a sum of shifted slices,
15–30× faster than torch's float64 convolution there, and up to 20× its float32
one-channel convolution (with a gradient too: VIFp's forward and backward 5× faster).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.errors import InvalidInputError

# the shorter side from which a CPU filters by depthwise convolutions (``valid_filter_2d``)
DEPTHWISE_FROM = 160
# ... and float64 images without autograd by sums of shifted slices (11 taps: 8.7× the
# banded product at 384×512, break-even near 88 px a side; 2-core AMD EPYC)
SHIFTED_FROM = 96


def gaussian_taps(size: int, sigma: float) -> tuple[float, ...]:
    """Normalised gaussian taps, centred, as scipy.ndimage and pytorch-msssim build them."""
    if size % 2 != 1:
        raise InvalidInputError(f"window size must be odd, got {size}")
    half = size // 2
    weights = [math.exp(-(i * i) / (2.0 * sigma * sigma)) for i in range(-half, half + 1)]
    total = math.fsum(weights)
    return tuple(w / total for w in weights)


def uniform_taps(size: int) -> tuple[float, ...]:
    """Box-filter taps (a mean over ``size`` values)."""
    return (1.0 / size,) * size


@lru_cache(maxsize=64)
def _band_matrix(length: int, taps: tuple[float, ...], dtype: torch.dtype,
                 device: torch.device) -> Tensor:
    """(length, length - k + 1) matrix M with (v @ M)[j] = sum_t taps[t] * v[j + t]."""
    k = len(taps)
    out_len = length - k + 1
    band = torch.zeros(length, out_len, dtype=torch.float64)
    columns = torch.arange(out_len)
    for t, weight in enumerate(taps):
        band[columns + t, columns] = weight
    return band.to(dtype=dtype, device=device)


def valid_filter_2d(images: Tensor, taps_h: tuple[float, ...] | None,
                    taps_w: tuple[float, ...] | None) -> Tensor:
    """Filter the last two axes separably, keeping only full windows.

    Args:
        images: (..., H, W) tensor.
        taps_h, taps_w: 1-D taps along H and W; None leaves that axis unfiltered.

    Returns:
        (..., H - kh + 1, W - kw + 1) tensor.
    """
    if images.device.type == "cpu":
        shorter = min(images.shape[-2:])
        if (images.dtype in (torch.float32, torch.float64) and shorter >= SHIFTED_FROM
                and not (torch.is_grad_enabled() and images.requires_grad)):
            return _shifted_filter_2d(images, taps_h, taps_w)
        if images.dtype == torch.float32 and shorter >= DEPTHWISE_FROM:
            return _depthwise_filter_2d(images, taps_h, taps_w)
    out = images
    if taps_w is not None:
        out = out @ _band_matrix(out.shape[-1], taps_w, out.dtype, out.device)
    if taps_h is not None:
        out = _band_matrix(out.shape[-2], taps_h, out.dtype, out.device).T @ out
    return out


def _depthwise_filter_2d(images: Tensor, taps_h: tuple[float, ...] | None,
                         taps_w: tuple[float, ...] | None) -> Tensor:
    """``valid_filter_2d`` by depthwise convolutions: each (H, W) image one channel."""
    out = images.reshape(1, -1, *images.shape[-2:])
    channels = out.shape[1]
    for taps, shape in ((taps_w, (1, -1)), (taps_h, (-1, 1))):
        if taps is not None:
            kernel = torch.tensor(taps, dtype=out.dtype).view(1, 1, *shape)
            out = F.conv2d(out, kernel.expand(channels, 1, *kernel.shape[2:]),
                           groups=channels)
    return out.reshape(*images.shape[:-2], *out.shape[-2:])


def _shifted_filter_2d(images: Tensor, taps_h: tuple[float, ...] | None,
                       taps_w: tuple[float, ...] | None) -> Tensor:
    """``valid_filter_2d`` as the sum, tap by tap, of the images shifted along each axis
    (k per output value; within rounding of the banded product, ~3e-16 relative)."""
    out = images
    for taps, axis in ((taps_w, -1), (taps_h, -2)):
        if taps is not None:
            length = out.shape[axis] - len(taps) + 1
            total = out.narrow(axis, 0, length) * taps[0]
            for shift, weight in enumerate(taps[1:], start=1):
                total.add_(out.narrow(axis, shift, length), alpha=weight)
            out = total
    return out


def valid_filter_axis(images: Tensor, taps: tuple[float, ...], axis: int) -> Tensor:
    """Filter one axis with ``taps``, keeping only full windows (volumes' time axis)."""
    moved = torch.movedim(images, axis, -1)
    filtered = moved @ _band_matrix(moved.shape[-1], taps, moved.dtype, moved.device)
    return torch.movedim(filtered, -1, axis)


def correlate_2d(images: Tensor, kernel: Tensor, step: int | tuple[int, int] = 1) -> Tensor:
    """Each (H, W) image of (N, C, H, W) correlated with the (k, l) ``kernel`` (no flip),
    full windows only, every ``step``-th (or (rows, columns) steps): ``conv2d(images,
    kernel[None, None], stride=step)`` per channel.  float64 and float32 on the CPU: as the
    sum, tap by tap in row-major order (zero taps skipped), of the kernel's weights times
    the images shifted (torch's float64 convolution, an im2col and a matrix product, runs
    at ~0.3 GFLOP/s there: 71 ms against 2.8 ms for a 7×7 kernel over two 392×520 planes;
    its float32 one-channel convolution took 49 ms against 2 ms for VIFp's 17-tap columns
    of five 384×512 planes); within rounding of it (~1e-16 relative in float64)."""
    rows, columns = kernel.shape
    down, across = (step, step) if isinstance(step, int) else step
    height = (images.shape[-2] - rows) // down + 1
    width = (images.shape[-1] - columns) // across + 1
    if images.device.type != "cpu" or images.dtype not in (torch.float32, torch.float64):
        flat = images.reshape(-1, 1, *images.shape[-2:])
        out = F.conv2d(flat, kernel[None, None].to(images.dtype), stride=step)
        return out.reshape(*images.shape[:-2], height, width)
    weights = kernel.to(torch.float64).tolist()
    total = images.new_zeros(*images.shape[:-2], height, width)
    for row in range(rows):
        for column in range(columns):
            if weights[row][column] != 0.0:  # a sparse kernel's zeros add nothing
                shifted = images[..., row:row + (height - 1) * down + 1:down,
                                 column:column + (width - 1) * across + 1:across]
                total.add_(shifted, alpha=weights[row][column])
    return total

