"""Building blocks piq's gradient and wavelet metrics share (GMSD, MS-GMSD, MDSI, HaarPSI):
colour transforms, even-size 2×2 pooling, Prewitt gradient magnitudes and the similarity
map, each with piq's arithmetic."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

YIQ = ((0.299, 0.587, 0.114), (0.5959, -0.2746, -0.3213), (0.2115, -0.5227, 0.3112))
LHM = ((0.2989, 0.587, 0.114), (0.3, 0.04, -0.35), (0.34, -0.6, 0.17))


def colour_transform(x: Tensor, matrix: tuple[tuple[float, ...], ...]) -> Tensor:
    """(N, 3, H, W) RGB through a 3×3 colour matrix (rows: output channels)."""
    weights = torch.tensor(matrix, dtype=x.dtype, device=x.device).t()
    return torch.matmul(x.permute(0, 2, 3, 1), weights).permute(0, 3, 1, 2)


def halve(x: Tensor) -> Tensor:
    """Zero-pad the bottom and right to even sizes, then 2×2 average pooling."""
    pad = max(x.shape[2] % 2, x.shape[3] % 2)
    return F.avg_pool2d(F.pad(x, [0, pad, 0, pad]), kernel_size=2, stride=2, padding=0)


def gradient_magnitude(x: Tensor) -> Tensor:
    """Prewitt gradient magnitude of (N, 1, H, W), zero padding, as piq."""
    prewitt = torch.tensor([[[-1.0, 0.0, 1.0]] * 3], dtype=x.dtype, device=x.device) / 3
    kernels = torch.stack([prewitt, prewitt.transpose(-1, -2)])
    gradients = F.conv2d(x, kernels, padding=1)
    return torch.sqrt(torch.sum(gradients**2, dim=-3, keepdim=True))


def similarity(a: Tensor, b: Tensor, constant: float, alpha: float = 0.0) -> Tensor:
    """(2ab − α ab + c) / (a² + b² − α ab + c), piq's ``similarity_map``."""
    return ((2.0 * a * b - alpha * a * b + constant)
            / (a**2 + b**2 - alpha * a * b + constant))
