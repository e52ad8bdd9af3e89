"""Direct convolutions for CPU inference through oneDNN on weights packed once.

``F.conv2d`` on an x86 CPU runs oneDNN's direct convolution, but reorders the weights into
oneDNN's blocked layout on every call.  ``mkldnn::_convolution_pointwise`` (the operator
torch's own compiler emits for CPU convolutions) takes weights packed once
(``_reorder_convolution_weight``, for the first input's shape; oneDNN reorders them itself
for other shapes).  The values are ``F.conv2d``'s, bit for bit where torch runs oneDNN's
direct convolution (a network's batches); for a single small image torch takes a kernel of
its own, and the two agree within float32 rounding (``tests/test_onednn.py``).  The ReLU
that follows stays torch's own, in place: oneDNN's fused ReLU turns NaN into 0, which would
hide a non-finite input or weight.  Inception's folded units take this route (3 % less time
over its layer shapes, docs/speed.md); LPIPS' backbones measured no gain and keep the
modules' convolutions.  Only without autograd, on x86 builds with oneDNN enabled
(``torch.backends.mkldnn.enabled``); elsewhere the plain convolution runs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["PackedWeights", "onednn_built", "onednn_pays", "packed_conv2d"]


@functools.cache
def onednn_built() -> bool:
    """Whether this torch has oneDNN's convolution on packed weights on an x86 CPU (ARM
    builds and builds without oneDNN run the plain convolution)."""
    return (torch.backends.cpu.get_cpu_capability().startswith("AVX")
            and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
            and hasattr(torch.ops.mkldnn, "_reorder_convolution_weight"))


def onednn_pays(weight: Tensor, padding: Sequence[int], x: Tensor) -> bool:
    """Whether a convolution with ``weight`` (C_out, C_in, r_h, r_w) and ``padding``
    applied to ``x`` can take the packed route: both float32 on the CPU, ``x`` large enough
    for the kernel (else the plain convolution raises its own error), oneDNN enabled.  (No
    autograd there: the caller checks.)"""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and x.ndim == 4
            and weight.device.type == "cpu" and weight.dtype == torch.float32
            and weight.ndim == 4 and len(padding) == 2
            and x.shape[2] + 2 * padding[0] >= weight.shape[2]
            and x.shape[3] + 2 * padding[1] >= weight.shape[3]
            and bool(torch.backends.mkldnn.enabled) and onednn_built())


class PackedWeights:
    """oneDNN's packed copy of a convolution's weights, made when first used.  Packed
    tensors are opaque: they can neither be copied nor pickled, so a copy
    (``copy.deepcopy``, ``pickle``, ``torch.save``) starts empty and packs again."""

    def __init__(self) -> None:
        self.tensor: Tensor | None = None

    def __reduce__(self) -> tuple[type[PackedWeights], tuple[()]]:
        return PackedWeights, ()

    def __deepcopy__(self, memo: dict[int, object]) -> PackedWeights:
        return PackedWeights()


def packed_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, stride: Sequence[int],
                  padding: Sequence[int], packed: PackedWeights, *,
                  relu: bool = False) -> Tensor:
    """``F.conv2d(x, weight, bias, stride, padding)``, followed by a ReLU (in place, NaN
    kept) when ``relu``, as one oneDNN call on ``packed`` (filled from ``weight`` when
    empty: a new ``PackedWeights`` for new weights).  ``onednn_pays(weight, padding, x)``
    must hold."""
    stride, padding = list(stride), list(padding)
    if packed.tensor is None:
        packed.tensor = torch.ops.mkldnn._reorder_convolution_weight(
            weight.detach(), padding, stride, [1, 1], 1, list(x.shape))
    out = torch.ops.mkldnn._convolution_pointwise(
        x, packed.tensor, None if bias is None else bias.detach(), padding, stride, [1, 1],
        1, "none", [None], "")
    return torch.relu_(out) if relu else out
