"""Visual Information Fidelity in the wavelet domain (VIF), batched torch on (N, C, H, W),
as Sheikh & Bovik's ``vifvec.m`` (LIVE's release) computes it.

Sheikh & Bovik (2006): gray images on the [0, 255] scale (colour through MATLAB's
``rgb2gray``, as the ``.m`` file is given gray images); a steerable pyramid of 4 levels and
6 orientations (``buildSpyr(im, 4, 'sp5Filters', 'reflect1')``: correlation with
mirrored borders, the edge pixel not repeated); of its subbands, orientations 1 and 4 of
each level.  Per subband, cropped to a multiple of M = 3: the distortion channel (gain g
and noise variance σ_v² from local (2^lev + 1)² windows sampled every 3 pixels, tolerance
1e-15) and the reference's Gaussian scale mixture (the covariance C_U of all 3×3 blocks,
its eigenvalues λ, the field s² = uᵀ C_U⁻¹ u / 9 of the non-overlapping blocks); away from
the borders, VIF = Σ log2(1 + g² s² λ / (σ_v² + σ_n²)) / Σ log2(1 + s² λ / σ_n²) with
σ_n² = 0.4.  1 for identical images, higher is better.  Images need at least 72 px a side.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.errors import ImageTooSmallError, UnsupportedImageError
from likeness.metrics._filters import correlate_2d
from likeness.metrics._image_maps import matlab_gray_pair
from likeness.metrics._sp5_filters import BFILTS, LO0FILT, LOFILT_HALF
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.tensor_checks import check_gray_or_rgb_pairs

__all__ = ["VIF_MIN_SIDE", "vif"]

VIF_MIN_SIDE = 72  # buildSpyr's four levels of the 9-tap low-pass filter
_LEVELS, _ORIENTATIONS, _BLOCK = 4, 6, 3
_SUBBANDS = (4, 7, 10, 13, 16, 19, 22, 25)  # vifvec.m's, in ind2wtree's order
_NOISE_VARIANCE = 0.4
_TOLERANCE = 1e-15


def _correlate(x: Tensor, taps: Tensor, step: int = 1) -> Tensor:
    """``corrDn(x, taps, 'reflect1', [step step])`` of (N, 1, H, W): odd square taps."""
    pad = (taps.shape[-1] - 1) // 2
    padded = F.pad(x, [pad, pad, pad, pad], mode="reflect")
    return correlate_2d(padded, taps, step)


def _steerable_pyramid(x: Tensor) -> dict[int, Tensor]:
    """The subbands ``vifvec.m`` reads (``_SUBBANDS``), by its subband number: in
    ``ind2wtree``'s order (the low-pass residual 1, then the coarsest level's six bands,
    last orientation first, …, the finest level's, the high-pass residual 26), the first
    and fourth orientations of each level.  The bands it does not read (the residuals,
    four orientations of six) are not computed."""
    def taps(table: tuple[tuple[float, ...], ...], scale: float = 1.0) -> Tensor:
        return torch.tensor(table, dtype=x.dtype, device=x.device) * scale

    low = _correlate(x, taps(LO0FILT))
    band_filters = taps(BFILTS)
    size = math.isqrt(band_filters.shape[0])
    bands = {}
    for level in range(_LEVELS):
        for orientation in range(_ORIENTATIONS):
            number = 2 + (_LEVELS - 1 - level) * _ORIENTATIONS + (_ORIENTATIONS - 1
                                                                   - orientation)
            if number in _SUBBANDS:
                # MATLAB's reshape fills columns first: the transpose of a row-major reshape
                band = band_filters[:, orientation].reshape(size, size).t()
                bands[number] = _correlate(low, band)
        if level < _LEVELS - 1:  # (the low-pass residual is not read)
            low = _correlate(low, taps(LOFILT_HALF, 2.0), step=2)
    return bands


def _window_sums(x: Tensor, size: int) -> Tensor:
    """``corrDn(x, ones(size), 'reflect1', [M M], [2 2], size(x) − ceil(M/2) + 1)``: the
    size×size sums centred on every M-th pixel from the second, computed only there (a
    row pass and a column pass, each strided)."""
    pad, start = (size - 1) // 2, _BLOCK // 2
    rows = x.shape[-2] // _BLOCK
    columns = x.shape[-1] // _BLOCK
    padded = F.pad(x, [pad, pad, pad, pad], mode="reflect")[..., start:, start:]
    ones = torch.ones(1, size, dtype=x.dtype, device=x.device)
    across = correlate_2d(padded, ones, step=(1, _BLOCK))[..., :columns]
    return correlate_2d(across, ones.t(), step=(_BLOCK, 1))[..., :rows, :]


def _distortion_channel(reference: Tensor, distorted: Tensor, level: int
                        ) -> tuple[Tensor, Tensor]:
    """``vifsub_est_M`` of one subband: the gain g and the noise variance σ_v²."""
    size = 2**level + 1
    count = float(size * size)
    mean_x = _window_sums(reference, size) / count
    mean_y = _window_sums(distorted, size) / count
    cov_xy = _window_sums(reference * distorted, size) - count * mean_x * mean_y
    ss_x = torch.clamp(_window_sums(reference**2, size) - count * mean_x**2, min=0)
    ss_y = torch.clamp(_window_sums(distorted**2, size) - count * mean_y**2, min=0)
    gain = cov_xy / (ss_x + _TOLERANCE)
    noise = (ss_y - gain * cov_xy) / count
    flat_x, flat_y = ss_x < _TOLERANCE, ss_y < _TOLERANCE
    gain = torch.where(flat_x, torch.zeros_like(gain), gain)
    noise = torch.where(flat_x, ss_y, noise)
    gain = torch.where(flat_y, torch.zeros_like(gain), gain)
    noise = torch.where(flat_y, torch.zeros_like(noise), noise)
    negative = gain < 0
    noise = torch.where(negative, ss_y, noise)
    gain = torch.clamp(gain, min=0)
    noise = torch.where(noise <= _TOLERANCE, torch.full_like(noise, _TOLERANCE), noise)
    return gain, noise


def _reference_field(reference: Tensor) -> tuple[Tensor, Tensor]:
    """``refparams_vecgsm`` of one subband: the field s² on the non-overlapping 3×3
    blocks (N, 1, H/3, W/3) and the eigenvalues of the blocks' covariance (N, 9)."""
    blocks = F.unfold(reference, _BLOCK)  # (N, 9, every overlapping block)
    centred = blocks - blocks.mean(dim=-1, keepdim=True)
    covariance = centred @ centred.transpose(-2, -1) / blocks.shape[-1]
    tiles = F.unfold(reference, _BLOCK, stride=_BLOCK)  # (N, 9, non-overlapping blocks)
    try:
        inverse = torch.linalg.inv(covariance)
    except torch.linalg.LinAlgError:
        raise UnsupportedImageError(
            "VIF is undefined for this reference image: a subband of its steerable "
            "pyramid is flat (the blocks' covariance is singular)") from None
    field = ((inverse @ tiles) * tiles).sum(dim=-2) / (_BLOCK * _BLOCK)
    rows, columns = reference.shape[-2] // _BLOCK, reference.shape[-1] // _BLOCK
    return (field.reshape(reference.shape[0], 1, rows, columns),
            torch.linalg.eigvalsh(covariance))


@as_defined
def vif(x: Tensor, y: Tensor, *, data_range: float = 1.0) -> Tensor:
    """VIF of each pair: x distorted, y reference; (N,) in the inputs' float dtype (see
    the module docs).

    Raises:
        ImageTooSmallError: a side shorter than 72 px.
        UnsupportedImageError: a flat reference subband (VIF has no value).
        InvalidInputError: shapes differ, not 4-D, not 1 or 3 channels, non-finite values
            or values outside [0, data_range].
    """
    x, y = check_gray_or_rgb_pairs(x, y, data_range)
    if min(x.shape[-2:]) < VIF_MIN_SIDE:
        raise ImageTooSmallError(f"VIF needs images of at least {VIF_MIN_SIDE}x{VIF_MIN_SIDE} "
                                 f"px (four pyramid levels), got {x.shape[-1]}x{x.shape[-2]}")
    x, y = matlab_gray_pair(x, y, data_range)
    # one pyramid of the two: the same arithmetic per image, half the calls
    bands = _steerable_pyramid(torch.cat((y, x)))
    information = x.new_zeros(x.shape[0])
    reference_information = x.new_zeros(x.shape[0])
    for subband in _SUBBANDS:
        level = math.ceil((subband - 1) / _ORIENTATIONS)
        reference, distorted = bands[subband].split(x.shape[0])
        rows = reference.shape[-2] // _BLOCK * _BLOCK
        columns = reference.shape[-1] // _BLOCK * _BLOCK
        reference = reference[..., :rows, :columns]
        distorted = distorted[..., :rows, :columns]
        gain, noise = _distortion_channel(reference, distorted, level)
        field, eigenvalues = _reference_field(reference)
        offset = math.ceil((2**level) / 2 / _BLOCK)  # (winsize − 1)/2 in block units
        inner = (slice(None), slice(None), slice(offset, -offset), slice(offset, -offset))
        gain, noise, field = gain[inner], noise[inner], field[inner]
        for index in range(eigenvalues.shape[-1]):
            eigenvalue = eigenvalues[:, index].view(-1, 1, 1, 1)
            information = information + torch.log2(
                1 + gain * gain * field * eigenvalue / (noise + _NOISE_VARIANCE)
            ).sum(dim=(1, 2, 3))
            reference_information = reference_information + torch.log2(
                1 + field * eigenvalue / _NOISE_VARIANCE).sum(dim=(1, 2, 3))
    return information / reference_information
