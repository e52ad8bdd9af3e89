"""Item metrics computed from network features: what each keeps of an image's layer
outputs, and the distance between what it kept of two images.

Each metric has a ``first`` side (the image an item's others are measured against — the
reference, or the style image), prepared once per image however many items share it, and
a ``second`` side (the test image).  A metric that reads the item's prompts
(``PromptUse``: CLIP-T, the directional similarity) is given their embeddings beside its
first side.  The maths is in ``likeness.metrics``; torch is
imported by those modules only when a value is computed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from likeness.errors import LikenessError
from likeness.evaluation.catalog.networks import VGG_TAPS
from likeness.evaluation.items.settings import RunSettings

__all__ = ["FeatureUse", "PromptUse", "adain_use", "aesthetic_use", "cfsd_use",
           "clip_direction_use", "clip_i_use", "clip_t_uses", "content_loss_use", "csd_use",
           "dino_use", "dists_use", "gram_use", "lpips_use"]


@dataclass(frozen=True)
class PromptUse:
    """How an item metric reads the item's prompts.

    Attributes:
        network: the text network (a key of ``NETWORKS`` of kind ``"text"``).
        roles: the prompts it reads, in order: ``"prompt"`` (what the test image should
            show) and ``"source_prompt"`` (what its reference shows).
        prefix: put before each prompt (CLIP-S's "A photo depicts ").
        too_long, cleaning: ``clip_tokenize``'s handling of a prompt over 77 tokens and
            its text cleaning.
    """

    network: str
    roles: tuple[str, ...]
    prefix: str = ""
    too_long: str = "error"
    cleaning: str = "openai"


@dataclass(frozen=True)
class FeatureUse:
    """How an item metric consumes one network's features.

    Attributes:
        network: a key of ``likeness.evaluation.catalog.networks.NETWORKS``.
        first, second: (layer outputs of one image, (height, width), settings) → what the
            metric keeps of the first and of the second image; raising makes the error
            the value of every item that needs that image.
        distance: (kept first, kept second, network) → the value.
        distances: the same for many items at once — (kept firsts, kept seconds, network)
            → their values, a sequence or a 1-D tensor (read back with the batch's other
            values) — one pass and one read-back for a batch (None: ``distance`` item by
            item).
        spatial: (kept first, kept second, network, (height, width)) → the metric's map
            at the image's size, for the report (None: it has none).
        prompts: how it reads the item's prompts; then ``distance``'s first argument is
            (what it kept of the first image — None when it reads no first image —, each
            prompt's embedding in ``prompts.roles`` order).
        batched: ``first`` and ``second`` treat each image of a batch alone and keep a
            list of tensors with the batch first, so that they may be given a whole pass's
            layer outputs at once (what each image keeps is then its slice).
    """

    network: str
    first: Callable[[list[Any], tuple[int, int], Any], Any]
    second: Callable[[list[Any], tuple[int, int], Any], Any]
    distance: Callable[[Any, Any, Any], float]
    spatial: Callable[[Any, Any, Any, tuple[int, int]], Any] | None = None
    prompts: PromptUse | None = None
    distances: Callable[[list[Any], list[Any], Any], Any] | None = None
    batched: bool = False


def _taps(*layers: int) -> Callable[[list[Any], tuple[int, int], Any], Any]:
    positions = [VGG_TAPS.index(layer) for layer in layers]

    def keep(features: list[Any], size: tuple[int, int], settings: RunSettings) -> Any:
        return [features[i] for i in positions]

    return keep


def _normalized(features: list[Any], size: tuple[int, int], settings: RunSettings) -> Any:
    from likeness.metrics.lpips import unit_normalize

    return [unit_normalize(f) for f in features]


def _lpips_distance(first: Any, second: Any, network: Any) -> float:
    from likeness.metrics.lpips import lpips_from_normalized

    return float(lpips_from_normalized(first, second, list(network.heads)))


def _lpips_distances(firsts: list[Any], seconds: list[Any], network: Any) -> Any:
    import torch

    from likeness.metrics.lpips import lpips_from_normalized

    def stacked(kept: list[Any]) -> list[Any]:
        return [_joined(list(layers), torch) for layers in zip(*kept, strict=True)]

    return lpips_from_normalized(stacked(firsts), stacked(seconds), list(network.heads)
                                 ).flatten()


def _joined(parts: list[Any], torch: Any) -> Any:
    """``torch.cat(parts)``, without the copy when the parts are consecutive one-image
    slices of one tensor (a batched use's, ``FeatureUse.batched``)."""
    first = parts[0]
    step = first.stride(0) if first.dim() else 0
    consecutive = first.dim() > 0 and all(
        part.shape == first.shape and part.stride() == first.stride()
        and part.untyped_storage().data_ptr() == first.untyped_storage().data_ptr()
        and part.storage_offset() == first.storage_offset() + i * step
        for i, part in enumerate(parts))
    if not consecutive or first.shape[0] != 1:
        return torch.cat(parts)
    return first.as_strided((len(parts), *first.shape[1:]), first.stride())


def _lpips_map(first: Any, second: Any, network: Any, size: tuple[int, int]) -> Any:
    from likeness.metrics.lpips import lpips_from_normalized

    return lpips_from_normalized(first, second, list(network.heads), spatial_size=size)[0, 0]


def lpips_use(net: str) -> FeatureUse:
    return FeatureUse(f"lpips_{net}", _normalized, _normalized, _lpips_distance, _lpips_map,
                      distances=_lpips_distances, batched=True)


def _as_is(features: list[Any], size: tuple[int, int], settings: RunSettings) -> Any:
    return features


def _dists_distance(first: Any, second: Any, network: Any) -> float:
    from likeness.metrics.dists import dists_from_features

    return float(dists_from_features(first, second, network.alpha, network.beta)[0])


dists_use = FeatureUse("dists", _as_is, _as_is, _dists_distance)


def _embedding(features: list[Any], size: tuple[int, int], settings: RunSettings) -> Any:
    return features[0]


def _cosine(first: Any, second: Any, network: Any) -> float:
    from likeness.metrics.clip_scores import cosine

    return float(cosine(first.double(), second.double()).sum())


clip_i_use = FeatureUse("clip_vit_b32", _embedding, _embedding, _cosine)
dino_use = FeatureUse("dino_vits16", _embedding, _embedding, _cosine)
csd_use = FeatureUse("csd_vit_l", _embedding, _embedding, _cosine)


def _score(first: Any, second: Any, network: Any) -> float:
    return float(second.double().sum())  # the test image's own (1, 1) score


aesthetic_use = FeatureUse("laion_aesthetic", _embedding, _embedding, _score)


@dataclass(frozen=True)
class _ClipT:
    """CLIP-T of the test image and its prompt under one convention."""

    convention: str

    def __call__(self, first: Any, second: Any, network: Any) -> float:
        from likeness.metrics.clip_scores import clip_t_values

        _, prompt = first
        return float(clip_t_values(second.double(), prompt.double(), self.convention)[0])


def _clip_t_use(convention: str) -> FeatureUse:
    from likeness.metrics.clip_scores import CLIP_T_SETTINGS

    model, preprocessing, too_long, prefix = CLIP_T_SETTINGS[convention]
    network = "clip_vit_" + model.removeprefix("vit-")
    return FeatureUse(network, _embedding, _embedding, _ClipT(convention),
                      prompts=PromptUse(f"{network}_text", ("prompt",), prefix, too_long,
                                        preprocessing))


def clip_t_uses() -> dict[str, FeatureUse]:
    """CLIP-T's use of CLIP under each convention (``clip_t_convention``)."""
    from likeness.metrics.clip_scores import CLIP_T_CONVENTIONS

    return {convention: _clip_t_use(convention) for convention in CLIP_T_CONVENTIONS}


def _direction(first: Any, second: Any, network: Any) -> float:
    import torch

    from likeness.metrics.clip_scores import directional_similarity

    source, source_prompt, prompt = first
    if torch.equal(source_prompt, prompt):
        raise LikenessError("the source prompt and the prompt are the same text, so the "
                            "text direction is zero: give the edit's target as the prompt "
                            "and what the reference shows as the source prompt")
    return float(directional_similarity(source.double(), second.double(),
                                        source_prompt.double(), prompt.double())[0])


def _direction_use() -> FeatureUse:
    from likeness.metrics.clip_scores import DIRECTION_TEXTS

    cleaning, too_long = DIRECTION_TEXTS
    return FeatureUse("clip_vit_b32", _embedding, _embedding, _direction,
                      prompts=PromptUse("clip_vit_b32_text", ("source_prompt", "prompt"),
                                        too_long=too_long, cleaning=cleaning))


clip_direction_use = _direction_use()


def _cfsd_first(features: list[Any], size: tuple[int, int], settings: RunSettings) -> Any:
    from likeness.metrics.style import CFSD_LAYER, CfsdContent

    height, width = size
    if height * width > settings.cfsd_max_pixels:
        raise LikenessError(
            f"CFSD compares every relu3_1 position with every other, so its cost grows with "
            f"(H·W)²; images of {width}x{height} exceed the limit of "
            f"{settings.cfsd_max_pixels} pixels: resize them, or raise cfsd_max_pixels")
    return CfsdContent(features[VGG_TAPS.index(CFSD_LAYER)])


def _cfsd_distance(first: Any, second: Any, network: Any) -> float:
    return float(first.distance(second[0]))


cfsd_use = FeatureUse("vgg19", _cfsd_first, _taps(11), _cfsd_distance)


def _content_distance(first: Any, second: Any, network: Any) -> float:
    from likeness.metrics.style import content_loss

    return content_loss(first[0], second[0])


content_loss_use = FeatureUse("vgg19", _taps(22), _taps(22), _content_distance)


def _grams(features: list[Any], size: tuple[int, int], settings: RunSettings) -> Any:
    from likeness.metrics.style import gram_matrix

    return [gram_matrix(f) for f in _taps(1, 6, 11, 20, 29)(features, size, settings)]


def _gram_distance(first: Any, second: Any, network: Any) -> float:
    from likeness.metrics.style import gram_loss_to

    return gram_loss_to(first, second)


gram_use = FeatureUse("vgg19", _grams, _taps(1, 6, 11, 20, 29), _gram_distance)


def _adain_statistics(features: list[Any], size: tuple[int, int], settings: RunSettings) -> Any:
    from likeness.metrics.style import adain_statistics

    return [adain_statistics(f) for f in _taps(1, 6, 11, 20, 29)(features, size, settings)]


def _adain_distance(first: Any, second: Any, network: Any) -> float:
    from likeness.metrics.style import adain_style_loss_to

    return adain_style_loss_to(first, second)


adain_use = FeatureUse("vgg19", _adain_statistics, _taps(1, 6, 11, 20, 29), _adain_distance)
