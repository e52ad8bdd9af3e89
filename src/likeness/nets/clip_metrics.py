"""CLIP-I, CLIP-T (three conventions) and directional CLIP similarity on images in memory
and prompts: the torch API of the CLIP metrics (``likeness.clip_score``,
``likeness.clip_image_similarity``, ``likeness.clip_directional_similarity``).

Each CLIP-T convention fixes what its reference script fixes (``CLIP_T_CONVENTIONS``):

=============  ==========  =============  ==========================  ====================
convention     model       preprocessing  a prompt over 77 tokens     prompt prefix
=============  ==========  =============  ==========================  ====================
hessel         ViT-B/32    openai         truncated (end kept)        "A photo depicts "
torchmetrics   ViT-L/14    huggingface    cut at 77 (torchmetrics)    none
cosine         ViT-B/32    openai         an error                    none
=============  ==========  =============  ==========================  ====================

(the preprocessing's name also names the prompts' cleaning: ``clip_tokenize``'s
``cleaning``)

``model`` and ``preprocessing`` may be chosen otherwise (the choice is the caller's to
report).  Images: (H, W, 3) uint8 arrays, or (3, H, W) / (N, 3, H, W) tensors — uint8, or
floats in [0, ``data_range``] rounded to 8 bits as CLIP's preprocessing reads images
(gray images: their one channel three times).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from likeness.errors import InvalidInputError
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.clip_scores import (
    CLIP_T_CONVENTIONS,
    CLIP_T_SETTINGS,
    DIRECTION_TEXTS,
    clip_t_values,
    cosine,
    directional_similarity,
)
from likeness.nets.clip import ClipModel, clip_preprocess
from likeness.nets.clip_tokenizer import clip_tokenize
from likeness.nets.preprocess import eight_bit_images_of
from likeness.wording import counted

__all__ = ["CLIP_T_SETTINGS", "clip_directional_similarity", "clip_image_similarity",
           "clip_score"]

Weights = str | os.PathLike[str] | None


def _model(model: str | ClipModel, weights: Weights) -> ClipModel:
    return model if isinstance(model, ClipModel) else ClipModel(model, weights)


def _prompts(prompts: str | Sequence[str], count: int, name: str) -> list[str]:
    listed = [prompts] if isinstance(prompts, str) else list(prompts)
    if len(listed) != count:
        raise InvalidInputError(f"{name}: {counted(len(listed), 'prompt')} for "
                                f"{counted(count, 'image')}; give one per image")
    for prompt in listed:
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInputError(f"{name}: every prompt must be non-empty text, got "
                                    f"{prompt!r}")
    return listed


@torch.no_grad()
def _embed_images(model: ClipModel, images: list[np.ndarray], preprocessing: str) -> Tensor:
    batch = torch.stack([clip_preprocess(image, model.image_size, preprocessing)
                         for image in images])
    return model.encode_images(batch)


@torch.no_grad()
def _embed_texts(model: ClipModel, prompts: list[str], too_long: str,
                 cleaning: str = "openai") -> Tensor:
    return model.encode_texts(torch.tensor(clip_tokenize(prompts, too_long=too_long,
                                                         cleaning=cleaning)))


@as_defined
def clip_score(images: Any, prompts: str | Sequence[str], *, convention: str = "hessel",
               model: str | ClipModel | None = None, weights: Weights = None,
               preprocessing: str | None = None, data_range: float | None = None) -> Tensor:
    """CLIP-T of each image with its prompt, under ``convention`` (``hessel`` CLIP-S,
    ``torchmetrics`` CLIPScore per image — its score is
    ``likeness.metrics.clip_scores.clip_t_aggregate`` of these —, ``cosine``): an (N,)
    float64 tensor.

    Raises:
        InvalidInputError: an unknown convention, bad images, a missing or empty prompt, a
            prompt over 77 tokens under ``cosine``.
        WeightsError: the checkpoint is missing (with what to do) or does not fit.
    """
    if convention not in CLIP_T_CONVENTIONS:
        raise InvalidInputError(f"convention must be one of {', '.join(CLIP_T_CONVENTIONS)}, "
                                f"got {convention!r}")
    default_model, default_preprocessing, too_long, prefix = CLIP_T_SETTINGS[convention]
    pixels = eight_bit_images_of(images, data_range, "images")
    texts = [prefix + p for p in _prompts(prompts, len(pixels), "prompts")]
    network = _model(model or default_model, weights)
    image_embeddings = _embed_images(network, pixels, preprocessing or default_preprocessing)
    text_embeddings = _embed_texts(network, texts, too_long, default_preprocessing)
    return clip_t_values(image_embeddings.double(), text_embeddings.double(), convention)


@as_defined
def clip_image_similarity(first: Any, second: Any, *, model: str | ClipModel = "vit-b32",
                          weights: Weights = None, preprocessing: str = "openai",
                          data_range: float | None = None) -> Tensor:
    """CLIP-I: the cosine of each pair of images' CLIP embeddings, an (N,) float64 tensor.

    Raises:
        InvalidInputError: bad images, or not as many first as second images.
    """
    a = eight_bit_images_of(first, data_range, "first")
    b = eight_bit_images_of(second, data_range, "second")
    if len(a) != len(b):
        raise InvalidInputError(f"{len(a)} first and {len(b)} second images: give pairs")
    network = _model(model, weights)
    return cosine(_embed_images(network, a, preprocessing).double(),
                  _embed_images(network, b, preprocessing).double())


@as_defined
def clip_directional_similarity(source: Any, edited: Any, source_prompts: str | Sequence[str],
                                target_prompts: str | Sequence[str], *,
                                model: str | ClipModel = "vit-b32", weights: Weights = None,
                                preprocessing: str = "openai",
                                data_range: float | None = None) -> Tensor:
    """Directional CLIP similarity (Gal et al. 2022) of each edit: the cosine of the change
    of the image embedding and the change of the text embedding, an (N,) float64 tensor.

    Raises:
        InvalidInputError: bad images or prompts, or counts that differ.
    """
    before = eight_bit_images_of(source, data_range, "source")
    after = eight_bit_images_of(edited, data_range, "edited")
    if len(before) != len(after):
        raise InvalidInputError(f"{len(before)} source and {len(after)} edited images: give "
                                "pairs")
    texts = _prompts(source_prompts, len(before), "source_prompts")
    targets = _prompts(target_prompts, len(before), "target_prompts")
    cleaning, too_long = DIRECTION_TEXTS
    network = _model(model, weights)
    return directional_similarity(_embed_images(network, before, preprocessing).double(),
                                  _embed_images(network, after, preprocessing).double(),
                                  _embed_texts(network, texts, too_long, cleaning).double(),
                                  _embed_texts(network, targets, too_long, cleaning).double())
