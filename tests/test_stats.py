"""likeness.results.stats: bootstrap intervals, paired tests, Holm — properties, closed forms, and
agreement with scipy's own implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from likeness.results.stats import bootstrap_mean_ci, holm, paired_comparison, summarize, wilcoxon_p


def test_interval_contains_the_mean_and_is_reproducible():
    values = np.random.default_rng(0).exponential(size=60)
    low, high, method = bootstrap_mean_ci(values, seed=3)
    assert method == "bca"
    assert low < values.mean() < high
    assert bootstrap_mean_ci(values, seed=3) == (low, high, "bca")
    assert bootstrap_mean_ci(values, seed=4)[:2] != (low, high)


@pytest.mark.parametrize("method", ["bca", "percentile"])
def test_interval_agrees_with_scipy_bootstrap(method):
    """Same estimator as scipy.stats.bootstrap; only the random draws differ."""
    values = np.random.default_rng(1).gamma(2.0, size=120)
    ours = bootstrap_mean_ci(values, resamples=40_000, method=method)
    theirs = scipy_stats.bootstrap((values,), np.mean, n_resamples=40_000,
                                   method="BCa" if method == "bca" else "percentile",
                                   rng=np.random.default_rng(0)).confidence_interval
    width = theirs.high - theirs.low
    assert ours[0] == pytest.approx(theirs.low, abs=0.03 * width)
    assert ours[1] == pytest.approx(theirs.high, abs=0.03 * width)


def test_degenerate_and_tiny_samples():
    assert bootstrap_mean_ci([0.5] * 10) == (0.5, 0.5, "degenerate")
    low, high, method = bootstrap_mean_ci([1.0])
    assert math.isnan(low) and math.isnan(high) and method == "none"  # noqa: PT018
    auto_large = bootstrap_mean_ci(np.arange(100_001, dtype=float), resamples=100)
    assert auto_large[2] == "percentile"
    with pytest.raises(ValueError, match="at least 100"):
        bootstrap_mean_ci([1.0, 2.0], resamples=10)


def test_summary_fields():
    values = [1.0, 2.0, 3.0, 4.0, float("nan")]
    summary = summarize(values)
    assert summary.n == 4
    assert summary.mean == 2.5
    assert summary.std == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert summary.median == 2.5
    infinite = summarize([30.0, float("inf")])
    assert infinite.mean == math.inf
    assert math.isnan(infinite.ci_low)
    assert summarize([]).n == 0


def test_wilcoxon_matches_scipy_and_handles_zeros():
    differences = np.random.default_rng(2).normal(0.3, 1.0, size=25)
    assert wilcoxon_p(differences) == pytest.approx(scipy_stats.wilcoxon(differences).pvalue)
    assert wilcoxon_p(np.zeros(10)) == 1.0
    with_ties = np.array([0.0, 0.0, 1.0, 1.0, 1.0, -1.0, 2.0, 2.0])
    expected = scipy_stats.wilcoxon(with_ties, zero_method="wilcox").pvalue
    assert wilcoxon_p(with_ties) == pytest.approx(expected)
    assert math.isnan(wilcoxon_p([]))


def test_paired_comparison_ranks_infinite_values_and_leaves_out_only_nan():
    a = np.array([1.0, 2.0, 3.0, np.nan, 5.0])
    b = np.array([0.5, 1.0, 2.0, 1.0, np.inf])  # b identical to its reference on one pair
    result = paired_comparison(a, b)
    assert result.n == 4  # the pair where b is +inf counts: b is better there
    assert result.mean_diff == -math.inf
    assert math.isnan(result.ci_low)
    assert math.isnan(result.ci_high)
    # ranks only: -inf is the largest difference, as any value beyond the finite ones
    expected = scipy_stats.wilcoxon([0.5, 1.0, 1.0, -100.0], zero_method="wilcox").pvalue
    assert result.p_value == pytest.approx(expected)
    both_identical = paired_comparison([np.inf, 2.0, 3.0, 5.0], [np.inf, 1.0, 2.0, 4.5])
    assert both_identical.n == 4  # +inf and +inf: equal, a difference of 0
    assert both_identical.mean_diff == pytest.approx(np.mean([0.0, 1.0, 1.0, 0.5]))
    assert both_identical.ci_low < both_identical.mean_diff < both_identical.ci_high
    assert both_identical.p_value == pytest.approx(scipy_stats.wilcoxon(
        [0.0, 1.0, 1.0, 0.5], zero_method="wilcox").pvalue)
    opposite = paired_comparison([np.inf, 1.0], [1.0, np.inf])
    assert math.isnan(opposite.mean_diff)
    assert opposite.p_value == 1.0
    with pytest.raises(ValueError, match="one length"):
        paired_comparison([1.0], [1.0, 2.0])


def test_holm_step_down():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.01]) == pytest.approx([0.5, 0.02])
    adjusted = holm([0.2, float("nan"), 0.9])
    assert adjusted[0] == pytest.approx(0.4)
    assert math.isnan(adjusted[1])
    assert adjusted[2] == pytest.approx(0.9)
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
