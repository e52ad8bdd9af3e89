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
  blocks of rows so that memory grows with HW, not (HW)².
- **ArtFID** (Wright & Ommer 2022): (1 + mean LPIPS(content, stylized)) · (1 + FID(stylized
  set, style set)) with ArtFID's art-trained Inception; ``fid_infinity`` is FID∞ (Chong &
  Forsyth 2020), which needs at least 5,000 images.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["STYLE_LAYERS", "CONTENT_LAYER", "CFSD_LAYER", "FID_INFINITY_MIN_IMAGES", "CfsdContent",
           "adain_statistics", "adain_style_loss", "adain_style_loss_to", "art_fid", "cfsd",
           "content_loss", "fid_infinity", "gram_loss", "gram_loss_to", "gram_matrix"]

STYLE_LAYERS = (1, 6, 11, 20, 29)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
CONTENT_LAYER = 22  # relu4_2
CFSD_LAYER = 11  # relu3_1 (StyleID's features[:12])
FID_INFINITY_MIN_IMAGES = 5000
_ADAIN_EPS = 1e-5
_CFSD_BLOCK_BYTES = 256 * 1024 * 1024
CFSD_CONTENT_CACHE_BYTES = 512 * 1024 * 1024


def _single(features: Tensor) -> Tensor:
    if features.ndim == 4:
        if features.shape[0] != 1:
            raise ValueError(f"expected one image's features, got a batch of {features.shape[0]}")
        features = features[0]
    if features.ndim != 3:
        raise ValueError(f"expected (C, H, W) features, got shape {tuple(features.shape)}")
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
    """Per-channel mean and std = sqrt(unbiased variance + 1e-5) of (C, H, W) features."""
    single = _single(features)
    flat = single.reshape(single.shape[0], -1)
    return flat.mean(dim=1), torch.sqrt(flat.var(dim=1, unbiased=True) + _ADAIN_EPS)


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
        raise ValueError(f"content and stylized features differ in shape: {tuple(a.shape)} "
                         f"and {tuple(b.shape)} (the images must have one size)")
    return float(((a - b) ** 2).mean())


def _log_softmax_rows(flat: Tensor, rows: slice) -> Tensor:
    similarity = flat[rows] @ flat.T
    return similarity - torch.logsumexp(similarity, dim=1, keepdim=True)


class CfsdContent:
    """The content side of CFSD, prepared once for all of a content image's stylizations.

    Holds the float64 features and, when the content's softmax rows fit in
    ``CFSD_CONTENT_CACHE_BYTES`` ((H·W)² float64: images up to ~360² at relu3_1's quarter
    resolution), P and log P themselves, so each stylization costs one similarity matrix,
    not two.
    """

    def __init__(self, content: Tensor) -> None:
        a = _single(content)
        self.shape = tuple(a.shape)
        channels = a.shape[0]
        self.flat = a.reshape(channels, -1).T.to(torch.float64) / channels  # (HW, C)
        positions = self.flat.shape[0]
        self.block = max(1, _CFSD_BLOCK_BYTES // (8 * 3 * positions))
        self.blocks: list[tuple[Tensor, Tensor]] | None = None
        if 2 * 8 * positions * positions <= CFSD_CONTENT_CACHE_BYTES:
            self.blocks = []
            for rows in self._rows():
                log_p = _log_softmax_rows(self.flat, rows)
                self.blocks.append((log_p.exp(), log_p))

    def _rows(self) -> list[slice]:
        positions = self.flat.shape[0]
        return [slice(start, min(positions, start + self.block))
                for start in range(0, positions, self.block)]

    def distance(self, stylized: Tensor) -> float:
        """CFSD between this content and one stylization's relu3_1 features."""
        b = _single(stylized)
        if tuple(b.shape) != self.shape:
            raise ValueError(f"content and stylized features differ in shape: {self.shape} "
                             f"and {tuple(b.shape)} (the images must have one size)")
        flat_b = b.reshape(b.shape[0], -1).T.to(torch.float64) / b.shape[0]
        total = torch.zeros((), dtype=torch.float64, device=flat_b.device)
        for number, rows in enumerate(self._rows()):
            if self.blocks is not None:
                p, log_p = self.blocks[number]
            else:
                log_p = _log_softmax_rows(self.flat, rows)
                p = log_p.exp()
            total += (p * (log_p - _log_softmax_rows(flat_b, rows))).sum()
        return float(total)


def cfsd(content: Tensor, stylized: Tensor) -> float:
    """CFSD between one content image's and one stylized image's relu3_1 features.

    Raises:
        ValueError: the feature maps differ in shape (images of different sizes).
    """
    return CfsdContent(content).distance(stylized)


def art_fid(mean_lpips: float, fid_art: float) -> float:
    """ArtFID = (1 + mean LPIPS) · (1 + FID) (Wright & Ommer 2022, its ``art_fid`` mode)."""
    return (1.0 + mean_lpips) * (1.0 + fid_art)


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
    if count < FID_INFINITY_MIN_IMAGES:
        raise ValueError(f"FID∞ needs at least {FID_INFINITY_MIN_IMAGES} stylized images to "
                         f"extrapolate from, got {count}; use the plain mode (ArtFID's "
                         "'art_fid' mode), which is what ArtFID computes below that anyway")
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
