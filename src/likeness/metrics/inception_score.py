"""The Inception Score (Salimans et al. 2016) from classifier logits, as torch-fidelity's
``isc`` computes it: the rows shuffled by ``numpy.random.RandomState(seed).permutation``,
in float64, split into ``splits`` consecutive parts (boundaries i·N // splits); per part
exp(mean KL(p(y|x) ‖ p(y))) with p(y) the part's mean prediction; the mean and the
population standard deviation over parts.  Higher is better; at most the number of
classes."""

from __future__ import annotations

import warnings

import numpy as np

from likeness.arguments import outside_stacklevel
from likeness.errors import InvalidInputError
from likeness.metrics._arrays import feature_matrices
from likeness.metrics.seeds import check_seed

__all__ = ["PAPER_SET_SIZE", "check_split_sizes", "inception_score"]

PAPER_SET_SIZE = 50_000  # what papers (and torch-fidelity's examples) score


def check_split_sizes(count: int, splits: int) -> None:
    """Refuse a set of ``count`` images split into ``splits`` parts, one of them empty (also
    called before any logit is computed, with the count of the files found).

    Raises:
        InvalidInputError: fewer images than splits.
    """
    if count < splits:
        raise InvalidInputError(
            f"the Inception Score splits the images into {splits} parts and "
            f"needs at least {splits} images, got {count}")


def inception_score(logits: np.ndarray, *, splits: int = 10, shuffle: bool = True,
                    seed: int = 2020) -> tuple[float, float]:
    """(mean, std) of the Inception Score of (N, classes) logits.

    Raises:
        ValueError: fewer images than splits (a part would be empty).

    Warns:
        UserWarning: fewer than 5,000 images: each part's marginal is estimated from few
            images, which biases the score downwards; papers use 50,000.
    """
    values = feature_matrices(logits=logits)[0].astype(np.float64, copy=False)
    count = values.shape[0]
    check_split_sizes(count, splits)
    if count < PAPER_SET_SIZE // 10:
        warnings.warn(f"the Inception Score of {count} images ({count // splits} per split) "
                      f"is biased downwards; papers use {PAPER_SET_SIZE:,} images",
                      UserWarning, stacklevel=outside_stacklevel())
    if shuffle:
        values = values[np.random.RandomState(check_seed(seed)).permutation(count)]
    shifted = values - values.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    scores = []
    for part in range(splits):
        rows = slice(part * count // splits, (part + 1) * count // splits)
        marginal = p[rows].mean(axis=0, keepdims=True)
        kl = (p[rows] * (log_p[rows] - np.log(marginal))).sum(axis=1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))
