"""CLIP (Radford et al. 2021) in plain torch, with the state-dict keys of the Hugging Face
checkpoints (``openai/clip-vit-base-patch32``, ``openai/clip-vit-large-patch14``,
``openai/clip-vit-large-patch14-336``: ``vision_model.embeddings.*``,
``vision_model.pre_layrnorm``, ``vision_model.encoder.layers.N.{layer_norm1,
self_attn.{q,k,v,out}_proj, layer_norm2, mlp.fc1, mlp.fc2}``, ``vision_model.post_layernorm``,
``visual_projection``; ``text_model.embeddings.{token,position}_embedding``,
``text_model.encoder.layers.N.*``, ``text_model.final_layer_norm``, ``text_projection``), so
the published files (``pytorch_model.bin`` or ``model.safetensors``) load unchanged.

An image embedding is the projected CLS token after the final LayerNorm; a text embedding
the projected hidden state at the first ``<|endoftext|>`` token (the first highest id)
after the final LayerNorm
(the text tower is causal, so what follows it changes nothing); both L2-normalised.
Widths, depths, patch size, positions, vocabulary and projections are read from the
checkpoint (heads: width / 64), so smaller stand-ins with the same key pattern load too.

``ClipImageEncoder`` is the image tower alone (CMMD's encoder, ViT-L/14 at 336 px, with
``clip_input``: CMMD's preprocessing — the centred square crop, Pillow bicubic to 336×336,
[0, 1], CLIP's mean and std); ``ClipModel`` has both towers (CLIP-I, CLIP-T, CLIPScore,
directional similarity), with ``clip_preprocess``: CLIP's resize of the shorter side and
centre crop, named after whose code it follows (``openai``, ``huggingface``).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from likeness.arguments import check_flags
from likeness.errors import InvalidInputError, InvalidInputTypeError, WeightsError
from likeness.metrics.caller_modes import as_defined
from likeness.nets.inputs import network_batch
from likeness.nets.loading import load_state_dict
from likeness.nets.preprocess import CROPS, normalised_tensor, resize_centre_crop, stacked
from likeness.nets.weights import ResolvedWeights, passing_weights_as, resolve

__all__ = ["CLIP_MODELS", "CLIP_PREPROCESSING", "CLIP_SIZE", "ClipImageEncoder", "ClipModel",
           "clip_embeddings", "clip_input", "clip_preprocess"]

CLIP_SIZE = 336
CLIP_PREPROCESSING = CROPS
_HEAD_WIDTH = 64
_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
_PREFIX = "vision_model."


class _Attention(nn.Module):
    def __init__(self, width: int, causal: bool) -> None:
        super().__init__()
        self.heads, self.causal = width // _HEAD_WIDTH, causal
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        batch, tokens, width = x.shape

        def heads(projection: nn.Linear) -> Tensor:
            return projection(x).view(batch, tokens, self.heads,
                                      width // self.heads).transpose(1, 2)

        attended = F.scaled_dot_product_attention(heads(self.q_proj), heads(self.k_proj),
                                                  heads(self.v_proj), is_causal=self.causal)
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
    def __init__(self, width: int, hidden: int, causal: bool) -> None:
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(width, eps=1e-5)
        self.self_attn = _Attention(width, causal)
        self.layer_norm2 = nn.LayerNorm(width, eps=1e-5)
        self.mlp = _Mlp(width, hidden)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class _Embeddings(nn.Module):
    def __init__(self, width: int, positions: int, patch: int) -> None:
        super().__init__()
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.patch_embedding = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        self.position_embedding = nn.Embedding(positions, width)

    def forward(self, images: Tensor) -> Tensor:
        patches = self.patch_embedding(images).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(patches.shape[0], 1, -1)
        return torch.cat([cls, patches], dim=1) + self.position_embedding.weight


class _Encoder(nn.Module):
    def __init__(self, width: int, depth: int, hidden: int, causal: bool = False) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_Layer(width, hidden, causal) for _ in range(depth))

    def forward(self, tokens: Tensor) -> Tensor:
        for layer in self.layers:
            tokens = layer(tokens)
        return tokens


class _VisionModel(nn.Module):
    def __init__(self, width: int, depth: int, hidden: int, positions: int,
                 patch: int) -> None:
        super().__init__()
        self.embeddings = _Embeddings(width, positions, patch)
        self.pre_layrnorm = nn.LayerNorm(width, eps=1e-5)  # (sic: the checkpoint's name)
        self.encoder = _Encoder(width, depth, hidden)
        self.post_layernorm = nn.LayerNorm(width, eps=1e-5)


class _TextEmbeddings(nn.Module):
    def __init__(self, vocabulary: int, width: int, positions: int) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(vocabulary, width)
        self.position_embedding = nn.Embedding(positions, width)


class _TextModel(nn.Module):
    def __init__(self, vocabulary: int, width: int, depth: int, hidden: int,
                 positions: int) -> None:
        super().__init__()
        self.embeddings = _TextEmbeddings(vocabulary, width, positions)
        self.encoder = _Encoder(width, depth, hidden, causal=True)
        self.final_layer_norm = nn.LayerNorm(width, eps=1e-5)


def _depth(state: dict[str, Any], prefix: str) -> int:
    return len({key.split(".")[3] for key in state if key.startswith(prefix + "encoder.layers.")})


def _vision_shape(state: dict[str, Any], source: str) -> tuple[int, int, int, int, int, int]:
    """(width, depth, hidden, positions, patch, projection) of the image tower."""
    try:
        width = int(state[_PREFIX + "embeddings.class_embedding"].shape[0])
        positions = int(state[_PREFIX + "embeddings.position_embedding.weight"].shape[0])
        patch = int(state[_PREFIX + "embeddings.patch_embedding.weight"].shape[-1])
        hidden = int(state[_PREFIX + "encoder.layers.0.mlp.fc1.weight"].shape[0])
        projection = int(state["visual_projection.weight"].shape[0])
    except KeyError as missing:
        raise WeightsError(f"{source} is not a CLIP checkpoint: it has no {missing} entry "
                           "(expected the keys of the Hugging Face CLIP checkpoints)") from None
    return width, _depth(state, _PREFIX), hidden, positions, patch, projection


def _text_shape(state: dict[str, Any], source: str) -> tuple[int, int, int, int, int, int]:
    """(vocabulary, width, depth, hidden, positions, projection) of the text tower."""
    prefix = "text_model."
    try:
        vocabulary, width = state[prefix + "embeddings.token_embedding.weight"].shape
        positions = int(state[prefix + "embeddings.position_embedding.weight"].shape[0])
        hidden = int(state[prefix + "encoder.layers.0.mlp.fc1.weight"].shape[0])
        projection = int(state["text_projection.weight"].shape[0])
    except KeyError as missing:
        raise WeightsError(f"{source} has no text tower ({missing} is missing): CLIP-T and "
                           "CLIPScore need a checkpoint with both towers, e.g. "
                           "openai/clip-vit-base-patch32's model.safetensors") from None
    return (int(vocabulary), int(width), _depth(state, prefix), hidden, positions,
            projection)


def _load(module: nn.Module, state: dict[str, Any], source: str, what: str) -> None:
    own = module.state_dict()
    try:
        module.load_state_dict({key: value for key, value in state.items() if key in own})
    except RuntimeError as error:
        raise WeightsError(f"{source} does not fit {what}: {error}") from None
    module.requires_grad_(False)
    module.eval()


def _checked_tokens(tokens: object, model: _TextModel) -> Tensor:
    """``tokens`` as the text tower reads them: an (N, L) integer tensor of ids below the
    vocabulary's size, L from 1 to the context's length, on the tower's device."""
    embeddings = model.embeddings
    vocabulary, context = embeddings.token_embedding.num_embeddings, \
        embeddings.position_embedding.num_embeddings
    if (not isinstance(tokens, Tensor) or tokens.ndim != 2 or tokens.is_floating_point()
            or tokens.is_complex() or tokens.dtype == torch.bool):
        described = (f"a {tokens.dtype} tensor of shape {tuple(tokens.shape)}"
                     if isinstance(tokens, Tensor) else type(tokens).__name__)
        raise InvalidInputTypeError(f"encode_texts takes an (N, L) integer tensor of token ids "
                                    f"(torch.tensor(clip_tokenize(texts))), got {described}")
    if not 1 <= tokens.shape[1] <= context:
        raise InvalidInputError(f"encode_texts takes 1 to {context} tokens a text (CLIP's "
                                f"context), got {tokens.shape[1]}")
    weight = embeddings.token_embedding.weight
    if tokens.device != weight.device:
        raise InvalidInputError(f"the tokens are on {tokens.device} and CLIP's text tower on "
                                f"{weight.device}; move one of them")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocabulary):
        raise InvalidInputError(f"token ids must lie in [0, {vocabulary}) (clip_tokenize's), "
                                f"got [{int(tokens.min())}, {int(tokens.max())}]")
    return tokens


def _unit(embedding: Tensor) -> Tensor:
    return embedding / torch.linalg.vector_norm(embedding, dim=-1, keepdim=True)


def _encode_images(model: _VisionModel, projection: nn.Linear, images: Tensor) -> Tensor:
    tokens = model.encoder(model.pre_layrnorm(model.embeddings(images)))
    return _unit(projection(model.post_layernorm(tokens[:, 0])))


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
        width, depth, hidden, positions, patch, projection = _vision_shape(
            state, str(self.weights.path))
        self.image_size = round(math.sqrt(positions - 1)) * patch
        self.vision_model = _VisionModel(width, depth, hidden, positions, patch)
        self.visual_projection = nn.Linear(width, projection, bias=False)
        _load(self, state, str(self.weights.path), "CLIP's image tower")

    def forward(self, images: Tensor) -> Tensor:
        images = network_batch(images, self, name="CLIP's image tower",
                               takes="images prepared by clip_input",
                               convert="prepare each (H, W, 3) uint8 image with clip_input",
                               side=self.image_size)
        return _encode_images(self.vision_model, self.visual_projection, images)


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
    return normalised_tensor(unit, _MEAN, _STD)


CLIP_MODELS = {"vit-b32": "clip_vit_b32", "vit-l14": "clip_vit_l14"}


class ClipModel(nn.Module):
    """CLIP's image and text towers: L2-normalised embeddings of normalised images
    (``encode_images``) and of token ids (``encode_texts``, from ``clip_tokenize``).

    Args:
        model: ``"vit-b32"`` (``openai/clip-vit-base-patch32``) or ``"vit-l14"``
            (``openai/clip-vit-large-patch14``): the checkpoint the weights manager resolves.
        weights: a checkpoint path, loaded as given.
        text: build the text tower (False: images only, as CLIP-I needs).
        image: build the image tower (False: texts only, as a run's prompts need).

    Raises:
        WeightsError: the checkpoint is missing, fails verification, has no text tower or
            does not fit.
    """

    def __init__(self, model: str = "vit-b32",
                 weights: str | os.PathLike[str] | None = None, *, text: bool = True,
                 image: bool = True) -> None:
        super().__init__()
        check_flags(text=text, image=image)
        towers = {(True, True): "CLIP (both towers)", (True, False): "CLIP's image tower",
                  (False, True): "CLIP's text tower"}
        if (image, text) not in towers:
            raise InvalidInputError("build at least one tower (image=True or text=True)")
        if not isinstance(model, str) or model not in CLIP_MODELS:
            raise InvalidInputError(f"model must be one of {', '.join(CLIP_MODELS)}, got {model!r}")
        self.model = model
        with passing_weights_as("weights=PATH"):
            self.weights: ResolvedWeights = resolve(CLIP_MODELS[model], weights)
        source = str(self.weights.path)
        state = load_state_dict(self.weights.path)
        width, depth, hidden, positions, patch, projection = _vision_shape(state, source)
        self.image_size = round(math.sqrt(positions - 1)) * patch
        self.vision_model: _VisionModel | None = None
        if image:
            self.vision_model = _VisionModel(width, depth, hidden, positions, patch)
            self.visual_projection = nn.Linear(width, projection, bias=False)
        self.text_model: _TextModel | None = None
        if text:
            vocabulary, text_width, text_depth, text_hidden, context, text_projection = \
                _text_shape(state, source)
            self.text_model = _TextModel(vocabulary, text_width, text_depth, text_hidden,
                                         context)
            self.text_projection = nn.Linear(text_width, text_projection, bias=False)
        _load(self, state, source, towers[(image, text)])

    @as_defined
    def encode_images(self, images: Tensor) -> Tensor:
        """(N, 3, S, S) normalised images (``clip_preprocess``) → (N, D) unit vectors."""
        if self.vision_model is None:
            raise InvalidInputError("this ClipModel was built without its image tower "
                                    "(image=False): build it with image=True")
        images = network_batch(images, self.vision_model, name="CLIP's image tower",
                               takes="images prepared by clip_preprocess",
                               convert="prepare each (H, W, 3) uint8 image with "
                                       "clip_preprocess", side=self.image_size)
        return _encode_images(self.vision_model, self.visual_projection, images)

    @as_defined
    def encode_texts(self, tokens: Tensor) -> Tensor:
        """(N, 77) token ids → (N, D) unit vectors: the hidden state at each text's first
        highest id (its first ``<|endoftext|>``, as OpenAI's and Hugging Face's CLIP read
        it)."""
        model = self.text_model
        if model is None:
            raise InvalidInputError("this ClipModel was built without its text tower "
                                    "(text=False): build it with text=True")
        tokens = _checked_tokens(tokens, model)
        if not len(tokens):
            return torch.empty(0, self.text_projection.out_features,
                               dtype=self.text_projection.weight.dtype, device=tokens.device)
        ends = tokens.argmax(dim=1)  # the first highest id: the first <|endoftext|>
        # attention is causal: nothing after the last text's end changes what is read
        tokens = tokens[:, :int(ends.max()) + 1]
        embedded = (model.embeddings.token_embedding(tokens)
                    + model.embeddings.position_embedding.weight[:tokens.shape[1]])
        hidden = model.final_layer_norm(model.encoder(embedded))
        return _unit(self.text_projection(hidden[torch.arange(len(tokens)), ends]))


def clip_preprocess(pixels: np.ndarray, size: int, convention: str = "openai") -> Tensor:
    """(H, W, 3) uint8 → (3, size, size) float32 as CLIP's published preprocessing makes
    it: ``resize_centre_crop`` to ``size`` (``openai``: OpenAI's ``clip.load`` transform;
    ``huggingface``: ``CLIPImageProcessor``, one pixel apart where the margin is odd), then
    CLIP's mean and std.
    """
    unit = resize_centre_crop(pixels, size, size, convention)
    return normalised_tensor(unit, _MEAN, _STD)


def clip_embeddings(network: ClipModel, pixels: np.ndarray, preprocessing: str) -> Tensor:
    """(N, D) unit image embeddings of (N, H, W, 3) uint8 images through ``preprocessing``
    (``clip_preprocess``)."""
    return network.encode_images(stacked(
        lambda image: clip_preprocess(image, network.image_size, preprocessing), pixels,
        network))
