"""Visual Saliency-induced Index (VSI), batched torch on (N, C, H, W), differentiable,
as piq 0.8 computes it with its defaults.

Zhang, Shen & Li (2014): images on the [0, 255] scale; gray images are compared as RGB
with the gray channel repeated (piq does the same).  Saliency by SDSP (Zhang, Gong & Zhang
2013) on the image resized bilinearly to 256×256: a log-Gabor band-pass (ω₀ = 0.021,
σ_F = 1.34) of CIELAB, a centre prior (σ_D = 145) and a colour prior (σ_C = 0.001) on
min–max-normalised a*, b*, resized back and scaled to [0, 1] per image.  Then LMN colour,
replicate-padded average pooling by f = max(1, round(min(H, W) / 256)), Scharr gradient
magnitudes of L; VSI = Σ S_VS S_G^0.4 Re(S_C^0.02) VS_max / Σ VS_max with C1 = 1.27,
C2 = 386, C3 = 130.  1 for identical images, higher is better.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.arguments import check_numbers
from likeness.metrics._frequency import centred_grid, ifftshift
from likeness.metrics._image_maps import (
    LMN,
    colour_transform,
    downsampling_factor,
    gradient_similarity,
    on_255_scale,
    padded_block_mean,
    real_angle,
    rgb_to_lab,
    similarity,
)
from likeness.metrics._safe_roots import safe_pow
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.tensor_checks import check_gray_or_rgb_pairs

__all__ = ["vsi"]

_SALIENCY_SIZE = 256


def _per_image_unit_range(x: Tensor, extremes_of: Tensor | None = None) -> Tensor:
    """(x − min) / (max − min + ε) per image, the extremes those of ``extremes_of`` (the
    full-size map whose block means ``x`` holds) or of ``x``."""
    source = x if extremes_of is None else extremes_of
    lowest = source.amin(dim=(-2, -1), keepdim=True)
    highest = source.amax(dim=(-2, -1), keepdim=True)
    return (x - lowest) / (highest - lowest + torch.finfo(x.dtype).eps)


@functools.lru_cache(maxsize=16)
def _saliency_filters(size: int, omega_0: float, sigma_f: float, sigma_d: float,
                      dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """SDSP's (log-Gabor filter's half spectrum, centre prior), each (size, size // 2 + 1)
    and (size, size): the same for every image (built once, read only)."""
    like = torch.empty(0, dtype=dtype, device=device)
    rows, columns = centred_grid(size, size, like)
    radius = torch.sqrt(rows**2 + columns**2)
    radius = ifftshift(radius * (radius <= 0.5))
    radius[0, 0] = 1
    log_gabor = torch.exp(-torch.log(radius / omega_0) ** 2 / (2 * sigma_f**2))
    log_gabor[0, 0] = 0
    centre_prior = torch.exp(-((rows * size + 1) ** 2 + (columns * size + 1) ** 2)
                             / sigma_d**2)
    # the filter is radially symmetric on the DFT's grid (even: its transform is real), so
    # the half spectrum of a real transform gives piq's ifft2(…).real within rounding
    # (~1e-15 relative) in half the time
    return log_gabor[..., :size // 2 + 1].contiguous(), centre_prior


def _sdsp_saliency(images: tuple[Tensor, ...], data_range: float, factor: int,
                   omega_0: float = 0.021, sigma_f: float = 1.34, sigma_d: float = 145.0,
                   sigma_c: float = 0.001) -> Tensor:
    """SDSP saliency of RGB (or gray) images (N, C, H, W) in [0, ``data_range``], the
    batches of ``images`` concatenated: (N, 1, H, W) in [0, 1], then block means as
    ``_downsampled`` takes them.  The scaling to [0, 255] is done on the 256² images (it
    is linear, as the resizing is), and the scaling to [0, 1] after the block means (it
    is affine): the same values within rounding, without three image-sized arrays."""
    size = _SALIENCY_SIZE
    small = torch.cat([F.interpolate(x, size=(size, size), mode="bilinear",
                                     align_corners=False) for x in images])
    small = _as_rgb(on_255_scale(small, data_range, multiply_first=True))
    lab = rgb_to_lab(small / 255.0)
    log_gabor, centre_prior = _saliency_filters(size, omega_0, sigma_f, sigma_d, lab.dtype,
                                                lab.device)
    band = torch.fft.irfft2(torch.fft.rfft2(lab) * log_gabor, s=(size, size))
    frequency_prior = band.pow(2).sum(dim=1, keepdim=True).sqrt()
    chroma = _per_image_unit_range(lab)[:, 1:].pow(2).sum(dim=1, keepdim=True)
    colour_prior = 1 - torch.exp(-chroma / sigma_c**2)
    saliency = frequency_prior * centre_prior * colour_prior
    saliency = F.interpolate(saliency, images[0].shape[-2:], mode="bilinear",
                             align_corners=True)
    return _per_image_unit_range(_downsampled(saliency, factor), extremes_of=saliency)


def _as_rgb(x: Tensor) -> Tensor:
    """Gray images (N, 1, H, W) as RGB with the gray channel repeated, as piq compares them."""
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


def _downsampled(x: Tensor, factor: int) -> Tensor:
    """piq's replicate padding and average pooling by ``factor``."""
    return padded_block_mean(x, factor, (factor // 2, (factor - 1) // 2) * 2, replicate=True)


@as_defined
def vsi(x: Tensor, y: Tensor, *, data_range: float = 1.0, c1: float = 1.27,
        c2: float = 386.0, c3: float = 130.0, alpha: float = 0.4, beta: float = 0.02,
        omega_0: float = 0.021, sigma_f: float = 1.34, sigma_d: float = 145.0,
        sigma_c: float = 0.001) -> Tensor:
    """VSI of each pair: (N,), in the inputs' float dtype (see the module docs); piq's
    constants are arguments (the similarities' ``c1``–``c3``, the exponents ``alpha`` and
    ``beta``, SDSP's ``omega_0``, ``sigma_f``, ``sigma_d``, ``sigma_c``).

    piq scales, converts to LMN and normalises the saliency at full size, then pools;
    these steps are linear (affine for the saliency), so they are taken after the pooling
    and the resizing, on arrays 9× smaller at 1024×768: the same values within rounding
    (~1e-16 relative).

    Raises:
        ValueError: shapes differ, not 4-D, or not 1 or 3 channels; a constant that is not
            a finite number, or not positive where it divides.
    """
    x, y = check_gray_or_rgb_pairs(x, y, data_range)
    check_numbers({"c1": c1, "c2": c2, "c3": c3, "alpha": alpha, "beta": beta,
                   "omega_0": omega_0, "sigma_f": sigma_f, "sigma_d": sigma_d,
                   "sigma_c": sigma_c},
                  positive=("c1", "c2", "c3", "omega_0", "sigma_f", "sigma_d", "sigma_c"))
    factor = downsampling_factor(x)
    saliency_x, saliency_y = _sdsp_saliency((x, y), data_range, factor, omega_0, sigma_f,
                                            sigma_d, sigma_c).chunk(2)
    lmn_x, lmn_y = (colour_transform(_as_rgb(on_255_scale(_downsampled(image, factor),
                                                          data_range, multiply_first=True)),
                                     LMN) for image in (x, y))
    gradients = gradient_similarity(lmn_x[:, :1], lmn_y[:, :1], c2, "scharr")
    chroma = (similarity(lmn_x[:, 1:2], lmn_y[:, 1:2], c3)
              * similarity(lmn_x[:, 2:], lmn_y[:, 2:], c3))
    # the real part of chroma^β for negative similarities too, as MATLAB's power does
    chroma_power = safe_pow(chroma.abs(), beta) * torch.cos(real_angle(chroma) * beta)
    saliency_max = torch.max(saliency_x, saliency_y)
    score = similarity(saliency_x, saliency_y, c1) * gradients**alpha * chroma_power
    eps = torch.finfo(saliency_max.dtype).eps
    return (((score * saliency_max).sum(dim=(-1, -2)) + eps)
            / (saliency_max.sum(dim=(-1, -2)) + eps)).squeeze(-1)
