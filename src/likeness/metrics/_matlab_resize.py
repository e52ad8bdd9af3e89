"""MATLAB's ``imresize`` (bicubic, a = −0.5, antialiased when shrinking, symmetric
borders) as two matrix products, with the sampling positions piq's ``imresize`` uses."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _cubic(distance: Tensor) -> Tensor:
    a = -0.5
    d = distance.abs()
    near = ((a + 2) * d**3 - (a + 3) * d**2 + 1) * (d <= 1)
    far = (a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a) * ((d > 1) & (d <= 2))
    return near + far


def _weights(size_in: int, size_out: int, scale: float, like: Tensor) -> Tensor:
    """(size_out, size_in) interpolation matrix along one axis."""
    taps = 4
    shrink = min(scale, 1.0)
    if scale < 1:
        taps = math.ceil(taps / scale)
    taps += 2
    position = (torch.arange(size_out, dtype=like.dtype, device=like.device) + 0.5) / scale - 0.5
    first = torch.floor(position) - taps // 2 + 1
    offsets = torch.arange(taps, dtype=like.dtype, device=like.device)
    weights = _cubic(((position - first)[:, None] - offsets[None, :]) * shrink)
    weights = weights / weights.sum(dim=1, keepdim=True)
    index = (first[:, None] + offsets[None, :]).long()
    # symmetric borders: -1 → 0, size → size - 1 (the edge pixel repeated), period 2·size
    index = torch.remainder(index, 2 * size_in)
    index = torch.where(index >= size_in, 2 * size_in - 1 - index, index)
    matrix = torch.zeros(size_out, size_in, dtype=like.dtype, device=like.device)
    return matrix.index_put_((torch.arange(size_out, device=like.device)[:, None]
                              .expand_as(index), index), weights, accumulate=True)


def matlab_resize(x: Tensor, height: int, width: int, scale: float | None = None) -> Tensor:
    """Resize (N, C, H, W) to (N, C, height, width) as MATLAB's ``imresize`` (bicubic);
    ``scale`` (``imresize(x, scale)``) sets the sampling step instead of the size ratio."""
    if (height, width) == tuple(x.shape[-2:]):
        return x
    rows = _weights(x.shape[-2], height, scale or height / x.shape[-2], x)
    columns = _weights(x.shape[-1], width, scale or width / x.shape[-1], x)
    return rows @ x @ columns.t()
