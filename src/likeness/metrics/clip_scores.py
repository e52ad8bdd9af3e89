"""Scores of CLIP embeddings (unit vectors, one row per image or text): CLIP-I and
DreamBooth's CLIP-T (the cosine), CLIP-S (Hessel et al. 2021), torchmetrics' CLIPScore, and
the directional similarity of Gal et al. (2022).

- ``hessel``: CLIP-S = 2.5 · max(cos(image, text), 0) per image, averaged over images
  (``clipscore.py``; its captions carry the prefix "A photo depicts ", applied by the caller).
- ``torchmetrics``: 100 · cos per image; the score is the mean over images, clamped at 0
  (``torchmetrics.multimodal.CLIPScore.compute``).
- ``cosine``: the cosine itself (CLIP-T as DreamBooth-style papers report it; CLIP-I between
  two images).
- directional similarity: cos(E(edited) − E(source), T(target) − T(source)), the cosine of
  the image embeddings' difference and the text embeddings' difference (StyleGAN-NADA's
  direction; InstructPix2Pix's ``ClipSimilarity``, ``torch.nn.functional.cosine_similarity``
  with its ε = 1e-8: 0 where a difference vanishes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from likeness.errors import InvalidInputError

if TYPE_CHECKING:  # torch is imported when a value is computed, not with the catalog
    from torch import Tensor

__all__ = ["CLIP_T_CONVENTIONS", "CLIP_T_SETTINGS", "DIRECTION_TEXTS", "clip_t_aggregate",
           "clip_t_values", "cosine", "directional_similarity"]

CLIP_T_CONVENTIONS = ("hessel", "torchmetrics", "cosine")
# what each convention's reference script fixes: convention → (model, preprocessing and
# text cleaning, a prompt over 77 tokens, prompt prefix) (likeness.nets.clip_metrics)
CLIP_T_SETTINGS = {"hessel": ("vit-b32", "openai", "truncate", "A photo depicts "),
                   "torchmetrics": ("vit-l14", "huggingface", "cut", ""),
                   "cosine": ("vit-b32", "openai", "error", "")}
# the prompts of the directional similarity: OpenAI's cleaning, truncated at 77 tokens
DIRECTION_TEXTS = ("openai", "truncate")


def cosine(first: Tensor, second: Tensor) -> Tensor:
    """The cosine of unit vectors, row by row."""
    return (first * second).sum(dim=-1)


def clip_t_values(images: Tensor, texts: Tensor, convention: str) -> Tensor:
    """Each image's value with its text under ``convention`` (see the module docs)."""
    similarity = cosine(images, texts)
    if convention == "hessel":
        return 2.5 * similarity.clamp(min=0)
    if convention == "torchmetrics":
        return 100 * similarity
    if convention == "cosine":
        return similarity
    raise InvalidInputError(f"convention must be one of {', '.join(CLIP_T_CONVENTIONS)}, "
                     f"got {convention!r}")


def clip_t_aggregate(values: Tensor, convention: str) -> float:
    """The score of a set of images: the mean of their values (torchmetrics: clamped at 0
    after the mean)."""
    mean = float(values.double().mean())
    return max(mean, 0.0) if convention == "torchmetrics" else mean


def directional_similarity(source: Tensor, edited: Tensor, source_texts: Tensor,
                           target_texts: Tensor) -> Tensor:
    """Per row: the cosine of (edited − source) and (target text − source text)."""
    from torch.nn import functional as F

    return F.cosine_similarity(edited - source, target_texts - source_texts, dim=-1)
