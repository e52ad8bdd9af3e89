"""Honest uncertainty for per-image metrics: summaries with bootstrap confidence intervals,
paired tests between models, and multiple-comparison correction.

- **Bootstrap CI of the mean**: ``resamples`` (default 2,000) resamples with replacement
  from ``numpy.random.default_rng(seed)`` (default seed 0), so a run is reproducible.
  ``method="auto"`` uses BCa (bias-corrected and accelerated, Efron 1987) up to 100,000
  values and the percentile interval above (where both agree and BCa's correction is
  negligible).  BCa's acceleration needs the jackknife, which for the mean has a closed
  form (leave-one-out means are (Σx − xᵢ)/(n − 1)), so BCa costs O(n) beyond the resampling.
  A constant sample has the degenerate interval [value, value]; fewer than 2 values have
  none (NaN).
- **Paired test**: the Wilcoxon signed-rank test on the per-reference differences between
  two models (``scipy.stats.wilcoxon``, two-sided, ``zero_method="wilcox"``: zero
  differences are dropped, the classic definition; ties use the normal approximation with
  tie correction).  All-zero differences give p = 1.
- **Holm's step-down correction** over the model pairs of each metric.
- **Few values**: a bootstrap interval from fewer than ``FEW_VALUES`` (10) values covers
  the mean less often than its nominal level — from 2 values it is their range, which
  holds the median of a symmetric distribution half the time; from 3 and 5 normal values
  a 95% BCa interval held the mean in about 72% and 87% of 400 simulated samples, from 10
  in 90% (``tests/test_stats.py`` measures it).  The interval is still given; the run
  says so (``few_values``), in its notes, tables and methods.
- **Too few pairs to test**: from n pairs, the exact two-sided Wilcoxon test's smallest
  p-value is 2^(1−n) (every difference of one sign), above 0.05 up to 5 pairs: there
  the test cannot show a difference at the 5% level whatever the values, and its p-value
  says nothing of the models being alike.  The run says so (``too_few_to_test``), with
  the smallest p-value this scipy's test gives (``smallest_p_value``: tied differences
  may be tested by the normal approximation, which goes lower).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from likeness.errors import InvalidInputError

__all__ = ["FEW_VALUES", "TESTABLE_PAIRS", "Comparison", "Summary", "bootstrap_mean_ci",
           "few_units_note", "holm", "paired_comparison", "percentile_interval",
           "smallest_p_value", "summarize", "untestable", "untestable_note", "wilcoxon_p"]

BCA_MAX_N = 100_000
FEW_VALUES = 10  # below: an interval under-covers (module docs); the run says so
TESTABLE_PAIRS = 6  # below: the exact paired test's smallest p-value, 2^(1-n), exceeds 0.05
_CHUNK_ELEMENTS = 4_000_000  # resampling memory bound: rows × n per chunk


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float  # ddof 1
    median: float
    ci_low: float
    ci_high: float
    ci_method: str


@dataclass(frozen=True)
class Comparison:
    n: int
    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float


def _bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    generator = np.random.default_rng(seed)
    n = values.shape[0]
    rows = max(1, _CHUNK_ELEMENTS // n)
    means = np.empty(resamples)
    for start in range(0, resamples, rows):
        stop = min(resamples, start + rows)
        indices = generator.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[indices].mean(axis=1)
    return means


# the standard normal distribution's CDF and quantile function from the standard library,
# not scipy.special's ``ndtr`` and ``ndtri`` (within ~1e-15 of them): importing scipy.special
# took 0.15–0.25 s of every folder run, a third of a two-pair run's time
_NORMAL = NormalDist()


def _phi(z: np.ndarray) -> np.ndarray:
    return np.array([0.5 * math.erfc(-value / math.sqrt(2.0)) for value in z.ravel()]
                    ).reshape(z.shape)


def _probit(p: np.ndarray) -> np.ndarray:
    return np.array([_NORMAL.inv_cdf(float(value)) for value in p.ravel()]).reshape(p.shape)


def bootstrap_mean_ci(values: Sequence[float] | np.ndarray, *, resamples: int = 2000,
                      seed: int = 0, confidence: float = 0.95,
                      method: str = "auto") -> tuple[float, float, str]:
    """Bootstrap confidence interval of the mean: (low, high, method used).

    Args:
        method: ``"auto"``, ``"bca"`` or ``"percentile"``.
    """
    data = np.asarray(values, dtype=np.float64)
    if method not in ("auto", "bca", "percentile"):
        raise InvalidInputError(f"method must be 'auto', 'bca' or 'percentile', got {method!r}")
    if not 0 < confidence < 1:
        raise InvalidInputError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 100:
        raise InvalidInputError(f"use at least 100 bootstrap resamples, got {resamples}")
    n = data.shape[0]
    if n < 2 or not np.isfinite(data).all():
        return math.nan, math.nan, "none"
    if np.all(data == data[0]):
        return float(data[0]), float(data[0]), "degenerate"
    chosen = method if method != "auto" else ("bca" if n <= BCA_MAX_N else "percentile")
    means = _bootstrap_means(data, resamples, seed)
    alpha = (1 - confidence) / 2
    if chosen == "percentile":
        low, high = np.quantile(means, [alpha, 1 - alpha])
        return float(low), float(high), "percentile"
    observed = data.mean()
    below = np.mean(means < observed) + 0.5 * np.mean(means == observed)
    below = min(max(below, 1 / (2 * resamples)), 1 - 1 / (2 * resamples))
    z0 = float(_probit(np.array(below)))
    leave_one_out = (data.sum() - data) / (n - 1)
    spread = leave_one_out.mean() - leave_one_out
    denominator = 6.0 * (spread ** 2).sum() ** 1.5
    acceleration = (spread ** 3).sum() / denominator if denominator > 0 else 0.0
    z = _probit(np.array([alpha, 1 - alpha]))
    adjusted = _phi(z0 + (z0 + z) / (1 - acceleration * (z0 + z)))
    low, high = np.quantile(means, np.clip(adjusted, 0, 1))
    return float(low), float(high), "bca"


def summarize(values: Sequence[float] | np.ndarray, *, resamples: int = 2000, seed: int = 0,
              confidence: float = 0.95, method: str = "auto") -> Summary:
    """n, mean, std (ddof 1), median and the bootstrap CI of the mean of finite values.

    Infinite values (PSNR of identical images) are kept: the mean is then infinite and the
    interval undefined (NaN), rather than silently dropping them.
    """
    data = np.asarray(values, dtype=np.float64)
    data = data[~np.isnan(data)]
    n = int(data.shape[0])
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan, math.nan, "none")
    with np.errstate(invalid="ignore"):
        mean = float(data.mean())
        std = float(data.std(ddof=1)) if n > 1 else math.nan
    low, high, used = bootstrap_mean_ci(data, resamples=resamples, seed=seed,
                                        confidence=confidence, method=method)
    return Summary(n, mean, std, float(np.median(data)), low, high, used)


def wilcoxon_p(differences: Sequence[float] | np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (zeros dropped, as NaN;
    an infinite difference ranks above every finite one)."""
    data = np.asarray(differences, dtype=np.float64)
    data = data[~np.isnan(data)]
    if data.shape[0] == 0 or np.all(data == 0):
        return 1.0 if data.shape[0] else math.nan
    from scipy import stats  # imported where used: 0.6 s a command that needs none

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy notes when it switches to the approximation
        result = stats.wilcoxon(data, zero_method="wilcox", alternative="two-sided")
    return float(result.pvalue)


@functools.cache
def smallest_p_value(n: int) -> float:
    """The smallest p-value ``wilcoxon_p`` gives from ``n`` paired differences: every one of
    one sign, told apart or all tied (a test of ties may take the normal approximation)."""
    return min(wilcoxon_p(np.arange(1.0, n + 1)), wilcoxon_p(np.ones(n)))


def untestable(count: int) -> bool:
    """Whether a paired test over ``count`` pairs cannot reach p < 0.05 whatever the values."""
    return 0 < count < TESTABLE_PAIRS and smallest_p_value(count) >= 0.05


def untestable_note(count: int, unit: str) -> str | None:
    """What an analysis says of paired tests over ``count`` ``unit`` (say, "items") that
    cannot reach p < 0.05 whatever the values; None where they can."""
    if not untestable(count):
        return None
    return (f"the paired Wilcoxon tests rest on {count} {unit}: from so few the smallest "
            f"p-value is {smallest_p_value(count):.3g}, so they cannot show a difference at "
            "the 5% level whatever the values, and a large p-value does not say the two are "
            "alike")


def paired_comparison(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                      resamples: int = 2000, seed: int = 0, confidence: float = 0.95,
                      method: str = "auto") -> Comparison:
    """Mean of a − b over the pairs, its bootstrap CI, Wilcoxon p (pairs with a NaN left out).

    An infinite value (PSNR of identical images) is a measurement, not a gap: two equal
    values differ by 0 (+inf and +inf too), an infinite difference ranks above every finite
    one in the test, and makes the mean difference infinite, without an interval.
    """
    first = np.asarray(a, dtype=np.float64)
    second = np.asarray(b, dtype=np.float64)
    if first.shape != second.shape:
        raise InvalidInputError(
            f"paired samples must have one length, got {first.shape} and "
            f"{second.shape}")
    both = ~(np.isnan(first) | np.isnan(second))
    first, second = first[both], second[both]
    with np.errstate(invalid="ignore"):  # inf − inf: equal values, a difference of 0
        differences = np.where(first == second, 0.0, first - second)
    n = int(differences.shape[0])
    if n == 0:
        return Comparison(0, math.nan, math.nan, math.nan, math.nan)
    if not np.isfinite(differences).all():
        with np.errstate(invalid="ignore"):  # +inf and −inf together: no mean
            mean = float(differences.mean())
        return Comparison(n, mean, math.nan, math.nan, wilcoxon_p(differences))
    low, high, _ = bootstrap_mean_ci(differences, resamples=resamples, seed=seed,
                                     confidence=confidence, method=method)
    return Comparison(n, float(differences.mean()), low, high, wilcoxon_p(differences))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count)."""
    values = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(values.shape, math.nan)
    valid = np.flatnonzero(~np.isnan(values))
    order = valid[np.argsort(values[valid], kind="stable")]
    m = order.shape[0]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return [float(v) for v in adjusted]


def percentile_interval(draws: Sequence[float] | np.ndarray, confidence: float, *,
                        estimate: float | None = None,
                        units: int | None = None) -> tuple[float, float]:
    """The percentile interval of the finite resampled ``draws`` (NaN, NaN without any).
    With ``estimate`` and ``units`` (the n units resampled: participants), its distances
    from the estimate are widened by sqrt(n / (n − 1)), since resampling n of n units
    understates the variance by (n − 1)/n; NaN when n < 2 or the estimate is not finite."""
    values = np.asarray(draws, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    alpha = (1 - confidence) / 2
    low, high = float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))
    if units is None:
        return low, high
    if estimate is None or units < 2 or not math.isfinite(estimate):
        return math.nan, math.nan
    widen = math.sqrt(units / (units - 1))
    return estimate - widen * (estimate - low), estimate + widen * (high - estimate)


def few_units_note(count: int, unit: str, confidence: float, *,
                   intervals: str = "the intervals") -> str | None:
    """What a study analysis says of ``intervals`` that resample ``count`` ``unit`` (say,
    "participants"; the metrics' agreement resamples "items") where they are fewer than
    ``FEW_VALUES``; None otherwise."""
    if not 1 < count < FEW_VALUES:
        return None
    percent = round(100 * confidence)
    return (f"{intervals} resample {count} {unit}, fewer than {FEW_VALUES}: from so few, a "
            f"{percent}% interval holds the score less often than {percent}% of the time, so "
            f"read them as the spread of these {unit}")
