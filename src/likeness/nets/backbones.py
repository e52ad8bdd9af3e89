"""The ``features`` parts of AlexNet, VGG16, VGG19 and SqueezeNet 1.1, as torchvision builds them.

Layer indices, and so the state-dict keys (``features.0.weight``, ``features.3.squeeze.bias``,
...), are torchvision's, so its published ImageNet checkpoints load unchanged.  Each
backbone can return the activations after chosen layer indices ("taps"), which is how
LPIPS and the style metrics read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from likeness.errors import ImageTooSmallError, InvalidInputError
from likeness.nets.winograd import use_winograd, winograd_conv2d

__all__ = ["Backbone", "alexnet_features", "smallest_side", "squeezenet1_1_features",
           "vgg_features"]


class Fire(nn.Module):
    """SqueezeNet's fire module: squeeze 1×1, then expand 1×1 and 3×3, concatenated."""

    def __init__(self, inplanes: int, squeeze: int, expand1x1: int, expand3x3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class Backbone(nn.Module):
    """A ``features`` stack that returns the activations after the requested layers."""

    def __init__(self, name: str, features: nn.Sequential) -> None:
        super().__init__()
        self.name = name
        self.features = features

    def forward_taps(self, x: Tensor, taps: Sequence[int]) -> list[Tensor]:
        """Run the layers up to the last tap; return the output of each tapped layer.

        Activations are never modified in place after being returned (the next layer after
        a tap is a convolution or a pooling), so returned tensors stay valid.
        """
        wanted = set(taps)
        outputs: dict[int, Tensor] = {}
        last = max(taps)
        layers = list(self.features)
        known = self.__dict__.setdefault("_smallest_sides", {})  # the geometry never changes
        need = known.get(last) or known.setdefault(last, smallest_side(layers[:last + 1]))
        if x.ndim != 4 or not x.shape[0]:
            raise InvalidInputError(f"{self.name} needs (N, C, H, W) batches of at least one "
                                    f"image, got shape {tuple(x.shape)}")
        if min(x.shape[2:]) < need:  # said as the pixel metrics say theirs
            raise ImageTooSmallError(
                f"{self.name} needs images of at least {need} px a side (its layers shrink "
                f"smaller ones to nothing); these are {x.shape[3]}x{x.shape[2]}")
        index = 0
        while index <= last:
            layer = layers[index]
            if use_winograd(layer, x):
                # 3×3 and 5×5 convolutions on the CPU without autograd: Winograd F(4, r),
                # with the ReLU that follows fused when the convolution's output is not tapped
                fuse = (index not in wanted and index + 1 < len(layers)
                        and isinstance(layers[index + 1], nn.ReLU))
                x = winograd_conv2d(x, layer, relu=fuse)  # type: ignore[arg-type]
                if fuse:
                    index += 1
            elif isinstance(layer, nn.ReLU) and index - 1 in wanted:
                # a ReLU after a tapped layer must not overwrite the returned tensor in place
                x = torch.relu(x)
            else:
                x = layer(x)
            if index in wanted:
                outputs[index] = x
            index += 1
        return [outputs[index] for index in taps]


def smallest_side(layers: Sequence[nn.Module]) -> int:
    """The least height (and width) from which each of ``layers`` — convolutions and pools
    by their geometry, other modules keeping the size, as the Fire modules do — leaves at
    least one pixel."""
    for side in range(1, 4096):
        size = side
        for layer in layers:
            if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
                size = _output_side(layer, size)
            if size < 1:
                break
        else:
            return side
    raise InvalidInputError("no input size suits these layers")  # pragma: no cover


def _output_side(layer: nn.Module, size: int) -> int:
    """One side of ``layer``'s output for an input side of ``size`` (torch's rule)."""
    def first(value: Any) -> int:
        return int(value[0] if isinstance(value, tuple) else value)

    kernel, stride = first(layer.kernel_size), first(layer.stride or layer.kernel_size)
    padding, dilation = first(layer.padding), first(getattr(layer, "dilation", 1))
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if not getattr(layer, "ceil_mode", False):
        return span // stride + 1
    out = -(-span // stride) + 1
    return out - 1 if (out - 1) * stride >= size + padding else out  # starts inside


def alexnet_features() -> Backbone:
    """torchvision's AlexNet ``features`` (13 layers; ReLUs at 1, 4, 7, 9, 11)."""
    return Backbone("alexnet", nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    ))


_VGG_LAYOUTS: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def vgg_features(name: str) -> Backbone:
    """torchvision's VGG16 or VGG19 ``features`` (3×3 convolutions, no batch norm)."""
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG_LAYOUTS[name]:
        if isinstance(item, int):
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = item
        else:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return Backbone(name, nn.Sequential(*layers))


def squeezenet1_1_features() -> Backbone:
    """torchvision's SqueezeNet 1.1 ``features`` (13 layers, fire modules at 3-4, 6-7, 9-12)."""
    return Backbone("squeezenet1_1", nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(64, 16, 64, 64), Fire(128, 16, 64, 64),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(128, 32, 128, 128), Fire(256, 32, 128, 128),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
        Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
    ))


BACKBONES = {
    "alexnet": alexnet_features,
    "vgg16": lambda: vgg_features("vgg16"),
    "vgg19": lambda: vgg_features("vgg19"),
    "squeezenet1_1": squeezenet1_1_features,
}


def build_backbone(name: str) -> Backbone:
    try:
        return BACKBONES[name]()
    except KeyError:
        raise InvalidInputError(
            f"unknown backbone {name!r}; choose from {', '.join(BACKBONES)}") from None
