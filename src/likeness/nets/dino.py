"""DINO ViT-S/16 (Caron et al. 2021) in plain torch, with the state-dict keys of the torch
hub checkpoint ``dino_deitsmall16_pretrain.pth`` (``cls_token``, ``pos_embed``,
``patch_embed.proj``, ``blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``,
``norm``: the layout of timm's ``VisionTransformer``), so the published file loads
unchanged.  The feature is the repository's ``forward``: the CLS token after the final
LayerNorm (DreamBooth's DINO score is the cosine of two of them).  Width, depth and patch
are read from the checkpoint (heads: width / 64).

Images: ``dino_input`` — the DINO repository's evaluation transform (``eval_linear.py``,
``eval_knn.py``): the shorter side resized to 256 (Pillow bicubic), the centred 224×224
crop (torchvision's ``CenterCrop``), [0, 1], ImageNet mean and std.  At 224 px the
position embeddings are used as they are (the checkpoint's grid).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor, nn

from likeness.errors import InvalidInputError, WeightsError
from likeness.metrics.caller_modes import as_defined
from likeness.nets.inputs import network_batch
from likeness.nets.loading import load_state_dict
from likeness.nets.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    normalised_tensor,
    resize_centre_crop,
    stacked,
)
from likeness.nets.vit import PatchEmbed, ViTBlock, vit_shape
from likeness.nets.weights import ResolvedWeights, passing_weights_as, resolve

__all__ = ["DINO_CROP", "DINO_RESIZE", "Dino", "dino_input", "dino_unit_features"]

DINO_RESIZE, DINO_CROP = 256, 224


class Dino(nn.Module):
    """DINO's CLS feature of normalised (N, 3, 224, 224) images: (N, width).

    Args:
        weights: a checkpoint path, loaded as given; None resolves ``dino_vits16``
            through the weights manager.

    Raises:
        WeightsError: the checkpoint is missing, fails verification or does not fit.
    """

    cls_token: Tensor
    pos_embed: Tensor

    def __init__(self, weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        with passing_weights_as("weights=PATH"):
            self.weights: ResolvedWeights = resolve("dino_vits16", weights)
        state = load_state_dict(self.weights.path)
        width, depth, hidden, positions, patch = vit_shape(
            state, str(self.weights.path), "DINO (dino_deitsmall16_pretrain.pth)")
        self.patch = patch
        self.patch_embed = PatchEmbed(width, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, positions, width))
        self.blocks = nn.ModuleList(ViTBlock(width, hidden, layer_scale=False)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        own = self.state_dict()
        try:
            self.load_state_dict({k: v for k, v in state.items() if k in own})
        except RuntimeError as error:
            raise WeightsError(f"{self.weights.path} does not fit DINO's ViT: {error}") from None
        self.requires_grad_(False)
        self.eval()

    @as_defined
    def forward(self, images: Tensor) -> Tensor:
        images = network_batch(images, self, name="DINO", takes="images prepared by dino_input",
                               convert="prepare each (H, W, 3) uint8 image with dino_input",
                               side=DINO_CROP)
        tokens = self.patch_embed(images)
        if tokens.shape[1] + 1 != self.pos_embed.shape[1]:
            raise InvalidInputError(f"DINO takes {DINO_CROP}×{DINO_CROP} inputs (dino_input), "
                                    f"got {tuple(images.shape[-2:])}")
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        tokens = tokens + self.pos_embed
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]


def dino_input(pixels: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 → (3, 224, 224) float32: the DINO repository's evaluation
    transform (see the module docs)."""
    unit = resize_centre_crop(pixels, DINO_RESIZE, DINO_CROP, "openai")
    return normalised_tensor(unit, IMAGENET_MEAN, IMAGENET_STD)


def dino_unit_features(network: Dino, pixels: np.ndarray) -> Tensor:
    """(N, width) unit-length CLS features of (N, H, W, 3) uint8 images (the DINO score
    is the cosine of two)."""
    features = network(stacked(dino_input, pixels, network))
    return features / torch.linalg.vector_norm(features, dim=-1, keepdim=True)
