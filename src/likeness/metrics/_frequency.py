"""Frequency-plane helpers of the phase-congruency and saliency metrics (FSIM, VSI):
the centred coordinate grid and ``ifftshift``, with piq's (and MATLAB's) conventions."""

from __future__ import annotations

import torch
from torch import Tensor


def _axis(size: int, like: Tensor) -> Tensor:
    # odd sizes span [-0.5, 0.5]; even sizes [-0.5, 0.5) in steps of 1/size
    if size % 2:
        return torch.arange(-(size - 1) / 2, size / 2, dtype=like.dtype,
                            device=like.device) / (size - 1)
    return torch.arange(-size / 2, size / 2, dtype=like.dtype, device=like.device) / size


def centred_grid(height: int, width: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """Normalised frequency coordinates (rows, columns), zero at the centre, (H, W) each."""
    rows, columns = torch.meshgrid(_axis(height, like), _axis(width, like), indexing="ij")
    return rows, columns


def ifftshift(x: Tensor) -> Tensor:
    """Move the centre of the last two axes to the top-left corner (``numpy.fft.ifftshift``)."""
    return torch.roll(x, [-(x.shape[-2] // 2), -(x.shape[-1] // 2)], (-2, -1))
