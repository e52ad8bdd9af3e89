"""The LPIPS distance from backbone features (pure maths; the network is in nets/lpips.py).

LPIPS v0.1 (Zhang et al. 2018): each tapped feature map is unit-normalised along channels,
the squared difference is weighted per channel by a learned 1×1 linear head, and summed
over layers after a spatial mean (or, for a spatial map, after bilinear upsampling to the
input size).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.errors import InvalidInputError

__all__ = ["lpips_from_features", "lpips_from_normalized", "unit_normalize"]


def unit_normalize(features: Tensor, eps: float = 1e-10) -> Tensor:
    """Divide each spatial feature vector by its L2 norm (+eps, as lpips does).

    Without a gradient the norm is one ``vector_norm`` pass (no squared temporary); with
    one, lpips' own operations, so that gradients are its own (also at zero vectors).
    """
    if _needs_graph(features):
        norm = features.pow(2).sum(dim=1, keepdim=True).sqrt()
    else:
        norm = torch.linalg.vector_norm(features, dim=1, keepdim=True)
    return features / (norm + eps)


def _needs_graph(x: Tensor) -> bool:
    return torch.is_grad_enabled() and x.requires_grad


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
    return lpips_from_normalized([unit_normalize(f) for f in features_x],
                                 [unit_normalize(f) for f in features_y], head_weights,
                                 spatial_size=spatial_size)


def lpips_from_normalized(normalized_x: Sequence[Tensor], normalized_y: Sequence[Tensor],
                          head_weights: Sequence[Tensor], *,
                          spatial_size: tuple[int, int] | None = None) -> Tensor:
    """``lpips_from_features`` on features already passed through ``unit_normalize``
    (so an image shared by many pairs is normalised once).  Batches broadcast: x may hold
    one image and y several.

    The mean distance uses that a 1×1 head and the spatial mean commute (both linear): the
    squared differences are averaged over space first, then weighted — the same value
    (to float rounding) as lpips' head-then-mean, at a fraction of the cost.
    """
    total: Tensor | None = None
    for nx, ny, weight in zip(normalized_x, normalized_y, head_weights, strict=True):
        difference = nx - ny
        squared = difference**2 if _needs_graph(difference) else difference.square_()
        if spatial_size is None:
            layer = (squared.mean(dim=(2, 3), keepdim=True) * weight).sum(1, keepdim=True)
        else:
            layer = F.interpolate(F.conv2d(squared, weight), size=spatial_size,
                                  mode="bilinear", align_corners=False)
        total = layer if total is None else total + layer
    if total is None:
        raise InvalidInputError("LPIPS needs at least one layer of features")
    return total
