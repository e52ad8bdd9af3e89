"""``likeness.fid`` and ``likeness.kid_folders``: two folders (or statistics files) → one
distance, through the set engine's cached per-image features."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from likeness.errors import LikenessError
from likeness.evaluation.infra.cache import Cache, default_cache_path
from likeness.evaluation.items.image_set import ImageSet, frechet_between
from likeness.evaluation.sets.features import FeatureExtractor, load_set
from likeness.metrics.kid import kid
from likeness.results.frames import set_result_html

__all__ = ["FidResult", "KidResult", "fid", "kid_folders"]

CacheOption = bool | str | os.PathLike[str] | Cache | None
_STATS_SUFFIXES = (".npz",)


def _open_cache(cache: CacheOption) -> tuple[Cache, bool]:
    """The cache to use and whether this call owns (and so closes) it."""
    if isinstance(cache, Cache):
        return cache, False
    if cache is True:
        return Cache(default_cache_path()), True
    if cache is False or cache is None:
        return Cache(None), True
    return Cache(cache), True


@dataclass
class FidResult:
    """FID between two sets, with the sets (files, errors, decisions) and the settings."""

    value: float
    sets: tuple[ImageSet, ImageSet]
    settings: dict[str, Any]

    def _repr_html_(self) -> str:
        return set_result_html("fid", self.value, None, self.sets, self.settings)


@dataclass
class KidResult:
    """KID (mean and std over subsets) between two sets, with the sets and the settings."""

    mean: float
    std: float
    sets: tuple[ImageSet, ImageSet]
    settings: dict[str, Any]

    def _repr_html_(self) -> str:
        return set_result_html("kid", self.mean, self.std, self.sets, self.settings)


def _two_sets(a: str | os.PathLike[str], b: str | os.PathLike[str], *,
              weights: str | os.PathLike[str] | None, resize: str, device: str,
              alpha: str | None, batch_size: int, workers: int, cache: CacheOption,
              progress: Callable[[str, int, int], None] | None,
              ) -> tuple[ImageSet, ImageSet, FeatureExtractor]:
    from likeness.nets.weights import passing_weights_as

    with passing_weights_as("weights=PATH"):
        extractor = FeatureExtractor(weights=weights, resize=resize, device=device,
                                     alpha=alpha)
    store, owned = _open_cache(cache)
    try:
        sets = []
        for source in (a, b):
            report = None if progress is None else (
                lambda done, total, label=str(source): progress(label, done, total))
            sets.append(load_set(source, extractor, store, batch_size=batch_size,
                                 workers=workers, progress=report))
    finally:
        if owned:
            store.close()
    return sets[0], sets[1], extractor


def fid(a: str | os.PathLike[str], b: str | os.PathLike[str], *,
        weights: str | os.PathLike[str] | None = None, resize: str = "pytorch-fid",
        device: str = "auto", alpha: str | None = None, batch_size: int = 32,
        workers: int = 4, cache: CacheOption = True,
        progress: Callable[[str, int, int], None] | None = None) -> FidResult:
    """FID between two folders (recursive) or ``.npz`` statistics files, as pytorch-fid.

    Args:
        a, b: folders of images, or statistics files (``mu``, ``sigma``).
        weights: a ``pt_inception`` checkpoint path (None: the weights manager).
        resize: ``"pytorch-fid"`` (bilinear in the network) or ``"clean"`` (clean-fid's).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        alpha: how transparent images are flattened (``"white"``, ``"black"``, ``"drop"``).
        batch_size: images per network pass.
        workers: decoding threads.
        cache: True (the user cache), False (none), or a database path.
        progress: called with (set, images done, images in set).

    Raises:
        LikenessError: a folder is missing or empty, a set has fewer than 2 images, or a
            statistics file does not fit this run's settings.

    Example:
        >>> likeness.fid("real/", "generated/").value  # doctest: +SKIP
        12.3...
    """
    set_a, set_b, extractor = _two_sets(a, b, weights=weights, resize=resize, device=device,
                                        alpha=alpha, batch_size=batch_size, workers=workers,
                                        cache=cache, progress=progress)
    value = frechet_between(set_a, set_b)
    return FidResult(value, (set_a, set_b), extractor.settings)


def kid_folders(a: str | os.PathLike[str], b: str | os.PathLike[str], *,
                subset_size: int | None = 1000, subsets: int = 100, seed: int = 0,
                weights: str | os.PathLike[str] | None = None, resize: str = "pytorch-fid",
                device: str = "auto", alpha: str | None = None, batch_size: int = 32,
                workers: int = 4, cache: CacheOption = True,
                progress: Callable[[str, int, int], None] | None = None) -> KidResult:
    """KID between two folders of images (see ``likeness.kid`` and ``fid``).

    Raises:
        LikenessError: a source is a statistics file (KID needs per-image features), or a
            set is smaller than ``subset_size``.
    """
    for source in (a, b):
        if Path(source).suffix.lower() in _STATS_SUFFIXES:
            raise LikenessError(f"{source}: KID needs per-image features, and a statistics "
                                f"file holds only their mean and covariance; pass the folder "
                                f"(its features are cached, so this is fast)")
    set_a, set_b, extractor = _two_sets(a, b, weights=weights, resize=resize, device=device,
                                        alpha=alpha, batch_size=batch_size, workers=workers,
                                        cache=cache, progress=progress)
    assert set_a.features is not None
    assert set_b.features is not None
    try:
        mean, std = kid(set_a.features, set_b.features, subset_size=subset_size,
                        subsets=subsets, seed=seed)
    except ValueError as error:
        raise LikenessError(str(error)) from None
    settings = {**extractor.settings, "kid_subset_size": subset_size, "kid_subsets": subsets,
                "kid_seed": seed}
    return KidResult(mean, std, (set_a, set_b), settings)
