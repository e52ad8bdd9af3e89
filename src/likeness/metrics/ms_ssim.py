"""Multi-scale SSIM on (N, C, H, W) tensors, as ``pytorch_msssim.ms_ssim`` computes it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.errors import ImageTooSmallError, InvalidInputError
from likeness.metrics._tensor_checks import check_data_range, check_image_batches
from likeness.metrics.ssim import (
    SSIM_CONVENTIONS,
    get_convention,
    ssim_and_contrast_structure,
)

__all__ = ["MS_SSIM_WEIGHTS", "ms_ssim", "ms_ssim_min_side"]

# Wang, Simoncelli & Bovik (2003), the exponents of the five scales, finest first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WINDOW = SSIM_CONVENTIONS["pytorch-msssim"]  # 11-tap gaussian, sigma 1.5, population cov.


def ms_ssim_min_side(scales: int, win_size: int = _WINDOW.win_size) -> int:
    """The shorter side must exceed this many pixels for ``scales`` scales."""
    return (win_size - 1) * 2 ** (scales - 1)


def ms_ssim(x: Tensor, y: Tensor, *, data_range: float,
            scale_weights: Sequence[float] | None = None, win_size: int | None = None,
            sigma: float | None = None, k1: float | None = None,
            k2: float | None = None) -> Tensor:
    """Multi-scale structural similarity of each pair in an (N, C, H, W) batch of images or
    an (N, C, T, H, W) batch of volumes (2×2×2 average pooling between scales, as
    pytorch-msssim pools 5-D inputs).

    pytorch-msssim's ``ms_ssim`` with its defaults: 11-tap gaussian (σ = 1.5), K = (0.01,
    0.03), 2×2 average pooling between scales (zero padding on odd sides, counted), the
    contrast-structure terms of the first scales and the SSIM of the last clipped at 0,
    raised to the scale weights and multiplied, then averaged over channels.

    Args:
        x, y: (N, C, H, W) or (N, C, T, H, W) batches of the same shape.
        data_range: the distance between the smallest and largest possible values.
        scale_weights: one exponent per scale, finest first (default: Wang et al. 2003's
            five).  Fewer weights mean fewer scales and smaller images allowed.
        win_size, sigma, k1, k2: pytorch-msssim's ``win_size``, ``win_sigma`` and ``K``
            (default 11, 1.5, 0.01, 0.03).

    Returns:
        (N,) tensor.

    Raises:
        ImageTooSmallError: the shorter side is not larger than 10·2^(scales−1) pixels.
        ValueError: shapes differ or data_range is not positive.

    Example:
        >>> x = torch.rand(1, 3, 176, 176)
        >>> ms_ssim(x, x, data_range=1.0)
        tensor([1.])

    References:
        Wang, Simoncelli & Bovik (2003), Multiscale structural similarity for image quality
        assessment. Asilomar Conference on Signals, Systems and Computers.
    """
    data_range = check_data_range(data_range)
    x, y = check_image_batches(x, y, volumes=True, data_range=data_range)
    window = get_convention("pytorch-msssim", win_size=win_size, sigma=sigma, k1=k1, k2=k2)
    weights = tuple(MS_SSIM_WEIGHTS if scale_weights is None else scale_weights)
    if not weights:
        raise InvalidInputError("scale_weights must hold at least one weight")
    scales = len(weights)
    min_side = ms_ssim_min_side(scales, window.win_size)
    height, width = x.shape[-2:]
    if min(x.shape[2:]) <= min_side:
        fewer = max(1, scales - 1)
        hint = (f"; or pass fewer scales, e.g. scale_weights={list(weights[:fewer])} "
                f"({fewer} scales need more than {ms_ssim_min_side(fewer, window.win_size)} px)"
                if scales > 1 else "")
        raise ImageTooSmallError(
            f"MS-SSIM with {scales} scales needs images whose shorter side exceeds "
            f"{min_side} px, got {'x'.join(map(str, x.shape[2:]))} "
            f"({'depth x ' if x.ndim == 5 else ''}height x width); use larger images{hint}"
        )
    weight_tensor = torch.tensor(weights, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    terms = []
    for scale in range(scales):
        ssim_pc, cs_pc = ssim_and_contrast_structure(x, y, data_range=data_range,
                                                     convention=window)
        if scale < scales - 1:
            terms.append(torch.relu(cs_pc))
            padding = [side % 2 for side in x.shape[2:]]
            pool = F.avg_pool3d if x.ndim == 5 else F.avg_pool2d
            x = pool(x, kernel_size=2, padding=padding)
            y = pool(y, kernel_size=2, padding=padding)
    terms.append(torch.relu(ssim_pc))
    per_channel = torch.prod(torch.stack(terms) ** weight_tensor, dim=0)
    return per_channel.mean(dim=1)
