"""Gradient Magnitude Similarity Deviation (GMSD) and its multi-scale form (MS-GMSD),
batched torch on (N, C, H, W), differentiable, as piq 0.8 computes them.

- **GMSD** (Xue, Zhang, Mou & Bovik 2014): images scaled to [0, 1]; colour → the Y of YIQ;
  zero-padded at the bottom/right to even sizes and 2×2 average-pooled; Prewitt gradient
  magnitudes (3×3, zero padding); GMS = (2 m_x m_y + T) / (m_x² + m_y² + T) with
  T = 170 / 255²; GMSD = the standard deviation of the GMS map.  0 for identical images.
- **MS-GMSD** (Zhang, Sander & Bermak 2017): images scaled to [0, 255]; colour → YIQ;
  four scales (average-pooled by 2 between them, padded as above), each a GMSD of Y with
  T = 170 and masking α = 0.5; the square root of Σ w_s GMSD_s² with w = (0.096, 0.596,
  0.289, 0.019).  Images need at least 2⁴ + 1 = 17 px a side.  ``chromatic=True``: the
  paper's MS-GMSDc, as piq computes it — the RMSE of I and Q at the coarsest scale, c,
  weighed in by γ = 2 / (1 + β₂ exp(−β₃ MS-GMSD)) − 1: γ MS-GMSD + (1 − γ) β₁ c.

Lower is better for both.  ``convention="matlab"`` follows the authors' MATLAB code
where piq departs from it: MATLAB's ``std2`` (N − 1) and, for colour, MATLAB's
``rgb2gray`` (rounded on 8- and 16-bit images) instead of YIQ's Y.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from likeness.arguments import check_flags, check_numbers
from likeness.errors import ImageTooSmallError, InvalidInputError, UnsupportedImageError
from likeness.metrics._image_maps import (
    YIQ,
    check_convention,
    colour_transform,
    gradient_similarity,
    halve,
    matlab_gray,
    on_255_scale,
    scale_weights_of,
    yiq_luma,
)
from likeness.metrics._safe_roots import safe_sqrt
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.tensor_checks import check_gray_or_rgb_pairs

__all__ = ["MS_GMSD_WEIGHTS", "gmsd", "ms_gmsd"]

MS_GMSD_WEIGHTS = (0.096, 0.596, 0.289, 0.019)


def _check(x: Tensor, y: Tensor, data_range: float) -> tuple[Tensor, Tensor]:
    return check_gray_or_rgb_pairs(x, y, data_range)


def _luma(x: Tensor, y: Tensor, data_range: float, matlab: bool) -> tuple[Tensor, Tensor]:
    """Colour → the Y of YIQ (piq), or MATLAB's ``rgb2gray`` (``GMSD.m`` takes gray
    images; the published values were computed on ``rgb2gray`` of 8-bit files)."""
    if x.shape[1] != 3:
        return x, y
    if matlab:
        return matlab_gray(x, data_range), matlab_gray(y, data_range)
    return yiq_luma(x), yiq_luma(y)


def _deviation(x: Tensor, y: Tensor, t: float, alpha: float = 0.0,
               unbiased: bool = False) -> Tensor:
    """The standard deviation of the similarity map: the population's (piq), or with
    N − 1 as MATLAB's ``std2`` (the authors' ``GMSD.m``)."""
    gms = gradient_similarity(x, y, t, alpha=alpha)
    mean = torch.mean(gms, dim=[1, 2, 3], keepdim=True)
    squares = torch.pow(gms - mean, 2)
    count = squares[0].numel()
    if unbiased:
        variance = squares.sum(dim=[1, 2, 3]) / max(count - 1, 1)
    else:
        variance = squares.mean(dim=[1, 2, 3])
    return safe_sqrt(variance)  # 0 for identical images


@as_defined
def gmsd(x: Tensor, y: Tensor, *, data_range: float = 1.0,
         t: float = 170 / (255.0**2), convention: str = "piq") -> Tensor:
    """GMSD of each image pair: (N,), in the inputs' float dtype (see the module docs).

    Args:
        convention: ``"piq"`` (the population standard deviation) or ``"matlab"`` (the
            authors' ``GMSD.m``: ``std2``, with N − 1; colour through MATLAB's
            ``rgb2gray``).

    Raises:
        ValueError: shapes differ, not 4-D, or not 1 or 3 channels; another convention.
    """
    unbiased = check_convention(convention)
    check_numbers({"t": t}, positive=("t",))
    x, y = _luma(*_check(x, y, data_range), data_range, unbiased)
    x, y = x / float(data_range), y / float(data_range)
    return _deviation(halve(x), halve(y), t, unbiased=unbiased)


@as_defined
def ms_gmsd(x: Tensor, y: Tensor, *, data_range: float = 1.0, alpha: float = 0.5,
            t: float = 170.0, scale_weights: Tensor | Sequence[float] | None = None,
            chromatic: bool = False, beta1: float = 0.01, beta2: float = 0.32,
            beta3: float = 15.0, convention: str = "piq") -> Tensor:
    """MS-GMSD of each image pair: (N,), in the inputs' float dtype (see the module docs).

    Args:
        scale_weights: a weight per scale (as many scales), normalised to sum 1, as piq's;
            None: the paper's four.
        chromatic: MS-GMSDc (RGB images only), with ``beta1``, ``beta2``, ``beta3``.
        convention: ``"piq"`` or ``"matlab"`` (each scale's deviation with N − 1, as
            MATLAB's ``std2``; colour through MATLAB's ``rgb2gray``).

    Raises:
        ImageTooSmallError: a side shorter than 2^scales + 1 px (17 for four scales).
        ValueError: shapes differ, not 4-D, or not 1 or 3 channels; another convention;
            ``chromatic`` with gray images or the ``"matlab"`` convention.
    """
    unbiased = check_convention(convention)
    check_numbers({"alpha": alpha, "t": t, "beta1": beta1, "beta2": beta2, "beta3": beta3},
                  positive=("t",))
    check_flags(chromatic=chromatic)
    x, y = _check(x, y, data_range)
    weights = scale_weights_of(scale_weights, MS_GMSD_WEIGHTS, x)
    if chromatic:
        if x.shape[1] != 3:
            raise UnsupportedImageError(
                f"MS-GMSD with chromatic=True (MS-GMSDc) compares colour: it needs RGB images "
                f"(N, 3, H, W), got {x.shape[1]}-channel images; pass chromatic=False")
        if unbiased:
            raise InvalidInputError("chromatic=True is MS-GMSDc as piq computes it (YIQ, "
                                    "population deviations): pass convention='piq'")
        x, y = colour_transform(x, YIQ), colour_transform(y, YIQ)
    else:
        x, y = _luma(x, y, data_range, unbiased)
    x, y = on_255_scale(x, data_range), on_255_scale(y, data_range)
    scales = weights.shape[0]
    smallest = 2**scales + 1
    if min(x.shape[-2:]) < smallest:
        raise ImageTooSmallError(f"MS-GMSD needs images of at least {smallest}x{smallest} px, "
                                 f"got {x.shape[-1]}x{x.shape[-2]}")
    deviations = []
    for scale in range(scales):
        if scale > 0:
            x, y = halve(x), halve(y)
        deviations.append(_deviation(x[:, :1], y[:, :1], t, alpha, unbiased))
    value = safe_sqrt(torch.sum(weights.view(1, scales)
                                * torch.stack(deviations, dim=1) ** 2, dim=1))
    if not chromatic:
        return value
    chroma = safe_sqrt(torch.sum(torch.mean((x[:, 1:] - y[:, 1:]) ** 2, dim=[2, 3]), dim=1))
    gamma = 2 / (1 + beta2 * torch.exp(-beta3 * value)) - 1
    return gamma * value + (1 - gamma) * beta1 * chroma
