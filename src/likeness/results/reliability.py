"""How far participants agree with one another, and a metric with them.

Krippendorff's α for nominal data
(Krippendorff 2011, "Computing Krippendorff's alpha-reliability"), the statistic the
``krippendorff`` package computes with ``level_of_measurement="nominal"``.

Each unit (in a 2AFC study: one item and one pair of models) holds the values the coders
(participants) gave it; units with fewer than two values carry no information about
agreement and are left out.  With the coincidence matrix o_ck = Σ_u (number of c–k pairs of
values in u) / (m_u − 1) and n_c = Σ_k o_ck, n = Σ_c n_c:
α = 1 − (n − 1) Σ_{c≠k} o_ck / Σ_{c≠k} n_c n_k.  1 is perfect agreement, 0 agreement at
chance, below 0 systematic disagreement; undefined (NaN) when fewer than two values are
paired or a single value occurs throughout.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as scipy_stats

from likeness.errors import InvalidInputError
from likeness.results.pairwise_scaling import bradley_terry, win_matrix
from likeness.results.stats import holm, percentile_interval

__all__ = ["MetricDifference", "MetricValues", "krippendorff_alpha_nominal",
           "metric_agreement", "most_disagreeing", "rank_correlations", "two_afc_agreement",
           "uneven_items"]


def krippendorff_alpha_nominal(units: Iterable[Sequence[str]]) -> float:
    """Krippendorff's α of nominal values, one sequence of values per unit."""
    coincidences: dict[tuple[str, str], float] = {}
    for values in units:
        if len(values) < 2:
            continue
        counts = Counter(values)
        weight = 1.0 / (len(values) - 1)
        for c, count_c in counts.items():
            for k, count_k in counts.items():
                pairs = count_c * (count_k - 1) if c == k else count_c * count_k
                coincidences[(c, k)] = coincidences.get((c, k), 0.0) + pairs * weight
    totals: dict[str, float] = {}
    for (c, _), value in coincidences.items():
        totals[c] = totals.get(c, 0.0) + value
    n = sum(totals.values())
    observed = sum(value for (c, k), value in coincidences.items() if c != k)
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k)
    if n <= 1 or expected == 0:
        return float("nan")
    return 1.0 - (n - 1) * observed / expected


def two_afc_agreement(judgments: Sequence[tuple[str, str, str, str]],
                      values: Mapping[tuple[str, str], float],
                      higher_is_better: bool) -> tuple[float, float, int]:
    """How often a metric prefers what the participants preferred: (the 2AFC score, the
    human ceiling, the judgments scored).

    ``judgments``: (item, a, b, choice); ``values``: the metric's value per (model, item).
    A judgment is scored when the metric has both models' values for its item: 1 when the
    metric prefers the chosen model, 0 when the other, ½ on equal values — the mean is
    Zhang et al. (2018)'s 2AFC score (over an item and pair judged n times with k for one
    model, the metric scores k/n or 1 − k/n).  The ceiling is how often two participants
    agree on the same item and pair, over those judged at least twice:
    (k(k − 1) + (n − k)(n − k − 1)) / (n(n − 1)) weighted by n (NaN when none is).
    """
    groups: dict[tuple[str, frozenset[str]], list[tuple[str, str, str]]] = {}
    for item, a, b, choice in judgments:
        groups.setdefault((item, frozenset((a, b))), []).append((a, b, choice))
    score = scored = 0.0
    agreeing = weight = 0.0
    for (item, pair), rows in groups.items():
        first, second = sorted(pair)
        if (first, item) not in values or (second, item) not in values:
            continue
        one, other = values[(first, item)], values[(second, item)]
        if not higher_is_better:
            one, other = -one, -other
        # compared, not subtracted: two values of +inf (identical images) are equal
        preferred = 0.5 if one == other else (1.0 if one > other else 0.0)
        n = len(rows)
        k = sum(1 for _, _, choice in rows if choice == first)
        score += preferred * k + (1 - preferred) * (n - k)
        scored += n
        if n >= 2:
            agreeing += (k * (k - 1) + (n - k) * (n - k - 1)) / (n * (n - 1)) * n
            weight += n
    if scored == 0:
        return float("nan"), float("nan"), 0
    return score / scored, agreeing / weight if weight else float("nan"), int(scored)


MetricValues = dict[str, tuple[bool, dict[tuple[str, str], float]]]


@dataclass(frozen=True)
class MetricDifference:
    first: str
    second: str
    difference: float  # first's 2AFC score minus second's
    interval: tuple[float, float]
    p_value: float
    p_holm: float


def metric_agreement(rows: Sequence[tuple[str, str, str, str]], metrics: MetricValues,
                     resamples: int, seed: int, confidence: float
                     ) -> tuple[dict[str, tuple[float, tuple[float, float], float, int]],
                                list[MetricDifference]]:
    """Each metric's 2AFC score with a percentile bootstrap interval over items (an item's
    judgments stay together), the human ceiling, and each pair of metrics' difference in
    score with its interval and a two-sided bootstrap p-value (the same resamples for every
    metric: paired), Holm-corrected over the pairs.  ``rows``: (item, a, b, choice)."""
    items = sorted({row[0] for row in rows})
    by_item: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
    for row in rows:
        by_item[row[0]].append(row)
    samples = np.random.default_rng(seed).integers(0, len(items), size=(resamples, len(items)))
    found, draws = {}, {}
    for name, (higher, values) in metrics.items():
        score, ceiling, scored = two_afc_agreement(rows, values, higher)
        # per item: (agreeing judgments, judgments scored), summed over each resample's items
        per_item = np.array([[result[0] * result[2] if result[2] else 0.0, result[2]]
                             for result in (two_afc_agreement(by_item[item], values, higher)
                                            for item in items)])
        totals = per_item[samples].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            draws[name] = totals[:, 0] / totals[:, 1]
        found[name] = (score, percentile_interval(draws[name], confidence), ceiling, scored)
    differences = []
    names = list(metrics)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            spread = draws[first] - draws[second]
            spread = spread[np.isfinite(spread)]
            if not spread.size:
                continue
            tail = min(np.sum(spread <= 0), np.sum(spread >= 0))
            p = min(1.0, 2 * (tail + 1) / (spread.size + 1))
            differences.append(MetricDifference(
                first, second, found[first][0] - found[second][0],
                percentile_interval(spread, confidence), p, p))
    corrected = holm([d.p_value for d in differences])
    return found, [replace(d, p_holm=q) for d, q in zip(differences, corrected, strict=True)]


def _drawn_means(table: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each draw's mean of each model's values (``table``: models × items, NaN where the
    model has none) over the drawn items (``counts``: draws × items, multiplicities): NaN
    without a value, ±inf where a drawn item's value is ±inf (PSNR of identical images:
    the model then ranks first, as the rank correlations it feeds rank it)."""
    finite, present = np.isfinite(table), ~np.isnan(table)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (counts @ np.where(finite, table, 0.0).T) / (counts @ present.T.astype(float))
    above = counts @ (table == np.inf).T.astype(float) > 0
    below = counts @ (table == -np.inf).T.astype(float) > 0
    means[above], means[below], means[above & below] = np.inf, -np.inf, np.nan
    return means


def rank_correlations(rows: Sequence[tuple[str, str, str, str]], metrics: MetricValues,
                      resamples: int, seed: int, confidence: float
                      ) -> dict[str, tuple[float, tuple[float, float], float, tuple[float, float]]]:
    """Per metric: (Spearman's ρ, its interval, Kendall's τ-b, its interval) between the
    models' mean metric value over the judged items (sign-flipped where lower is better)
    and their Bradley–Terry scores, with percentile bootstrap intervals over items (the
    scores refitted on each resample; resamples without a scale are left out).  NaN with
    fewer than three models or without a Bradley–Terry scale."""
    models = sorted({m for _, a, b, _ in rows for m in (a, b)})
    index = {m: i for i, m in enumerate(models)}
    items = sorted({row[0] for row in rows})
    by_item: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for item, a, b, choice in rows:
        by_item[item].append((index[choice], index[b if choice == a else a]))
    per_item = np.array([win_matrix(len(models), by_item[item]) for item in items])
    nan = float("nan")
    if len(models) < 3:
        return {name: (nan, (nan, nan), nan, (nan, nan)) for name in metrics}
    generator = np.random.default_rng(seed)
    # the full data first, then the resamples: each item's multiplicity in the draw
    counts = np.vstack([np.ones(len(items)), np.stack([
        np.bincount(generator.integers(0, len(items), size=len(items)), minlength=len(items))
        for _ in range(resamples)])])

    def human_scores(weights: np.ndarray) -> np.ndarray | None:
        try:  # one Bradley–Terry fit per draw, shared by every metric
            return bradley_terry(np.tensordot(weights, per_item, axes=1))
        except InvalidInputError:  # no scale on this draw
            return None

    scores = [human_scores(weights) for weights in counts]
    found = {}
    for name, (higher, values) in metrics.items():
        table = np.array([[values.get((m, item), nan) for item in items] for m in models])
        means = _drawn_means(table, counts)
        draws = np.full((counts.shape[0], 2), nan)
        for row, (mean, score) in enumerate(zip(means, scores, strict=True)):
            if score is None or np.any(np.isnan(mean)):
                continue
            mean = mean if higher else -mean
            draws[row] = (scipy_stats.spearmanr(mean, score).statistic,
                          scipy_stats.kendalltau(mean, score).statistic)
        bounds = [percentile_interval(draws[1:, column], confidence) for column in range(2)]
        found[name] = (float(draws[0, 0]), bounds[0], float(draws[0, 1]), bounds[1])
    return found


def uneven_items(rows: Sequence[tuple[str, str, str, str]], metrics: MetricValues
                 ) -> list[str]:
    """The metrics whose values cover different judged items for different models (a pair
    that failed in the results): ``rank_correlations`` then ranks models by means over
    different items, which the analysis says.  ``rows``: (item, a, b, choice)."""
    models = sorted({model for _, a, b, _ in rows for model in (a, b)})
    items = sorted({row[0] for row in rows})
    found = []
    for name, (_, values) in metrics.items():
        covered = {model: frozenset(item for item in items if (model, item) in values)
                   for model in models}
        if len(set(covered.values())) > 1:
            listed = ", ".join(f"{model} {len(covered[model])}" for model in models)
            found.append(f"{name}: the models' values cover different judged items ({listed} "
                         f"of {len(items)}): its rank correlations compare means over "
                         "different items")
    return found


def most_disagreeing(rows: Sequence[tuple[str, str, str, str]],
                     values: Mapping[tuple[str, str], float], higher_is_better: bool,
                     count: int) -> list[tuple[str, str, str, float, float]]:
    """The item-and-pair groups where a metric agrees least with the participants: (item,
    the model the metric prefers, the other, the share of participants choosing the
    preferred one, its judgments), most disagreeing first, at most ``count``."""
    groups: dict[tuple[str, frozenset[str]], list[str]] = defaultdict(list)
    for item, a, b, choice in rows:
        groups[(item, frozenset((a, b)))].append(choice)
    found = []
    for (item, pair), choices in groups.items():
        first, second = sorted(pair)
        if (first, item) not in values or (second, item) not in values:
            continue
        difference = values[(first, item)] - values[(second, item)]
        if difference == 0:
            continue
        preferred, other = ((first, second) if (difference > 0) == higher_is_better
                            else (second, first))
        share = choices.count(preferred) / len(choices)
        found.append((item, preferred, other, share, float(len(choices))))
    found.sort(key=lambda entry: (entry[3], -entry[4], entry[0]))
    return found[:count]
