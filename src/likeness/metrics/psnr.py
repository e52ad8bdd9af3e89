"""Batched PSNR and MSE on (N, C, H, W) tensors."""

from __future__ import annotations

import torch
from torch import Tensor

from likeness.metrics.tensor_checks import check_data_range, check_image_batches

__all__ = ["mse", "psnr"]


def mse(x: Tensor, y: Tensor) -> Tensor:
    """Mean squared error of each pair of an (N, C, H, W) batch, accumulated in float64.

    Example:
        >>> mse(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2))
        tensor([1.], dtype=torch.float64)
    """
    x, y = check_image_batches(x, y)
    # accumulate in float64: a sum over millions of pixels
    return (x.double() - y.double()).pow(2).flatten(1).mean(dim=1)


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
