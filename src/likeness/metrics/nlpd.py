"""The normalized Laplacian pyramid distance (NLPD), batched torch on (N, C, H, W), as
Laparra, Ballé, Berardino & Simoncelli's ``NLP_dist.m`` computes it.

Laparra et al. (2016): a gray image in [0, 1] (colour through MATLAB's ``rgb2gray``, rounded
on 8- and 16-bit images, then ÷ 255 — ``double(rgb2gray(I))/255``, the input of IQA-PyTorch's
MATLAB calibration table) is split into a Laplacian
pyramid of 6 levels (Burt & Adelson's 5-tap filter [.05 .25 .4 .25 .05]; each low pass
filtered with mirrored borders — ``imfilter(…, 'symmetric')`` — and sampled at every
second pixel; the upsampled low pass: the image with a replicated 1-pixel border, zeros
between the samples, ×4, filtered with zero borders and cropped); each level L is divided by
σ + (|L| ⊛ F), ``conv2(…, 'same')`` (a true convolution with zero borders) of the level's
5×5 filter F and constant σ, both as ``NLP_dist.m``'s ``DN_filters`` writes them (learned on
the McGill data set).  NLPD = the mean over levels of the root mean square of the two
images' normalized levels' difference.  0 for identical images, lower is better; the
second output of ``NLP_dist.m`` (the same distance without the normalization) is
``nlp_distances``'s ``laplacian``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.errors import ImageTooSmallError
from likeness.metrics._filters import correlate_2d
from likeness.metrics._image_maps import matlab_gray_pair
from likeness.metrics._safe_roots import safe_sqrt
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.tensor_checks import check_gray_or_rgb_pairs

__all__ = ["NlpDistances", "nlp_distances", "nlpd", "nlpd_min_side"]

LEVELS = 6
_TAPS = (0.05, 0.25, 0.4, 0.25, 0.05)  # Burt & Adelson (1983)
# NLP_dist.m's DN_filters: σ and the 5×5 filter of each level (non-zero entries as
# (row, column, weight), 0-based), exactly as the .m file writes them
_SIGMAS = (0.0248, 0.0185, 0.0179, 0.0191, 0.0220, 0.2782)
_FILTERS = (
    ((1, 2, 0.1011), (2, 1, 0.1493), (2, 3, 0.1460), (2, 4, 0.0072), (3, 2, 0.1015)),
    ((1, 2, 0.0757), (2, 1, 0.1986), (2, 3, 0.1846), (3, 2, 0.0837)),
    ((1, 2, 0.0477), (2, 1, 0.2138), (2, 3, 0.2243), (3, 2, 0.0467)),
    ((2, 1, 0.2503), (2, 3, 0.2616)),
    ((2, 1, 0.2598), (2, 3, 0.2552)),
    ((2, 1, 0.2215), (2, 3, 0.0717)),
)


class NlpDistances(NamedTuple):
    """``NLP_dist.m``'s two outputs per pair, each (N,)."""

    normalized: Tensor  # DMOS_Lap_dn2: NLPD
    laplacian: Tensor  # DMOS_Lap: the same distance of the unnormalized levels


def nlpd_min_side() -> int:
    """The shorter side 6 levels need: 32 px (one pixel at the coarsest level)."""
    return 2 ** (LEVELS - 1)


def _mirror_index(size: int, pad: int, device: torch.device) -> Tensor:
    """The source index of each position of a ``padarray(…, 'symmetric')`` border of
    ``pad`` on each side (the edge repeated, period 2·size), for any size ≥ 1."""
    positions = torch.arange(-pad, size + pad, device=device) % (2 * size)
    return torch.where(positions >= size, 2 * size - 1 - positions, positions)


def _symmetric_pad(x: Tensor, pad: int) -> Tensor:
    rows = _mirror_index(x.shape[-2], pad, x.device)
    columns = _mirror_index(x.shape[-1], pad, x.device)
    return x[..., rows, :][..., columns]


def _lowpass_kernel(like: Tensor) -> Tensor:
    taps = torch.tensor(_TAPS, dtype=like.dtype, device=like.device)
    return torch.outer(taps, taps)


def _downsample(image: Tensor, kernel: Tensor) -> Tensor:
    """``imfilter(I, filter, 'symmetric')`` sampled at ``1:2:end``."""
    return correlate_2d(_symmetric_pad(image, 2), kernel, step=2)


def _upsample(low: Tensor, odd: tuple[int, int], kernel: Tensor) -> Tensor:
    """``NLP_dist.m``'s upsample: a replicated 1-pixel border, the samples ×4 at odd
    positions, ``imfilter`` with zero borders, the border and ``odd`` cropped."""
    padded = F.pad(low, (1, 1, 1, 1), mode="replicate")
    rows, columns = 2 * padded.shape[-2], 2 * padded.shape[-1]
    spread = padded.new_zeros(*padded.shape[:-2], rows, columns)
    spread[..., ::2, ::2] = 4 * padded
    filtered = correlate_2d(F.pad(spread, (2, 2, 2, 2)), kernel)
    return filtered[..., 2:rows - 2 - odd[0], 2:columns - 2 - odd[1]]


def laplacian_pyramid(image: Tensor) -> list[Tensor]:
    """``laplacian_pyramid_s(I, 6)`` of (N, 1, H, W): 5 band-pass levels, then the low pass."""
    kernel = _lowpass_kernel(image)
    levels, current = [], image
    for _ in range(LEVELS - 1):
        low = _downsample(current, kernel)
        odd = (2 * low.shape[-2] - current.shape[-2], 2 * low.shape[-1] - current.shape[-1])
        levels.append(current - _upsample(low, odd, kernel))
        current = low
    levels.append(current)
    return levels


def _normalization_filter(level: int, like: Tensor) -> Tensor:
    """The level's filter for ``conv2``: flipped, as a convolution turns it."""
    weights = like.new_zeros(5, 5)
    for row, column, weight in _FILTERS[level]:
        weights[row, column] = weight
    return weights.flip(0, 1)


def normalized_pyramid(levels: list[Tensor]) -> list[Tensor]:
    """``NLP_dist.m``'s ``NLP``: each level divided by σ + ``conv2(|L|, F, 'same')``."""
    return [level / (_SIGMAS[index]
                     + correlate_2d(F.pad(level.abs(), (2, 2, 2, 2)),
                                    _normalization_filter(index, level)))
            for index, level in enumerate(levels)]


def _mean_rms(first: list[Tensor], second: list[Tensor]) -> Tensor:
    return torch.stack([safe_sqrt(((a - b) ** 2).mean(dim=(1, 2, 3)))
                        for a, b in zip(first, second, strict=True)], dim=1).mean(dim=1)


@as_defined
def nlp_distances(x: Tensor, y: Tensor, *, data_range: float = 1.0) -> NlpDistances:
    """Both outputs of ``NLP_dist.m`` for each pair (see the module docs).

    Raises:
        ImageTooSmallError: a side shorter than 32 px.
        InvalidInputError: shapes differ, not 4-D, not 1 or 3 channels, non-finite values
            or values outside [0, data_range].
    """
    x, y = check_gray_or_rgb_pairs(x, y, data_range)
    smallest = nlpd_min_side()
    if min(x.shape[-2:]) < smallest:
        raise ImageTooSmallError(f"NLPD's {LEVELS}-level pyramid needs images of at least "
                                 f"{smallest}x{smallest} px, got {x.shape[-1]}x{x.shape[-2]}")
    x, y = matlab_gray_pair(x, y, data_range)  # gray on the [0, 255] scale
    levels_x, levels_y = laplacian_pyramid(x / 255), laplacian_pyramid(y / 255)
    return NlpDistances(
        normalized=_mean_rms(normalized_pyramid(levels_x), normalized_pyramid(levels_y)),
        laplacian=_mean_rms(levels_x, levels_y))


@as_defined
def nlpd(x: Tensor, y: Tensor, *, data_range: float = 1.0) -> Tensor:
    """NLPD of each pair: (N,), in the inputs' float dtype; symmetric in x and y.

    Raises: as ``nlp_distances``.
    """
    return nlp_distances(x, y, data_range=data_range).normalized
