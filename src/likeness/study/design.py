"""A study's design: which comparisons each participant sees, in which order and on which
side — pure and deterministic (the same seed and participant number give the same trials,
on every server and in the offline form).

A *comparison* is a question, an item and an unordered pair of models (a 2AFC study) or
all the models (a ranking study: the participant orders them, best first).  The complete
design shows every comparison to every participant; an incomplete one (``per_participant``)
gives participant k the next ``per_participant`` comparisons of one seeded shuffle of them
all, cyclically, so that every comparison is shown equally often (±1) whatever the number
of participants.  Positions: each comparison has a seeded order on the screen, rotated by
one place on each of its showings (participant after participant), so every model of a
comparison takes every position equally often (a pair: left and right alternate).  The
order of the trials is shuffled per participant.  Repeated trials (consistency) show an
earlier comparison again, positions reversed, later in the sequence; attention checks
(always a pair) pit an output against a strongly degraded copy of itself (the expected
answer: the output) and are spread over the sequence, never first.

A choice is ``"left"`` or ``"right"`` on a pair, and on a ranking the positions on the
screen from the best to the worst, comma-separated (``"2,0,1"``); ``Trial.ranked`` turns
either into the models, best first.
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
    """One screen of a participant: the models ``shown``, left to right (an attention
    check's degraded copy is ``degraded_name(model)``)."""

    number: int  # its position in the participant's sequence, from 0
    question: str  # the question's id
    item: str
    shown: tuple[str, ...]
    kind: str = "compare"  # "compare", "ranking", "repeat" (of an earlier trial), "attention"
    expected: str = ""  # an attention check's right answer

    @property
    def left(self) -> str:
        return self.shown[0]

    @property
    def right(self) -> str:
        return self.shown[-1]

    @property
    def is_ranking(self) -> bool:
        return len(self.shown) > 2

    def ranked(self, choice: str) -> tuple[str, ...]:
        """The models from the best to the worst by ``choice`` (see the module docs).

        Raises:
            InvalidInputError: a choice this trial cannot have.
        """
        if not self.is_ranking:
            if choice not in ("left", "right"):
                raise InvalidInputError(f"a pair's choice is left or right, not {choice!r}")
            return self.shown if choice == "left" else self.shown[::-1]
        try:
            order = [int(part) for part in choice.split(",")]
        except ValueError:
            order = []
        if sorted(order) != list(range(len(self.shown))):
            raise InvalidInputError(f"a ranking of {len(self.shown)} images is their positions "
                                    f"0-{len(self.shown) - 1}, best first, each once; got "
                                    f"{choice[:40]!r}")
        return tuple(self.shown[i] for i in order)

    def recorded(self, choice: str) -> str:
        """What the store keeps beside the choice, to check it against the design: the
        chosen model, or the ranking as ``best>…>worst``."""
        ranked = self.ranked(choice)
        return ">".join(ranked) if self.is_ranking else ranked[0]


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
        ranking: every comparison shows all the models, to be ordered (else pairs).
    """

    questions: tuple[str, ...]
    items: tuple[str, ...]
    models: tuple[str, ...]
    seed: int = 0
    per_participant: int | None = None
    repeats: int = 0
    attention_checks: int = 0
    attention_pool: tuple[tuple[str, str], ...] = ()
    ranking: bool = False

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

    def comparisons(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """Every (question, item, models compared), in a fixed order."""
        groups = [self.models] if self.ranking else list(combinations(self.models, 2))
        return [(question, item, group) for question in self.questions
                for item in self.items for group in groups]

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
        size = len(cells[0][2])
        screen = [design_rng.permutation(size) for _ in range(total)]
        shown_count = self.shown_per_participant
        start = participant * shown_count
        kind = "ranking" if self.ranking else "compare"
        sequence: list[tuple[str, str, tuple[str, ...], str, str]] = []
        for position in range(start, start + shown_count):
            cell = int(order[position % total])
            question, item, group = cells[cell]
            turn = (position // total) % size  # the showing's rotation
            places = [screen[cell][(i + turn) % size] for i in range(size)]
            sequence.append((question, item, tuple(group[p] for p in places), kind, ""))
        rng = np.random.default_rng([self.seed, 1, participant])
        sequence = [sequence[i] for i in rng.permutation(len(sequence))]
        for original in sorted(rng.choice(len(sequence), min(self.repeats, len(sequence)),
                                          replace=False).tolist(), reverse=True):
            question, item, shown, _, _ = sequence[original]
            at = int(rng.integers(original + 1, len(sequence) + 1))
            sequence.insert(at, (question, item, shown[::-1], "repeat", ""))
        sequence = self._with_attention_checks(sequence, rng)
        return [Trial(number, *fields) for number, fields in enumerate(sequence)]

    def _with_attention_checks(self, sequence: list[tuple[str, str, tuple[str, ...], str, str]],
                               rng: np.random.Generator
                               ) -> list[tuple[str, str, tuple[str, ...], str, str]]:
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
            shown = pair if rng.random() < 0.5 else pair[::-1]
            sequence.insert(place, (question, item, shown, "attention", model))
        return sequence
