"""DINOv2 ViT (Oquab et al. 2023) in plain torch, with the state-dict keys of the
checkpoints ``torch.hub`` loads (``dinov2_vitl14_pretrain.pth``: ``cls_token``,
``pos_embed``, ``patch_embed.proj``, ``blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma,
norm2, mlp.fc1, mlp.fc2, ls2.gamma}``, ``norm``), so the published file loads unchanged.

The feature is the hub model's output: the CLS token after the final LayerNorm.  Position
embeddings are interpolated as the hub code does — bicubic with ``scale_factor`` (16 +
0.1) / 37 for 224-px inputs, not to an exact size as ``transformers``' ``Dinov2Model``
does (its CLS feature differs by ~2e-3 of the largest).  Width, depth and heads are read
from the checkpoint (heads: width / 64), so smaller stand-ins with the same key pattern
load too.  Images: ``dinov2_input`` — dgm-eval's preprocessing: Pillow bicubic to
224×224 (no crop), [0, 1], ImageNet mean and std.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from likeness.errors import WeightsError
from likeness.nets.inputs import network_batch
from likeness.nets.loading import load_state_dict
from likeness.nets.preprocess import IMAGENET_MEAN, IMAGENET_STD, normalised_tensor
from likeness.nets.vit import PatchEmbed, ViTBlock, vit_shape
from likeness.nets.weights import ResolvedWeights, passing_weights_as, resolve

__all__ = ["DINOV2_SIZE", "DinoV2", "dinov2_input"]

DINOV2_SIZE = 224
_PATCH = 14
_INTERPOLATE_OFFSET = 0.1


class DinoV2(nn.Module):
    """DINOv2's CLS feature of normalised (N, 3, 224, 224) images: (N, width).

    Args:
        weights: a checkpoint path, loaded as given; None resolves ``dinov2_vitl14``
            through the weights manager.

    Raises:
        WeightsError: the checkpoint is missing, fails verification or does not fit.
    """

    cls_token: Tensor
    pos_embed: Tensor
    mask_token: Tensor

    def __init__(self, weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        with passing_weights_as("weights=PATH"):
            self.weights: ResolvedWeights = resolve("dinov2_vitl14", weights)
        state = load_state_dict(self.weights.path)
        width, depth, hidden, positions, _ = vit_shape(
            state, str(self.weights.path), "DINOv2 (dinov2_vitl14_pretrain.pth)")
        self.patch_embed = PatchEmbed(width, _PATCH)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, positions, width))
        self.mask_token = nn.Parameter(torch.zeros(1, width))
        self.blocks = nn.ModuleList(ViTBlock(width, hidden, layer_scale=True)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        try:
            self.load_state_dict({k: v for k, v in state.items() if k != "register_tokens"})
        except RuntimeError as error:
            raise WeightsError(f"{self.weights.path} does not fit DINOv2 ViT: {error}") from None
        self.requires_grad_(False)
        self.eval()

    def _position_embeddings(self, grid: int) -> Tensor:
        side = int(math.sqrt(self.pos_embed.shape[1] - 1))
        if grid == side:
            return self.pos_embed
        patches = self.pos_embed[:, 1:].float().reshape(1, side, side, -1).permute(0, 3, 1, 2)
        scale = (grid + _INTERPOLATE_OFFSET) / side
        patches = F.interpolate(patches, scale_factor=(scale, scale), mode="bicubic",
                                antialias=False)
        patches = patches.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)
        return torch.cat([self.pos_embed[:, :1], patches.to(self.pos_embed.dtype)], dim=1)

    def forward(self, images: Tensor) -> Tensor:
        images = network_batch(images, self, name="DINOv2",
                               takes="images prepared by dinov2_input",
                               convert="prepare each (H, W, 3) uint8 image with dinov2_input",
                               patch=_PATCH)
        tokens = self.patch_embed(images)
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        tokens = tokens + self._position_embeddings(images.shape[-1] // _PATCH)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]


def dinov2_input(pixels: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 → (3, 224, 224) float32 as dgm-eval feeds DINOv2: Pillow bicubic,
    ``ToTensor``, ImageNet normalisation."""
    resized = Image.fromarray(np.ascontiguousarray(pixels)).resize(
        (DINOV2_SIZE, DINOV2_SIZE), Image.Resampling.BICUBIC)
    unit = np.asarray(resized, dtype=np.float32) / np.float32(255)
    return normalised_tensor(unit, IMAGENET_MEAN, IMAGENET_STD)
