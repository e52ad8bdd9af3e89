"""Scores on a common scale from pairwise preferences (two-alternative forced choice).

**Bradley–Terry** by maximum likelihood: P(i preferred to j) = 1 / (1 + exp(θ_j − θ_i))
with natural-log strengths θ, no prior, mean zero over the models — the normalisation of
``choix.ilsr_pairwise(n, data, alpha=0)``.  Newton's method on the concave log-likelihood
(the gauge fixed by the mean), halving steps that do not increase it, to a gradient below
1e-10 per judgment.  The maximum exists only when every model can be reached from every
other through "was preferred to" — otherwise a model that never lost (or never won) has an
infinite strength — and is refused then, with the models that break it.

**Thurstone Case V in JOD units** as ``pw_scale.m`` of Perez-Ortiz & Mantiuk's ``pwcmp``
computes it with its defaults: P(i preferred to j) = Φ((q_i − q_j) / 1.4826), so that a
difference of 1 JOD is 75 % preference; the first model fixed at 0; the negative
log-likelihood of the counts (binomial terms, ``binopdf`` above 30 comparisons of a pair)
times pwcmp's distance prior — the likelihood of every observed (n, k), unanimous answers
moved one step in, evaluated at every compared pair's current distance, normalised — with
pwcmp's own ordering of the two kinds of terms; minimised by BFGS from zeros to a gradient
below 1e-9.  A comparison graph in more than one piece is refused (pwcmp links the best
conditions of the pieces and warns; their relative scores are then arbitrary).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import optimize, special
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.stats import binom, norm

from likeness.errors import InvalidInputError

__all__ = ["JOD_SIGMA", "bradley_terry", "thurstone_jod", "win_matrix"]

JOD_SIGMA = 1.4826  # Φ(1 / 1.4826) = 0.75: one JOD is 75 % preference

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


def _fortran(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``values(mask)`` as MATLAB orders it: column by column."""
    return values.ravel(order="F")[mask.ravel(order="F")]


def _prior_rows(wins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) of each row of pw_scale's prior: every ordered pair compared, row by row,
    unanimous answers moved one step in (k = n − 1 or 1)."""
    totals, counts = [], []
    models = wins.shape[0]
    for i in range(models):
        for j in range(models):
            n = wins[i, j] + wins[j, i]
            if n <= 0:
                continue
            k = wins[i, j]
            if min(wins[i, j], wins[j, i]) == 0:
                k = wins[i, j] - 1 if wins[j, i] < wins[i, j] else 1
            totals.append(n)
            counts.append(k)
    return np.array(totals), np.array(counts)


def thurstone_jod(wins: np.ndarray, names: Sequence[str] | None = None, *,
                  use_prior: bool = True, start: np.ndarray | None = None) -> np.ndarray:
    """Scores in JOD units, the first model at 0, as ``pw_scale.m`` computes them (see the
    module docs).

    Args:
        use_prior: pwcmp's distance prior (its default); without it the scale has a
            maximum only under Bradley–Terry's condition, and is refused otherwise.
        start: where the minimisation starts (default zeros, as pwcmp; a bootstrap starts
            from the full data's scores, which only shortens the search).

    Raises:
        InvalidInputError: fewer than two models, negative or non-integer counts, models
            no comparison connects, or (without the prior) no maximum.
    """
    wins = np.asarray(wins, dtype=np.float64)
    models = wins.shape[0]
    if wins.ndim != 2 or wins.shape[1] != models or models < 2:
        raise InvalidInputError("the JOD scale needs a square count matrix of two or more "
                                "models")
    if np.any(wins < 0) or np.any(wins != np.round(wins)):
        raise InvalidInputError("judgment counts must be non-negative integers")
    labels = list(names) if names is not None else [str(i) for i in range(models)]
    totals = wins + wins.T
    linked = coo_matrix(totals > 0)
    count, groups = connected_components(linked, directed=False)
    if count > 1:
        pieces = "; ".join("{" + ", ".join(labels[int(i)] for i in np.flatnonzero(groups == g))
                           + "}" for g in range(count))
        raise InvalidInputError(f"no comparison connects these groups of models: {pieces}; "
                                "their scores on one scale would be arbitrary")
    if not use_prior and (reason := _unreachable(wins, labels)) is not None:
        raise InvalidInputError(f"the JOD scale without its prior has no maximum: {reason}")
    compared = totals > 0
    binomial_terms = compared & (totals <= 30)
    gaussian_terms = compared & (totals > 30)
    won_b, lost_b = _fortran(wins, binomial_terms), _fortran(wins.T, binomial_terms)
    log_choose = _fortran(special.gammaln(totals + 1) - special.gammaln(wins + 1)
                          - special.gammaln(totals - wins + 1), binomial_terms)
    won_g, total_g = _fortran(wins, gaussian_terms), _fortran(totals, gaussian_terms)
    prior_n, prior_k = _prior_rows(wins)
    prior_choose = (special.gammaln(prior_n + 1) - special.gammaln(prior_k + 1)
                    - special.gammaln(prior_n - prior_k + 1))

    rows_i, rows_j = np.nonzero(compared.T)  # F-order: column j first, then row i
    entry_i, entry_j = rows_j, rows_i
    won_e, lost_e = wins[entry_i, entry_j], wins[entry_j, entry_i]

    def objective(free: np.ndarray) -> tuple[float, np.ndarray]:
        """pw_scale's negative log-likelihood and its gradient (the gradient of the sum of
        the log terms; pwcmp's floors, active only far from any optimum, are left out)."""
        q = np.concatenate([[0.0], free])
        distance = q[:, None] - q[None, :]
        # kept off exact 0 and 1 (distances beyond ~12 JOD, far from any optimum): there
        # MATLAB's objective is +inf, which a line search cannot difference
        probability = np.clip(norm.cdf(distance, 0.0, JOD_SIGMA), 1e-300, 1 - 1e-16)
        p_b = _fortran(probability, binomial_terms)
        # 0 ** 0 is 1, as in MATLAB: xlogy gives 0 · log 0 = 0
        first = np.exp(log_choose + special.xlogy(won_b, p_b) + special.xlog1py(lost_b, -p_b))
        second = binom.pmf(won_g, total_g, _fortran(probability, gaussian_terms))
        likelihood = np.maximum(np.concatenate([first, second]), 1e-200)
        p = probability[entry_i, entry_j]
        slope = -(won_e / p - lost_e / (1 - p))  # d(−log L_e)/dp_e
        if use_prior:
            log_rows = (prior_choose[:, None] + special.xlogy(prior_k[:, None], p[None, :])
                        + special.xlog1py((prior_n - prior_k)[:, None], -p[None, :]))
            rows = np.exp(log_rows - log_rows.max(axis=1, keepdims=True))
            rows = rows / rows.sum(axis=1, keepdims=True)
            prior = rows.sum(axis=0) / rows.shape[0]
            value = float(-np.sum(np.log(np.maximum(likelihood * prior, 1e-300))))
            steepness = prior_k[:, None] / p[None, :] - (prior_n - prior_k)[:, None] / (
                1 - p[None, :])  # d log P_re / dp_e
            weight = (rows / (rows.shape[0] * prior[None, :])).sum(axis=1, keepdims=True)
            slope = slope - np.sum(rows * steepness * (1 / (rows.shape[0] * prior[None, :])
                                                       - weight), axis=0)
        else:
            value = float(-np.sum(np.log(likelihood)))
        slope = slope * norm.pdf(distance[entry_i, entry_j], 0.0, JOD_SIGMA)
        gradient = np.zeros(models)
        np.add.at(gradient, entry_i, slope)
        np.add.at(gradient, entry_j, -slope)
        return value, gradient[1:]

    initial = np.zeros(models - 1) if start is None else np.asarray(start, float)[1:]
    result = optimize.minimize(objective, initial, jac=True, method="BFGS",
                               options={"gtol": 1e-9, "maxiter": 10_000})
    return np.concatenate([[0.0], result.x])
