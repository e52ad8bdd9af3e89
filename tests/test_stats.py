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


@pytest.mark.parametrize(("n", "low", "high"), [(2, 0.40, 0.60), (3, 0.62, 0.82),
                                                (30, 0.91, 0.98)])
def test_an_interval_from_few_values_holds_the_mean_less_often(n, low, high):
    """Why a run says so below ``FEW_VALUES``: 400 seeded samples of n normal values, the
    share of 95% BCa intervals holding the mean (about 50% at 2 — the range of two values —,
    72% at 3, 94% at 30)."""
    from likeness.results.stats import FEW_VALUES

    generator = np.random.default_rng(1)
    held = 0
    for trial in range(400):
        lo, hi, _ = bootstrap_mean_ci(generator.normal(size=n), resamples=1000, seed=trial)
        held += lo <= 0.0 <= hi
    assert low <= held / 400 <= high
    assert (n < FEW_VALUES) == (held / 400 < 0.9)


def test_few_values_names_each_model_by_its_fewest_values():
    from likeness.results.summary import SummaryRow, few_values, few_values_sentence

    def row(model, metric, n, method="bca"):
        return SummaryRow(model, metric, n, 0.5, 0.1, 0.5, 0.4, 0.6, "higher", 0, method)

    summary = [row("a", "ssim", 3), row("a", "psnr", 2), row("b", "ssim", 12),
               row("c", "ssim", 5, "degenerate"), row("d", "fid", 4, "none"),
               row("e", "ssim", 9, "percentile")]
    few = few_values(summary)
    assert few == {"a": 2, "e": 9}
    sentence = few_values_sentence(few, kind="style", confidence=0.9)
    assert sentence.startswith("the confidence intervals of a and e come from fewer than 10 "
                               "stylizations (2 and 9): from so few, a 90% interval holds")
    assert "(from 2 values it is their range" in sentence
    three = few_values_sentence({"a": 3, "b": 3}, kind="compare", confidence=0.95)
    assert "(3 each)" in three
    assert "2 values" not in three  # no model has 2: the range of 2 is not theirs
    assert three.endswith("of the time, so read them as the spread of these pairs")


def test_model_pairs_too_few_to_test_are_found_and_said():
    """From n ≤ 5 pairs the two-sided Wilcoxon test's smallest p-value is 2^(1−n) ≥ 0.0625:
    a run with 3 pairs a model reported p = 0.25 for every comparison without saying that
    no values could have given less."""
    from likeness.results.stats import smallest_p_value, wilcoxon_p
    from likeness.results.summary import ComparisonRow, too_few_to_test, too_few_to_test_sentence

    assert [smallest_p_value(n) for n in (1, 3, 5, 6)] == [1.0, 0.25, 0.0625, 0.03125]
    assert wilcoxon_p([0.3, 0.1, 0.7]) == smallest_p_value(3)  # one sign: the smallest

    def row(a, b, metric, n):
        return ComparisonRow(metric, a, b, n, 0.1, 0.0, 0.2, 0.5, 0.5)

    comparisons = [row("x", "y", "ssim", 4), row("x", "y", "psnr", 3), row("x", "z", "ssim", 6),
                   row("y", "z", "ssim", 3), row("y", "z", "psnr", 0)]
    untestable = too_few_to_test(comparisons)
    assert untestable == [{"models": ["x", "y"], "pairs": 3, "smallest_p": 0.25},
                          {"models": ["y", "z"], "pairs": 3, "smallest_p": 0.25}]
    sentence = too_few_to_test_sentence(untestable, kind="compare")
    assert sentence.startswith("the paired tests between x and y, y and z (3 pairs: p ≥ 0.25) "
                               "cannot give a p-value below 0.05 whatever the values")
    assert "stylizations" in too_few_to_test_sentence(untestable, kind="style")
