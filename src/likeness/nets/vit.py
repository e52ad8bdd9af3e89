"""The blocks of the ViTs of the DINO family (DINO v1 and DINOv2, the timm / facebookresearch
layout): ``patch_embed.proj``, ``blocks.N.{norm1, attn.qkv, attn.proj, [ls1.gamma], norm2,
mlp.fc1, mlp.fc2, [ls2.gamma]}`` with LayerNorm ε = 1e-6, exact GELU, heads of width 64 and
layer scale where the checkpoint has it (DINOv2)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from likeness.errors import WeightsError

__all__ = ["PatchEmbed", "ViTBlock", "vit_shape"]

_HEAD_WIDTH = 64


class PatchEmbed(nn.Module):
    def __init__(self, width: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, width, kernel_size=patch, stride=patch)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class _Attention(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.heads = width // _HEAD_WIDTH
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        batch, tokens, width = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, width // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attended = F.scaled_dot_product_attention(q, k, v)
        return self.proj(attended.transpose(1, 2).reshape(batch, tokens, width))


class _LayerScale(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(width))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class _Mlp(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class ViTBlock(nn.Module):
    def __init__(self, width: int, hidden: int, layer_scale: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = _Attention(width)
        self.ls1 = _LayerScale(width) if layer_scale else nn.Identity()
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = _Mlp(width, hidden)
        self.ls2 = _LayerScale(width) if layer_scale else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


def vit_shape(state: dict[str, Any], source: str, what: str) -> tuple[int, int, int, int, int]:
    """(width, depth, MLP width, positions, patch size) of a checkpoint with these keys."""
    try:
        width = int(state["cls_token"].shape[-1])
        positions = int(state["pos_embed"].shape[1])
        hidden = int(state["blocks.0.mlp.fc1.weight"].shape[0])
        patch = int(state["patch_embed.proj.weight"].shape[-1])
    except KeyError as missing:
        raise WeightsError(f"{source} is not a {what} checkpoint: it has no {missing} "
                           "entry") from None
    depth = len({key.split(".")[1] for key in state if key.startswith("blocks.")})
    return width, depth, hidden, positions, patch
