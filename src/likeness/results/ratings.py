"""Rating (MOS-style) studies: participants rate each shown output on a scale, and the
analysis gives each model's mean opinion score with a confidence interval, pairwise tests,
the participants' agreement and, against a results folder, each metric's correlation with
the ratings.

A ratings CSV has one row per rating and the columns ``participant,item,model,rating``
(``item``: the reference file's path as ``per_image.csv`` writes it; ``rating``: a number
on the study's scale), optionally ``question`` (one analysis per question) and
``expected`` (an attention check's required rating: such a row is never scored, and a
participant who misses one is excluded, with the reason recorded).

Per question:

- **MOS**: the mean of every rating of the model; **z-MOS**: the mean of the ratings after
  each participant's are standardised (their mean subtracted, divided by their standard
  deviation: a participant who rated everything alike contributes zeros, and the decisions
  say so), the scale-use correction of crowdsourced studies.  Both with percentile
  bootstrap intervals over *participants* (a participant's ratings are not independent),
  their distances from the estimate widened by sqrt(n/(n − 1)) as the 2AFC scores' are.
- **Pairwise**: each pair of models' per-item mean ratings, the two-sided Wilcoxon signed-rank
  test over the items both were rated on, Holm-corrected over the pairs.
- **Agreement between participants**: Krippendorff's α for interval data (each stimulus —
  an item and a model — a unit; a participant's repeated ratings of one stimulus averaged),
  the ``krippendorff`` package's ``level_of_measurement="interval"``.
- **Metrics**: per stimulus, the metric's value against the stimulus's MOS: Spearman's ρ,
  Kendall's τ-b and Pearson's r, signed so that a positive value is agreement (a metric
  where lower is better is negated), with percentile bootstrap intervals over items.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

from likeness.errors import PairingError
from likeness.io import read_manifest
from likeness.results.stats import (
    few_units_note,
    holm,
    percentile_interval,
    untestable_note,
    wilcoxon_p,
)
from likeness.wording import counted

__all__ = ["Rating", "RatingsAnalysis", "RatingsQuestion", "analyze_ratings",
           "krippendorff_alpha_interval", "read_ratings"]

Stimulus = tuple[str, str]  # (model, item)


@dataclass(frozen=True)
class Rating:
    participant: str
    item: str
    model: str
    rating: float
    question: str = ""
    expected: float | None = None  # an attention check's required rating


@dataclass(frozen=True)
class ModelScore:
    model: str
    ratings: int
    mos: float
    ci: tuple[float, float]
    z_mos: float
    z_ci: tuple[float, float]


@dataclass(frozen=True)
class RatingPair:
    first: str
    second: str
    items: int
    difference: float  # mean over items of first − second (per-item mean ratings)
    p_value: float
    p_holm: float


@dataclass
class RatingsQuestion:
    question: str
    scores: list[ModelScore]
    pairs: list[RatingPair]
    participants: int
    ratings: int
    alpha: float
    stimuli: dict[Stimulus, float]  # each rated (model, item)'s MOS
    # per metric: (stimuli, Spearman's ρ and interval, Kendall's τ-b and interval,
    # Pearson's r and interval)
    correlations: dict[str, tuple[int, tuple[float, tuple[float, float]],
                                  tuple[float, tuple[float, float]],
                                  tuple[float, tuple[float, float]]]] = field(
        default_factory=dict)


@dataclass
class RatingsAnalysis:
    questions: list[RatingsQuestion]
    exclusions: list[tuple[str, str]] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    confidence: float = 0.95
    resamples: int = 2000
    seed: int = 0


# squares of ratings up to it, summed over any number of ratings, stay finite in float64
LARGEST_RATING = 1e100


def _number(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        comma = re.fullmatch(r"[+-]?\d*,\d+", text) is not None  # a spreadsheet's "3,5"
        raise PairingError(f"{where}: the {column} {text!r} is not a number" + (
            f" (a decimal comma? likeness reads a decimal point: {text.replace(',', '.')!r}; "
            "export the ratings with '.' as the decimal separator)" if comma else "")
        ) from None
    if not math.isfinite(value):
        raise PairingError(f"{where}: the {column} {text!r} is not a finite number")
    if abs(value) > LARGEST_RATING:
        bound = f"±1e{math.log10(LARGEST_RATING):.0f}"
        raise PairingError(f"{where}: the {column} {text!r} is beyond {bound}, where its "
                           "square (in the variances) overflows; rescale the ratings")
    return value


def read_ratings(path: Path) -> tuple[list[Rating], list[str]]:
    """The ratings of a CSV file and the decisions taken reading it.

    Raises:
        PairingError: unreadable, not UTF-8, missing columns, an empty field, a rating
            that is not a finite number, or no rating at all.
    """
    records = read_manifest(path, ("participant", "item", "model", "rating"),
                            ("question", "expected"), what="ratings CSV")
    ratings = []
    for line, record in records:
        where = f"{path}, line {line}"
        expected = (record.get("expected") or "").strip()
        ratings.append(Rating(record["participant"].strip(), record["item"].strip(),
                              record["model"].strip(),
                              _number(record["rating"].strip(), where, "rating"),
                              (record.get("question") or "").strip(),
                              _number(expected, where, "expected rating") if expected
                              else None))
    if not ratings:
        raise PairingError(f"{path}: the ratings CSV lists no rating")
    decisions = []
    seen: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for r in ratings:
        if r.expected is None:
            seen[(r.participant, r.question, r.model, r.item)] += 1
    repeated = sum(count - 1 for count in seen.values() if count > 1)
    if repeated:
        repeat = "repeats" if repeated == 1 else "repeat"
        decisions.append(f"{counted(repeated, 'rating')} {repeat} a participant's rating of "
                         "the same output: each is kept as an observation (averaged per "
                         "participant for Krippendorff's α)")
    return ratings, decisions


def krippendorff_alpha_interval(units: Sequence[Sequence[float]]) -> float:
    """Krippendorff's α for interval data of ``units`` (each: the values its coders gave);
    units with fewer than two values are left out; NaN when no disagreement is possible."""
    pairable = [np.asarray(u, dtype=np.float64) for u in units if len(u) >= 2]
    if not pairable:
        return math.nan
    within = sum(2 * (len(u) * float(u @ u) - float(u.sum()) ** 2) / (len(u) - 1)
                 for u in pairable)
    values = np.concatenate(pairable)
    n = values.shape[0]
    expected = 2 * (n * float(values @ values) - float(values.sum()) ** 2)
    if expected <= 0:
        return math.nan
    return 1.0 - (n - 1) * within / expected


def _attention(ratings: Sequence[Rating]) -> list[tuple[str, str]]:
    missed: dict[str, str] = {}
    for r in ratings:
        if r.expected is not None and r.rating != r.expected and r.participant not in missed:
            missed[r.participant] = (f"rated an attention check ({r.model}, {r.item}) "
                                     f"{r.rating:g}, expected {r.expected:g}")
    return sorted(missed.items())


def _z_scores(ratings: Sequence[Rating], decisions: list[str]) -> list[float]:
    by_participant: dict[str, list[float]] = defaultdict(list)
    for r in ratings:
        by_participant[r.participant].append(r.rating)
    moments = {}
    flat = []
    for participant, values in by_participant.items():
        spread = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        moments[participant] = (float(np.mean(values)), spread)
        if spread == 0:
            flat.append(participant)
    if flat:
        decisions.append(f"{counted(len(flat), 'participant')} gave one rating to everything they "
                         f"rated ({', '.join(sorted(flat)[:5])}): their z-scores are 0")
    return [(r.rating - moments[r.participant][0]) / moments[r.participant][1]
            if moments[r.participant][1] > 0 else 0.0 for r in ratings]


def _scores(ratings: Sequence[Rating], z: Sequence[float], models: list[str],
            resamples: int, rng: np.random.Generator, confidence: float) -> list[ModelScore]:
    participants = sorted({r.participant for r in ratings})
    index = {p: i for i, p in enumerate(participants)}
    # per model: the sums and counts of each participant's ratings (and z-scores)
    sums = np.zeros((len(models), len(participants), 3))
    for r, score in zip(ratings, z, strict=True):
        sums[models.index(r.model), index[r.participant]] += (r.rating, score, 1.0)
    draws = rng.integers(0, len(participants), (resamples, len(participants)))
    scores = []
    for m, model in enumerate(models):
        totals = sums[m].sum(axis=0)
        resampled = sums[m][draws].sum(axis=1)  # (resamples, 3)
        with np.errstate(invalid="ignore", divide="ignore"):
            mos_draws = resampled[:, 0] / resampled[:, 2]
            z_draws = resampled[:, 1] / resampled[:, 2]
        mos, z_mos = totals[0] / totals[2], totals[1] / totals[2]
        n = len(participants)
        scores.append(ModelScore(
            model, int(totals[2]), mos,
            percentile_interval(mos_draws, confidence, estimate=mos, units=n), z_mos,
            percentile_interval(z_draws, confidence, estimate=z_mos, units=n)))
    return scores


def _pairs(item_means: Mapping[Stimulus, float], models: list[str]) -> list[RatingPair]:
    found = []
    for i, first in enumerate(models):
        for second in models[i + 1:]:
            items = sorted({item for model, item in item_means if model == first}
                           & {item for model, item in item_means if model == second})
            differences = [item_means[(first, item)] - item_means[(second, item)]
                           for item in items]
            found.append((first, second, len(items),
                          float(np.mean(differences)) if differences else math.nan,
                          wilcoxon_p(differences) if differences else math.nan))
    adjusted = holm([p for *_, p in found])
    return [RatingPair(*row, p_holm) for row, p_holm in zip(found, adjusted, strict=True)]


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(scipy_stats.pearsonr(a, b).statistic)


def _undefined(a: np.ndarray, b: np.ndarray) -> float:
    return math.nan


def _correlations(item_means: Mapping[Stimulus, float],
                  metrics: Mapping[str, tuple[bool, Mapping[Stimulus, float]]],
                  resamples: int, rng: np.random.Generator, confidence: float,
                  decisions: list[str]) -> dict[str, tuple]:
    """Each metric's (stimuli, SRCC, KRCC, PLCC) with the ratings' means, an interval each.
    An infinite value (PSNR of identical images) is ranked; PLCC is then undefined (NaN),
    which ``decisions`` records."""
    found = {}
    for metric, (higher_better, values) in metrics.items():
        stimuli = [s for s in item_means if s in values and not math.isnan(values[s])]
        if len(stimuli) < 3:
            continue
        human = np.asarray([item_means[s] for s in stimuli])
        machine = np.asarray([values[s] if higher_better else -values[s] for s in stimuli])
        items = sorted({item for _, item in stimuli})
        by_item = [[i for i, s in enumerate(stimuli) if s[1] == item] for item in items]
        draws = rng.integers(0, len(items), (resamples, len(items)))
        infinite = int(np.isinf(machine).sum())
        if infinite:
            decisions.append(f"{metric}: {counted(infinite, 'output')} with an infinite value "
                             "ranked beyond every finite one in SRCC and KRCC; PLCC, a linear "
                             "correlation, is undefined with them")
        results = []
        for correlate in (lambda a, b: scipy_stats.spearmanr(a, b).statistic,
                          lambda a, b: scipy_stats.kendalltau(a, b).statistic,
                          _undefined if infinite else _pearson):
            with np.errstate(invalid="ignore", divide="ignore"):
                estimate = float(correlate(human, machine))
                boot = []
                for draw in draws:
                    chosen = [i for item in draw for i in by_item[item]]
                    if len(set(human[chosen])) > 1 and len(set(machine[chosen])) > 1:
                        boot.append(float(correlate(human[chosen], machine[chosen])))
            results.append((estimate, percentile_interval(boot, confidence)))
        found[metric] = (len(stimuli), *results)
    return found


def analyze_ratings(ratings: Sequence[Rating], *, resamples: int = 2000, seed: int = 0,
                    confidence: float = 0.95, decisions: Sequence[str] = (),
                    metrics: Mapping[str, tuple[bool, Mapping[Stimulus, float]]] | None = None
                    ) -> RatingsAnalysis:
    """The analysis of a rating study (see the module documentation); ``metrics``: per
    metric, (higher is better, {(model, item): value}).

    Raises:
        PairingError: no rating is left once the attention checks' failures are excluded.
    """
    analysis = RatingsAnalysis([], _attention(ratings), list(decisions), confidence,
                               resamples, seed)
    excluded = {participant for participant, _ in analysis.exclusions}
    scored = [r for r in ratings if r.expected is None and r.participant not in excluded]
    if not scored:
        raise PairingError("no rating is left to analyse once the participants who missed an "
                           "attention check are excluded (exclusions: "
                           f"{len(analysis.exclusions)})")
    rng = np.random.default_rng(seed)
    for question in dict.fromkeys(r.question for r in scored):
        own = [r for r in scored if r.question == question]
        models = list(dict.fromkeys(r.model for r in own))
        z = _z_scores(own, analysis.decisions)
        prefix = f"question {question!r}: " if question else ""
        few = few_units_note(len({r.participant for r in own}), "participants", confidence)
        if few is not None:
            analysis.decisions.append(prefix + few)
        per_stimulus: dict[Stimulus, list[float]] = defaultdict(list)
        per_coder: dict[Stimulus, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in own:
            per_stimulus[(r.model, r.item)].append(r.rating)
            per_coder[(r.model, r.item)][r.participant].append(r.rating)
        item_means = {s: float(np.mean(v)) for s, v in per_stimulus.items()}
        units = [[float(np.mean(v)) for v in coders.values()] for coders in per_coder.values()]
        # the generator draws for the scores, then for the correlations (seeded values)
        scores = _scores(own, z, models, resamples, rng, confidence)
        correlations = _correlations(item_means, metrics or {}, resamples, rng, confidence,
                                     analysis.decisions)
        few = few_units_note(len({item for _, item in item_means}), "items", confidence,
                             intervals="the metrics' correlation intervals")
        if correlations and few is not None:
            analysis.decisions.append(prefix + few)
        pairs = _pairs(item_means, models)
        if (few := untestable_note(min((p.items for p in pairs if p.items), default=0),
                                   "items")):
            analysis.decisions.append(prefix + few)
        analysis.questions.append(RatingsQuestion(
            question, scores, pairs, len({r.participant for r in own}),
            len(own), krippendorff_alpha_interval(units), item_means, correlations))
    return analysis
