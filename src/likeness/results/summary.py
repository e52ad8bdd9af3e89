"""A run's results: per-pair rows, set rows, summaries with CIs, paired model comparisons.

``Results`` is what ``likeness.compare`` returns and what the results folder is written
from (``likeness.report``).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from likeness.errors import InvalidInputError
from likeness.evaluation.catalog.registry import METRICS, canonical_name
from likeness.evaluation.items.rows import PairRow, SetRow
from likeness.metrics.seeds import check_seed
from likeness.results.stats import (
    FEW_VALUES,
    holm,
    paired_comparison,
    smallest_p_value,
    summarize,
    untestable,
)
from likeness.wording import counted, listed, run_words

__all__ = ["ComparisonRow", "ResultsData", "StatsOptions", "SummaryRow", "compare_models",
           "few_values", "few_values_sentence", "mixed_scales", "small_sample_sentences",
           "summarize_rows", "too_few_to_test", "too_few_to_test_sentence", "uneven_groups",
           "uneven_pairs", "uneven_sets", "value_scales"]


MAX_RESAMPLES = 10_000_000  # as `--bootstrap`: beyond, the resampled means fill the memory


@dataclass(frozen=True)
class StatsOptions:
    """How summaries are computed: ``resamples`` bootstrap resamples (the ``bootstrap=``
    argument), their ``seed``, the intervals' ``confidence`` and ``method``; checked when
    made, before anything is computed."""

    resamples: int = 2000
    seed: int = 0
    confidence: float = 0.95
    method: str = "auto"

    def __post_init__(self) -> None:
        def whole(value: Any) -> bool:
            return isinstance(value, numbers.Integral) and not isinstance(value, bool)

        if not (whole(self.resamples) and 100 <= self.resamples <= MAX_RESAMPLES):
            raise InvalidInputError(f"bootstrap must be a whole number of resamples from 100 "
                                    f"to {MAX_RESAMPLES:,}, got {self.resamples!r}")
        check_seed(self.seed)
        if not (isinstance(self.confidence, numbers.Real) and not isinstance(
                self.confidence, bool) and 0 < self.confidence < 1):
            raise InvalidInputError(f"confidence must be in (0, 1), got {self.confidence!r}")
        # numpy's numbers as Python's: the record is JSON
        for name, kind in (("resamples", int), ("seed", int), ("confidence", float)):
            object.__setattr__(self, name, kind(getattr(self, name)))
        if self.method not in ("auto", "bca", "percentile"):
            raise InvalidInputError(f"ci_method must be 'auto', 'bca' or 'percentile', got "
                                    f"{self.method!r}")


@dataclass(frozen=True)
class SummaryRow:
    model: str
    metric: str
    n: int
    mean: float
    std: float
    median: float
    ci_low: float
    ci_high: float
    better: str
    n_failed: int
    ci_method: str
    n_infinite: int = 0  # +inf values (PSNR of identical images), kept in the mean
    note: str = ""  # why there is no summary (values on different scales)


@dataclass(frozen=True)
class ComparisonRow:
    metric: str
    model_a: str
    model_b: str
    n: int
    mean_diff: float  # mean of a − b
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float


@dataclass(repr=False)
class ResultsData:
    """Everything a comparison run produced (its views: ``likeness.Results``).

    Attributes:
        rows: one per (model, reference, test) pair, in plan order.
        set_rows: FID / KID per model.
        summary: per model and metric: n, mean, std, median, bootstrap CI, better.
        comparisons: every pair of models on every per-pair metric (Wilcoxon, Holm).
        record: the run record (``run.json``): settings, versions, weights, decisions.
        out_dir: the results folder, if one was written.
    """

    models: list[str]
    metrics: list[str]
    rows: list[PairRow]
    set_rows: list[SetRow]
    summary: list[SummaryRow]
    comparisons: list[ComparisonRow]
    record: dict[str, Any] = field(default_factory=dict)
    unmatched: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    out_dir: Path | None = None
    kind: str = "compare"  # or "style": rows are (method, content, style, stylized)

    @property
    def pair_metrics(self) -> list[str]:
        return [m for m in self.metrics if METRICS[m].kind != "set"]

    @property
    def set_metrics(self) -> list[str]:
        return [m for m in self.metrics if METRICS[m].kind == "set"]

    @property
    def failures(self) -> int:
        """Failed pairs, failed set metrics and files left out of sets."""
        return (sum(1 for r in self.rows if r.error) + sum(1 for r in self.set_rows if r.error)
                + len(self.record.get("file_errors", [])))

    def summary_of(self, model: str, metric: str) -> SummaryRow:
        """The summary of ``model``'s values of ``metric`` (spelt as ``--metrics`` takes it:
        ``"SSIM"``, ``"ms-ssim"``, ``"lpips"``).

        Raises:
            InvalidInputError: a model or metric the run has no summary of, saying why.
        """
        name = canonical_name(metric) if isinstance(metric, str) else metric
        found = [s for s in self.summary if s.model == model and s.metric == name]
        if found:
            return found[0]
        if model not in self.models:
            role = run_words(self.kind).role
            raise InvalidInputError(f"no {role} {model!r} in these results: "
                                    f"{', '.join(map(repr, self.models))}")
        raise InvalidInputError(f"no summary of {metric!r} in these results; their metrics "
                                f"are {', '.join(self.metrics) or 'none'}")

    def __repr__(self) -> str:
        # one line, however many pairs: the rows are in .rows, the tables in the frames
        failed = sum(1 for row in self.rows if row.error)
        folder = f", out_dir={str(self.out_dir)!r}" if self.out_dir is not None else ""
        return (f"{type(self).__name__}(kind={self.kind!r}, models={self.models!r}, "
                f"metrics={self.metrics!r}, "
                f"{len(self.rows)} rows ({failed} failed), {len(self.set_rows)} set rows"
                f"{folder})")


def value_scales(metrics: list[str], rows: list[PairRow]) -> dict[str, dict[str, int]]:
    """For each scale-dependent metric (MSE), how many values lie on each scale (the
    pairs' data ranges: 255 for 8-bit, 65535 for 16-bit, 1 for mixed depths)."""
    scales: dict[str, dict[str, int]] = {}
    for metric in metrics:
        if METRICS[metric].scale_dependent:
            counts: dict[str, int] = defaultdict(int)
            for row in rows:
                if metric in row.values:
                    counts[f"{row.data_range:g}"] += 1
            scales[metric] = dict(counts)
    return scales


def mixed_scales(metrics: list[str], rows: list[PairRow]) -> dict[str, str]:
    """metric → why it gets no summary: its values lie on different scales in this run
    (a mean, a confidence interval, a test or a "best" over them would be meaningless)."""
    reasons = {}
    for metric, counts in value_scales(metrics, rows).items():
        if len(counts) > 1:
            listed = ", ".join(f"data range {scale}: {counted(n, 'pair')}"
                               for scale, n in counts.items())
            reasons[metric] = (f"not summarised: its values lie on different scales ({listed}); "
                               f"compare files of one bit depth, or use a scale-free metric "
                               "such as psnr")
    return reasons


def uneven_pairs(models: list[str], metrics: list[str], rows: list[PairRow]
                 ) -> dict[str, dict[str, int]]:
    """The per-pair metrics whose models' values cover different pairs (a file without a
    partner, a failed pair): metric → {model: pairs with a value}.  Their means are not
    over the same images: the tables show each mean's n and no model as the best, and the
    paired comparisons use the pairs both models have."""
    refused = mixed_scales(metrics, rows)
    uneven = {}
    for metric in metrics:
        if METRICS[metric].kind == "set" or metric in refused or len(models) < 2:
            continue
        covered: dict[str, set[str]] = {model: set() for model in models}
        for row in rows:
            if metric in row.values and row.model in covered:
                covered[row.model].add(row.key)
        if len({frozenset(keys) for keys in covered.values()}) > 1:
            uneven[metric] = {model: len(keys) for model, keys in covered.items()}
    return uneven


def uneven_sets(models: list[str], metrics: list[str], set_rows: list[SetRow]
                ) -> dict[str, dict[str, int]]:
    """The set metrics whose models' sets differ in size: metric → {model: images}.  FID is
    biased by a set's size and every set metric's estimate is more or less precise with
    it: the tables show each value's n and no model as the best."""
    uneven = {}
    for metric in metrics:
        sizes = {row.model: row.n for row in set_rows
                 if row.metric == metric and row.model in models and not row.error}
        if METRICS[metric].kind == "set" and len(set(sizes.values())) > 1:
            uneven[metric] = {model: sizes[model] for model in models if model in sizes}
    return uneven


def uneven_groups(uneven: dict[str, dict[str, int]]) -> list[tuple[list[str], dict[str, int]]]:
    """``uneven_pairs`` (a record's) as (metrics, {model: pairs}) with the metrics of one
    count together: one sentence for PSNR and SSIM of the same files."""
    groups: dict[tuple[tuple[str, int], ...], list[str]] = defaultdict(list)
    for metric, counts in uneven.items():
        groups[tuple(counts.items())].append(metric)
    return [(metrics, dict(counts)) for counts, metrics in groups.items()]


def few_values(summary: list[SummaryRow]) -> dict[str, int]:
    """The models whose confidence intervals come from fewer than ``FEW_VALUES`` values
    (they under-cover: ``results.stats``): model → the smallest such n."""
    few: dict[str, int] = {}
    for row in summary:
        if row.ci_method in ("bca", "percentile") and row.n < FEW_VALUES:
            few[row.model] = min(row.n, few.get(row.model, row.n))
    return few


def few_values_sentence(few: dict[str, int], *, kind: str, confidence: float,
                        name: Callable[[str], str] = str) -> str:
    """What a run with ``few_values`` says of them, in the terminal, tables and methods
    (``name``: how a model is written there)."""
    unit = run_words(kind).units
    counts = list(few.values())
    each = (f"{counts[0]} each" if len(set(counts)) == 1 and len(counts) > 1
            else listed([str(n) for n in counts]))
    percent = round(100 * confidence)
    two = (" (from 2 values it is their range, which holds the mean of a symmetric "
           "distribution half the time)") if 2 in counts else ""
    return (f"the confidence intervals of {listed([name(m) for m in few])} come from fewer "
            f"than {FEW_VALUES} {unit} ({each}): from so few, a {percent}% interval holds the "
            f"mean less often than {percent}% of the time{two}, so read them as the spread "
            f"of these {unit}")


def too_few_to_test(comparisons: list[ComparisonRow]) -> list[dict[str, Any]]:
    """The model pairs whose paired test cannot reach p < 0.05 whatever their values (from
    fewer than 6 pairs: ``results.stats.untestable``), each with its fewest pairs over
    the metrics and the smallest p-value the test gives from them."""
    few: dict[tuple[str, str], int] = {}
    for row in comparisons:
        if untestable(row.n):
            key = (row.model_a, row.model_b)
            few[key] = min(row.n, few.get(key, row.n))
    return [{"models": list(key), "pairs": n, "smallest_p": smallest_p_value(n)}
            for key, n in few.items()]


def too_few_to_test_sentence(untestable: list[dict[str, Any]], *, kind: str,
                             name: Callable[[str], str] = str) -> str:
    """What a run with ``too_few_to_test`` says of them, in the terminal, the methods and
    the report (``name``: how a model is written there)."""
    unit = run_words(kind).units
    by_count: dict[tuple[int, float], list[str]] = defaultdict(list)
    for entry in untestable:
        by_count[entry["pairs"], entry["smallest_p"]].append(
            " and ".join(map(name, entry["models"])))
    pairs = "; ".join(f"{', '.join(models)} ({n} {unit}: p ≥ {p:.3g})"
                      for (n, p), models in sorted(by_count.items()))
    return (f"the paired tests between {pairs} cannot give a p-value below 0.05 whatever "
            f"the values (those are the smallest, where every difference has one sign): "
            f"they cannot show a difference from so few {unit}, and a large p-value there "
            "does not say the two are alike")


def small_sample_sentences(record: dict[str, Any], name: Callable[[str], str] = str
                           ) -> list[str]:
    """What a run record's ``few_values`` and ``too_few_to_test`` mean, said in the terminal
    and the methods (``name``: how a model is written there)."""
    kind = record.get("kind", "compare")
    sentences = []
    if few := record.get("few_values"):
        sentences.append(few_values_sentence(few, kind=kind, name=name,
                                             confidence=record["statistics"]["confidence"]))
    if untestable := record.get("too_few_to_test"):
        sentences.append(too_few_to_test_sentence(untestable, kind=kind, name=name))
    return sentences


def summarize_rows(models: list[str], metrics: list[str], rows: list[PairRow],
                   set_rows: list[SetRow], options: StatsOptions) -> list[SummaryRow]:
    """Summary rows in (model, metric) order; set metrics carry their value (KID: ± std).

    A scale-dependent metric whose values lie on different scales gets no summary (NaN,
    with the reason in ``note``); +inf values are kept, counted in ``n_infinite``.
    """
    refused = mixed_scales(metrics, rows)
    summary = []
    for model in models:
        model_rows = [r for r in rows if r.model == model]
        for metric in metrics:
            better = METRICS[metric].better
            if METRICS[metric].kind == "set":
                found = next((r for r in set_rows if r.model == model and r.metric == metric),
                             None)
                value = math.nan if found is None or found.value is None else found.value
                std = math.nan if found is None or found.std is None else found.std
                failed = 0 if found is not None and found.error is None else 1
                summary.append(SummaryRow(model, metric, found.n if found else 0, value, std,
                                          math.nan, math.nan, math.nan, better, failed,
                                          "none"))
                continue
            values = [r.values[metric] for r in model_rows if metric in r.values]
            failed = len(model_rows) - len(values)
            if metric in refused:
                summary.append(SummaryRow(model, metric, len(values), math.nan, math.nan,
                                          math.nan, math.nan, math.nan, better, failed, "none",
                                          note=refused[metric]))
                continue
            stats = summarize(values, resamples=options.resamples, seed=options.seed,
                              confidence=options.confidence, method=options.method)
            summary.append(SummaryRow(model, metric, stats.n, stats.mean, stats.std,
                                      stats.median, stats.ci_low, stats.ci_high, better,
                                      failed, stats.ci_method,
                                      n_infinite=sum(1 for v in values if math.isinf(v))))
    return summary


def _by_reference(rows: list[PairRow], model: str, metric: str) -> dict[str, float]:
    """reference (and style) → value, for those this model has exactly one value for."""
    values: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row.model == model and metric in row.values:
            values[row.key].append(row.values[metric])
    return {ref: v[0] for ref, v in values.items() if len(v) == 1}


def compare_models(models: list[str], metrics: list[str], rows: list[PairRow],
                   options: StatsOptions) -> list[ComparisonRow]:
    """Every pair of models on every per-pair metric, paired by reference image."""
    comparisons = []
    refused = mixed_scales(metrics, rows)
    for metric in metrics:
        if METRICS[metric].kind == "set" or metric in refused:
            continue
        tests = []
        for model_a, model_b in itertools.combinations(models, 2):
            a, b = _by_reference(rows, model_a, metric), _by_reference(rows, model_b, metric)
            common = sorted(set(a) & set(b))
            tests.append((model_a, model_b, paired_comparison(
                [a[r] for r in common], [b[r] for r in common], resamples=options.resamples,
                seed=options.seed, confidence=options.confidence, method=options.method)))
        adjusted = holm([t.p_value for _, _, t in tests])
        for (model_a, model_b, test), p_holm in zip(tests, adjusted, strict=True):
            comparisons.append(ComparisonRow(metric, model_a, model_b, test.n, test.mean_diff,
                                             test.ci_low, test.ci_high, test.p_value, p_holm))
    return comparisons
