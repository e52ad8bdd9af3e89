"""CLIP's image tower (Radford et al. 2021) in plain torch, with the state-dict keys of
the Hugging Face checkpoint ``openai/clip-vit-large-patch14-336`` (``pytorch_model.bin``:
``vision_model.embeddings.*``, ``vision_model.pre_layrnorm``,
``vision_model.encoder.layers.N.{layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2,
mlp.fc1, mlp.fc2}``, ``vision_model.post_layernorm``, ``visual_projection``; the text
tower's keys are ignored), so the published file loads unchanged.

The embedding is the projected CLS token after the final LayerNorm, L2-normalised, as
CMMD uses it.  Width, depth and projection are read from the checkpoint (heads: width /
64), so smaller stand-ins with the same key pattern load too.  Images: ``clip_input`` —
CMMD's preprocessing (google-research/cmmd ``io_util``): the centred square crop, Pillow
bicubic to 336×336, [0, 1], CLIP's mean and std.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from likeness.errors import WeightsError
from likeness.nets.loading import load_state_dict
from likeness.nets.weights import ResolvedWeights, passing_weights_as, resolve

__all__ = ["CLIP_SIZE", "ClipImageEncoder", "clip_input"]

CLIP_SIZE = 336
_PATCH = 14
_HEAD_WIDTH = 64
_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
_PREFIX = "vision_model."


class _Attention(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.heads = width // _HEAD_WIDTH
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        batch, tokens, width = x.shape

        def heads(projection: nn.Linear) -> Tensor:
            return projection(x).view(batch, tokens, self.heads, -1).transpose(1, 2)

        attended = F.scaled_dot_product_attention(heads(self.q_proj), heads(self.k_proj),
                                                  heads(self.v_proj))
        return self.out_proj(attended.transpose(1, 2).reshape(batch, tokens, width))


class _Mlp(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: Tensor) -> Tensor:
        hidden = self.fc1(x)
        return self.fc2(hidden * torch.sigmoid(1.702 * hidden))  # CLIP's quick GELU


class _Layer(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(width, eps=1e-5)
        self.self_attn = _Attention(width)
        self.layer_norm2 = nn.LayerNorm(width, eps=1e-5)
        self.mlp = _Mlp(width, hidden)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class _Embeddings(nn.Module):
    def __init__(self, width: int, positions: int) -> None:
        super().__init__()
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.patch_embedding = nn.Conv2d(3, width, _PATCH, stride=_PATCH, bias=False)
        self.position_embedding = nn.Embedding(positions, width)

    def forward(self, images: Tensor) -> Tensor:
        patches = self.patch_embedding(images).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(patches.shape[0], 1, -1)
        return torch.cat([cls, patches], dim=1) + self.position_embedding.weight


class _Encoder(nn.Module):
    def __init__(self, width: int, depth: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_Layer(width, hidden) for _ in range(depth))

    def forward(self, tokens: Tensor) -> Tensor:
        for layer in self.layers:
            tokens = layer(tokens)
        return tokens


class _VisionModel(nn.Module):
    def __init__(self, width: int, depth: int, hidden: int, positions: int) -> None:
        super().__init__()
        self.embeddings = _Embeddings(width, positions)
        self.pre_layrnorm = nn.LayerNorm(width, eps=1e-5)  # (sic: the checkpoint's name)
        self.encoder = _Encoder(width, depth, hidden)
        self.post_layernorm = nn.LayerNorm(width, eps=1e-5)


def _shape_of(state: dict[str, Any], source: str) -> tuple[int, int, int, int, int]:
    try:
        width = int(state[_PREFIX + "embeddings.class_embedding"].shape[0])
        positions = int(state[_PREFIX + "embeddings.position_embedding.weight"].shape[0])
        hidden = int(state[_PREFIX + "encoder.layers.0.mlp.fc1.weight"].shape[0])
        projection = int(state["visual_projection.weight"].shape[0])
    except KeyError as missing:
        raise WeightsError(f"{source} is not a CLIP checkpoint: it has no {missing} entry "
                           "(expected the keys of openai/clip-vit-large-patch14-336's "
                           "pytorch_model.bin)") from None
    depth = len({key.split(".")[3] for key in state
                 if key.startswith(_PREFIX + "encoder.layers.")})
    return width, depth, hidden, positions, projection


class ClipImageEncoder(nn.Module):
    """L2-normalised CLIP image embeddings of normalised (N, 3, 336, 336) images.

    Args:
        weights: a checkpoint path, loaded as given; None resolves ``clip_vit_l14_336``
            through the weights manager.

    Raises:
        WeightsError: the checkpoint is missing, fails verification or does not fit.
    """

    def __init__(self, weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        with passing_weights_as("weights=PATH"):
            self.weights: ResolvedWeights = resolve("clip_vit_l14_336", weights)
        state = load_state_dict(self.weights.path)
        width, depth, hidden, positions, projection = _shape_of(state, str(self.weights.path))
        self.vision_model = _VisionModel(width, depth, hidden, positions)
        self.visual_projection = nn.Linear(width, projection, bias=False)
        wanted = {key: value for key, value in state.items()
                  if key.startswith(_PREFIX) or key == "visual_projection.weight"}
        wanted.pop(_PREFIX + "embeddings.position_ids", None)
        try:
            self.load_state_dict(wanted)
        except RuntimeError as error:
            raise WeightsError(f"{self.weights.path} does not fit CLIP's image tower: "
                               f"{error}") from None
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: Tensor) -> Tensor:
        model = self.vision_model
        tokens = model.encoder(model.pre_layrnorm(model.embeddings(images)))
        embedding = self.visual_projection(model.post_layernorm(tokens[:, 0]))
        return embedding / torch.linalg.vector_norm(embedding, dim=-1, keepdim=True)


def clip_input(pixels: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 → (3, 336, 336) float32 as CMMD feeds CLIP: the centred square
    crop, Pillow bicubic to 336×336, /255, CLIP's normalisation."""
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = np.ascontiguousarray(pixels[top:top + side, left:left + side])
    resized = Image.fromarray(square).resize((CLIP_SIZE, CLIP_SIZE),
                                             Image.Resampling.BICUBIC)
    unit = np.asarray(resized, dtype=np.float32) / np.float32(255)
    return torch.from_numpy((unit - _MEAN) / _STD).permute(2, 0, 1).contiguous()
