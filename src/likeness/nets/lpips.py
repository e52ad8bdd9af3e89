"""The LPIPS network: a torchvision-compatible backbone plus the shipped v0.1 linear heads."""

from __future__ import annotations

import copy
import os
from importlib import resources
from typing import Any

import torch
from torch import Tensor, nn

from likeness.arguments import check_flags, described
from likeness.errors import InvalidInputError, InvalidInputTypeError
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.lpips import lpips_from_features
from likeness.metrics.tensor_checks import tensor_version
from likeness.nets.backbones import Backbone, build_backbone
from likeness.nets.inputs import network_batch, warn_if_outside
from likeness.nets.loading import load_matching_weights, load_state_dict
from likeness.nets.weights import ResolvedWeights, passing_weights_as, resolve

__all__ = ["LPIPS", "LPIPS_NETS", "load_backbone_weights", "lpips"]

# net: (registry name of the backbone, tapped layer indices in `features`)
LPIPS_NETS: dict[str, tuple[str, tuple[int, ...]]] = {
    "alex": ("alexnet", (1, 4, 7, 9, 11)),
    "vgg": ("vgg16", (3, 8, 15, 22, 29)),
    "squeeze": ("squeezenet1_1", (1, 4, 7, 9, 10, 11, 12)),
}


def load_backbone_weights(backbone: Backbone, state: dict[str, Any], source: str) -> None:
    """Load the ``features.*`` entries of a checkpoint; other keys (``classifier.*``) are ignored.

    Raises:
        WeightsError: a key the backbone needs is missing or has another shape.
    """
    load_matching_weights(backbone, state, source, backbone.name)


class LPIPS(nn.Module):
    """LPIPS v0.1 exactly as the lpips package computes it; an ``nn.Module`` usable as a loss.

    Args:
        net: ``"alex"``, ``"vgg"`` or ``"squeeze"``.
        version: ``"0.1"`` (the only version shipped).
        spatial: return the per-pixel map (N, 1, H, W) instead of the mean (N, 1, 1, 1).
        backbone_weights: a checkpoint path loaded as given (a fine-tuned backbone, or a
            file kept elsewhere); None resolves the registered ImageNet checkpoint through
            the weights manager (cache, then download).

    Attributes:
        weights: the resolved backbone checkpoint (path, SHA-256, source).

    Raises:
        WeightsError: the backbone checkpoint is missing, fails verification or does not fit.

    Example:
        >>> metric = LPIPS(net="alex")  # doctest: +SKIP
        >>> metric(x, y).shape          # doctest: +SKIP
        torch.Size([4, 1, 1, 1])
    """

    shift: Tensor
    scale: Tensor

    def __init__(self, net: str = "alex", version: str = "0.1", spatial: bool = False,
                 backbone_weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        if not isinstance(net, str) or net not in LPIPS_NETS:
            raise InvalidInputError(
                f"unknown LPIPS net {net!r}; choose from {', '.join(LPIPS_NETS)}")
        if str(version) != "0.1":  # the lpips package takes 0.1 as well: v0.1's files
            raise InvalidInputError(f"only LPIPS version '0.1' is available, got {version!r}")
        check_flags(spatial=spatial)
        backbone_name, self.taps = LPIPS_NETS[net]
        self.net_name, self.version, self.spatial = net, str(version), bool(spatial)
        self.backbone = build_backbone(backbone_name)
        with passing_weights_as("backbone_weights=PATH"):
            self.weights: ResolvedWeights = resolve(backbone_name, backbone_weights)
        load_backbone_weights(self.backbone, load_state_dict(self.weights.path),
                              str(self.weights.path))
        heads = _shipped_heads(net)
        self.heads = nn.ParameterList([nn.Parameter(w, requires_grad=False) for w in heads])
        # lpips' ScalingLayer: inputs in [-1, 1] to ImageNet-normalised
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        # channels-last convolutions run ~1.2-1.5x faster on CPUs (oneDNN); values unchanged
        self.backbone.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.requires_grad_(False)
        self.eval()

    @as_defined
    def forward(self, x: Tensor, y: Tensor, normalize: bool = False) -> Tensor:
        """LPIPS distance of each pair: (N, 1, 1, 1), or (N, 1, H, W) when spatial.

        Args:
            x, y: (N, 3, H, W) in [-1, 1], or in [0, 1] with ``normalize=True``.
        """
        check_flags(normalize=normalize)
        x, y = (network_batch(images, self.backbone, name="LPIPS",
                              takes="images in [-1, 1] (in [0, 1] with normalize=True)",
                              convert="pass images.float() / 255 with normalize=True for 8-bit "
                                      "ones") for images in (x, y))
        if x.shape != y.shape or not len(x):
            raise InvalidInputError(
                f"expected two (N, 3, H, W) batches of one shape, at least one image of at "
                f"least a pixel, got {tuple(x.shape)} and {tuple(y.shape)}")
        warn_if_outside((x, y), (0.0, 1.0) if normalize else (-1.0, 1.0), "LPIPS",
                        "scale images to [0, 1]" if normalize else
                        "pass normalize=True for [0, 1] images, or scale them to [-1, 1]",
                        "its distances are")
        if normalize:
            x, y = 2 * x - 1, 2 * y - 1
        features = self.encode(torch.cat([x, y]))  # one pass for x and y
        batch = x.shape[0]
        features_x = [f[:batch] for f in features]
        features_y = [f[batch:] for f in features]
        size = tuple(x.shape[2:]) if self.spatial else None
        return self.distance(features_x, features_y, size)  # type: ignore[arg-type]

    @as_defined
    def encode(self, images: Tensor) -> list[Tensor]:
        """The tapped backbone features of (N, 3, H, W) images in [-1, 1].

        With ``distance``, this lets an image shared by many pairs (a reference compared
        with several outputs) be encoded once.
        """
        # in the network's precision (float64 images too; 16-bit ones are promoted)
        scaled = (images.to(self.shift.dtype) - self.shift) / self.scale
        if torch.is_grad_enabled() and scaled.requires_grad:
            # as a training loss: the lpips package's layout, so that input gradients equal
            # its own (the channels-last kernels round float32 gradients differently)
            return self._backbone_for_gradients().forward_taps(scaled.contiguous(), self.taps)
        return self.backbone.forward_taps(scaled.contiguous(memory_format=torch.channels_last),
                                          self.taps)

    def _backbone_for_gradients(self) -> Backbone:
        """A contiguous-layout copy of the backbone, made again whenever the backbone's
        parameters were replaced, moved or changed in place (kept out of the state dict)."""
        stamp = tuple((p.data_ptr(), p.dtype, tensor_version(p))
                      for p in self.backbone.parameters())
        held = self.__dict__.get("_contiguous_backbone")
        if held is None or held[0] != stamp:
            copied = copy.deepcopy(self.backbone)
            copied.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
            held = (stamp, copied)
            self.__dict__["_contiguous_backbone"] = held
        return held[1]

    def distance(self, features_x: list[Tensor], features_y: list[Tensor],
                 spatial_size: tuple[int, int] | None = None) -> Tensor:
        """LPIPS from ``encode`` outputs of equal batch sizes: (N, 1, 1, 1) or the map."""
        return lpips_from_features(features_x, features_y, list(self.heads),
                                   spatial_size=spatial_size)


def _shipped_heads(net: str) -> list[Tensor]:
    source = resources.files("likeness") / "data" / "lpips_v0.1" / f"{net}.pth"
    with resources.as_file(source) as path:
        state = load_state_dict(path)
    return [state[f"lin{i}.model.1.weight"] for i in range(len(LPIPS_NETS[net][1]))]


_MODULES: dict[tuple[str, str], LPIPS] = {}


@as_defined
def lpips(x: Tensor, y: Tensor, *, net: str = "alex", normalize: bool = False) -> Tensor:
    """LPIPS v0.1 of each pair of an (N, 3, H, W) batch, shape (N,).

    The network is built once per (net, device), with the registered backbone checkpoint.
    """
    for name, images in (("x", x), ("y", y)):
        if not isinstance(images, Tensor):
            raise InvalidInputTypeError(f"{name} must be an (N, 3, H, W) torch tensor, got "
                                        f"{described(images)}")
    key = (net, str(x.device))
    if key not in _MODULES:
        _MODULES[key] = LPIPS(net=net).to(x.device)
    return _MODULES[key](x, y, normalize=normalize).flatten()
