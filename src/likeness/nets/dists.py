"""The DISTS network: torchvision's VGG16 features with L2 pooling in place of max
pooling, plus the shipped α/β of the DISTS_pytorch package; an ``nn.Module`` usable as a
loss.  Inputs are RGB in [0, 1] and are not resized (the authors' code; piq resizes
images larger than 256 px first)."""

from __future__ import annotations

import os
from importlib import resources

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from likeness.errors import InvalidInputError
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.dists import dists_from_features
from likeness.nets.backbones import build_backbone
from likeness.nets.inputs import network_batch, warn_if_outside
from likeness.nets.loading import load_matching_weights, load_state_dict
from likeness.nets.weights import ResolvedWeights, passing_weights_as, resolve
from likeness.nets.winograd import apply_layer

__all__ = ["DISTS", "dists"]

_POOLS = (4, 9, 16, 23)  # VGG16's max pools, replaced by L2 pooling
_TAPS = (3, 8, 15, 22, 29)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class DISTS(nn.Module):
    """DISTS exactly as DISTS_pytorch 0.1 computes it.

    Args:
        backbone_weights: a VGG16 checkpoint path loaded as given; None resolves the
            registered ImageNet checkpoint through the weights manager.

    Attributes:
        weights: the resolved backbone checkpoint (path, SHA-256, source).

    Raises:
        WeightsError: the backbone checkpoint is missing, fails verification or does not fit.
    """

    alpha: Tensor
    beta: Tensor
    mean: Tensor
    std: Tensor
    pool_filter: Tensor

    def __init__(self, backbone_weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.backbone = build_backbone("vgg16")
        with passing_weights_as("backbone_weights=PATH"):
            self.weights: ResolvedWeights = resolve("vgg16", backbone_weights)
        load_matching_weights(self.backbone, load_state_dict(self.weights.path),
                              str(self.weights.path), "vgg16")
        source = resources.files("likeness") / "data" / "dists" / "alpha_beta.pt"
        with resources.as_file(source) as path:
            shipped = load_state_dict(path)
        self.register_buffer("alpha", shipped["alpha"])
        self.register_buffer("beta", shipped["beta"])
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))
        # the 3x3 Hann window of DISTS_pytorch's L2pooling (np.hanning(5)[1:-1], normalised)
        window = torch.tensor([0.5, 1.0, 0.5], dtype=torch.float64)
        kernel = window[:, None] * window[None, :]
        self.register_buffer("pool_filter", (kernel / kernel.sum()).float()[None, None])
        self.requires_grad_(False)
        self.eval()

    def _l2_pool(self, x: Tensor) -> Tensor:
        weight = self.pool_filter.to(x.dtype).expand(x.shape[1], 1, 3, 3)
        pooled = F.conv2d(x**2, weight, stride=2, padding=1, groups=x.shape[1])
        return (pooled + 1e-12).sqrt()

    @as_defined
    def encode(self, images: Tensor) -> list[Tensor]:
        """The six feature sets of (N, 3, H, W) images in [0, 1]: the images themselves,
        then relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3."""
        features = [images]
        h = (images - self.mean) / self.std
        if not (torch.is_grad_enabled() and h.requires_grad):
            # channels-last convolutions run faster on CPUs (oneDNN); as a loss the
            # contiguous layout keeps input gradients those of DISTS_pytorch
            h = h.contiguous(memory_format=torch.channels_last)
        for index, layer in enumerate(self.backbone.features):
            if index > _TAPS[-1]:
                break
            h = self._l2_pool(h) if index in _POOLS else apply_layer(layer, h)
            if index in _TAPS:
                features.append(h)
        return features

    @as_defined
    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """DISTS of each pair of (N, 3, H, W) images in [0, 1]: (N,)."""
        x, y = (network_batch(images, self.backbone, name="DISTS", takes="images in [0, 1]",
                              convert="pass images.float() / 255 for 8-bit ones")
                for images in (x, y))
        if x.shape != y.shape:
            raise InvalidInputError(f"expected two (N, 3, H, W) batches of one shape, got "
                                    f"{tuple(x.shape)} and {tuple(y.shape)}")
        warn_if_outside((x, y), (0.0, 1.0), "DISTS",
                        "pass images.float() / 255 for 8-bit ones, or scale them to [0, 1]",
                        "its distances are")
        features = self.encode(torch.cat([x, y]))
        batch = x.shape[0]
        return dists_from_features([f[:batch] for f in features],
                                   [f[batch:] for f in features], self.alpha, self.beta)


_MODULES: dict[str, DISTS] = {}


def dists(x: Tensor, y: Tensor) -> Tensor:
    """DISTS of each pair of an (N, 3, H, W) batch in [0, 1], shape (N,); the network is
    built once per device with the registered VGG16 checkpoint."""
    key = str(x.device)
    if key not in _MODULES:
        _MODULES[key] = DISTS().to(x.device)
    return _MODULES[key](x, y)
