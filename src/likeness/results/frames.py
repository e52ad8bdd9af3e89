"""Results where researchers read them: pandas DataFrames and HTML in Jupyter.

The DataFrames hold what the results folder's CSV files hold (the same columns and
values, from ``tables.csv_tables``); pandas is an optional extra
(``pip install 'likeness-metrics[notebook]'``).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

from likeness.errors import LikenessError
from likeness.evaluation.catalog.registry import METRICS
from likeness.results.summary import ResultsData
from likeness.results.tables import (
    counted_cell,
    csv_tables,
    format_value,
    table_note,
    uneven_metrics,
    with_spread,
)
from likeness.wording import run_words

__all__ = ["Results", "frame", "results_html", "set_result_html"]


@dataclass(repr=False)
class Results(ResultsData):
    """Everything a comparison run produced (the attributes of ``ResultsData``: rows,
    set rows, summaries, comparisons, the run record, the results folder), and its views:
    the results folder's tables as pandas DataFrames, and HTML in Jupyter."""

    @property
    def per_image(self) -> Any:
        """per_image.csv as a pandas DataFrame (``pip install 'likeness-metrics[notebook]'``)."""
        return frame(self, "per_image")

    @property
    def summary_frame(self) -> Any:
        """summary.csv as a pandas DataFrame (``summary`` is the list of rows)."""
        return frame(self, "summary")

    @property
    def comparisons_frame(self) -> Any:
        """comparisons.csv as a pandas DataFrame (``comparisons`` is the list of rows)."""
        return frame(self, "comparisons")

    def _repr_html_(self) -> str:
        return results_html(self)


def frame(results: ResultsData, table: str) -> Any:
    """``per_image``, ``summary`` or ``comparisons`` as a pandas DataFrame.

    Raises:
        LikenessError: pandas is not installed.
    """
    try:
        import pandas as pd
    except ImportError:
        raise LikenessError("DataFrames need pandas: pip install 'likeness-metrics[notebook]' (or "
                            "pip install pandas)") from None
    columns, records = csv_tables(results)[table]
    data = pd.DataFrame.from_records([{c: r.get(c) for c in columns} for r in records],
                                     columns=columns)
    return data.map(lambda v: math.nan if v is None else v).infer_objects()  # as read_csv


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def results_html(results: ResultsData) -> str:
    """The summary (mean [CI] per model and metric, arrows for the better direction),
    counts of pairs, failures and decisions: what a notebook shows for ``Results``."""
    unit = run_words(results.kind).role
    header = [unit, *(f"{METRICS[m].plain_label} {'↑' if METRICS[m].better == 'higher' else '↓'}"
                      for m in results.metrics)]
    uneven = uneven_metrics(results.record)
    rows = [[model, *(counted_cell(results.summary_of(model, m), uneven)
                      for m in results.metrics)] for model in results.models]
    failed = sum(1 for row in results.rows if row.error)
    decisions = results.record.get("decisions", {})
    lines = [f"{len(results.rows)} {run_words(results.kind).units}, "
             f"{failed} failed; {len(results.set_rows)} set values, "
             f"{sum(1 for r in results.set_rows if r.error)} failed"]
    lines += [f"{count}× {note}" for note, count in decisions.items()]
    if results.out_dir is not None:
        lines.append(f"results folder: {results.out_dir}")
    notes = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    confidence = results.record.get("statistics", {}).get("confidence", 0.95)
    # what the cells mean, as under summary.md's table: intervals from few pairs said so
    meaning = table_note(results.metrics, kind=results.kind, confidence=confidence,
                         uneven=list(uneven), few=results.record.get("few_values"), name=str,
                         spread=with_spread(results.summary))
    return (f"<div class='likeness-results'><b>likeness {html.escape(results.kind)}: mean "
            f"[{round(100 * confidence)}% CI] per {unit}</b>{_table(header, rows)}"
            f"<p>{html.escape(meaning)}</p><ul>{notes}</ul></div>")


def set_result_html(name: str, value: float, std: float | None, sets: Any,
                    settings: dict[str, Any]) -> str:
    """FID or KID of two sets: the value, each set's size, cache use, decisions, errors."""
    shown = format_value(name, value) if not math.isnan(value) else "—"
    if std is not None:
        shown += f" ± {format_value(name, std)}"
    rows = [[str(s.source), str(s.count), str(s.cached), str(len(s.errors)),
             "; ".join(f"{c}× {d}" for d, c in s.decisions.items())] for s in sets]
    network = f"{settings.get('network', '')}, resize {settings.get('resize', '')}"
    return (f"<div class='likeness-sets'><b>{html.escape(name.upper())} = "
            f"{html.escape(shown)}</b> ({html.escape(network)})"
            f"{_table(['set', 'images', 'cached', 'left out', 'decisions'], rows)}</div>")
