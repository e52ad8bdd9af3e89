"""The LPIPS distance from backbone features (pure maths; the network is in nets/lpips.py).

LPIPS v0.1 (Zhang et al. 2018): each tapped feature map is unit-normalised along channels,
the squared difference is weighted per channel by a learned 1×1 linear head, and summed
over layers after a spatial mean (or, for a spatial map, after bilinear upsampling to the
input size).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

__all__ = ["lpips_from_features", "unit_normalize"]


def unit_normalize(features: Tensor, eps: float = 1e-10) -> Tensor:
    """Divide each spatial feature vector by its L2 norm (+eps, as lpips does)."""
    norm = features.pow(2).sum(dim=1, keepdim=True).sqrt()
    return features / (norm + eps)


def lpips_from_features(features_x: Sequence[Tensor], features_y: Sequence[Tensor],
                        head_weights: Sequence[Tensor], *,
                        spatial_size: tuple[int, int] | None = None) -> Tensor:
    """LPIPS from per-layer features of x and y.

    Args:
        features_x, features_y: one (N, C_l, H_l, W_l) tensor per tapped layer.
        head_weights: one (1, C_l, 1, 1) linear-head weight per layer.
        spatial_size: None for the mean distance, shape (N, 1, 1, 1); (H, W) for the map,
            upsampled bilinearly (align_corners=False) to that size, shape (N, 1, H, W).

    References:
        Zhang, Isola, Efros, Shechtman & Wang (2018), The unreasonable effectiveness of deep
        features as a perceptual metric. CVPR.
    """
    total: Tensor | None = None
    for fx, fy, weight in zip(features_x, features_y, head_weights, strict=True):
        weighted = F.conv2d((unit_normalize(fx) - unit_normalize(fy)) ** 2, weight)
        if spatial_size is None:
            layer = weighted.mean(dim=(2, 3), keepdim=True)
        else:
            layer = F.interpolate(weighted, size=spatial_size, mode="bilinear",
                                  align_corners=False)
        total = layer if total is None else total + layer
    assert total is not None  # noqa: S101 - at least one layer by construction
    return total
