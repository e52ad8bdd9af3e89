"""Inception-v3 feature trunks in plain torch: pytorch-fid's FID network and torchvision's.

Two variants share one set of blocks, with torchvision's module names, so the published
checkpoints load unchanged (keys ``Conv2d_1a_3x3.conv.weight`` ... ``Mixed_7c.*``):

- ``"fid"``: the network of pytorch-fid (``pt_inception-2015-12-05-6726825d.pth``), ported
  from TensorFlow's FID Inception.  Its blocks differ from torchvision's in two places:
  the average pools of the A, C and E blocks exclude the zero padding from the divisor
  (TensorFlow's pooling), and the last E block pools with a maximum.
- ``"torchvision"``: the standard blocks (average pools count the padding), as ArtFID's
  art-trained Inception uses them.

Both return the 2048-d output of the final average pool ("pool3").

Speed, with unchanged maths: for inference the batch norms are folded into the
convolutions, the 1×1 convolutions that read the same input are run as one convolution,
and an average pool followed by a 1×1 convolution is run as the convolution followed by the
pool (both are linear, and the pools' weights sum to one except where torchvision counts
padding, which is corrected exactly).  On the CPU its stride-1 3×3, 5×5, 1×3 and 3×1
convolutions run by Winograd where that pays (``inception_units.FoldedConv``), and a batch
runs a few images at a time.  The layers as published stay in the module, so its
state dict is the checkpoint's; ``reference_forward`` runs them one by one as pytorch-fid
does, and tests check that both routes agree.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from likeness.errors import InvalidInputError
from likeness.nets.inception_units import BasicConv2d, FoldedConv, pool_after_conv

__all__ = ["INCEPTION_VARIANTS", "InceptionTrunk"]

INCEPTION_VARIANTS = ("fid", "torchvision")
# On the CPU the folded route runs a batch a few images at a time, so that the activations
# stay in cache: up to the 35×35 blocks 4 images, then 16 (batches of 32 at 299², per image
# on this project's 2-core machine: 73 ms whole, 59 ms 4 at a time, 56 ms 4 then 16)
_CPU_EARLY_IMAGES, _CPU_LATE_IMAGES = 4, 16


class _Block(nn.Module):
    """A block whose units can be folded for inference (``fast_forward``)."""

    def __init__(self) -> None:
        super().__init__()
        self._rest: dict[str, FoldedConv] = {}

    def _units(self) -> dict[str, BasicConv2d]:
        return {name: module for name, module in self.named_children()
                if isinstance(module, BasicConv2d)}

    def fold(self) -> None:
        self._rest = {name: FoldedConv.of(unit) for name, unit in self._units().items()}

    def folded_to(self, device: torch.device, memory_format: torch.memory_format) -> None:
        for conv in self._rest.values():
            conv.to(device, memory_format)

    def fast_forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError


class _MixedBlock(_Block):
    """Shared machinery of the A, C and E blocks: 1×1 heads on x, a pool branch."""

    heads: tuple[str, ...] = ()

    def __init__(self, tf_pooling: bool, max_pool: bool) -> None:
        super().__init__()
        self.tf_pooling, self.max_pool = tf_pooling, max_pool
        self._fused: FoldedConv | None = None

    def _pool(self, x: Tensor) -> Tensor:
        if self.max_pool:
            return F.max_pool2d(x, 3, stride=1, padding=1)
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=not self.tf_pooling)

    def fold(self) -> None:
        units = [getattr(self, name) for name in self.heads]
        if not self.max_pool:
            units.append(self.branch_pool)
        self._fused = FoldedConv.merged(units)
        merged = {*self.heads, *([] if self.max_pool else ["branch_pool"])}
        self._rest = {name: FoldedConv.of(unit) for name, unit in self._units().items()
                      if name not in merged}

    def folded_to(self, device: torch.device, memory_format: torch.memory_format) -> None:
        super().folded_to(device, memory_format)
        if self._fused is not None:
            self._fused.to(device, memory_format)

    def _fused_heads(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        """The head outputs (after ReLU) and the pool branch's output."""
        assert self._fused is not None
        units = self._units()
        sizes = [units[name].conv.out_channels for name in self.heads]
        if self.max_pool:
            out = self._fused(x)
            pool = self._rest["branch_pool"](self._pool(x))
            return list(out.split(sizes, 1)), pool
        out = self._fused(x, relu=False)
        *heads, pool_raw = out.split([*sizes, units["branch_pool"].conv.out_channels], 1)
        pool_bias = self._fused.bias[sum(sizes):]
        pool = pool_after_conv(pool_raw, pool_bias, count_padding=not self.tf_pooling)
        return [F.relu(h) for h in heads], pool


class InceptionA(_MixedBlock):
    heads = ("branch1x1", "branch5x5_1", "branch3x3dbl_1")

    def __init__(self, in_channels: int, pool_features: int, tf_pooling: bool) -> None:
        super().__init__(tf_pooling, max_pool=False)
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(self._pool(x))], 1)

    def fast_forward(self, x: Tensor) -> Tensor:
        (b1, b5, b3), pool = self._fused_heads(x)
        r = self._rest
        b5 = r["branch5x5_2"](b5)
        b3 = r["branch3x3dbl_3"](r["branch3x3dbl_2"](b3))
        return torch.cat([b1, b5, b3, pool], 1)


class InceptionB(_Block):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, 3, stride=2)], 1)

    def fast_forward(self, x: Tensor) -> Tensor:
        r = self._rest
        b3 = r["branch3x3dbl_3"](r["branch3x3dbl_2"](r["branch3x3dbl_1"](x)))
        return torch.cat([r["branch3x3"](x), b3, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(_MixedBlock):
    heads = ("branch1x1", "branch7x7_1", "branch7x7dbl_1")

    def __init__(self, in_channels: int, channels_7x7: int, tf_pooling: bool) -> None:
        super().__init__(tf_pooling, max_pool=False)
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            d = layer(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(self._pool(x))], 1)

    def fast_forward(self, x: Tensor) -> Tensor:
        (b1, b7, d), pool = self._fused_heads(x)
        r = self._rest
        b7 = r["branch7x7_3"](r["branch7x7_2"](b7))
        for name in ("branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5"):
            d = r[name](d)
        return torch.cat([b1, b7, d, pool], 1)


class InceptionD(_Block):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = x
        for layer in (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3,
                      self.branch7x7x3_4):
            b7 = layer(b7)
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)

    def fast_forward(self, x: Tensor) -> Tensor:
        r = self._rest
        b3 = r["branch3x3_2"](r["branch3x3_1"](x))
        b7 = x
        for name in ("branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"):
            b7 = r[name](b7)
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(_MixedBlock):
    heads = ("branch1x1", "branch3x3_1", "branch3x3dbl_1")

    def __init__(self, in_channels: int, tf_pooling: bool, max_pool: bool = False) -> None:
        super().__init__(tf_pooling, max_pool=max_pool)
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        return torch.cat([self.branch1x1(x), b3, d, self.branch_pool(self._pool(x))], 1)

    def fast_forward(self, x: Tensor) -> Tensor:
        (b1, b3, d), pool = self._fused_heads(x)
        r = self._rest
        b3 = torch.cat([r["branch3x3_2a"](b3), r["branch3x3_2b"](b3)], 1)
        d = r["branch3x3dbl_2"](d)
        d = torch.cat([r["branch3x3dbl_3a"](d), r["branch3x3dbl_3b"](d)], 1)
        return torch.cat([b1, b3, d, pool], 1)


class InceptionTrunk(nn.Module):
    """Inception-v3 from the input to the final average pool: (N, 3, H, W) → (N, 2048).

    The input is what the checkpoint's first convolution expects (for both published
    checkpoints: pixels in [-1, 1] for ``fid``, [0, 1] for ArtFID's); no resizing here.

    Args:
        variant: ``"fid"`` (pytorch-fid's patched blocks) or ``"torchvision"``.
    """

    def __init__(self, variant: str = "fid") -> None:
        super().__init__()
        if variant not in INCEPTION_VARIANTS:
            raise InvalidInputError(
                f"unknown Inception variant {variant!r}; "
                f"choose from {', '.join(INCEPTION_VARIANTS)}")
        self.variant = variant
        tf = variant == "fid"
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, 32, tf)
        self.Mixed_5c = InceptionA(256, 64, tf)
        self.Mixed_5d = InceptionA(288, 64, tf)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128, tf)
        self.Mixed_6c = InceptionC(768, 160, tf)
        self.Mixed_6d = InceptionC(768, 160, tf)
        self.Mixed_6e = InceptionC(768, 192, tf)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, tf)
        self.Mixed_7c = InceptionE(2048, tf, max_pool=tf)
        self._folded: dict[str, FoldedConv] | None = None

    def _stem_units(self) -> list[tuple[str, BasicConv2d]]:
        return [(name, getattr(self, name)) for name in (
            "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3")]

    def _blocks(self) -> list[_Block]:
        return [self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b,
                self.Mixed_7c]

    def reference_forward(self, x: Tensor) -> Tensor:
        """The layers one by one, as pytorch-fid and torchvision run them (NCHW, no folding)."""
        for index, (_, unit) in enumerate(self._stem_units()):
            x = unit(x)
            if index in (2, 4):
                x = F.max_pool2d(x, 3, stride=2)
        for block in self._blocks():
            x = block(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def fold(self) -> None:
        """Precompute the folded inference weights (after loading a checkpoint)."""
        self._folded = {name: FoldedConv.of(unit) for name, unit in self._stem_units()}
        for block in self._blocks():
            block.fold()
        self._move_folded(self.Conv2d_1a_3x3.conv.weight.device)

    def _move_folded(self, device: torch.device) -> None:
        assert self._folded is not None
        for conv in self._folded.values():
            conv.to(device, torch.channels_last)
        for block in self._blocks():
            block.folded_to(device, torch.channels_last)

    def _apply(self, fn, recurse=True):
        # keep the folded weights on the module's device when it moves, and in its dtype
        # when it is converted (.double(), .half(): folded again from the parameters)
        result = super()._apply(fn, recurse)
        if self._folded is not None:
            if self._folded["Conv2d_1a_3x3"].weight.dtype != self.Conv2d_1a_3x3.conv.weight.dtype:
                self.fold()
            else:
                self._move_folded(self.Conv2d_1a_3x3.conv.weight.device)
        return result

    def forward(self, x: Tensor) -> Tensor:
        if self._folded is None or torch.is_grad_enabled() and x.requires_grad:
            return self.reference_forward(x)
        return self._fast_forward(x)

    def _fast_forward(self, x: Tensor) -> Tensor:
        assert self._folded is not None
        x = x.contiguous(memory_format=torch.channels_last)
        blocks = self._blocks()
        early, late = blocks[:4], blocks[4:]  # up to 35×35, then 17×17 and 8×8
        x = _in_parts(x, _CPU_EARLY_IMAGES, lambda part: self._early(part, early))
        return _in_parts(x, _CPU_LATE_IMAGES, lambda part: _late(part, late))

    def _early(self, x: Tensor, blocks: list[_Block]) -> Tensor:
        assert self._folded is not None
        for index, name in enumerate(("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3",
                                      "Conv2d_3b_1x1", "Conv2d_4a_3x3")):
            x = self._folded[name](x)
            if index in (2, 4):
                x = F.max_pool2d(x, 3, stride=2)
        for block in blocks:
            x = block.fast_forward(x)
        return x


def _late(x: Tensor, blocks: list[_Block]) -> Tensor:
    for block in blocks:
        x = block.fast_forward(x)
    return x.mean((2, 3))


def _in_parts(x: Tensor, images: int, run: Callable[[Tensor], Tensor]) -> Tensor:
    """``run(x)``, on the CPU a few images at a time (each image's values are the same)."""
    if x.device.type != "cpu" or x.shape[0] <= images:
        return run(x)
    return torch.cat([run(part) for part in x.split(images)])
