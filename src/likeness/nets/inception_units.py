"""Inception-v3's units: torchvision's convolution + batch norm + ReLU (``BasicConv2d``) and
its inference form with the batch norm folded in (``FoldedConv``), which runs stride-1
convolutions by Winograd where that pays (nets/winograd.py) and the others, on x86 CPUs,
through oneDNN with its weights packed once and the ReLU fused; see nets/inception.py."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from likeness.nets.winograd import WinogradWeights, winograd_convolve, winograd_pays

__all__ = ["BasicConv2d", "FoldedConv", "pool_after_conv"]

_BN_EPS = 0.001


@functools.cache
def _onednn_built() -> bool:
    """Whether this torch has oneDNN's fused convolution with packed weights on an x86 CPU
    (elsewhere — ARM, builds without oneDNN — the plain convolution runs)."""
    return (torch.backends.cpu.get_cpu_capability().startswith("AVX")
            and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
            and hasattr(torch.ops.mkldnn, "_reorder_convolution_weight"))


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
    run by Winograd where that pays (nets/winograd.py)."""

    def __init__(self, weight: Tensor, bias: Tensor, stride: Sequence[int],
                 padding: Sequence[int]) -> None:
        self.weight, self.bias = weight, bias
        self.stride, self.padding = tuple(stride), tuple(padding)
        self._winograd: WinogradWeights | None = None
        self._packed: Tensor | None = None

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

    def __getstate__(self) -> dict[str, object]:
        # packed weights are oneDNN's opaque tensors, which neither copy nor pickle: a copy
        # packs them again when first called
        return {**self.__dict__, "_packed": None}

    def to(self, device: torch.device, memory_format: torch.memory_format) -> None:
        self.weight = self.weight.to(device).contiguous(memory_format=memory_format)
        self.bias = self.bias.to(device)
        self._winograd = self._packed = None

    def __call__(self, x: Tensor, relu: bool = True) -> Tensor:
        if self.stride == (1, 1) and winograd_pays(self.weight, self.padding, x):
            if self._winograd is None:
                self._winograd = WinogradWeights(self.weight, self.bias, self.padding)
            return winograd_convolve(x, self._winograd, relu=relu)
        on_onednn = x.device.type == "cpu" and x.dtype == torch.float32
        if on_onednn and torch.backends.mkldnn.enabled and _onednn_built():
            return self._onednn(x, relu)
        out = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        return F.relu_(out) if relu else out

    def _onednn(self, x: Tensor, relu: bool) -> Tensor:
        """The convolution (and ReLU) as one oneDNN call on weights packed once, for the
        first input's shape (oneDNN reorders them itself for other shapes): the values of
        ``F.conv2d`` then ``F.relu_``, which run the same direct convolution on the
        network's inputs (for a single small image torch takes a kernel of its own, the
        same within float32 rounding), without reordering the weights each call or a
        second pass over the output."""
        padding, stride = list(self.padding), list(self.stride)
        if self._packed is None:
            self._packed = torch.ops.mkldnn._reorder_convolution_weight(
                self.weight, padding, stride, [1, 1], 1, list(x.shape))
        return torch.ops.mkldnn._convolution_pointwise(
            x, self._packed, self.bias, padding, stride, [1, 1], 1,
            "relu" if relu else "none", [None], "")


def pool_after_conv(pooled_conv: Tensor, bias: Tensor, count_padding: bool) -> Tensor:
    """An average-pool branch from its 1×1 convolution computed before pooling (module doc)."""
    pooled = F.avg_pool2d(pooled_conv, 3, stride=1, padding=1,
                          count_include_pad=count_padding)
    if count_padding:  # the pool scaled the bias by (cells inside)/9 at the borders
        ones = torch.ones_like(pooled_conv[:1, :1])
        inside = F.avg_pool2d(ones, 3, stride=1, padding=1, count_include_pad=True)
        pooled = pooled + bias.view(1, -1, 1, 1) * (1 - inside)
    return F.relu_(pooled)
