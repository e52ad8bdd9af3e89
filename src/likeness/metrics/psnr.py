"""Batched PSNR and MSE on (N, C, H, W) tensors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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

    Differentiable (twice, too): the gradient is torch's own of that expression, 2(x − y)/S
    in float64 returned in the inputs' dtype; on the CPU without float64 copies of the
    batches.

    Example:
        >>> mse(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2))
        tensor([1.], dtype=torch.float64)
    """
    x, y = check_image_batches(x, y)
    if x.device.type != "cpu" or x.numel() <= CHUNK_VALUES:
        return (x.double() - y.double()).pow(2).flatten(1).mean(dim=1)
    if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
        return _ChunkedMeanSquaredError.apply(x, y)
    return _chunked_squared_error_sums(x.reshape(len(x), -1), y.reshape(len(y), -1)) / x[0].numel()


def _blocks(rows: int, samples: int) -> Iterator[tuple[slice, slice]]:
    """The (rows, columns) of an (N, S) array in blocks of about ``CHUNK_VALUES`` values:
    whole rows, or parts of one row."""
    height, width = _block_shape(rows, samples)
    for first in range(0, rows, height):
        for start in range(0, samples, width):
            yield slice(first, min(rows, first + height)), slice(start, min(samples, start + width))


def _differences(x: Tensor, y: Tensor, rows: slice, columns: slice, buffers: tuple[Tensor, Tensor]
                 ) -> Tensor:
    """x − y of one block of two (N, S) tensors of one floating dtype, each difference in
    float64 (both copied to float64 exactly, then subtracted), in the first buffer."""
    a, b = x[rows, columns], y[rows, columns]
    difference = buffers[0][:a.shape[0], :a.shape[1]]
    if x.dtype != torch.float64:
        a, b = difference.copy_(a), buffers[1][:a.shape[0], :a.shape[1]].copy_(b)
    return torch.sub(a, b, out=difference)


def _block_shape(rows: int, samples: int) -> tuple[int, int]:
    """(rows, columns) of ``_blocks``' largest block."""
    return min(rows, max(1, CHUNK_VALUES // samples)), min(samples, CHUNK_VALUES)


def _block_buffers(x: Tensor) -> tuple[Tensor, Tensor]:
    """The float64 buffers of one block of (N, S) ``x`` (one where ``x`` is float64)."""
    first = torch.empty(_block_shape(*x.shape), dtype=torch.float64)
    return first, first if x.dtype == torch.float64 else torch.empty_like(first)


def _chunked_squared_error_sums(x: Tensor, y: Tensor) -> Tensor:
    """(N,) Σ (x − y)² of each row of two (N, S) CPU tensors of one floating dtype, each
    difference in float64, in blocks of about ``CHUNK_VALUES`` values through reused
    buffers: a few passes over cached memory instead of float64 copies of both batches."""
    buffers = _block_buffers(x)
    total = torch.zeros(len(x), dtype=torch.float64)
    for rows, columns in _blocks(*x.shape):
        difference = _differences(x, y, rows, columns, buffers)
        if len(difference) == 1:
            total[rows] += torch.dot(difference[0], difference[0])
        else:
            total[rows] += torch.linalg.vecdot(difference, difference)
    return total


class _ChunkedMeanSquaredError(torch.autograd.Function):
    """``mse`` of CPU batches with autograd: the forward in blocks, as without it; the
    backward 2(x − y) · (g / S) per block in float64, rounded to each input's dtype — the
    numbers autograd gives for the float64 expression, without its four image-sized float64
    arrays (piq's float32 PSNR was 1.4× faster with a gradient)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor) -> Tensor:
        ctx.save_for_backward(x, y)
        flat_x, flat_y = x.reshape(len(x), -1), y.reshape(len(y), -1)
        return _chunked_squared_error_sums(flat_x, flat_y) / flat_x.shape[1]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, y = ctx.saved_tensors
        flat_x, flat_y = x.reshape(len(x), -1), y.reshape(len(y), -1)
        scale = (grad.double() / flat_x.shape[1]).unsqueeze(1)  # mean's backward: g / S
        if torch.is_grad_enabled():  # create_graph=True: the same numbers, differentiable
            gradient = ((flat_x.double() - flat_y.double()) * 2 * scale).to(x.dtype)
            gradient = gradient.view(x.shape)
            return gradient, gradient.neg()
        buffers = _block_buffers(flat_x)
        gradient = torch.empty(flat_x.shape, dtype=x.dtype)
        for rows, columns in _blocks(*flat_x.shape):
            difference = _differences(flat_x, flat_y, rows, columns, buffers)
            difference.mul_(2).mul_(scale[rows])  # pow's backward, then the mean's
            gradient[rows, columns] = difference
        gradient = gradient.view(x.shape)
        return (gradient if ctx.needs_input_grad[0] else None,
                gradient.neg() if ctx.needs_input_grad[1] else None)


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
