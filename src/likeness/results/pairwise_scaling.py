"""Scores on a common scale from pairwise preferences (two-alternative forced choice).

**Bradley–Terry** by maximum likelihood: P(i preferred to j) = 1 / (1 + exp(θ_j − θ_i))
with natural-log strengths θ, no prior, mean zero over the models — the normalisation of
``choix.ilsr_pairwise(n, data, alpha=0)``.  Newton's method on the concave log-likelihood
(the gauge fixed by the mean), halving steps that do not increase it, to a gradient below
1e-10 per judgment.  The maximum exists only when every model can be reached from every
other through "was preferred to" — otherwise a model that never lost (or never won) has an
infinite strength — and is refused then, with the models that break it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from likeness.errors import InvalidInputError

__all__ = ["bradley_terry", "win_matrix"]

_MAX_ITERATIONS = 200


def win_matrix(models: int, judgments: Sequence[tuple[int, int]] | np.ndarray) -> np.ndarray:
    """(models, models) counts: entry [i, j] = how often i was preferred to j, from
    (winner, loser) index pairs."""
    wins = np.zeros((models, models))
    pairs = np.asarray(judgments, dtype=int).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= models):
        raise InvalidInputError(f"judgments name model indices outside 0..{models - 1}")
    if np.any(pairs[:, 0] == pairs[:, 1]):
        raise InvalidInputError("a judgment compares a model with itself")
    np.add.at(wins, (pairs[:, 0], pairs[:, 1]), 1.0)
    return wins


def _unreachable(wins: np.ndarray, names: Sequence[str]) -> str | None:
    """Why the maximum-likelihood strengths do not exist, or None when they do."""
    rows, columns = np.nonzero(wins)
    graph = coo_matrix((np.ones(rows.size), (rows, columns)), shape=wins.shape)
    count, labels = connected_components(graph, directed=True, connection="strong")
    if count == 1:
        return None
    never_lost = [names[i] for i in range(len(names)) if wins[:, i].sum() == 0]
    never_won = [names[i] for i in range(len(names)) if wins[i].sum() == 0]
    groups = [", ".join(names[int(i)] for i in np.flatnonzero(labels == g))
              for g in range(count)]
    detail = []
    if never_lost:
        detail.append(f"never lost: {', '.join(never_lost)}")
    if never_won:
        detail.append(f"never won: {', '.join(never_won)}")
    return ("the models split into groups no judgment orders both ways ("
            + "; ".join(f"{{{g}}}" for g in groups) + ")"
            + (f" — {'; '.join(detail)}" if detail else ""))


def bradley_terry(wins: np.ndarray, names: Sequence[str] | None = None) -> np.ndarray:
    """Maximum-likelihood Bradley–Terry log-strengths, mean zero (see the module docs).

    Args:
        wins: (n, n) counts, [i, j] = how often i was preferred to j.
        names: the models' names, for the error message.

    Raises:
        InvalidInputError: fewer than two models, negative counts, or no maximum (a model
            never lost or never won against the rest).
    """
    wins = np.asarray(wins, dtype=np.float64)
    models = wins.shape[0]
    if wins.ndim != 2 or wins.shape[1] != models or models < 2:
        raise InvalidInputError("Bradley–Terry needs a square count matrix of two or more "
                                "models")
    if np.any(wins < 0) or not np.all(np.isfinite(wins)):
        raise InvalidInputError("judgment counts must be finite and non-negative")
    labels = list(names) if names is not None else [str(i) for i in range(models)]
    reason = _unreachable(wins, labels)
    if reason is not None:
        raise InvalidInputError(f"Bradley–Terry strengths have no maximum-likelihood value: "
                                f"{reason}")
    games = wins + wins.T
    won = wins.sum(axis=1)
    total = games.sum() / 2

    def log_likelihood(theta: np.ndarray) -> float:
        difference = theta[:, None] - theta[None, :]
        return float(np.sum(wins * -np.logaddexp(0.0, -difference)))

    theta = np.zeros(models)
    current = log_likelihood(theta)
    for _ in range(_MAX_ITERATIONS):
        difference = theta[:, None] - theta[None, :]
        probability = 1.0 / (1.0 + np.exp(-difference))
        gradient = won - np.sum(games * probability, axis=1)
        if np.max(np.abs(gradient)) <= 1e-10 * max(total, 1.0):
            break
        weight = games * probability * (1.0 - probability)
        hessian = np.diag(weight.sum(axis=1)) - weight  # the negative Hessian: a Laplacian
        # the gauge (a common shift) is the Laplacian's null space: fix it with a rank-one term
        step = np.linalg.solve(hessian + np.ones((models, models)) / models, gradient)
        scale = 1.0
        while scale > 1e-12:
            candidate = theta + scale * step
            value = log_likelihood(candidate)
            if value >= current - 1e-15 * abs(current):
                theta, current = candidate, value
                break
            scale /= 2
        theta = theta - theta.mean()
    return theta - theta.mean()
