"""Where two metrics disagree: rank agreement between metrics over a run's pairs, the pair
of metrics that agrees least, and each pair's disagreement.

Every metric is first turned into "goodness" (its values, negated when lower is better),
so that agreement reads the same for SSIM (higher is better) and LPIPS (lower is better):
Kendall's τ of two metrics' goodness over the pairs both computed is 1 when they rank the
pairs alike and −1 when one calls best what the other calls worst.  A pair's disagreement
is the difference of its two goodness ranks as a fraction of the number of pairs (0: the
metrics agree on where the pair stands; 1: one calls it the best, the other the worst).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from likeness.errors import LikenessError
from likeness.evaluation.catalog.registry import METRICS, canonical_name

__all__ = ["MetricAgreement", "agreements", "choose_disagreeing", "disagreement",
           "overall_ranks"]

Values = Sequence[Mapping[str, float]]  # one mapping metric → value per pair


@dataclass(frozen=True)
class MetricAgreement:
    """Kendall's τ (τ-b) of two metrics' goodness over the ``n`` pairs both computed."""

    first: str
    second: str
    tau: float
    n: int


def _goodness(metric: str, value: float) -> float:
    return value if METRICS[metric].better == "higher" else -value


def _shared(values: Values, first: str, second: str) -> list[int]:
    """The pairs with both metrics' values (an infinite one ranks: PSNR of identical images
    is the best PSNR, not a gap)."""
    return [i for i, v in enumerate(values)
            if not math.isnan(v.get(first, math.nan)) and not math.isnan(v.get(second, math.nan))]


def agreements(values: Values, metrics: Sequence[str]) -> list[MetricAgreement]:
    """τ of every two metrics with at least three pairs in common, least agreeing first."""
    from scipy.stats import kendalltau

    found = []
    for first, second in itertools.combinations(metrics, 2):
        shared = _shared(values, first, second)
        if len(shared) < 3:
            continue
        a = [_goodness(first, values[i][first]) for i in shared]
        b = [_goodness(second, values[i][second]) for i in shared]
        tau = kendalltau(a, b).statistic if len(set(a)) > 1 and len(set(b)) > 1 else math.nan
        found.append(MetricAgreement(first, second, float(tau), len(shared)))
    return sorted(found, key=lambda m: (math.isnan(m.tau), m.tau))


def choose_disagreeing(values: Values, metrics: Sequence[str],
                       wanted: Sequence[str] | None = None) -> MetricAgreement | None:
    """The two metrics to show side by side: ``wanted`` if given, else the two whose
    rankings agree least (None when fewer than two metrics share three pairs).

    Raises:
        LikenessError: ``wanted`` is not two different metrics of the run.
    """
    if wanted is not None:
        names = [canonical_name(name) for name in wanted]
        if len(names) != 2 or names[0] == names[1]:
            raise LikenessError(f"disagree needs two different metrics, got {list(wanted)}")
        missing = [given.strip() for given, n in zip(wanted, names, strict=True)
                   if n not in metrics]
        if missing:  # named as either interface takes them: lpips-alex, as --help lists it
            raise LikenessError(f"disagree: {', '.join(missing)} is not a per-pair metric of "
                                "this run; choose two of "
                                f"{', '.join(m.replace('_', '-') for m in metrics)}")
        shared = _shared(values, *names)
        found = agreements(values, names)
        return found[0] if found else MetricAgreement(names[0], names[1], math.nan,
                                                      len(shared))
    found = [a for a in agreements(values, metrics) if not math.isnan(a.tau)]
    return found[0] if found else None


def _badness_ranks(goodness: list[float]) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(-np.asarray(goodness)) / len(goodness)


def disagreement(values: Values, first: str, second: str) -> dict[int, float]:
    """Each pair's disagreement between the two metrics (pairs with both values)."""
    shared = _shared(values, first, second)
    if len(shared) < 2:
        return {}
    a = _badness_ranks([_goodness(first, values[i][first]) for i in shared])
    b = _badness_ranks([_goodness(second, values[i][second]) for i in shared])
    return {i: float(abs(x - y)) for i, x, y in zip(shared, a, b, strict=True)}


def overall_ranks(values: Values, metrics: Sequence[str]) -> dict[int, float]:
    """Each pair's mean goodness percentile over the metrics it has (0 worst, 1 best):
    one order for a model's best and worst pairs, whatever the number of metrics."""
    from scipy.stats import rankdata

    totals: dict[int, list[float]] = {}
    for metric in metrics:
        have = [i for i, v in enumerate(values) if not math.isnan(v.get(metric, math.nan))]
        if len(have) < 2:
            continue
        ranks = rankdata([_goodness(metric, values[i][metric]) for i in have])
        for i, rank in zip(have, ranks, strict=True):
            totals.setdefault(i, []).append((rank - 1) / (len(have) - 1))
    return {i: float(np.mean(r)) for i, r in totals.items()}
