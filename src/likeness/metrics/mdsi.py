"""Mean Deviation Similarity Index (MDSI), batched torch on (N, C, H, W), differentiable,
as piq 0.8 computes it with its defaults (the "sum" combination).

Nafchi, Shahkolaei, Hedjam & Cheriet (2016): images on the [0, 255] scale (gray images
replicated to RGB, recorded by the caller); average-pooled by max(1, round(min(H, W) /
256)) (Python's rounding of halves to even, as piq; padded as piq pads); the LHM colour
space; gradient similarity of L with the average image's gradients (Prewitt, C1 = 140,
C2 = 55) and chromaticity similarity of H, M (C3 = 550), combined 0.6 : 0.4; the deviation
of the combined map's complex 0.25-th power around its mean, to the power 0.25.  0 for
identical images, lower is better.  piq's constants are arguments (``c1``, ``c2``, ``c3``,
``alpha``, ``rho``, ``q``, ``o``), and so is its ``"mult"`` combination, computed as piq
computes it: of the two maps' complex powers (γ, β), the real parts multiplied and the
imaginary parts added.
"""

from __future__ import annotations

import torch
from torch import Tensor

from likeness.arguments import check_numbers
from likeness.errors import InvalidInputError
from likeness.metrics._image_maps import (
    LHM,
    check_convention,
    colour_transform,
    gradient_magnitude,
    matlab_box_downsample,
    matlab_downsampling_factor,
    on_255_scale,
    padded_block_mean,
    real_angle,
    similarity,
)
from likeness.metrics._safe_roots import safe_pow, safe_sqrt
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.tensor_checks import check_gray_or_rgb_pairs

__all__ = ["mdsi"]



def _complex_power(base: Tensor, exponent: float) -> Tensor:
    """A real tensor — or complex numbers as (…, 2) real and imaginary parts — to a real
    power, as complex numbers: (…, 2) real and imaginary parts."""
    if base.shape[-1:] == (2,) and base.ndim == 5:
        radius = safe_pow(safe_sqrt(base.pow(2).sum(dim=-1)), exponent)
        angle = torch.atan2(base[..., 1], base[..., 0]) * exponent
    else:
        radius = safe_pow(base.abs(), exponent)
        angle = real_angle(base) * exponent
    return torch.stack((radius * torch.cos(angle), radius * torch.sin(angle)), dim=-1)


@as_defined
def mdsi(x: Tensor, y: Tensor, *, data_range: float = 1.0, c1: float = 140.0,
         c2: float = 55.0, c3: float = 550.0, combination: str = "sum", alpha: float = 0.6,
         beta: float = 0.1, gamma: float = 0.2, rho: float = 1.0, q: float = 0.25,
         o: float = 0.25, convention: str = "piq") -> Tensor:
    """MDSI of each pair: (N,), in the inputs' float dtype (see the module docs).

    Args:
        combination: ``"sum"`` (α) or piq's ``"mult"`` (γ, β; the ``"piq"`` convention).
        convention: ``"piq"`` or ``"matlab"`` (``MDSI.m``: f rounded as MATLAB rounds,
            halves up — 640 px a side gives 3, not piq's 2).

    Raises:
        ValueError: shapes differ, not 4-D, or not 1 or 3 channels; another convention or
            combination; a constant that is not a finite number, ``rho`` 0.
    """
    matlab = check_convention(convention)
    check_numbers({"c1": c1, "c2": c2, "c3": c3, "alpha": alpha, "beta": beta,
                   "gamma": gamma, "rho": rho, "q": q, "o": o}, positive=("c1", "c2", "c3"))
    if combination not in ("sum", "mult"):
        raise InvalidInputError(f"combination must be 'sum' or 'mult', got {combination!r}")
    if combination == "mult" and matlab:
        raise InvalidInputError("combination='mult' is computed as piq computes it: pass "
                                "convention='piq'")
    if rho == 0:
        raise InvalidInputError("rho must not be 0: the pooling divides by it")
    x, y = check_gray_or_rgb_pairs(x, y, data_range)
    if x.shape[1] == 1:
        x, y = x.repeat(1, 3, 1, 1), y.repeat(1, 3, 1, 1)
    # piq scales, then pools (linear steps): here the pooled images are scaled (the same
    # values within rounding, ~1e-16 relative; at 1024×768, 9× fewer pixels)
    if matlab:  # MDSI.m: conv2(…, 'same') of an f×f average, sampled at 1:f:end
        size = matlab_downsampling_factor(x)
        x, y = matlab_box_downsample(x, size), matlab_box_downsample(y, size)
    else:
        size = max(1, round(min(x.shape[-2:]) / 256))
        before, after = (size - 1) // 2, size // 2
        x, y = (padded_block_mean(x, size, (before, after, before, after)),
                padded_block_mean(y, size, (before, after, before, after)))
    x, y = on_255_scale(x, data_range), on_255_scale(y, data_range)
    x_lhm, y_lhm = colour_transform(x, LHM), colour_transform(y, LHM)
    gm_x = gradient_magnitude(x_lhm[:, :1])
    gm_y = gradient_magnitude(y_lhm[:, :1])
    gm_average = gradient_magnitude((x_lhm[:, :1] + y_lhm[:, :1]) / 2.0)
    gradient = (similarity(gm_x, gm_y, c1) + similarity(gm_x, gm_average, c2)
                - similarity(gm_y, gm_average, c2))
    chroma = ((2 * (x_lhm[:, 1:2] * y_lhm[:, 1:2] + x_lhm[:, 2:] * y_lhm[:, 2:]) + c3)
              / (x_lhm[:, 1:2] ** 2 + y_lhm[:, 1:2] ** 2 + x_lhm[:, 2:] ** 2
                 + y_lhm[:, 2:] ** 2 + c3))
    if combination == "sum":
        combined = alpha * gradient + (1 - alpha) * chroma
    else:  # piq's: the real parts multiplied, the imaginary parts added
        gradient_power, chroma_power = _complex_power(gradient, gamma), _complex_power(
            chroma, beta)
        combined = torch.stack((gradient_power[..., 0] * chroma_power[..., 0],
                                gradient_power[..., 1] + chroma_power[..., 1]), dim=-1)
    powered = _complex_power(combined, q)
    mean = powered.mean(dim=2, keepdim=True).mean(dim=3, keepdim=True)
    score = safe_sqrt((powered - mean).pow(2).sum(dim=-1))  # piq computes powered twice
    return ((safe_pow(score, rho) if rho != 1 else score).mean(dim=(-1, -2))
            ** (o / rho)).squeeze(1)
