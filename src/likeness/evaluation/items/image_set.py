"""An image set as the set metrics see it: its per-image features (or a statistics
file's mean and covariance), the files behind them, what was left out and why, and the
decisions taken on its images."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from likeness.errors import LikenessError

__all__ = ["ImageSet", "frechet_between", "shared_with"]


@dataclass
class ImageSet:
    """A set's features or statistics, and how they were obtained.

    Attributes:
        source: the folder or statistics file.
        files: the files whose features are in the set (relative to the folder).
        features: (N, 2048) float32, or None for a statistics file.
        errors: (file, reason) for each file left out.
        decisions: how many images each decision was taken for.
        cached: how many features came from the cache.
        settings: what the features or statistics depend on.
        skipped: what the folder's scan left out (relative to the folder): hidden files
            and folders, and files not in an image format likeness reads.
        contents: the content hash of each image whose features are in the set, in
            ``files``' order (none for a statistics file).
    """

    source: str
    files: list[str] = field(default_factory=list)
    features: np.ndarray | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=dict)
    cached: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    contents: list[str] = field(default_factory=list)
    _statistics: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def count(self) -> int:
        if self.features is not None:
            return int(self.features.shape[0])
        return int(self.settings.get("count", 0))

    def per_image(self, metric: str) -> np.ndarray:
        """The per-image features ``metric`` needs.

        Raises:
            LikenessError: the set is a statistics file (mean and covariance only).
        """
        if self.features is None:
            raise LikenessError(f"{metric} needs each image's features; {self.source} is a "
                                "statistics file (mean and covariance only): pass the folder")
        return self.features

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance (float64), computed once."""
        if self._statistics is None:
            if self.features is None:
                raise LikenessError(f"{self.source}: the set has no features")
            if self.features.shape[0] < 2:
                raise LikenessError(f"{self.source}: FID needs at least 2 images, the set has "
                                    f"{self.features.shape[0]}")
            from likeness.metrics.fid import feature_statistics  # scipy: only when needed

            with warnings.catch_warnings():  # frechet_between warns once per comparison
                warnings.simplefilter("ignore", UserWarning)
                self._statistics = feature_statistics(self.features)
        return self._statistics


def shared_with(image_set: ImageSet, other: ImageSet, other_name: str) -> dict[str, int]:
    """The decision ``image_set`` takes for its images whose bytes ``other`` holds too (a
    reference image copied among a model's outputs: a set metric compares the set with its
    own images there, and FID falls), with how many; none where they share nothing."""
    shared = len(set(image_set.contents) & set(other.contents))
    if not shared:
        return {}
    return {f"the same bytes as an image of the {other_name} set (counted in both: the "
            "sets are compared with their own images there)": shared}


def frechet_between(set_a: ImageSet, set_b: ImageSet) -> float:
    """FID of two sets: from features where both have them (exact and fast for small
    sets), else from the statistics."""
    for image_set in (set_a, set_b):
        if image_set.features is not None and image_set.features.shape[0] < 2:
            raise LikenessError(f"{image_set.source}: FID needs at least 2 images, the set "
                                f"has {image_set.features.shape[0]}")
    from likeness.metrics.fid import (
        frechet_distance,
        frechet_distance_of_features,
        warn_if_singular,
    )

    for image_set in (set_a, set_b):  # each set by its name, not "a set has 3 images"
        if image_set.features is not None:
            count, dims = image_set.features.shape
            warn_if_singular(count, dims, image_set.source)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "a set has", UserWarning)
        if set_a.features is not None and set_b.features is not None:
            return frechet_distance_of_features(set_a.features, set_b.features)
        return frechet_distance(*set_a.statistics(), *set_b.statistics())


