"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD² with the cubic
polynomial kernel k(x, y) = (x·y / d + 1)³, averaged over random subsets.

The estimator is the general unbiased one, valid for sets of different sizes m and n:

    MMD² = Σ_{i≠j} k(xᵢ, xⱼ) / m(m−1) + Σ_{i≠j} k(yᵢ, yⱼ) / n(n−1) − 2 Σ_{i,j} k(xᵢ, yⱼ) / mn

For equal sizes it is torch-fidelity's ``mmd2(..., mmd_est="unbiased")``.  Subsets are
drawn without replacement with ``numpy.random.RandomState(seed).choice``, first from x then
from y, as torch-fidelity draws them, so the same seed selects the same subsets; the
standard deviation over subsets uses ddof 0, as torch-fidelity reports it.
"""

from __future__ import annotations

import numpy as np

from likeness.arguments import check_numbers
from likeness.errors import InvalidInputError
from likeness.metrics._arrays import feature_matrices
from likeness.metrics.seeds import check_seed

__all__ = ["check_kid_sizes", "kid", "kid_has_spread", "polynomial_mmd2"]


def polynomial_mmd2(features_x: np.ndarray, features_y: np.ndarray) -> float:
    """Unbiased MMD² of two feature sets (m×d and n×d, m, n >= 2) under (x·y/d + 1)³."""
    x = np.asarray(features_x, dtype=np.float64)
    y = np.asarray(features_y, dtype=np.float64)
    m, n, dims = x.shape[0], y.shape[0], x.shape[1]

    def off_diagonal_mean(gram: np.ndarray, size: int) -> float:
        kernel = (gram / dims + 1.0) ** 3
        return float((kernel.sum() - np.trace(kernel)) / (size * (size - 1)))

    cross = float(((x @ y.T / dims + 1.0) ** 3).sum() / (m * n))
    return off_diagonal_mean(x @ x.T, m) + off_diagonal_mean(y @ y.T, n) - 2.0 * cross


def check_kid_sizes(size_x: int, size_y: int, *, subset_size: int | None,
                    subsets: int) -> None:
    """Refuse sets of these sizes, or subsets, that ``kid`` cannot compute with (called
    before any feature is computed with the counts of the files found: sets only shrink).

    Raises:
        InvalidInputError: a set of fewer than 2 images, a subset size under 2 or larger
            than a set (saying what to pass), or fewer than one subset;
            ``InvalidInputTypeError``: a subset size or count that is not a whole number.
    """
    counts = {"subsets": subsets} if subset_size is None else {
        "subset_size": subset_size, "subsets": subsets}
    check_numbers(counts, integers=tuple(counts))
    smaller = min(size_x, size_y)
    if smaller < 2:
        raise InvalidInputError(
            f"KID needs at least 2 images in each set, got {size_x} and {size_y}")
    if subset_size is None:
        return
    if subset_size < 2:
        raise InvalidInputError(f"subset_size must be at least 2, got {subset_size}")
    if subset_size > smaller:
        raise InvalidInputError(
            f"KID subset_size={subset_size} is larger than a set: the sets have "
            f"{size_x} and {size_y} images; pass subset_size={smaller} "
            f"or smaller, or subset_size=None to use the whole sets once")
    if subsets < 1:
        raise InvalidInputError(f"subsets must be at least 1, got {subsets}")


def kid_has_spread(subset_size: int | None, subsets: int) -> bool:
    """Whether ``kid``'s std is a spread over several subsets.  From one (the whole sets,
    ``subset_size=None``, or ``subsets=1``) it is 0, as torch-fidelity gives it, which
    tables must not show as "± 0": one value has no spread."""
    return subset_size is not None and subsets > 1


def kid(features_x: np.ndarray, features_y: np.ndarray, *, subset_size: int | None = 1000,
        subsets: int = 100, seed: int = 0) -> tuple[float, float]:
    """KID between two feature sets: (mean, std) of the unbiased MMD² over subsets.

    Args:
        features_x, features_y: (m, d) and (n, d) features (e.g. Inception pool3).
        subset_size: images per subset, drawn without replacement from each set;
            None uses both whole sets once (std 0: no spread, ``kid_has_spread``).
        subsets: number of subsets (one: std 0).
        seed: seeds ``numpy.random.RandomState`` (torch-fidelity's generator).

    Raises:
        ValueError: a set is smaller than ``subset_size`` (the message gives the sizes and
            what to pass), or the features do not have one dimension count.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(50, 8))
        >>> kid(x, x, subset_size=None)[0] < 1e-12
        True
    """
    x, y = (array.astype(np.float64, copy=False) for array in
            feature_matrices(features_x=features_x, features_y=features_y))
    check_kid_sizes(x.shape[0], y.shape[0], subset_size=subset_size, subsets=subsets)
    if subset_size is None:
        return polynomial_mmd2(x, y), 0.0
    generator = np.random.RandomState(check_seed(seed))
    values = np.empty(subsets)
    for index in range(subsets):
        chosen_x = x[generator.choice(x.shape[0], subset_size, replace=False)]
        chosen_y = y[generator.choice(y.shape[0], subset_size, replace=False)]
        values[index] = polynomial_mmd2(chosen_x, chosen_y)
    return float(values.mean()), float(values.std())
