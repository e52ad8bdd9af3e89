"""``likeness compare --out FILE``: the rows of a run (or of one pair) as one CSV or JSON
file — the per-item values, errors and notes, and the files without a partner."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from likeness.evaluation.items.rows import PairRow
from likeness.io import replace_file
from likeness.results.tables import prompt_columns
from likeness.runs.folder import writing

__all__ = ["write_rows"]


def write_rows(out: Path, rows: Sequence[PairRow], names: Sequence[str],
               unmatched: dict[str, tuple[list[str], list[str]]],
               with_model: bool = False) -> None:
    """Write ``rows`` to ``out`` (``.json``: a document; else CSV), replacing the file in
    one step.

    Raises:
        StorageError: the file cannot be written (a full disk, a read-only folder).
    """
    with writing(out):  # a full disk or a read-only folder: one message naming the file
        out.parent.mkdir(parents=True, exist_ok=True)
        replace_file(out, _rows_text(out, rows, names, unmatched, with_model),
                     errors="backslashreplace")


def _rows_text(out: Path, rows: Sequence[PairRow], names: Sequence[str],
               unmatched: dict[str, tuple[list[str], list[str]]], with_model: bool) -> str:
    columns = [*(["model"] if with_model else []), "reference", "test",
               *prompt_columns(rows), *names, "error", "notes"]
    records: list[dict[str, Any]] = [
        {"model": row.model, "reference": row.reference, "test": row.test, **row.prompts,
         **{name: row.values.get(name) for name in names},
         "error": row.error, "notes": "; ".join(row.notes) or None} for row in rows]
    if out.suffix.lower() == ".json":
        if not with_model:
            for record in records:
                del record["model"]
        lists = list(unmatched.values())
        document: dict[str, Any] = {"rows": records}
        if with_model:
            document["unmatched"] = {m: {"reference": u[0], "test": u[1]}
                                     for m, u in unmatched.items()}
        else:
            document["unmatched_reference"] = lists[0][0] if lists else []
            document["unmatched_test"] = lists[0][1] if lists else []
        return json.dumps(document, indent=1, allow_nan=True) + "\n"
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow({k: ("" if v is None else repr(v) if isinstance(v, float) else v)
                         for k, v in record.items()})
    return buffer.getvalue()
