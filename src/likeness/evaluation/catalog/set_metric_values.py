"""The values of the set metrics, from the two sets' per-image features (``ImageSet``):
what each registry entry's ``set_value`` computes — (first set, second set, run settings)
→ (value, std or None); the first set is the references (or the styles), the second the
model's images."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

from likeness.errors import LikenessError
from likeness.evaluation.items.image_set import ImageSet
from likeness.evaluation.items.settings import RunSettings

__all__ = ["art_fid_combined", "art_fid_value", "cmmd_value", "frechet_value",
           "inception_score_value", "kid_value", "nearest_neighbour_value", "vendi_value"]


def frechet_value(first: ImageSet, second: ImageSet,
                  settings: RunSettings) -> tuple[float, float | None]:
    from likeness.evaluation.items.image_set import frechet_between

    return frechet_between(first, second), None


def kid_value(first: ImageSet, second: ImageSet,
              settings: RunSettings) -> tuple[float, float | None]:
    from likeness.metrics.kid import kid

    mean, std = kid(first.per_image("kid"), second.per_image("kid"),
                    subset_size=settings.kid_subset_size, subsets=settings.kid_subsets,
                    seed=settings.kid_seed)
    return mean, std


def art_fid_value(first: ImageSet, second: ImageSet,
                  settings: RunSettings) -> tuple[float, float | None]:
    if settings.art_fid_mode == "infinity":
        from likeness.metrics.style import fid_infinity

        return fid_infinity(first.per_image("FID∞"), second.per_image("FID∞")), None
    return frechet_value(first, second, settings)


def art_fid_combined(values: Mapping[str, float]) -> float:
    """ArtFID = (1 + mean LPIPS) (1 + FID with ArtFID's Inception) of one method."""
    from likeness.metrics.style import art_fid

    return art_fid(values["lpips_alex"], values["fid_art"])


# prdc's four values per (real features, fake features, k), computed once for the four
# metrics; held by weak references, so a finished run's features are not kept alive
_PRDC_MEMO: dict[tuple[int, int, int], tuple[Any, Any, dict[str, float]]] = {}


def nearest_neighbour_value(name: str, k: int) -> Callable[[Any, Any, Any], tuple[float, None]]:
    """precision / recall (k = 3) or density / coverage (k = 5) of the model's set (second)
    against the references (first), as the prdc package computes them."""
    def compute(first: ImageSet, second: ImageSet,
                settings: RunSettings) -> tuple[float, None]:
        from likeness.metrics.feature_sets import coverage_density_precision_recall

        if first.features is None or second.features is None:
            raise LikenessError(f"{name} needs each image's features; a statistics file "
                                "(mean and covariance only) has none")
        for key in [key for key, (real, fake, _) in _PRDC_MEMO.items()
                    if real() is None or fake() is None]:
            del _PRDC_MEMO[key]
        key = (id(first.features), id(second.features), k)
        held = _PRDC_MEMO.get(key)
        if held is None or held[0]() is not first.features or held[1]() is not second.features:
            values = coverage_density_precision_recall(first.features, second.features, k)
            held = (weakref.ref(first.features), weakref.ref(second.features), values)
            _PRDC_MEMO[key] = held
        return held[2][name], None

    return compute


def cmmd_value(first: ImageSet, second: ImageSet,
               settings: RunSettings) -> tuple[float, None]:
    from likeness.metrics.feature_sets import cmmd

    if first.features is None or second.features is None:
        raise LikenessError("cmmd needs each image's embedding; a statistics file (mean and "
                            "covariance only) has none")
    return cmmd(first.features, second.features), None


def vendi_value(first: ImageSet, second: ImageSet,
                settings: RunSettings) -> tuple[float, None]:
    from likeness.metrics.feature_sets import vendi

    if second.features is None:
        raise LikenessError("vendi needs each image's features; a statistics file (mean and "
                            "covariance only) has none")
    return vendi(second.features), None


def inception_score_value(first: ImageSet, second: ImageSet,
                          settings: RunSettings) -> tuple[float, float]:
    from likeness.metrics.inception_score import inception_score

    if second.features is None:
        raise LikenessError("inception_score needs each image's logits; a statistics file "
                            "(mean and covariance only) has none")
    return inception_score(second.features)
