"""DCT Subband Similarity (DSS), batched torch on (N, C, H, W), differentiable, as piq 0.8
computes it with its defaults.

Balanov, Schwartz, Moshe & Peleg (2015): images on the [0, 255] scale; colour → the Y of
YIQ; cropped to multiples of 8; the 8×8 block DCT; for each of the 64 subbands whose
weight exp(−((m − ½)² + (n − ½)²) / (2 · 1.55²)) (m, n = 1..8) is at least 0.01, the mean
of the lowest 5 % of the local variance similarity (2 σ_x σ_y + C) / (σ_x² + σ_y² + C)
under a 3×3 gaussian (σ = 1.5, zero padding; C = 1000 for the DC subband, 300 for the
others), for the DC subband times the same pooling of the structure term
(σ_xy + C) / (σ_x σ_y + C); DSS = Σ s (w / Σ w + ε).  1 for identical images, higher is
better.  piq's settings are arguments (``dct_size``, ``sigma_weight``, ``kernel_size`` —
an even window zero-padded as piq pads it, one more row and column —,
``sigma_similarity``, ``percentile``).

likeness computes in the inputs' dtype throughout; piq stores the 64 subband similarities
in float32 whatever the input, so its float64 values differ from likeness's by up to
about 1e-7 relative.  The local variances and the covariance are the gaussian means of
the deviations from the local mean, as defined; piq and DSS.m subtract μ² from E[x²],
which cancels to rounding noise on flat DC maps and moved DSS by ~5e-8 between CPUs
(likeness's own values too, until revision 2): from the deviations likeness's value is
the same within ~1e-15 on every CPU and 1.7e-9 from DSS.m's published 0.45217181
(goldhill, printed to 8 digits; piq 1.3e-8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.arguments import check_numbers
from likeness.errors import ImageTooSmallError, InvalidInputError
from likeness.metrics._image_maps import on_255_scale, yiq_luma
from likeness.metrics._safe_roots import safe_sqrt
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.tensor_checks import check_gray_or_rgb_pairs

__all__ = ["dss"]


@dataclass(frozen=True)
class _Settings:
    """DSS's settings: the paper's (piq's defaults), or piq's arguments."""

    block: int = 8  # the DCT's block side (dct_size)
    weight_sigma: float = 1.55  # the subbands' gaussian weights (sigma_weight)
    taps: int = 3  # the local statistics' gaussian window (kernel_size)
    similarity_sigma: float = 1.5  # (sigma_similarity)
    percentile: float = 0.05  # the share of lowest similarities pooled


_WEIGHT_FLOOR = 1e-2


def _dct_matrix(like: Tensor, size: int) -> Tensor:
    """The orthonormal ``size``-point DCT-II matrix (rows: frequencies)."""
    frequencies = torch.arange(1, size, dtype=like.dtype, device=like.device)[:, None]
    positions = torch.arange(1, 2 * size, 2, dtype=like.dtype, device=like.device)
    return torch.cat((math.sqrt(1 / size) * torch.ones(1, size, dtype=like.dtype,
                                                       device=like.device),
                      math.sqrt(2 / size) * torch.cos(math.pi / (2 * size)
                                                      * frequencies * positions)), 0)


def _block_dct(x: Tensor, size: int) -> Tensor:
    """(N, b, b, H/b, W/b): the DCT coefficient (m, n) of every b×b block of (N, 1, H, W),
    as two large matrix products (one per block axis)."""
    n, _, height, width = x.shape
    blocks = x.view(n, height // size, size, width // size, size)
    dct = _dct_matrix(x, size)
    along_columns = blocks @ dct.t()  # (N, H/b, a, W/b, n)
    both = along_columns.permute(0, 1, 3, 4, 2) @ dct.t()  # (N, H/b, W/b, n, m)
    return both.permute(0, 4, 3, 1, 2)


def _lowest_mean(values: Tensor, count: int) -> Tensor:
    """The mean of the ``count`` smallest values of each (N, S, h, w) map: (N, S)."""
    return torch.sort(values.flatten(start_dim=2)).values[..., :count].mean(dim=-1)


def _gaussian_taps(like: Tensor, settings: _Settings) -> Tensor:
    """The k×k gaussian weights, summing to 1."""
    squared = (torch.arange(settings.taps, dtype=like.dtype, device=like.device)
               - (settings.taps - 1) / 2.0) ** 2
    kernel = torch.exp(-(squared[None, :] + squared[:, None])
                       / (2 * settings.similarity_sigma**2))
    return kernel / kernel.sum()


def _map_size(height: int, width: int, taps: int) -> tuple[int, int]:
    """The local statistics' maps of (h, w) subbands: piq's convolution zero-padded by
    k // 2 on each side (one more row and column for an even k)."""
    return height + 2 * (taps // 2) - taps + 1, width + 2 * (taps // 2) - taps + 1


def _shifted(x: Tensor, taps: int) -> list[tuple[int, int, Tensor]]:
    """Each tap (a, b) of the k×k window with the zero-padded maps seen from it."""
    height, width = _map_size(x.shape[-2], x.shape[-1], taps)
    padded = F.pad(x, [taps // 2] * 4)
    return [(a, b, padded[..., a:a + height, b:b + width])
            for a in range(taps) for b in range(taps)]


def _local_mean(x: Tensor, settings: _Settings) -> Tensor:
    """The gaussian mean of every (N, S, h, w) map, zero padding (padded zeros count)."""
    kernel = _gaussian_taps(x, settings)
    out: Tensor | int = 0
    for a, b, window in _shifted(x, settings.taps):
        out = out + kernel[a, b] * window
    assert isinstance(out, Tensor)
    return out


def _local_covariance(x: Tensor, mean_x: Tensor, y: Tensor, mean_y: Tensor,
                      settings: _Settings) -> Tensor:
    """The gaussian mean of (x − μ_x)(y − μ_y) around every position: the paper's
    E[xy] − μ_x μ_y (the weights sum to 1, padded zeros included), computed from the
    deviations — the difference of E[x²] and μ² cancels to rounding noise where a map is
    flat (the DC subband's squares are ~1e6), which the square root of the similarity
    then lifts to ~1e-8 of DSS, different on every CPU; from the deviations it keeps its
    precision (piq and DSS.m subtract, so their values carry that noise)."""
    kernel = _gaussian_taps(x, settings)
    out: Tensor | int = 0
    taps = settings.taps
    windows_y = _shifted(y, taps) if y is not x else [None] * taps**2
    for (a, b, window_x), shifted_y in zip(_shifted(x, taps), windows_y, strict=True):
        deviation_x = window_x - mean_x
        deviation_y = deviation_x if shifted_y is None else shifted_y[2] - mean_y
        out = out + kernel[a, b] * (deviation_x * deviation_y)
    assert isinstance(out, Tensor)
    return out


def _subband_similarities(x: Tensor, y: Tensor, dc: Tensor, settings: _Settings) -> Tensor:
    """The pooled similarity (N, S) of S subbands' coefficients (N, S, h, w); ``dc`` (S,)
    marks the DC subband."""
    c = torch.where(dc, 1000.0, 300.0).to(x.dtype).view(1, -1, 1, 1)
    mean_x, mean_y = _local_mean(x, settings), _local_mean(y, settings)
    variance_x = _local_covariance(x, mean_x, x, mean_x, settings)  # ≥ 0: a sum of squares
    variance_y = _local_covariance(y, mean_y, y, mean_y, settings)
    deviations = safe_sqrt(variance_x * variance_y)  # a flat block: 0, gradient 0
    count = round(settings.percentile * deviations.shape[-2] * deviations.shape[-1])
    pooled = _lowest_mean((2 * deviations + c) / (variance_x + variance_y + c), count)
    if bool(dc.any()):
        first = int(torch.nonzero(dc)[0])
        part = slice(first, first + 1)
        covariance = _local_covariance(x[:, part], mean_x[:, part], y[:, part],
                                       mean_y[:, part], settings)
        structure = (covariance + c[:, part]) / (deviations[:, part] + c[:, part])
        pooled = torch.cat([pooled[:, :first],
                            pooled[:, part] * _lowest_mean(structure, count),
                            pooled[:, first + 1:]], dim=1)
    return pooled


@as_defined
def dss(x: Tensor, y: Tensor, *, data_range: float = 1.0, dct_size: int = 8,
        sigma_weight: float = 1.55, kernel_size: int = 3, sigma_similarity: float = 1.5,
        percentile: float = 0.05) -> Tensor:
    """DSS of each pair: (N,), in the inputs' float dtype (see the module docs).

    Args:
        dct_size, sigma_weight, kernel_size, sigma_similarity, percentile: as piq's
            arguments (the paper's by default): the DCT's block side, the subbands'
            weights, the local statistics' window and the share of the lowest
            similarities pooled.

    Raises:
        ImageTooSmallError: too few whole blocks for the pooled share to hold one (with
            the defaults, fewer than 11 whole 8×8 blocks: a side under 8 px, or smaller
            than 32×32 px in area), or blocks too few for the window.
        ValueError: shapes differ, not 4-D, or not 1 or 3 channels; a setting that is not
            a positive number (an integer for the sizes), a percentile above 1.
    """
    check_numbers({"dct_size": dct_size, "sigma_weight": sigma_weight,
                   "kernel_size": kernel_size, "sigma_similarity": sigma_similarity,
                   "percentile": percentile}, integers=("dct_size", "kernel_size"),
                  positive=("dct_size", "sigma_weight", "kernel_size", "sigma_similarity",
                            "percentile"))
    if percentile > 1:
        raise InvalidInputError(f"percentile is the share of the lowest similarities "
                                f"pooled: at most 1, got {percentile}")
    settings = _Settings(int(dct_size), float(sigma_weight), int(kernel_size),
                         float(sigma_similarity), float(percentile))
    x, y = check_gray_or_rgb_pairs(x, y, data_range)
    block = settings.block
    blocks = (x.shape[-2] // block) * (x.shape[-1] // block)
    rows, columns = _map_size(x.shape[-2] // block, x.shape[-1] // block, settings.taps)
    if rows < 1 or columns < 1 or round(settings.percentile * rows * columns) < 1:
        # the pooled share of no block: 0/0 (piq's NaN)
        window = "" if settings.taps % 2 else f" (a {settings.taps}x{settings.taps} window)"
        example = " (32x32 px, or 8x88)" if settings == _Settings() else ""
        raise ImageTooSmallError(
            f"DSS pools the lowest {settings.percentile:.0%} of its {block}x{block} "
            f"blocks{window}, so it needs at least {math.floor(0.5 / settings.percentile) + 1}"
            f" whole blocks{example}; images of {x.shape[-1]}x{x.shape[-2]} px hold {blocks}")
    x, y = on_255_scale(x, data_range), on_255_scale(y, data_range)
    if x.shape[1] == 3:
        x, y = yiq_luma(x), yiq_luma(y)
    rows = block * (x.shape[-2] // block)
    columns = block * (x.shape[-1] // block)
    dct_x = _block_dct(x[..., :rows, :columns], block)
    dct_y = _block_dct(y[..., :rows, :columns], block)
    squared = (torch.arange(1, block + 1, dtype=x.dtype, device=x.device) - 0.5) ** 2
    weights = torch.exp(-(squared[None, :] + squared[:, None])
                        / (2 * settings.weight_sigma**2))
    weights = torch.where(weights < _WEIGHT_FLOOR, torch.zeros_like(weights), weights)
    used = (weights > 0).flatten()  # subbands of weight below 0.01 count as 0
    dc = torch.zeros(block * block, dtype=torch.bool, device=x.device)
    dc[0] = True
    coefficients_x = dct_x.flatten(1, 2)[:, used]
    coefficients_y = dct_y.flatten(1, 2)[:, used]
    similarities = torch.zeros(x.shape[0], block * block, dtype=x.dtype, device=x.device)
    similarities[:, used] = _subband_similarities(coefficients_x, coefficients_y, dc[used],
                                                  settings)
    eps = torch.finfo(weights.dtype).eps
    return torch.sum(similarities * (weights.flatten() / weights.sum() + eps), dim=1)
