"""What an evaluation produces: a row per item, a row per model and set metric."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from likeness.wording import counted

__all__ = ["PairRow", "SetRow", "decode_notes", "decode_outcome", "encode_notes",
           "failed_rows_phrase"]


@dataclass
class PairRow:
    """One item of one model (a reference/test pair, or a style run's triplet): values,
    error, decisions.  The one row type of every route: runs, ``compare_pair``,
    ``compare_folders``, ``compare_tensors`` and the report."""

    model: str
    reference: str
    test: str
    values: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    notes: tuple[str, ...] = ()
    cached: bool = False
    style: str | None = None  # style-transfer runs: the style image (reference = content)
    data_range: float | None = None  # the scale of scale-dependent values (MSE: range²)
    channels: int | None = None  # as compared: 1 (gray) or 3 (RGB)
    # why each metric that failed on this item failed (``error`` says it too, in one line)
    metric_errors: dict[str, str] = field(default_factory=dict)
    # the prompts its metrics read, by role ("prompt", "source_prompt"), as read
    prompts: dict[str, str] = field(default_factory=dict)

    @property
    def decisions(self) -> tuple[str, ...]:
        """The decisions taken on the item (``notes``)."""
        return self.notes

    @property
    def key(self) -> str:
        """What pairs this row with another model's row: its reference (and style)."""
        return self.reference if self.style is None else f"{self.reference}\n{self.style}"


def failed_rows_phrase(rows: list[PairRow], unit: str = "pair") -> str:
    """How many rows failed, said so that a table full of values does not read as lost:
    "3 of 4 pairs failed" (a style run's ``unit``: "stylization"), and where failed rows
    have other metrics' values, "… failed in at least one metric (2 of them with other
    metrics' values)"."""
    failed = [row for row in rows if row.error]
    text = f"{len(failed)} of {counted(len(rows), unit)} failed"
    kept = sum(1 for row in failed if row.values)
    if kept:
        text += f" in at least one metric ({kept} of them with other metrics' values)"
    return text


@dataclass
class SetRow:
    """A set metric of one model against the references (or the styles)."""

    model: str
    metric: str
    value: float | None
    std: float | None
    n: int
    n_reference: int
    error: str | None = None
    notes: tuple[str, ...] = ()


def encode_notes(row: PairRow, without: tuple[str, ...] = ()) -> bytes:
    """A row's decisions (but those ``without``: derived from the run's settings, not
    the item), data range and channels, as cached beside its values."""
    notes = [note for note in row.notes if note not in without]
    return json.dumps({"notes": notes, "data_range": row.data_range,
                       "channels": row.channels}).encode()


def decode_notes(stored: bytes) -> tuple[tuple[str, ...], float | None, int | None]:
    """What ``encode_notes`` cached.

    Raises:
        ValueError: not what it writes (a damaged cache entry).
    """
    record = json.loads(stored)
    notes, data_range, channels = (record["notes"], record.get("data_range"),
                                   record.get("channels"))
    if not (isinstance(notes, list) and all(isinstance(n, str) for n in notes)
            and (data_range is None or isinstance(data_range, int | float))
            and (channels is None or isinstance(channels, int))):
        raise ValueError("not an item's cached decisions")
    return tuple(notes), data_range, channels


def decode_outcome(stored: bytes) -> float | str:
    """A metric's cached outcome for an item: its value, or the error it failed with.

    Raises:
        ValueError: not a cached outcome (a damaged cache entry).
    """
    outcome = json.loads(stored)
    if isinstance(outcome.get("e"), str):
        return str(outcome["e"])
    if isinstance(outcome.get("v"), int | float) and not isinstance(outcome["v"], bool):
        return float(outcome["v"])
    raise ValueError("not a cached outcome")
