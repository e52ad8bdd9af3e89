"""Visual Information Fidelity in the pixel domain (VIFp), batched torch on (N, C, H, W),
differentiable, as piq 0.8 computes it.

Sheikh & Bovik (2006), in the pixel-domain form: colour → luma (0.299 R + 0.587 G +
0.114 B) on the [0, 255] scale; four scales with gaussian windows of 17, 9, 5 and 3 taps
(σ = size / 5, applied separably: the same sums to float rounding), each scale after the
first filtered and subsampled by 2 (valid convolutions); per window the gain
g = σ_xy / σ_y², the distortion noise σ_v² = σ_x² − g σ_xy, with piq's guards for flat
windows (1e-8); VIFp = Σ log10(1 + g² σ_y² / (σ_v² + σ_n²)) / Σ log10(1 + σ_y² / σ_n²),
σ_n² = 2.  y is the reference, x the
distorted image; 1 for identical images, higher is better (above 1 for contrast
enhancement).  Images need at least 41 px a side.
"""

from __future__ import annotations

import torch
from torch import Tensor

from likeness.arguments import check_numbers
from likeness.errors import ImageTooSmallError, InvalidInputError
from likeness.metrics._filters import correlate_2d
from likeness.metrics._image_maps import check_convention, matlab_gray, on_255_scale
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.tensor_checks import check_gray_or_rgb_pairs

__all__ = ["vif_p"]

_EPS = 1e-8  # piq's threshold for flat windows and its guard in the final ratio


def _gaussian(size: int, sigma: float, like: Tensor) -> Tensor:
    """piq's normalised 2-D gaussian is the outer product of this normalised 1-D one."""
    coords = torch.arange(size, dtype=like.dtype, device=like.device)
    coords -= (size - 1) / 2.0
    kernel = (-(coords**2) / (2 * sigma**2)).exp()
    return kernel / kernel.sum()


def _filter(x: Tensor, kernel: Tensor) -> Tensor:
    """Valid 2-D filtering by the separable gaussian: a column pass, then a row pass (the
    same sums as piq's 2-D kernel to float rounding, ~10x fewer operations;
    ``correlate_2d``: float64 by shifted slices)."""
    size = kernel.shape[0]
    return correlate_2d(correlate_2d(x, kernel.view(size, 1)), kernel.view(1, size))


@as_defined
def vif_p(x: Tensor, y: Tensor, *, data_range: float = 1.0, sigma_n_sq: float = 2.0,
          convention: str = "piq") -> Tensor:
    """VIFp of each pair: x distorted, y reference; (N,) in the inputs' float dtype.

    Args:
        convention: ``"piq"`` (colour → 0.299 R + 0.587 G + 0.114 B) or ``"matlab"``
            (``vifp_mscale.m``: its thresholds of 1e-10 instead of piq's 1e-8; it takes
            gray images: colour through MATLAB's ``rgb2gray``).

    Raises:
        ImageTooSmallError: a side shorter than 41 px.
        InvalidInputError: shapes differ, not 4-D, not 1 or 3 channels, non-finite
            values or values outside [0, data_range].
    """
    matlab = check_convention(convention)
    check_numbers({"sigma_n_sq": sigma_n_sq})
    if sigma_n_sq <= 0:  # the visual noise's variance: log10(1 + …/0) would be +inf
        raise InvalidInputError(f"sigma_n_sq must be positive, got {sigma_n_sq}")
    x, y = check_gray_or_rgb_pairs(x, y, data_range)
    if matlab and x.shape[1] == 3:
        x, y = matlab_gray(x, data_range), matlab_gray(y, data_range)
    if min(x.shape[-2:]) < 41:
        raise ImageTooSmallError(f"VIFp needs images of at least 41x41 px, got "
                                 f"{x.shape[-1]}x{x.shape[-2]}")
    x, y = on_255_scale(x, data_range), on_255_scale(y, data_range)
    if x.shape[1] == 3:
        x = (0.299 * x[:, 0, :, :] + 0.587 * x[:, 1, :, :] + 0.114 * x[:, 2, :, :])[:, None]
        y = (0.299 * y[:, 0, :, :] + 0.587 * y[:, 1, :, :] + 0.114 * y[:, 2, :, :])[:, None]
    eps = 1e-10 if matlab else _EPS  # vifp_mscale.m's thresholds; piq's are 1e-8
    x_vif: Tensor | float = 0
    y_vif: Tensor | float = 0
    for scale in range(4):
        size = 2 ** (4 - scale) + 1
        kernel = _gaussian(size, size / 5, x)
        if scale > 0:
            x, y = _filter(torch.cat((x, y)), kernel)[:, :, ::2, ::2].split(len(x))
        # the five filtered moments in one pass (each image's own arithmetic)
        mu_x, mu_y, xx, yy, xy = _filter(torch.cat((x, y, x**2, y**2, x * y)),
                                         kernel).split(len(x))
        mu_x_sq, mu_y_sq, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
        sigma_x_sq = torch.relu(xx - mu_x_sq)
        sigma_y_sq = torch.relu(yy - mu_y_sq)
        sigma_xy = xy - mu_xy
        g = sigma_xy / (sigma_y_sq + eps)
        sigma_v_sq = sigma_x_sq - g * sigma_xy
        g = torch.where(sigma_y_sq >= eps, g, torch.zeros_like(g))
        sigma_v_sq = torch.where(sigma_y_sq >= eps, sigma_v_sq, sigma_x_sq)
        sigma_y_sq = torch.where(sigma_y_sq >= eps, sigma_y_sq, torch.zeros_like(sigma_y_sq))
        g = torch.where(sigma_x_sq >= eps, g, torch.zeros_like(g))
        sigma_v_sq = torch.where(sigma_x_sq >= eps, sigma_v_sq, torch.zeros_like(sigma_v_sq))
        sigma_v_sq = torch.where(g >= 0, sigma_v_sq, sigma_x_sq)
        g = torch.relu(g)
        sigma_v_sq = torch.where(sigma_v_sq > eps, sigma_v_sq,
                                 torch.ones_like(sigma_v_sq) * eps)
        x_vif = x_vif + torch.sum(
            torch.log10(1.0 + (g**2.0) * sigma_y_sq / (sigma_v_sq + sigma_n_sq)), dim=[1, 2, 3])
        y_vif = y_vif + torch.sum(torch.log10(1.0 + sigma_y_sq / sigma_n_sq), dim=[1, 2, 3])
    return (x_vif + eps) / (y_vif + eps)  # type: ignore[return-value]
