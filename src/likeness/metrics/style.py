"""Style-transfer metrics from VGG19 features (pure maths; the network is in nets/).

Every function takes feature maps of ImageNet-normalised [0, 1] images through VGG19
``features`` (torchvision's layer indices): relu1_1 = 1, relu2_1 = 6, relu3_1 = 11,
relu4_1 = 20, relu4_2 = 22, relu5_1 = 29.  Each image is used at its own size.

- **Gram loss** (Gatys et al. 2016): Σ over relu1_1 … relu5_1 of mean((G_style −
  G_stylized)²), with G = F Fᵀ / (C·H·W) a C×C matrix *per image* (the widely copied
  variant that sums the matrix to a scalar first is not this).
- **AdaIN style loss** (Huang & Belongie 2017): Σ over the same layers of MSE of the
  per-channel means + MSE of the per-channel standard deviations, std = sqrt(unbiased
  variance + 1e-5).
- **Content loss**: mean((F_content − F_stylized)²) at relu4_2.
- **CFSD** (content feature structural distance, Chung et al. 2024, StyleID): at relu3_1,
  F (HW×C) / C, S = F Fᵀ (HW×HW), P = softmax of each row of S, and
  CFSD = Σ_rows Σ_cols P_content (log P_content − log P_stylized) — StyleID's
  ``KLDivLoss(reduction="batchmean")`` on one flattened row per image, i.e. the plain sum.
  S, softmax and KL are computed in float64 (in float32 they are off by up to ~1.5%), in
  blocks so that memory grows with HW, not (HW)², through the symmetric form of
  ``CfsdContent`` (half of S per stylization, one exponential per entry).
- **ArtFID** (Wright & Ommer 2022): (1 + mean LPIPS(content, stylized)) · (1 + FID(stylized
  set, style set)) with ArtFID's art-trained Inception; ``fid_infinity`` is FID∞ (Chong &
  Forsyth 2020), which needs at least 5,000 images.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from likeness.errors import InvalidInputError

__all__ = ["STYLE_LAYERS", "CONTENT_LAYER", "CFSD_LAYER", "FID_INFINITY_MIN_IMAGES", "CfsdContent",
           "adain_statistics", "adain_style_loss", "adain_style_loss_to", "art_fid", "cfsd",
           "check_fid_infinity_size", "content_loss", "fid_infinity", "gram_loss",
           "gram_loss_to", "gram_matrix"]

STYLE_LAYERS = (1, 6, 11, 20, 29)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
CONTENT_LAYER = 22  # relu4_2
CFSD_LAYER = 11  # relu3_1 (StyleID's features[:12])
FID_INFINITY_MIN_IMAGES = 5000
_ADAIN_EPS = 1e-5
_CFSD_BLOCK_BYTES = 8 * 1024 * 1024  # a block of S and its exponential: in cache
CFSD_CONTENT_CACHE_BYTES = 512 * 1024 * 1024


def _single(features: Tensor) -> Tensor:
    if features.ndim == 4:
        if features.shape[0] != 1:
            raise InvalidInputError(
                f"expected one image's features, got a batch of {features.shape[0]}")
        features = features[0]
    if features.ndim != 3:
        raise InvalidInputError(f"expected (C, H, W) features, got shape {tuple(features.shape)}")
    return features


def gram_matrix(features: Tensor) -> Tensor:
    """G = F Fᵀ / (C·H·W) of one image's (C, H, W) (or (1, C, H, W)) features."""
    single = _single(features)
    channels, height, width = single.shape
    flat = single.reshape(channels, height * width)
    return flat @ flat.T / (channels * height * width)


def gram_loss(style: list[Tensor], stylized: list[Tensor]) -> float:
    """Σ over layers of mean((G_style − G_stylized)²); lists in STYLE_LAYERS order."""
    return gram_loss_to([gram_matrix(f) for f in style], stylized)


def gram_loss_to(style_grams: list[Tensor], stylized: list[Tensor]) -> float:
    """``gram_loss`` with the style image's Gram matrices computed once beforehand."""
    total = 0.0
    for gram, features in zip(style_grams, stylized, strict=True):
        total += float(((gram - gram_matrix(features)) ** 2).mean())
    return total


def adain_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std = sqrt(unbiased variance + 1e-5) of (C, H, W) features.

    The variance by the corrected two-pass algorithm (Chan, Golub & LeVeque 1983: the sum
    of squared deviations from the mean, less the square of the deviations' sum, which
    removes the float32 mean's own error) over the (H·W, C) pixel rows, a view of
    channels-last features: ~3× faster than ``torch.var`` there and as exact.
    """
    single = _single(features)
    rows = single.permute(1, 2, 0).reshape(-1, single.shape[0])
    count = rows.shape[0]
    mean = rows.mean(dim=0)
    deviations = rows - mean
    correction = deviations.sum(dim=0) ** 2 / count
    variance = (deviations.square_().sum(dim=0) - correction) / (count - 1)
    return mean, torch.sqrt(variance + _ADAIN_EPS)


def adain_style_loss(style: list[Tensor], stylized: list[Tensor]) -> float:
    """Σ over layers of MSE(means) + MSE(stds); lists in STYLE_LAYERS order."""
    return adain_style_loss_to([adain_statistics(f) for f in style], stylized)


def adain_style_loss_to(style_statistics: list[tuple[Tensor, Tensor]],
                        stylized: list[Tensor]) -> float:
    """``adain_style_loss`` with the style image's statistics computed once beforehand."""
    total = 0.0
    for (mean_a, std_a), features in zip(style_statistics, stylized, strict=True):
        mean_b, std_b = adain_statistics(features)
        total += float(((mean_a - mean_b) ** 2).mean() + ((std_a - std_b) ** 2).mean())
    return total


def content_loss(content: Tensor, stylized: Tensor) -> float:
    """mean((F_content − F_stylized)²) at one layer (relu4_2)."""
    a, b = _single(content), _single(stylized)
    if a.shape != b.shape:
        raise InvalidInputError(
            f"content and stylized features differ in shape: {tuple(a.shape)} "
            f"and {tuple(b.shape)} (the images must have one size)")
    return float(((a - b) ** 2).mean())


def _augmented(flat: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(F | −h | −1), (F | 1 | h) and h = |F_i|²/2, so that one matrix product of a block
    of rows of the first with one of the second gives S_ij − h_i − h_j = −|F_i − F_j|²/2
    (≤ 0: its exponential never overflows)."""
    half = (flat * flat).sum(1) / 2
    ones = torch.ones_like(half)
    left = torch.cat([flat, -half[:, None], -ones[:, None]], 1)
    right = torch.cat([flat, ones[:, None], half[:, None]], 1)
    return left, right, half


class _Blocks:
    """The upper triangle of square blocks of the (HW)×(HW) similarity S = F Fᵀ, block by
    block, with what the row-wise log-sum-exp of S needs (S is symmetric, so each
    off-diagonal block serves its rows and, transposed, its columns)."""

    def __init__(self, flat: Tensor, side: int) -> None:
        self.flat = flat
        self.left, self.right, self.half = _augmented(flat)
        self.top = float(self.half.max()) if len(self.half) else 0.0
        self.weights = torch.exp(self.half - self.top)  # exp(h_j − max h) ∈ [0, 1]
        positions = flat.shape[0]
        self.ranges = [slice(i, min(positions, i + side)) for i in range(0, positions, side)]

    def pairs(self) -> list[tuple[slice, slice]]:
        return [(rows, cols) for n, rows in enumerate(self.ranges) for cols in self.ranges[n:]]

    def shifted(self, rows: slice, cols: slice) -> Tensor:
        """S[rows, cols] − h_rows − h_cols, one matrix product."""
        return self.left[rows] @ self.right[cols].T

    def add_exp_sums(self, exp_block: Tensor, rows: slice, cols: slice, sums: Tensor) -> None:
        """Add the block's exp(S − h_i − h_j) · exp(h_j − max h) to its rows' sums (and, for
        an off-diagonal block, transposed, to its columns')."""
        sums[rows] += exp_block @ self.weights[cols]
        if rows != cols:
            sums[cols] += exp_block.T @ self.weights[rows]

    def row_logsumexp(self, sums: Tensor) -> Tensor:
        """log Σ_j exp(S_ij) from the accumulated sums; rows whose sum underflowed (a
        feature vector far shorter than the longest) are computed directly."""
        result = self.half + self.top + torch.log(sums)
        bad = torch.nonzero(~torch.isfinite(result) | (sums < 1e-290)).flatten()
        # in blocks of rows (a hostile image may make most rows underflow)
        step = max(1, _CFSD_BLOCK_BYTES // (8 * max(1, self.flat.shape[0])))
        for start in range(0, len(bad), step):
            index = bad[start:start + step]
            result[index] = torch.logsumexp(self.flat[index] @ self.flat.T, 1)
        return result


class CfsdContent:
    """The content side of CFSD, prepared once for all of a content image's stylizations.

    CFSD = Σ_ij P_ij (log P_ij − log Q_ij) with log P_ij = S_ij − lse_i(S) and the same
    for Q, so CFSD = Σ_ij P_ij (S^c_ij − S^s_ij) + Σ_i (lse_i(S^s) − lse_i(S^c)) (each row
    of P sums to 1).  S is symmetric, so only the blocks on and above the diagonal are
    computed, each with one matrix product and one exponential per entry; P enters as
    W = P + Pᵀ on those blocks.  The content keeps its features, lse_i(S^c),
    Σ P S^c and, when they fit in ``CFSD_CONTENT_CACHE_BYTES`` (images up to ~420² at
    relu3_1's quarter resolution), the W blocks themselves; each stylization then costs
    about half of one similarity matrix.  All in float64 (in float32 CFSD is off by up to
    ~1.5%), in blocks, so memory grows with HW, not (HW)².
    """

    def __init__(self, content: Tensor) -> None:
        a = _single(content)
        self.shape = tuple(a.shape)
        channels = a.shape[0]
        flat = a.reshape(channels, -1).T.to(torch.float64) / channels  # (HW, C)
        self.side = max(1, math.isqrt(_CFSD_BLOCK_BYTES // (8 * 4)))
        self.content = _Blocks(flat, self.side)
        positions = flat.shape[0]
        sums = torch.zeros(positions, dtype=torch.float64, device=flat.device)
        for rows, cols in self.content.pairs():
            block = self.content.shifted(rows, cols).exp_()
            self.content.add_exp_sums(block, rows, cols, sums)
        self.lse = self.content.row_logsumexp(sums)
        pairs = self.content.pairs()
        kept_bytes = sum(8 * (r.stop - r.start) * (c.stop - c.start) for r, c in pairs)
        keep = kept_bytes <= CFSD_CONTENT_CACHE_BYTES
        self.blocks: list[tuple[Tensor, Tensor, Tensor]] | None = [] if keep else None
        self.p_dot_s = 0.0  # Σ_ij P_ij S^c_ij
        for rows, cols in pairs:
            similarity = self.content.flat[rows] @ self.content.flat[cols].T
            weight, row_sums, col_sums = self._weights(rows, cols, similarity)
            self.p_dot_s += float(torch.dot(weight.flatten(), similarity.flatten()))
            if self.blocks is not None:
                self.blocks.append((weight, row_sums, col_sums))

    def _weights(self, rows: slice, cols: slice, similarity: Tensor | None = None
                 ) -> tuple[Tensor, Tensor, Tensor]:
        """W = P + Pᵀ on one block (P alone on the diagonal), its row and column sums."""
        if similarity is None:
            similarity = self.content.flat[rows] @ self.content.flat[cols].T
        weight = torch.exp(similarity - self.lse[rows, None])
        if rows != cols:
            weight += torch.exp(similarity - self.lse[None, cols])
        return weight, weight.sum(1), weight.sum(0)

    def distance(self, stylized: Tensor) -> float:
        """CFSD between this content and one stylization's relu3_1 features."""
        b = _single(stylized)
        if tuple(b.shape) != self.shape:
            raise InvalidInputError(
                f"content and stylized features differ in shape: {self.shape} "
                f"and {tuple(b.shape)} (the images must have one size)")
        flat_b = b.reshape(b.shape[0], -1).T.to(torch.float64) / b.shape[0]
        side = _Blocks(flat_b, self.side)
        sums = torch.zeros(flat_b.shape[0], dtype=torch.float64, device=flat_b.device)
        p_dot_s = torch.zeros((), dtype=torch.float64, device=flat_b.device)
        for number, (rows, cols) in enumerate(self.content.pairs()):
            weight, row_sums, col_sums = (self.blocks[number] if self.blocks is not None
                                          else self._weights(rows, cols))
            block = side.shifted(rows, cols)  # S^s − h_i − h_j
            p_dot_s += (torch.dot(weight.flatten(), block.flatten())
                        + torch.dot(row_sums, side.half[rows])
                        + torch.dot(col_sums, side.half[cols]))
            side.add_exp_sums(block.exp_(), rows, cols, sums)
        lse = side.row_logsumexp(sums)
        value = self.p_dot_s - float(p_dot_s) + float((lse - self.lse).sum())
        return max(value, 0.0)  # KL ≥ 0: a rounding below zero is zero


def cfsd(content: Tensor, stylized: Tensor) -> float:
    """CFSD between one content image's and one stylized image's relu3_1 features.

    Raises:
        ValueError: the feature maps differ in shape (images of different sizes).
    """
    return CfsdContent(content).distance(stylized)


def art_fid(mean_lpips: float, fid_art: float) -> float:
    """ArtFID = (1 + mean LPIPS) · (1 + FID) (Wright & Ommer 2022, its ``art_fid`` mode)."""
    return (1.0 + mean_lpips) * (1.0 + fid_art)


def check_fid_infinity_size(count: int) -> None:
    """Refuse ``count`` stylized images, too few for FID∞'s extrapolation (also called before
    any feature is computed, with the count of the files found).

    Raises:
        InvalidInputError: fewer than ``FID_INFINITY_MIN_IMAGES``.
    """
    if count < FID_INFINITY_MIN_IMAGES:
        raise InvalidInputError(
            f"FID∞ needs at least {FID_INFINITY_MIN_IMAGES} stylized images to "
            f"extrapolate from, got {count}; use the plain mode (ArtFID's "
            "'art_fid' mode), which is what ArtFID computes below that anyway")


def fid_infinity(stylized_features: np.ndarray, style_features: np.ndarray, *,
                 points: int = 15, seed: int = 0) -> float:
    """FID∞: FID of random stylized subsets of N = 5,000 … all images against the style set,
    extrapolated linearly in 1/N to N → ∞ (Chong & Forsyth 2020).

    Raises:
        ValueError: fewer than 5,000 stylized images (below that the extrapolation has
            nothing to stand on; ArtFID's code then silently returns plain FID).
    """
    from likeness.metrics.fid import feature_statistics, frechet_distance

    count = stylized_features.shape[0]
    check_fid_infinity_size(count)
    style_stats = feature_statistics(style_features)
    sizes = np.linspace(FID_INFINITY_MIN_IMAGES, count, points).astype(int)
    generator = np.random.default_rng(seed)
    values = []
    for size in sizes:
        chosen = stylized_features[generator.permutation(count)[:size]]
        values.append(frechet_distance(*feature_statistics(chosen), *style_stats))
    slope, intercept = np.polyfit(1.0 / sizes, np.array(values), 1)
    del slope
    return float(intercept) if math.isfinite(intercept) else math.nan
