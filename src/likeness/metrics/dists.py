"""DISTS (Ding, Ma, Wang & Simoncelli 2020) from network features: the pure maths.

For each of the six feature sets (the input image, then VGG16 relu1_2, relu2_2, relu3_3,
relu4_3, relu5_3 with L2 pooling in place of max pooling) and each channel: the texture
term (2 μ_x μ_y + c) / (μ_x² + μ_y² + c) and the structure term
(2 σ_xy + c) / (σ_x² + σ_y² + c) of the spatial means, variances and covariance
(c = 1e-6), weighted by the learned α and β (normalised by their joint sum);
DISTS = 1 − Σ α S_texture − Σ β S_structure.  0 for identical images, lower is better.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["dists_from_features"]

_C = 1e-6


def dists_from_features(features_x: Sequence[Tensor], features_y: Sequence[Tensor],
                        alpha: Tensor, beta: Tensor) -> Tensor:
    """DISTS of each pair (N,) from the six feature sets of x and of y.

    Args:
        features_x, features_y: six (N, C_k, H_k, W_k) tensors each.
        alpha, beta: (1, Σ C_k, 1, 1) learned weights.
    """
    total = alpha.sum() + beta.sum()
    channels = [f.shape[1] for f in features_x]
    alphas = torch.split(alpha / total, channels, dim=1)
    betas = torch.split(beta / total, channels, dim=1)
    texture = torch.zeros((), dtype=alpha.dtype, device=alpha.device)
    structure = torch.zeros((), dtype=alpha.dtype, device=alpha.device)
    for x, y, a, b in zip(features_x, features_y, alphas, betas, strict=True):
        mean_x = x.mean([2, 3], keepdim=True)
        mean_y = y.mean([2, 3], keepdim=True)
        similarity = (2 * mean_x * mean_y + _C) / (mean_x**2 + mean_y**2 + _C)
        texture = texture + (a * similarity).sum(1, keepdim=True)
        variance_x = ((x - mean_x) ** 2).mean([2, 3], keepdim=True)
        variance_y = ((y - mean_y) ** 2).mean([2, 3], keepdim=True)
        covariance = (x * y).mean([2, 3], keepdim=True) - mean_x * mean_y
        correlation = (2 * covariance + _C) / (variance_x + variance_y + _C)
        structure = structure + (b * correlation).sum(1, keepdim=True)
    return (1 - (texture + structure)).reshape(-1)
