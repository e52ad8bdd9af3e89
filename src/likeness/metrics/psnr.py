"""Batched PSNR and MSE on (N, C, H, W) tensors."""

from __future__ import annotations

import torch
from torch import Tensor

from likeness.metrics.caller_modes import as_defined
from likeness.metrics.tensor_checks import check_data_range, check_image_batches

__all__ = ["mse", "psnr"]

# float64 values one step of ``_chunked_squared_error_sums`` holds (1 MiB: it stays in the
# cache, where whole-image float64 temporaries page-fault on every call)
CHUNK_VALUES = 1 << 17


@as_defined
def mse(x: Tensor, y: Tensor) -> Tensor:
    """Mean squared error of each pair of an (N, C, H, W) batch: the differences and their
    sum in float64.

    Example:
        >>> mse(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2))
        tensor([1.], dtype=torch.float64)
    """
    x, y = check_image_batches(x, y)
    samples = x[0].numel()
    if (x.device.type != "cpu" or x.numel() <= CHUNK_VALUES
            or (torch.is_grad_enabled() and (x.requires_grad or y.requires_grad))):
        return (x.double() - y.double()).pow(2).flatten(1).mean(dim=1)
    return _chunked_squared_error_sums(x.reshape(len(x), -1), y.reshape(len(y), -1)) / samples


def _chunked_squared_error_sums(x: Tensor, y: Tensor) -> Tensor:
    """(N,) Σ (x − y)² of each row of two (N, S) CPU tensors of one floating dtype, each
    difference in float64, in blocks of about ``CHUNK_VALUES`` values (whole rows, or a
    part of one row) through reused buffers: a few passes over cached memory instead of
    float64 copies of both batches."""
    rows, samples = x.shape
    width = min(samples, CHUNK_VALUES)
    height = min(rows, max(1, CHUNK_VALUES // samples))
    first_buffer = torch.empty(height, width, dtype=torch.float64)
    second_buffer = first_buffer if x.dtype == torch.float64 else torch.empty_like(first_buffer)
    total = torch.zeros(rows, dtype=torch.float64)
    for first in range(0, rows, height):
        last = min(rows, first + height)
        for start in range(0, samples, width):
            stop = min(samples, start + width)
            a, b = x[first:last, start:stop], y[first:last, start:stop]
            difference = first_buffer[:last - first, :stop - start]
            if x.dtype != torch.float64:  # both copied to float64 exactly, then subtracted
                a, b = difference.copy_(a), second_buffer[:last - first, :stop - start].copy_(b)
            torch.sub(a, b, out=difference)
            if last - first == 1:
                total[first] += torch.dot(difference[0], difference[0])
            else:
                total[first:last] += torch.linalg.vecdot(difference, difference)
    return total


@as_defined
def psnr(x: Tensor, y: Tensor, *, data_range: float) -> Tensor:
    """Peak signal-to-noise ratio in dB of each pair of an (N, C, H, W) batch.

    Args:
        x, y: batches of the same shape.
        data_range: the distance between the smallest and largest possible values.

    Returns:
        (N,) float64 tensor; ``inf`` for identical images.

    Raises:
        ValueError: shapes differ or data_range is not positive.

    Example:
        >>> psnr(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.1), data_range=1.0)
        tensor([20.0000], dtype=torch.float64)
    """
    data_range = check_data_range(data_range)
    x, y = check_image_batches(x, y, data_range=data_range)
    return 10 * torch.log10(data_range**2 / mse(x, y))
