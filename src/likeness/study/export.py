"""A study's answers as judgments — the CSV ``likeness study analyze`` reads — from its
database and from the answer files of the offline form.

Each answer is checked against the design it was given under (the model it chose, or its
ranking), so a damaged or forged row is refused, never analysed.  A ranking of m models
becomes its m(m − 1)/2 pairs (full rank breaking: each pair in the order shown, the better
ranked chosen; they share the trial's number).  Participants are ``p1``, ``p2``, … (the
server's order of arrival) and ``offline-<id>`` (the offline form's random id); attention
checks carry ``expected``; ``kind`` says whether a trial was a pair (``compare``), a
ranking, a repeat or a check, and ``source`` where it was answered.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path

from likeness.documents import file_text, json_document
from likeness.errors import ImageLoadError, InvalidInputError, LikenessError
from likeness.io import stat_regular_file
from likeness.results.study import Judgment
from likeness.study.design import Trial
from likeness.study.folder import Study
from likeness.study.store import Answer, AnswerStore

__all__ = ["COLUMNS", "OFFLINE_FORMAT", "as_judgments", "judgments", "judgments_csv",
           "read_offline_answers"]

COLUMNS = ("participant", "item", "a", "b", "choice", "question", "trial", "rt_ms",
           "expected", "kind", "source")
OFFLINE_FORMAT = "likeness-study-answers"
OFFLINE_ID = re.compile(r"^[0-9a-f]{8,64}$")
MAX_OFFLINE_BYTES = 16 * 1024 * 1024


def _rows(trials: list[Trial], participant: str, source: str,
          answers: Sequence[tuple[int, str, int | None]], where: str) -> list[dict[str, str]]:
    """Judgment rows of one participant's ``trials``: one per pair, and on a ranking one
    per pair of its models (the pair in the order shown, the better ranked chosen)."""
    rows = []
    for trial_number, choice, rt_ms in answers:
        if not 0 <= trial_number < len(trials):
            raise LikenessError(f"{where}: trial {trial_number} is not a trial of this "
                                "study's design")
        trial = trials[trial_number]
        try:
            rank = {model: place for place, model in enumerate(trial.ranked(choice))}
        except InvalidInputError as error:
            raise LikenessError(f"{where}, trial {trial_number}: {error}") from None
        for a, b in combinations(trial.shown, 2):
            rows.append({"participant": participant, "item": trial.item, "a": a, "b": b,
                         "choice": a if rank[a] < rank[b] else b,
                         "question": trial.question, "trial": str(trial_number),
                         "rt_ms": "" if rt_ms is None else str(rt_ms),
                         "expected": trial.expected, "kind": trial.kind, "source": source})
    return rows


def _database_rows(study: Study, answers: list[Answer]) -> list[dict[str, str]]:
    rows = []
    by_participant: dict[int, list[Answer]] = {}
    for answer in answers:
        by_participant.setdefault(answer.participant, []).append(answer)
    for number, own in by_participant.items():
        where = f"the database's participant {number}"
        trials = study.design.trials(number - 1)
        for answer in own:
            if answer.trial < len(trials) and _recorded(trials[answer.trial],
                                                        answer.choice) != answer.chosen:
                raise LikenessError(f"{where}, trial {answer.trial}: stored choice "
                                    f"{answer.chosen!r} is not the design's; the database "
                                    "belongs to another version of the study")
        rows += _rows(trials, f"p{number}", own[0].source,
                      [(a.trial, a.choice, a.rt_ms) for a in own], where)
    return rows


def _recorded(trial: Trial, choice: str) -> str | None:
    try:
        return trial.recorded(choice)
    except InvalidInputError:
        return None


def read_offline_answers(study: Study, paths: Sequence[Path],
                         decisions: list[str]) -> list[dict[str, str]]:
    """The judgments of the offline form's answer files (JSON, one per participant).

    Raises:
        LikenessError: a file that is not an answer file of this study, or one participant's
            answers given twice with different choices.
    """
    seen: dict[str, list[tuple[int, str, int | None]]] = {}
    rows = []
    for path in paths:
        try:
            if stat_regular_file(Path(path)).st_size > MAX_OFFLINE_BYTES:
                raise LikenessError(f"{path} is larger than an answer file can be")
            document = json_document(file_text(path))
        except (OSError, ValueError, ImageLoadError) as error:  # (not UTF-8, JSON, nested)
            raise LikenessError(f"{path} cannot be read as an answer file ({error})") from None
        answers = _offline_answers(study, document, path)
        participant = str(document["participant"])
        if participant in seen:
            if seen[participant] != answers:
                raise LikenessError(f"{path}: participant {participant} answered twice with "
                                    "different choices (two files of one participant)")
            decisions.append(f"{path}: the same answers of participant {participant} again "
                             "(read once)")
            continue
        seen[participant] = answers
        rows += _rows(study.design.trials(int(document["slot"])), f"offline-{participant}",
                      "offline", answers, str(path))
    return rows


def _offline_answers(study: Study, document: object, path: Path
                     ) -> list[tuple[int, str, int | None]]:
    def refuse(why: str) -> LikenessError:
        return LikenessError(f"{path}: {why}")

    if not isinstance(document, dict) or document.get("format") != OFFLINE_FORMAT:
        raise refuse("not an answer file of the offline form")
    if document.get("study_id") != study.study_id:
        raise refuse(f"the answers of another study ({document.get('study_id')!r}; this "
                     f"one is {study.study_id})")
    participant, slot = document.get("participant"), document.get("slot")
    if not isinstance(participant, str) or not OFFLINE_ID.match(participant):
        raise refuse("its participant id is malformed")
    if not isinstance(slot, int) or isinstance(slot, bool) or not 0 <= slot < 1_000_000:
        raise refuse("its design slot is malformed")
    raw = document.get("answers")
    if not isinstance(raw, list):
        raise refuse("it has no list of answers")
    answers: list[tuple[int, str, int | None]] = []
    for entry in raw:
        trial = entry.get("trial") if isinstance(entry, dict) else None
        choice = entry.get("choice") if isinstance(entry, dict) else None
        rt_ms = entry.get("rt_ms") if isinstance(entry, dict) else None
        if not isinstance(trial, int) or isinstance(trial, bool) \
                or not isinstance(choice, str) or not choice or len(choice) > 200:
            raise refuse(f"a malformed answer {str(entry)[:80]}")
        if rt_ms is not None and (not isinstance(rt_ms, int) or isinstance(rt_ms, bool)
                                  or rt_ms < 0):
            raise refuse(f"a malformed response time {rt_ms!r}")
        answers.append((trial, choice, rt_ms))
    if len({trial for trial, _, _ in answers}) != len(answers):
        raise refuse("a trial answered twice")
    return sorted(answers)


def judgments(study: Study, store: AnswerStore | None, offline: Sequence[Path] = (),
              decisions: list[str] | None = None) -> list[dict[str, str]]:
    """Every answer of the database and of the offline answer files as judgment rows."""
    decisions = [] if decisions is None else decisions
    rows = _database_rows(study, store.answers()) if store is not None else []
    return rows + read_offline_answers(study, offline, decisions)


def as_judgments(rows: list[dict[str, str]]) -> list[Judgment]:
    """The rows as the analysis' ``Judgment`` records."""
    return [Judgment(r["participant"], r["item"], r["a"], r["b"], r["choice"],
                     r["question"], r["expected"]) for r in rows]


def judgments_csv(rows: list[dict[str, str]]) -> str:
    """The rows as the judgments CSV of ``likeness study analyze``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
