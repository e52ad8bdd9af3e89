"""Gradient Magnitude Similarity Deviation (GMSD) and its multi-scale form (MS-GMSD),
batched torch on (N, C, H, W), differentiable, as piq 0.8 computes them.

- **GMSD** (Xue, Zhang, Mou & Bovik 2014): images scaled to [0, 1]; colour → the Y of YIQ;
  zero-padded at the bottom/right to even sizes and 2×2 average-pooled; Prewitt gradient
  magnitudes (3×3, zero padding); GMS = (2 m_x m_y + T) / (m_x² + m_y² + T) with
  T = 170 / 255²; GMSD = the standard deviation of the GMS map.  0 for identical images.
- **MS-GMSD** (Zhang, Sander & Bermak 2017): images scaled to [0, 255]; colour → YIQ;
  four scales (average-pooled by 2 between them, padded as above), each a GMSD of Y with
  T = 170 and masking α = 0.5; the square root of Σ w_s GMSD_s² with w = (0.096, 0.596,
  0.289, 0.019).  Images need at least 2⁴ + 1 = 17 px a side.

Lower is better for both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.errors import ImageTooSmallError

__all__ = ["MS_GMSD_WEIGHTS", "gmsd", "ms_gmsd"]

MS_GMSD_WEIGHTS = (0.096, 0.596, 0.289, 0.019)
_YIQ = ((0.299, 0.587, 0.114), (0.5959, -0.2746, -0.3213), (0.2115, -0.5227, 0.3112))


def _check(x: Tensor, y: Tensor, data_range: float) -> None:
    if x.ndim != 4 or x.shape != y.shape:
        raise ValueError(f"expected two (N, C, H, W) tensors of one shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"expected 1 or 3 channels, got {x.shape[1]}")
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")


def _yiq(x: Tensor) -> Tensor:
    weights = torch.tensor(_YIQ, dtype=x.dtype, device=x.device).t()
    return torch.matmul(x.permute(0, 2, 3, 1), weights).permute(0, 3, 1, 2)


def _halve(x: Tensor) -> Tensor:
    """Zero-pad the bottom and right to even sizes, then 2×2 average pooling."""
    pad = max(x.shape[2] % 2, x.shape[3] % 2)
    return F.avg_pool2d(F.pad(x, [0, pad, 0, pad]), kernel_size=2, stride=2, padding=0)


def _gradient_magnitude(x: Tensor) -> Tensor:
    prewitt = torch.tensor([[[-1.0, 0.0, 1.0]] * 3], dtype=x.dtype, device=x.device) / 3
    kernels = torch.stack([prewitt, prewitt.transpose(-1, -2)])
    gradients = F.conv2d(x, kernels, padding=1)
    return torch.sqrt(torch.sum(gradients**2, dim=-3, keepdim=True))


def _deviation(x: Tensor, y: Tensor, t: float, alpha: float = 0.0) -> Tensor:
    mx, my = _gradient_magnitude(x), _gradient_magnitude(y)
    gms = ((2.0 * mx * my - alpha * mx * my + t)
           / (mx**2 + my**2 - alpha * mx * my + t))
    mean = torch.mean(gms, dim=[1, 2, 3], keepdim=True)
    return torch.pow(gms - mean, 2).mean(dim=[1, 2, 3]).sqrt()


def gmsd(x: Tensor, y: Tensor, *, data_range: float = 1.0,
         t: float = 170 / (255.0**2)) -> Tensor:
    """GMSD of each image pair: (N,), in the inputs' float dtype (see the module docs).

    Raises:
        ValueError: shapes differ, not 4-D, or not 1 or 3 channels.
    """
    _check(x, y, data_range)
    x, y = x / float(data_range), y / float(data_range)
    if x.shape[1] == 3:
        x, y = _yiq(x)[:, :1], _yiq(y)[:, :1]
    return _deviation(_halve(x), _halve(y), t)


def ms_gmsd(x: Tensor, y: Tensor, *, data_range: float = 1.0, alpha: float = 0.5,
            t: float = 170.0) -> Tensor:
    """MS-GMSD of each image pair: (N,), in the inputs' float dtype (see the module docs).

    Raises:
        ImageTooSmallError: a side shorter than 17 px.
        ValueError: shapes differ, not 4-D, or not 1 or 3 channels.
    """
    _check(x, y, data_range)
    x, y = x / float(data_range) * 255, y / float(data_range) * 255
    weights = torch.tensor(MS_GMSD_WEIGHTS, device=x.device, dtype=x.dtype)
    scales = weights.shape[0]
    smallest = 2**scales + 1
    if min(x.shape[-2:]) < smallest:
        raise ImageTooSmallError(f"MS-GMSD needs images of at least {smallest}x{smallest} px, "
                                 f"got {x.shape[-1]}x{x.shape[-2]}")
    if x.shape[1] == 3:
        x, y = _yiq(x), _yiq(y)
    deviations = []
    for scale in range(scales):
        if scale > 0:
            x, y = _halve(x), _halve(y)
        deviations.append(_deviation(x[:, :1], y[:, :1], t, alpha))
    return torch.sqrt(torch.sum(weights.view(1, scales)
                                * torch.stack(deviations, dim=1) ** 2, dim=1))
