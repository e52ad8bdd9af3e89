"""Complex-wavelet SSIM (CW-SSIM), batched torch on (N, C, H, W), as Sampat, Wang et al.'s
``cwssim_index.m`` computes it with the parameters IQA-PyTorch's calibration uses (4
levels, 8 orientations, no guard band, K = 0 by default).

Sampat, Wang, Gupta, Bovik & Markey (2009): gray images on the [0, 255] scale (colour
through MATLAB's ``rgb2gray``, as the ``.m`` file is given gray images); the complex
steerable pyramid of matlabPyrTools' ``buildSCFpyr`` (built in the Fourier domain: raised-
cosine radial masks in log frequency, angular masks cos^(n−1), each level's low-pass band
cropped to half size, masks sampled by ``pointOp``'s linear interpolation of 259- and
3075-entry tables); on each orientation band of the coarsest level, the local index
(2 |Σ_w c_x c_y*| + K) / (Σ_w |c_x|² + Σ_w |c_y|² + K) over 7×7 windows inside the band,
averaged with a Gaussian weight (``fspecial('gaussian', size − 6, rows / 4)``); CW-SSIM =
the mean over orientations.  1 for identical images, higher is better; insensitive to small
translations, rotations and scalings (the point of the complex phase).  Images need at
least 2^(levels + 2) · … px: 7 px at the coarsest level (64 px a side for 4 levels).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.arguments import check_numbers
from likeness.errors import ImageTooSmallError, InvalidInputError
from likeness.metrics._image_maps import matlab_gray_pair
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.tensor_checks import check_gray_or_rgb_pairs

__all__ = ["cw_ssim", "cw_ssim_min_side"]

_WINDOW = 7
_RCOS_SAMPLES = 256  # rcosFn's table: 259 entries
_ANGLE_SAMPLES = 1024  # buildSCFpyrLevs' lutsize: 3075 entries


_MOST_LEVELS = 24  # images of 2^26 px a side: beyond any image
_MOST_ORIENTATIONS = 16  # buildSCFpyr's order of at most 15, truncated beyond


def cw_ssim_min_side(levels: int = 4) -> int:
    """The shorter side the pyramid needs: ``buildSCFpyr``'s max height
    floor(log2(min side)) − 2 ≥ levels, and 7 px at the coarsest level."""
    return max(2 ** (levels + 2), _WINDOW * 2 ** (levels - 1))


def _point_op(values: Tensor, table: Tensor, origin: float, increment: float) -> Tensor:
    """matlabPyrTools' ``pointOp``: the table linearly interpolated at (values − origin) /
    increment, the first or last segment extended beyond its ends (C's truncation)."""
    position = (values - origin) / increment
    index = torch.clamp(torch.trunc(position), 0, table.shape[0] - 2).long()
    low, high = table[index], table[index + 1]
    return low + (high - low) * (position - index.to(values.dtype))


def _raised_cosine(like: Tensor) -> tuple[Tensor, Tensor]:
    """``rcosFn(1, -1/2, [0 1])``: (X, sqrt(Y)), the square-rooted table of the radial
    transition (a raised cosine one octave wide in log2 frequency)."""
    size = _RCOS_SAMPLES
    x = math.pi * torch.arange(-size - 1, 2, dtype=like.dtype, device=like.device) / (2 * size)
    y = torch.cos(x) ** 2
    y[0], y[size + 2] = y[1], y[size + 1]
    x = -0.5 + (2 / math.pi) * (x + math.pi / 4)
    return x, torch.sqrt(y)


def _centred_grid(rows: int, columns: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """(log2 radius, angle) of the centred frequency grid, as ``buildSCFpyr`` builds it
    (the DC sample takes its left neighbour's radius)."""
    centre_row, centre_column = math.ceil((rows + 0.5) / 2), math.ceil((columns + 0.5) / 2)
    x = (torch.arange(1, columns + 1, dtype=like.dtype, device=like.device)
         - centre_column) / (columns / 2)
    y = (torch.arange(1, rows + 1, dtype=like.dtype, device=like.device)
         - centre_row) / (rows / 2)
    y_ramp, x_ramp = torch.meshgrid(y, x, indexing="ij")
    angle = torch.atan2(y_ramp, x_ramp)
    radius = torch.sqrt(x_ramp**2 + y_ramp**2)
    radius[centre_row - 1, centre_column - 1] = radius[centre_row - 1, centre_column - 2]
    return torch.log2(radius), angle


def _coarsest_bands(x: Tensor, levels: int, orientations: int) -> Tensor:
    """The complex orientation bands of ``buildSCFpyr(x, levels, orientations − 1)``'s
    coarsest level: (N, orientations, h, w)."""
    x_rcos, y_rcos = _raised_cosine(x)
    step = float(x_rcos[1] - x_rcos[0])
    log_radius, angle = _centred_grid(x.shape[-2], x.shape[-1], x)
    yi_rcos = torch.sqrt(1.0 - y_rcos**2)
    spectrum = torch.fft.fftshift(torch.fft.fft2(x[:, 0]), dim=(-2, -1))
    low = spectrum * _point_op(log_radius, yi_rcos, float(x_rcos[0]), step)
    order = orientations - 1
    constant = (2 ** (2 * order)) * math.factorial(order) ** 2 / (
        orientations * math.factorial(2 * order))
    angles = math.pi * torch.arange(-(2 * _ANGLE_SAMPLES + 1), _ANGLE_SAMPLES + 2,
                                    dtype=x.dtype, device=x.device) / _ANGLE_SAMPLES
    wrapped = torch.remainder(math.pi + angles, 2 * math.pi) - math.pi
    angular = 2 * math.sqrt(constant) * torch.cos(angles) ** order * (wrapped.abs() < math.pi / 2)
    for level in range(levels):
        x_rcos = x_rcos - 1.0  # one octave down
        if level == levels - 1:
            high = _point_op(log_radius, y_rcos, float(x_rcos[0]), step)
            bands = []
            for band in range(orientations):
                mask = _point_op(angle, angular, float(angles[0]) + math.pi * band / orientations,
                                 float(angles[1] - angles[0]))
                shifted = ((-1j) ** order) * low * mask * high
                bands.append(torch.fft.ifft2(torch.fft.ifftshift(shifted, dim=(-2, -1))))
            return torch.stack(bands, dim=1)
        rows, columns = low.shape[-2:]
        centre = (math.ceil((rows + 0.5) / 2), math.ceil((columns + 0.5) / 2))
        half = (math.ceil((rows - 0.5) / 2), math.ceil((columns - 0.5) / 2))
        start = [c - math.ceil((h + 0.5) / 2) for c, h in zip(centre, half, strict=True)]
        crop = (slice(start[0], start[0] + half[0]), slice(start[1], start[1] + half[1]))
        log_radius, angle = log_radius[crop], angle[crop]
        low = low[(..., *crop)] * _point_op(log_radius, torch.abs(yi_rcos),
                                             float(x_rcos[0]), step)
    raise AssertionError("unreachable: levels ≥ 1")


def _fspecial_gaussian(rows: int, columns: int, sigma: float, like: Tensor) -> Tensor:
    """MATLAB's ``fspecial('gaussian', [rows columns], sigma)``."""
    y = torch.arange(rows, dtype=like.dtype, device=like.device) - (rows - 1) / 2
    x = torch.arange(columns, dtype=like.dtype, device=like.device) - (columns - 1) / 2
    kernel = torch.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma * sigma))
    kernel = torch.where(kernel < torch.finfo(like.dtype).eps * kernel.max(),
                         torch.zeros_like(kernel), kernel)
    return kernel / kernel.sum()


@as_defined
def cw_ssim(x: Tensor, y: Tensor, *, data_range: float = 1.0, levels: int = 4,
            orientations: int = 8, k: float = 0.0) -> Tensor:
    """CW-SSIM of each pair: (N,), in the inputs' float dtype (see the module docs).

    Args:
        levels, orientations, k: ``cwssim_index.m``'s ``level``, ``or`` and ``K`` (its
            ``guardb``, the border left out, is 0).

    Raises:
        ImageTooSmallError: a side too short for ``levels`` levels.
        InvalidInputError: shapes differ, not 4-D, not 1 or 3 channels, non-finite values
            or values outside [0, data_range]; levels or orientations below 1; more than
            16 orientations; a negative k.
    """
    x, y = check_gray_or_rgb_pairs(x, y, data_range)
    check_numbers({"levels": levels, "orientations": orientations, "k": k},
                  integers=("levels", "orientations"))
    if levels > _MOST_LEVELS:  # 2^(levels + 2) px a side: a number too large to print
        raise ImageTooSmallError(f"CW-SSIM with levels={levels} needs images of more than "
                                 f"2^{levels + 2} px a side; pass levels={_MOST_LEVELS} or "
                                 "fewer")
    if levels < 1 or orientations < 1 or k < 0:
        raise InvalidInputError(f"levels and orientations must be at least 1 and k "
                                f"non-negative; got levels={levels}, orientations="
                                f"{orientations}, k={k}")
    if orientations > _MOST_ORIENTATIONS:
        raise InvalidInputError(
            f"orientations must be {_MOST_ORIENTATIONS} or fewer, got {orientations}: "
            f"cwssim_index.m's steerable pyramid (buildSCFpyr) takes an order of at most 15 "
            f"and computes any more as {_MOST_ORIENTATIONS} orientations")
    smallest = cw_ssim_min_side(levels)
    if min(x.shape[-2:]) < smallest:
        raise ImageTooSmallError(f"CW-SSIM with {levels} levels needs images of at least "
                                 f"{smallest}x{smallest} px, got {x.shape[-1]}x{x.shape[-2]}")
    x, y = matlab_gray_pair(x, y, data_range)
    band_x = _coarsest_bands(x, levels, orientations)
    band_y = _coarsest_bands(y, levels, orientations)
    rows, columns = band_x.shape[-2:]
    if min(rows, columns) < _WINDOW:
        raise ImageTooSmallError(f"CW-SSIM's coarsest band ({columns}x{rows}) is smaller than "
                                 f"its {_WINDOW}x{_WINDOW} window: use larger images or fewer "
                                 "levels")
    weight = _fspecial_gaussian(rows - _WINDOW + 1, columns - _WINDOW + 1, rows / 4, x)
    window = torch.full((1, 1, _WINDOW, _WINDOW), 1 / _WINDOW**2, dtype=x.dtype,
                        device=x.device)

    def local_sums(values: Tensor) -> Tensor:
        flat = values.reshape(-1, 1, rows, columns)
        return F.conv2d(flat, window).reshape(*values.shape[:2], rows - _WINDOW + 1,
                                              columns - _WINDOW + 1)

    correlation = band_x * band_y.conj()
    correlation_sums = torch.complex(local_sums(correlation.real), local_sums(correlation.imag))
    energy = local_sums(band_x.abs() ** 2 + band_y.abs() ** 2)
    index = (2 * correlation_sums.abs() + k) / (energy + k)
    return (index * weight).sum(dim=(-2, -1)).mean(dim=1)
