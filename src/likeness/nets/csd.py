"""CSD, the Contrastive Style Descriptor (Somepalli et al. 2024, "Measuring Style
Similarity in Diffusion Models"), in plain torch, with the keys of the authors' checkpoint
(``CSD/model.py``'s ``CSD_CLIP``: OpenAI CLIP's ViT-L/14 image tower as ``backbone.*`` —
``conv1``, ``class_embedding``, ``positional_embedding``, ``ln_pre``,
``transformer.resblocks.N.{ln_1, attn.in_proj_weight, attn.in_proj_bias, attn.out_proj,
ln_2, mlp.c_fc, mlp.c_proj}``, ``ln_post`` — and the heads ``last_layer_style`` and
``last_layer_content``, (width, 768) matrices), so the published file loads unchanged: the
training script's ``{"model_state_dict": {"module.…": …}}`` or a plain state dict.

The style descriptor of an image is ``CSD_CLIP.forward``'s ``style_output``: the CLS token
after ``ln_post`` (the backbone's projection removed), times ``last_layer_style``,
L2-normalised; CSD's style similarity of two images is the cosine of their descriptors.
Images: ``csd_input`` — the authors' evaluation transform (``transforms_branch0``: the
shorter side to 224, Pillow bicubic, the centred 224×224 crop, CLIP's mean and std), which
is ``clip_preprocess(pixels, 224, "openai")``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from likeness.errors import InvalidInputError, WeightsError
from likeness.metrics.caller_modes import as_defined
from likeness.nets.clip import clip_preprocess
from likeness.nets.inputs import network_batch
from likeness.nets.loading import load_matching_weights, load_state_dict
from likeness.nets.preprocess import eight_bit_images_of, stacked
from likeness.nets.weights import ResolvedWeights, passing_weights_as, resolve

__all__ = ["CSD_SIZE", "Csd", "csd_descriptors", "csd_input", "csd_similarity"]

CSD_SIZE = 224
_HEAD_WIDTH = 64


class _Attention(nn.Module):
    """``nn.MultiheadAttention``'s parameters (``in_proj_weight``, ``in_proj_bias``,
    ``out_proj``), computed with ``scaled_dot_product_attention``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.heads = width // _HEAD_WIDTH
        self.in_proj_weight = nn.Parameter(torch.zeros(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        batch, tokens, width = x.shape
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)

        def heads(t: Tensor) -> Tensor:
            return t.view(batch, tokens, self.heads, width // self.heads).transpose(1, 2)

        attended = F.scaled_dot_product_attention(heads(q), heads(k), heads(v))
        return self.out_proj(attended.transpose(1, 2).reshape(batch, tokens, width))


class _Mlp(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, hidden)
        self.c_proj = nn.Linear(hidden, width)

    def forward(self, x: Tensor) -> Tensor:
        hidden = self.c_fc(x)
        return self.c_proj(hidden * torch.sigmoid(1.702 * hidden))  # CLIP's quick GELU


class _Block(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = _Attention(width)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = _Mlp(width, hidden)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class _Transformer(nn.Module):
    def __init__(self, width: int, depth: int, hidden: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(_Block(width, hidden) for _ in range(depth))


class _Backbone(nn.Module):
    """OpenAI CLIP's ``VisionTransformer`` without its projection (``proj = None``)."""

    def __init__(self, width: int, depth: int, hidden: int, positions: int,
                 patch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(positions, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = _Transformer(width, depth, hidden)
        self.ln_post = nn.LayerNorm(width)

    def forward(self, images: Tensor) -> Tensor:
        patches = self.conv1(images).flatten(2).transpose(1, 2)
        if patches.shape[1] + 1 != self.positional_embedding.shape[0]:
            raise InvalidInputError(f"CSD takes {CSD_SIZE}×{CSD_SIZE} inputs (csd_input), got "
                                    f"{tuple(images.shape[-2:])}")
        cls = self.class_embedding.expand(patches.shape[0], 1, -1)
        tokens = self.ln_pre(torch.cat([cls, patches], dim=1) + self.positional_embedding)
        for block in self.transformer.resblocks:
            tokens = block(tokens)
        return self.ln_post(tokens[:, 0])


def _plain_state(raw: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's state dict: the training script's ``model_state_dict`` unwrapped,
    DistributedDataParallel's ``module.`` prefix dropped (the authors' ``convert_state_dict``)."""
    state = raw.get("model_state_dict", raw)
    if not isinstance(state, dict):
        return {}
    return {key.removeprefix("module."): value for key, value in state.items()}


def _shape(state: dict[str, Any], source: str) -> tuple[int, int, int, int, int]:
    """(width, depth, hidden, positions, patch) of the backbone."""
    try:
        width = int(state["backbone.class_embedding"].shape[0])
        positions = int(state["backbone.positional_embedding"].shape[0])
        patch = int(state["backbone.conv1.weight"].shape[-1])
        hidden = int(state["backbone.transformer.resblocks.0.mlp.c_fc.weight"].shape[0])
        state["last_layer_style"]  # noqa: B018 - its presence is what makes a CSD file
    except KeyError as missing:
        raise WeightsError(f"{source} is not a CSD checkpoint: it has no {missing} entry "
                           "(expected the keys of CSD_CLIP: backbone.*, last_layer_style, "
                           "as the authors' checkpoint.pth holds them)") from None
    depth = len({key.split(".")[3] for key in state
                 if key.startswith("backbone.transformer.resblocks.")})
    return width, depth, hidden, positions, patch


class Csd(nn.Module):
    """CSD's style descriptors of normalised (N, 3, 224, 224) images (``csd_input``):
    (N, 768) unit vectors; ``content=True`` gives the content head's instead.

    Args:
        weights: a checkpoint path, loaded as given; None resolves ``csd_vit_l`` through
            the weights manager (import-only: the authors publish it behind a web page).

    Raises:
        WeightsError: the checkpoint is missing, fails verification or does not fit.
    """

    def __init__(self, weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        with passing_weights_as("weights=PATH"):
            self.weights: ResolvedWeights = resolve("csd_vit_l", weights)
        source = str(self.weights.path)
        state = _plain_state(load_state_dict(self.weights.path))
        width, depth, hidden, positions, patch = _shape(state, source)
        self.backbone = _Backbone(width, depth, hidden, positions, patch)
        heads = state["last_layer_style"].shape
        self.last_layer_style = nn.Parameter(torch.zeros(*heads))
        self.last_layer_content = nn.Parameter(torch.zeros(*heads))
        load_matching_weights(self, state, source, "CSD (CSD_CLIP, ViT-L)")
        self.requires_grad_(False)
        self.eval()

    @as_defined
    def forward(self, images: Tensor, content: bool = False) -> Tensor:
        images = network_batch(images, self, name="CSD", takes="images prepared by csd_input",
                               convert="prepare each (H, W, 3) uint8 image with csd_input",
                               side=CSD_SIZE)
        feature = self.backbone(images)
        head = self.last_layer_content if content else self.last_layer_style
        return F.normalize(feature @ head, dim=1, p=2)


def csd_input(pixels: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 → (3, 224, 224) float32: CSD's evaluation transform (see the module
    documentation)."""
    return clip_preprocess(pixels, CSD_SIZE, "openai")


def csd_descriptors(network: Csd, pixels: Any) -> Tensor:
    """(N, 768) style descriptors of (N, H, W, 3) uint8 images (or a list of (H, W, 3))."""
    return network(stacked(csd_input, pixels, network))


@as_defined
def csd_similarity(first: Any, second: Any, *, model: Csd | None = None,
                   weights: str | os.PathLike[str] | None = None,
                   data_range: float | None = None) -> Tensor:
    """CSD's style similarity of each pair of images (a stylized image and its style image,
    as the CSD paper's style metric): the cosine of their style descriptors, an (N,)
    float64 tensor.  Images as ``clip_score`` takes them; ``model``: a ``Csd`` built once,
    else one is built from ``weights`` (default: the ``csd_vit_l`` checkpoint).

    Raises:
        InvalidInputError: bad images, or not as many first as second images.
        WeightsError: the checkpoint is missing (with where to get it) or does not fit.
    """
    a = eight_bit_images_of(first, data_range, "first")
    b = eight_bit_images_of(second, data_range, "second")
    if len(a) != len(b):
        raise InvalidInputError(f"{len(a)} first and {len(b)} second images: give pairs")
    network = model if model is not None else Csd(weights)
    with torch.no_grad():
        return (csd_descriptors(network, a).double()
                * csd_descriptors(network, b).double()).sum(dim=1)
