"""The analysis of a two-alternative forced-choice (2AFC) study: judgments read and checked,
exclusions decided and recorded, scores per model with confidence intervals, pairwise
preference tests.

A judgments file is CSV, one row per judgment, with the columns ``participant``, ``item``,
``a``, ``b`` (the two models shown, ``a`` first / on the left) and ``choice`` (the model
chosen); optional ``question`` (each question is analysed on its own), ``trial``,
``rt_ms`` and ``expected`` (filled on attention checks: the answer a participant paying
attention gives).  Decisions, each recorded with its count and never silent:

- a row without a choice is left out ("no answer"); a choice of ``tie`` (or ``equal``,
  ``=``) is left out (2AFC has no ties); any other choice that is neither ``a`` nor ``b``,
  ``a`` equal to ``b``, or a missing column is an error naming the line;
- attention checks are not scored; a participant who fails one is excluded;
- a participant who chose the same side (``a`` or ``b``) in every one of at least 10
  judgments is excluded (answering one side only).

Scores (``pairwise_scaling``): Bradley–Terry log-strengths by maximum likelihood (none when
a model never lost or never won: recorded) and Thurstone Case V scores in JOD units as
pwcmp's ``pw_scale`` (the first model judged — or ``jod_zero`` — at 0), each with
percentile bootstrap intervals that resample participants (a participant's judgments stay
together), their distances from the estimate widened by sqrt(n / (n − 1)) for n
participants (resampling n of n understates the variance by (n − 1)/n); resamples whose
judgments cannot be scaled are counted and left out.  Pairwise: each
pair's win rate with an exact two-sided binomial test against 0.5, Holm-corrected over the
pairs of a question.  Agreement: Krippendorff's α between participants (``reliability``;
a unit is an item and a pair of models) and, for repeated trials, the share of repeats
that give the participant's first answer again; with the metrics of the same items, each
metric's 2AFC score (how often it prefers what the participants preferred) with a bootstrap
interval over items, and the human ceiling.
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

from likeness.errors import InvalidInputError, LikenessError
from likeness.io import (
    GIT_LFS_POINTER,
    header_delimiter,
    is_git_lfs_pointer,
    more_fields_than_columns,
    refuse_misspelt_columns,
    refuse_repeated_columns,
    stat_regular_file,
    text_of,
)
from likeness.metrics.seeds import check_seed
from likeness.results.pairwise_scaling import bradley_terry, thurstone_jod, win_matrix
from likeness.results.reliability import (
    MetricDifference,
    MetricValues,
    krippendorff_alpha_nominal,
    metric_agreement,
    rank_correlations,
    uneven_items,
)
from likeness.results.stats import few_units_note, holm, percentile_interval
from likeness.wording import counted

__all__ = ["Judgment", "PairTest", "QuestionAnalysis", "StudyAnalysis", "analyze",
           "find_exclusions", "read_judgments"]

REQUIRED = ("participant", "item", "a", "b", "choice")
TIES = ("tie", "equal", "=")
ONE_SIDED_MINIMUM = 10
JOD_BUDGET_S = 300.0  # the JOD bootstrap's time bound (a refit per resample)


@dataclass(frozen=True)
class Judgment:
    participant: str
    item: str
    a: str
    b: str
    choice: str
    question: str = ""
    expected: str = ""  # an attention check's right answer


@dataclass(frozen=True)
class PairTest:
    first: str
    second: str
    n: int
    first_wins: int
    p_value: float
    p_holm: float


@dataclass
class QuestionAnalysis:
    question: str
    models: list[str]
    judgments: int
    participants: int
    wins: dict[str, int]
    counts: dict[str, int]
    bradley_terry: dict[str, float]  # NaN where it has no maximum (see ``decisions``)
    ci: dict[str, tuple[float, float]]
    jod: dict[str, float]
    jod_ci: dict[str, tuple[float, float]]
    pairs: list[PairTest]
    resamples_used: int
    resamples_undefined: int
    decisions: list[str] = field(default_factory=list)
    alpha: float = float("nan")  # Krippendorff's α between participants
    repeats: int = 0  # judgments repeating a participant's earlier item and pair
    consistency: float = float("nan")  # the share of them that repeat its answer
    # per metric: (2AFC score, its interval, the human ceiling, judgments scored)
    metrics: dict[str, tuple[float, tuple[float, float], float, int]] = field(
        default_factory=dict)
    metric_differences: list[MetricDifference] = field(default_factory=list)
    # per metric: Spearman's ρ, its interval, Kendall's τ, its interval (vs Bradley–Terry)
    correlations: dict[str, tuple[float, tuple[float, float], float, tuple[float, float]]] = \
        field(default_factory=dict)

    @property
    def ranking(self) -> list[str]:
        """The models, the highest JOD score first (Bradley–Terry's without the JOD scale),
        the order every table of the study lists them in."""
        scores = self.jod if any(v == v for v in self.jod.values()) else self.bradley_terry
        return sorted(self.models, key=lambda model: -scores[model])


@dataclass
class StudyAnalysis:
    questions: list[QuestionAnalysis]
    exclusions: list[tuple[str, str]] = field(default_factory=list)  # (who or what, why)
    decisions: list[str] = field(default_factory=list)
    confidence: float = 0.95
    resamples: int = 2000
    seed: int = 0


def read_judgments(path: Path) -> tuple[list[Judgment], list[str]]:
    """The judgments of a CSV file and the decisions taken reading it.

    Raises:
        LikenessError: unreadable or not a regular file, not UTF-8, empty, a required
            column missing, or a row that is not a judgment (naming its line).
    """
    try:
        stat_regular_file(Path(path))  # a FIFO would block the read forever
        text = text_of(Path(path).read_bytes())
    except UnicodeDecodeError as error:
        raise LikenessError(f"{path} is not UTF-8 text (byte {error.start}): save the "
                            "judgments as UTF-8 CSV") from None
    except OSError as error:
        raise LikenessError(f"cannot read {path}: {error.strerror or error}") from None
    if is_git_lfs_pointer(text[:64].encode()):
        raise LikenessError(f"{path}: the judgments file is {GIT_LFS_POINTER}")
    delimiter = header_delimiter(text, REQUIRED)
    reader = csv.DictReader(io.StringIO(text), strict=True, delimiter=delimiter)
    columns = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in columns]
    if not columns:
        raise LikenessError(f"{path} is empty: expected a header with the columns "
                            f"{', '.join(REQUIRED)}")
    if missing:
        raise LikenessError(f"{path} lacks the {'column' if len(missing) == 1 else 'columns'} "
                            f"{', '.join(missing)} (it has "
                            f"{', '.join(columns)}); a judgments file has one row per "
                            f"judgment with {', '.join(REQUIRED)}")
    refuse_misspelt_columns(path, columns, [*REQUIRED, "question", "expected"],
                            "judgments file")
    refuse_repeated_columns(path, columns, [*REQUIRED, "question", "expected"])
    judgments, no_answer, ties = [], 0, 0
    try:
        records = [(reader.line_num, raw) for raw in reader]
    except csv.Error as error:
        raise LikenessError(f"{path}, line {reader.reader.line_num}: not CSV ({error})"
                            ) from None
    for line, raw in records:
        if None in raw:
            raise more_fields_than_columns(path, line, delimiter, "names")
        row = {key.strip(): (value or "").strip() for key, value in raw.items() if key}
        if not any(row.values()):
            continue
        a, b, choice = row["a"], row["b"], row["choice"]
        if not row["participant"] or not row["item"] or not a or not b:
            raise LikenessError(f"{path}, line {line}: participant, item, a and b must all "
                                "be given")
        if a == b:
            raise LikenessError(f"{path}, line {line}: a and b are the same model ({a!r})")
        if not choice:
            no_answer += 1
            continue
        if choice not in (a, b) and choice.lower() in TIES:  # (a model may be named "tie")
            ties += 1
            continue
        if choice not in (a, b):
            raise LikenessError(f"{path}, line {line}: choice {choice!r} is neither a "
                                f"({a!r}) nor b ({b!r})")
        expected = row.get("expected", "")
        if expected and expected not in (a, b):
            raise LikenessError(f"{path}, line {line}: expected {expected!r} is neither a "
                                f"nor b")
        judgments.append(Judgment(row["participant"], row["item"], a, b, choice,
                                  row.get("question", ""), expected))
    if not judgments:
        raise LikenessError(f"{path} holds no judgment with a choice")
    decisions = []
    if no_answer:
        decisions.append(f"{counted(no_answer, 'row')} without a choice left out (no answer)")
    if ties:
        decisions.append(f"{counted(ties, 'tie')} left out (a 2AFC judgment chooses one of two)")
    return judgments, decisions


def find_exclusions(judgments: list[Judgment]) -> list[tuple[str, str]]:
    """(participant, why) for each participant the study excludes."""
    by_participant: dict[str, list[Judgment]] = defaultdict(list)
    for judgment in judgments:
        by_participant[judgment.participant].append(judgment)
    excluded = []
    for participant, own in by_participant.items():
        failed = sum(1 for j in own if j.expected and j.choice != j.expected)
        if failed:
            checks = sum(1 for j in own if j.expected)
            excluded.append((participant,
                             f"failed {failed} of {counted(checks, 'attention check')}"))
            continue
        scored = [j for j in own if not j.expected]
        sides = Counter("a" if j.choice == j.a else "b" for j in scored)
        if len(scored) >= ONE_SIDED_MINIMUM and len(sides) == 1:
            side = next(iter(sides))
            excluded.append((participant, f"chose side {side} in all {len(scored)} judgments"))
    return excluded


def _pair_tests(models: list[str], wins: np.ndarray) -> list[PairTest]:
    tests = []
    for i in range(len(models)):
        for j in range(i + 1, len(models)):
            n = int(wins[i, j] + wins[j, i])
            if n == 0:
                continue
            p = float(scipy_stats.binomtest(int(wins[i, j]), n, 0.5).pvalue)
            tests.append(PairTest(models[i], models[j], n, int(wins[i, j]), p, p))
    corrected = holm([test.p_value for test in tests])
    return [PairTest(t.first, t.second, t.n, t.first_wins, t.p_value, p)
            for t, p in zip(tests, corrected, strict=True)]


def _agreement(judgments: list[Judgment]) -> tuple[float, int, float]:
    """(Krippendorff's α between participants — a unit is an item and a pair of models,
    one value per participant: their first answer —, the number of repeated judgments,
    the share of them that give the participant's first answer again)."""
    first: dict[tuple[str, str, frozenset[str]], str] = {}
    repeats = agreeing = 0
    for j in judgments:
        key = (j.participant, j.item, frozenset((j.a, j.b)))
        if key in first:
            repeats += 1
            agreeing += j.choice == first[key]
        else:
            first[key] = j.choice
    units: dict[tuple[str, frozenset[str]], list[str]] = defaultdict(list)
    for (_, item, pair), choice in first.items():
        units[(item, pair)].append(choice)
    alpha = krippendorff_alpha_nominal(units.values())
    return alpha, repeats, agreeing / repeats if repeats else float("nan")


def _analyze_question(question: str, judgments: list[Judgment], resamples: int, seed: int,
                      confidence: float, jod_zero: str | None,
                      with_jod: bool) -> QuestionAnalysis:
    models = list(dict.fromkeys(m for j in judgments for m in (j.a, j.b)))
    if jod_zero is not None:
        if jod_zero not in models:
            raise LikenessError(f"the model scored 0 on the JOD scale, {jod_zero!r}, is not "
                                f"among the judged models ({', '.join(models)})")
        models.remove(jod_zero)
        models.insert(0, jod_zero)
    index = {model: i for i, model in enumerate(models)}
    participants = list(dict.fromkeys(j.participant for j in judgments))
    by_participant: dict[str, list[tuple[int, int]]] = {p: [] for p in participants}
    for j in judgments:
        loser = j.b if j.choice == j.a else j.a
        by_participant[j.participant].append((index[j.choice], index[loser]))
    per_participant = [win_matrix(len(models), by_participant[p]) for p in participants]
    wins = np.sum(per_participant, axis=0)
    prefix = f"question {question!r}: " if question else ""
    few = few_units_note(len(participants), "participants", confidence)
    decisions = [] if few is None else [prefix + few]
    try:
        theta: np.ndarray | None = bradley_terry(wins, models)
    except InvalidInputError as error:
        theta = None
        decisions.append(f"{prefix}{error}; no Bradley–Terry scores (the JOD scale's prior "
                         "keeps it finite)")
    started = time.perf_counter()
    try:
        jod = thurstone_jod(wins, models) if with_jod else np.full(len(models), np.nan)
    except InvalidInputError as error:
        raise LikenessError(f"{prefix}{error}") from None
    # the JOD intervals refit pw_scale per resample: bounded to ~JOD_BUDGET_S seconds
    jod_resamples = resamples
    if with_jod:
        per_fit = time.perf_counter() - started
        jod_resamples = min(resamples, max(200, int(JOD_BUDGET_S / max(per_fit, 1e-9))))
        if jod_resamples < resamples:
            decisions.append(f"{prefix}JOD intervals from the first {jod_resamples} of the "
                             f"{resamples} resamples (each refit takes {per_fit:.2f} s)")
    generator = np.random.default_rng(seed)
    bt_draws: list[np.ndarray] = []
    jod_draws: list[np.ndarray] = []
    undefined = used = 0
    for draw in range(resamples):
        chosen = generator.integers(0, len(participants), size=len(participants))
        resampled = np.sum([per_participant[c] for c in chosen], axis=0)
        try:
            jod_draw = (thurstone_jod(resampled, start=jod) if with_jod
                        and draw < jod_resamples else None)
            bt_draw = bradley_terry(resampled) if theta is not None else None
        except InvalidInputError:
            undefined += 1
            continue
        used += 1
        if jod_draw is not None:
            jod_draws.append(jod_draw)
        if bt_draw is not None:
            bt_draws.append(bt_draw)
    games = wins + wins.T
    n = len(participants)
    alpha, repeats, consistency = _agreement(judgments)
    bt = {m: float(theta[i]) if theta is not None else float("nan")
          for i, m in enumerate(models)}
    return QuestionAnalysis(
        question, models, len(judgments), n,
        {m: int(wins[i].sum()) for i, m in enumerate(models)},
        {m: int(games[i].sum()) for i, m in enumerate(models)},
        bt, {m: percentile_interval([d[i] for d in bt_draws], confidence, estimate=bt[m], units=n)
             for i, m in enumerate(models)},
        {m: float(jod[i]) for i, m in enumerate(models)},
        {m: percentile_interval([d[i] for d in jod_draws], confidence, estimate=float(jod[i]),
                                units=n)
         for i, m in enumerate(models)},
        _pair_tests(models, wins), used, undefined, decisions, alpha, repeats,
        consistency)


def analyze(judgments: list[Judgment], *, resamples: int = 2000, seed: int = 0,
            confidence: float = 0.95, decisions: list[str] | None = None,
            jod_zero: str | None = None, with_jod: bool = True,
            metrics: MetricValues | None = None) -> StudyAnalysis:
    """Exclusions, then each question's scores and pairwise tests (see the module docs);
    ``with_jod=False`` leaves the JOD scale out (NaN: simulations that need only
    Bradley–Terry run ~50× faster); ``metrics``: {name: (higher is better, {(model, item):
    value})}, each metric's agreement with the participants (``reliability``).

    Raises:
        LikenessError: nothing left to analyse after the exclusions, a question whose
            models no comparison connects, or a ``jod_zero`` that is not a judged model.
        InvalidInputError: resamples below 1 or confidence outside (0, 1).
    """
    if resamples < 1 or not 0 < confidence < 1:
        raise InvalidInputError(f"resamples must be at least 1 and confidence in (0, 1); "
                                f"got {resamples}, {confidence}")
    check_seed(seed)
    exclusions = find_exclusions(judgments)
    excluded = {participant for participant, _ in exclusions}
    scored = [j for j in judgments if j.participant not in excluded and not j.expected]
    if not scored:
        raise LikenessError("no judgment is left to analyse after the exclusions: "
                            + "; ".join(f"{p}: {why}" for p, why in exclusions))
    by_question: dict[str, list[Judgment]] = defaultdict(list)
    for judgment in scored:
        by_question[judgment.question].append(judgment)
    questions = [_analyze_question(q, by_question[q], resamples, seed, confidence, jod_zero,
                                   with_jod) for q in sorted(by_question)]
    for question in questions:
        if metrics:
            rows = [(j.item, j.a, j.b, j.choice) for j in by_question[question.question]]
            question.metrics, question.metric_differences = metric_agreement(
                rows, metrics, resamples, seed, confidence)
            question.correlations = rank_correlations(rows, metrics, resamples, seed,
                                                      confidence)
            prefix = f"question {question.question!r}: " if question.question else ""
            few = few_units_note(len({row[0] for row in rows}), "items", confidence,
                                 intervals="the metrics' agreement intervals (2AFC scores, "
                                           "rank correlations)")
            question.decisions += [prefix + d for d in (*uneven_items(rows, metrics), few)
                                   if d is not None]
    recorded = list(decisions or []) + [d for q in questions for d in q.decisions]
    return StudyAnalysis(questions, exclusions, recorded, confidence, resamples, seed)
