"""Input checks shared by the batched torch metrics."""

from __future__ import annotations

import torch
from torch import Tensor


def check_image_batches(x: Tensor, y: Tensor, *,
                        volumes: bool = False) -> tuple[Tensor, Tensor]:
    """Check that x and y are (N, C, H, W) batches of one shape — or (N, C, T, H, W)
    volumes where ``volumes`` — and return them as floats.

    Integer tensors are converted to float64 (exact for 8- and 16-bit values); floating
    tensors keep their dtype.

    Raises:
        TypeError: if x or y is not a tensor.
        ValueError: if they are not 4-D or their shapes differ.
    """
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(
            f"expected torch tensors, got {type(x).__name__} and {type(y).__name__}; "
            "use torch.from_numpy(...) or the numpy functions (structural_similarity, ...)"
        )
    allowed = (4, 5) if volumes else (4,)
    if x.ndim not in allowed or y.ndim not in allowed:
        kinds = "(N, C, H, W) batches or (N, C, T, H, W) volumes" if volumes else \
            "(N, C, H, W) batches"
        raise ValueError(
            f"expected {kinds}, got shapes {tuple(x.shape)} and {tuple(y.shape)}; "
            "add a batch axis with x[None] for a single image"
        )
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    if not x.is_floating_point():
        x = x.to(torch.float64)
    if not y.is_floating_point():
        y = y.to(torch.float64)
    return x, y


def check_data_range(data_range: float) -> float:
    """Return data_range as a float, refusing values that are not positive."""
    if not data_range > 0:
        raise ValueError(
            f"data_range must be positive, got {data_range}; it is the distance between the "
            "smallest and largest possible values (255 for 8-bit images, 1.0 for [0, 1])"
        )
    return float(data_range)


def check_gray_or_rgb_pairs(x: Tensor, y: Tensor) -> None:
    """Raise ``ValueError`` unless x and y are (N, 1 or 3, H, W) tensors of one shape (the
    classical metrics' inputs: gray or RGB)."""
    if x.ndim != 4 or x.shape != y.shape or x.shape[1] not in (1, 3):
        raise ValueError(f"expected two (N, C, H, W) tensors of one shape with 1 or 3 "
                         f"channels, got {tuple(x.shape)} and {tuple(y.shape)}")
