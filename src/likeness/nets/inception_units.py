"""Inception-v3's units: torchvision's convolution + batch norm + ReLU (``BasicConv2d``) and
its inference form with the batch norm folded in (``FoldedConv``), which runs stride-1
convolutions by Winograd where that pays (nets/winograd.py) and the others, on x86 CPUs,
through oneDNN on weights packed once (nets/onednn.py); see nets/inception.py."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from likeness.nets.onednn import PackedWeights, onednn_pays, packed_conv2d
from likeness.nets.winograd import WinogradWeights, winograd_convolve, winograd_pays

__all__ = ["BasicConv2d", "FoldedConv", "pool_after_conv"]

_BN_EPS = 0.001


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (eps 0.001), ReLU: torchvision's unit."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=_BN_EPS)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))

    def folded(self) -> tuple[Tensor, Tensor]:
        """The convolution's weight and bias with the batch norm (inference mode) folded in."""
        variance, mean = self.bn.running_var, self.bn.running_mean
        if variance is None or mean is None:  # pragma: no cover - always tracked here
            raise RuntimeError("batch norm without running statistics cannot be folded")
        scale = self.bn.weight / torch.sqrt(variance + self.bn.eps)
        weight = self.conv.weight * scale.view(-1, 1, 1, 1)
        bias = self.bn.bias - mean * scale
        return weight.detach().clone(), bias.detach().clone()


class FoldedConv:
    """A folded convolution: weight, bias and the convolution's geometry; stride-1 ones
    run by Winograd where that pays (nets/winograd.py), the others on x86 CPUs through
    oneDNN on weights packed once (nets/onednn.py)."""

    def __init__(self, weight: Tensor, bias: Tensor, stride: Sequence[int],
                 padding: Sequence[int]) -> None:
        self.weight, self.bias = weight, bias
        self.stride, self.padding = tuple(stride), tuple(padding)
        self._winograd: WinogradWeights | None = None
        self._packed = PackedWeights()

    @classmethod
    def of(cls, unit: BasicConv2d) -> FoldedConv:
        weight, bias = unit.folded()
        return cls(weight, bias, unit.conv.stride, unit.conv.padding)  # type: ignore[arg-type]

    @classmethod
    def merged(cls, units: Sequence[BasicConv2d]) -> FoldedConv:
        """1×1 stride-1 convolutions of one input as one convolution (outputs concatenated)."""
        parts = [unit.folded() for unit in units]
        return cls(torch.cat([w for w, _ in parts]), torch.cat([b for _, b in parts]),
                   (1, 1), (0, 0))

    def to(self, device: torch.device, memory_format: torch.memory_format) -> None:
        self.weight = self.weight.to(device).contiguous(memory_format=memory_format)
        self.bias = self.bias.to(device)
        self._winograd = None
        self._packed = PackedWeights()

    def __call__(self, x: Tensor, relu: bool = True) -> Tensor:
        if self.stride == (1, 1) and winograd_pays(self.weight, self.padding, x):
            if self._winograd is None:
                self._winograd = WinogradWeights(self.weight, self.bias, self.padding)
            return winograd_convolve(x, self._winograd, relu=relu)
        if onednn_pays(self.weight, self.padding, x):
            return packed_conv2d(x, self.weight, self.bias, self.stride, self.padding,
                                 self._packed, relu=relu)
        out = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        return F.relu_(out) if relu else out


def pool_after_conv(pooled_conv: Tensor, bias: Tensor, count_padding: bool) -> Tensor:
    """An average-pool branch from its 1×1 convolution computed before pooling (module doc)."""
    pooled = F.avg_pool2d(pooled_conv, 3, stride=1, padding=1,
                          count_include_pad=count_padding)
    if count_padding:  # the pool scaled the bias by (cells inside)/9 at the borders
        ones = torch.ones_like(pooled_conv[:1, :1])
        inside = F.avg_pool2d(ones, 3, stride=1, padding=1, count_include_pad=True)
        pooled = pooled + bias.view(1, -1, 1, 1) * (1 - inside)
    return F.relu_(pooled)
