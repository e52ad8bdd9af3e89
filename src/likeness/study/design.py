"""A 2AFC study's design: which comparisons each participant sees, in which order and on
which side — pure and deterministic (the same seed and participant number give the same
trials, on every server and in the offline form).

A *comparison* is a question, an item and an unordered pair of models.  The complete design
shows every comparison to every participant; an incomplete one (``per_participant``) gives
participant k the next ``per_participant`` comparisons of one seeded shuffle of them all,
cyclically, so that every comparison is shown equally often (±1) whatever the number of
participants.  Sides: each comparison has a seeded first side, and alternates sides on each
of its showings (participant after participant), so left and right are balanced per
comparison.  The order is shuffled per participant.  Repeated trials (consistency) show an
earlier comparison again, sides swapped, later in the sequence; attention checks pit an
output against a strongly degraded copy of itself (the expected answer: the output) and are
spread over the sequence, never first.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from likeness.errors import InvalidInputError

__all__ = ["DEGRADED", "QUESTIONS", "Design", "Trial", "degraded_name"]

# preset questions: an id the analysis tables show, the words participants read, and the
# image shown above the two outputs (a compare study's reference or a style study's
# content or style image; None: the outputs alone)
QUESTIONS = {
    "closer": ("Which image is closer to the reference?", "reference"),
    "content": ("Which image keeps the content better?", "reference"),
    "style": ("Which image matches the style better?", "style"),
    "quality": ("Which image looks better?", None),
}
DEGRADED = " (degraded)"  # the name of an attention check's degraded output: model + this


def degraded_name(model: str) -> str:
    """What an attention check's degraded copy of ``model``'s output is called."""
    return model + DEGRADED


@dataclass(frozen=True)
class Trial:
    """One screen of a participant: ``left`` and ``right`` are model names (an attention
    check's degraded copy is ``degraded_name(model)``)."""

    number: int  # its position in the participant's sequence, from 0
    question: str  # the question's id
    item: str
    left: str
    right: str
    kind: str = "compare"  # "compare", "repeat" (of an earlier trial) or "attention"
    expected: str = ""  # an attention check's right answer

    def model(self, side: str) -> str:
        """The model shown on ``side`` ("left" or "right")."""
        return self.left if side == "left" else self.right


@dataclass(frozen=True)
class Design:
    """What is compared, how often and with which seed.

    Attributes:
        questions, items, models: the question ids, item ids and model names.
        seed: every random choice of the design derives from it.
        per_participant: comparisons per participant (None: all of them).
        repeats: comparisons each participant sees a second time.
        attention_checks: attention checks per participant, drawn from ``attention_pool``
            ((item, model) whose degraded copy exists).
    """

    questions: tuple[str, ...]
    items: tuple[str, ...]
    models: tuple[str, ...]
    seed: int = 0
    per_participant: int | None = None
    repeats: int = 0
    attention_checks: int = 0
    attention_pool: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if len(self.models) < 2 or len(set(self.models)) != len(self.models):
            raise InvalidInputError(f"a 2AFC study needs at least two distinct models, got "
                                    f"{list(self.models)}")
        if not self.items or not self.questions:
            raise InvalidInputError("a study needs at least one item and one question")
        if self.per_participant is not None and self.per_participant < 1:
            raise InvalidInputError(f"per_participant must be at least 1, got "
                                    f"{self.per_participant}")
        if self.repeats < 0 or self.attention_checks < 0:
            raise InvalidInputError("repeats and attention_checks cannot be negative")
        if self.attention_checks and not self.attention_pool:
            raise InvalidInputError("attention checks need an attention_pool")

    def comparisons(self) -> list[tuple[str, str, str, str]]:
        """Every (question, item, model, model), in a fixed order."""
        return [(question, item, a, b) for question in self.questions for item in self.items
                for a, b in combinations(self.models, 2)]

    @property
    def shown_per_participant(self) -> int:
        """The comparisons each participant is shown (repeats and checks aside)."""
        total = len(self.comparisons())
        return total if self.per_participant is None else min(self.per_participant, total)

    @property
    def trials_per_participant(self) -> int:
        return (self.shown_per_participant + min(self.repeats, self.shown_per_participant)
                + self.attention_checks)

    def trials(self, participant: int) -> list[Trial]:
        """Participant ``participant``'s trials (0, 1, … in order of arrival)."""
        if participant < 0:
            raise InvalidInputError(f"participant numbers start at 0, got {participant}")
        cells = self.comparisons()
        total = len(cells)
        design_rng = np.random.default_rng([self.seed, 0])
        order = design_rng.permutation(total)
        first_swapped = design_rng.random(total) < 0.5
        shown = self.shown_per_participant
        start = participant * shown
        sequence: list[tuple[str, str, str, str, str, str]] = []
        for position in range(start, start + shown):
            cell = int(order[position % total])
            question, item, a, b = cells[cell]
            swapped = bool(first_swapped[cell]) != bool((position // total) % 2)
            left, right = (b, a) if swapped else (a, b)
            sequence.append((question, item, left, right, "compare", ""))
        rng = np.random.default_rng([self.seed, 1, participant])
        sequence = [sequence[i] for i in rng.permutation(len(sequence))]
        for original in sorted(rng.choice(len(sequence), min(self.repeats, len(sequence)),
                                          replace=False).tolist(), reverse=True):
            question, item, left, right, _, _ = sequence[original]
            at = int(rng.integers(original + 1, len(sequence) + 1))
            sequence.insert(at, (question, item, right, left, "repeat", ""))
        sequence = self._with_attention_checks(sequence, rng)
        return [Trial(number, *fields) for number, fields in enumerate(sequence)]

    def _with_attention_checks(self, sequence: list[tuple[str, str, str, str, str, str]],
                               rng: np.random.Generator
                               ) -> list[tuple[str, str, str, str, str, str]]:
        """One check at a random place (never the first) in each of ``attention_checks``
        equal stretches of the sequence."""
        checks = self.attention_checks
        if not checks:
            return sequence
        length = len(sequence)
        places = []
        for stretch in range(checks):
            low = max(1, stretch * length // checks)
            high = max(low, (stretch + 1) * length // checks)
            places.append(int(rng.integers(low, high + 1)))
        for place in sorted(places, reverse=True):
            item, model = self.attention_pool[int(rng.integers(len(self.attention_pool)))]
            question = self.questions[int(rng.integers(len(self.questions)))]
            pair = (model, degraded_name(model))
            left, right = pair if rng.random() < 0.5 else pair[::-1]
            sequence.insert(place, (question, item, left, right, "attention", model))
        return sequence
