"""Tables of a run's results: CSV files for analysis, Markdown and LaTeX for the paper.

CSV files keep full precision (``repr`` of floats); Markdown and LaTeX round per metric.
In Markdown and LaTeX each metric's header carries an arrow for the better direction, and
in LaTeX (booktabs) the best model of each metric is bold — unless the models' values are
over different pairs or sets of different sizes, when every table shows each value's n.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from likeness.evaluation.catalog.metric_spec import latex_escape, pdflatex_note
from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.infra.cache import file_digest
from likeness.evaluation.items.prompts import PROMPT_ROLES
from likeness.evaluation.items.rows import PairRow
from likeness.io import replace_file
from likeness.results.summary import ResultsData, SummaryRow, few_values_sentence
from likeness.wording import listed, run_words

__all__ = ["PER_IMAGE_COLUMNS", "STYLE_PER_IMAGE_COLUMNS", "SUMMARY_COLUMNS",
           "COMPARISON_COLUMNS", "csv_tables", "format_value", "label", "latex_escape",
           "markdown_summary", "markdown_text", "prompt_columns", "table_note",
           "counted_cell", "latex_summary", "summary_cell", "summary_cells", "uneven_metrics",
           "with_spread", "write_csv_tables"]

# n_infinite and the reasons a metric is not summarised are in run.json and methods.md
SUMMARY_COLUMNS = ["model", "metric", "n", "mean", "std", "median", "ci_low", "ci_high",
                   "better", "n_failed"]
COMPARISON_COLUMNS = ["metric", "model_a", "model_b", "n", "mean_diff", "ci_low", "ci_high",
                      "p_value", "p_holm"]
PER_IMAGE_COLUMNS = ["model", "reference", "test"]  # then the metrics, error, notes
STYLE_PER_IMAGE_COLUMNS = ["method", "content", "style", "stylized"]

def prompt_columns(rows: Sequence[PairRow]) -> list[str]:
    """The prompt columns of a run's per-item tables: each role its metrics read."""
    return [role for role in PROMPT_ROLES if any(role in row.prompts for row in rows)]


def label(metric: str) -> str:
    """A metric's name in a table (``MetricSpec.label``)."""
    return METRICS[metric].plain_label


def format_value(metric: str, value: float | None) -> str:
    """A value rounded for a table (KID in scientific notation when small)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    spec = METRICS.get(metric)
    if spec is not None and spec.scientific and value != 0 and abs(value) < 1e-2:
        return f"{value:.2e}"
    if value != 0 and abs(value) < 1e-4:
        return f"{value:.3g}"
    decimals = spec.digits if spec is not None else 4
    if value != 0 and abs(value) < 1:  # at least three significant digits: MSE 0.00213
        decimals = max(decimals, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


# a file name that is not valid UTF-8 is written with its odd bytes escaped (\udcff), never
# a UnicodeEncodeError
TEXT_ERRORS = "backslashreplace"


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value


def _write_csv(path: Path, columns: Sequence[str], records: Iterable[dict[str, Any]]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(columns))
    writer.writeheader()
    for record in records:
        writer.writerow({k: _csv_value(record.get(k)) for k in columns})
    replace_file(path, buffer.getvalue(), errors=TEXT_ERRORS)


def csv_tables(results: ResultsData) -> dict[str, tuple[list[str], list[dict[str, Any]]]]:
    """The columns and records of per_image.csv, summary.csv and comparisons.csv (also the
    DataFrames of ``Results``), keyed by table name."""
    metrics = results.pair_metrics
    style = results.kind == "style"
    per_image: list[dict[str, Any]]
    if style:
        per_image = [{"method": r.model, "content": r.reference, "style": r.style,
                      "stylized": r.test, **r.prompts, **r.values, "error": r.error,
                      "notes": "; ".join(r.notes) or None} for r in results.rows]
    else:
        per_image = [{"model": r.model, "reference": r.reference, "test": r.test,
                      **r.prompts, **r.values, "error": r.error,
                      "notes": "; ".join(r.notes) or None}
                     for r in results.rows]
    first = [*(STYLE_PER_IMAGE_COLUMNS if style else PER_IMAGE_COLUMNS),
             *prompt_columns(results.rows)]
    summary_columns = ["method", *SUMMARY_COLUMNS[1:]] if style else SUMMARY_COLUMNS
    comparison_columns = (["metric", "method_a", "method_b", *COMPARISON_COLUMNS[3:]]
                          if style else COMPARISON_COLUMNS)
    return {
        "per_image": ([*first, *metrics, "error", "notes"], per_image),
        "summary": (list(summary_columns),
                    [{"method": s.model, **vars(s)} for s in results.summary]),
        "comparisons": (list(comparison_columns),
                        [{"method_a": c.model_a, "method_b": c.model_b, **vars(c)}
                         for c in results.comparisons]),
    }


def write_csv_tables(results: ResultsData, folder: Path) -> dict[str, str]:
    """per_image.csv, summary.csv and comparisons.csv; each one's SHA-256 as written
    (run.json keeps them: what reads the tables back knows them unchanged)."""
    written = {}
    for name, (columns, records) in csv_tables(results).items():
        _write_csv(folder / f"{name}.csv", columns, records)
        written[f"{name}.csv"] = file_digest(folder / f"{name}.csv")
    return written


def _best(rows: list[SummaryRow]) -> set[str]:
    """Models with the best mean of one metric (ties all bold)."""
    finite = [r for r in rows if not math.isnan(r.mean)]
    if len(finite) < 2:
        return set()
    pick = max if finite[0].better == "higher" else min
    target = pick(r.mean for r in finite)
    return {r.model for r in finite if r.mean == target}


def summary_cell(row: SummaryRow, latex: bool = False) -> str:
    """A summary row as one cell: mean [CI], or mean ± std (``MetricSpec.spread``)."""
    value = format_value(row.metric, row.mean)
    spread = METRICS[row.metric].reported_spread
    if spread == "std" and not math.isnan(row.std):
        std = format_value(row.metric, row.std)
        return f"{value} ± {std}" if not latex else f"{value} $\\pm$ {std}"
    if spread == "ci" and not math.isnan(row.ci_low):
        low, high = (format_value(row.metric, v) for v in (row.ci_low, row.ci_high))
        return f"{value} [{low}, {high}]" if not latex else \
            f"{value} {{\\scriptsize [{low}, {high}]}}"
    return value


def with_spread(summary: Iterable[SummaryRow]) -> set[str]:
    """The metrics with a std beside some model's value (KID over several subsets)."""
    return {row.metric for row in summary if not math.isnan(row.std)}


def uneven_metrics(record: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """The metrics whose models' values are not over the same pairs or sets of one size
    (a run record's ``uneven_pairs`` and ``uneven_sets``): metric → {model: n}."""
    return {**record.get("uneven_pairs", {}), **record.get("uneven_sets", {})}


def counted_cell(row: SummaryRow, uneven: Mapping[str, Any], latex: bool = False) -> str:
    """``summary_cell`` with the mean's n where the models' values are not over the same
    pairs or sets of one size (``uneven``: ``uneven_metrics``) or some of the model's
    pairs failed."""
    cell = summary_cell(row, latex)
    return f"{cell} (n={row.n})" if row.metric in uneven or row.n_failed else cell


def summary_cells(summary: list[dict[str, str]], models: list[str], metrics: list[str],
                  record: Mapping[str, Any]) -> list[list[str]]:
    """The summary table of a results folder (``summary.csv``'s rows and its run record)
    as the tables write it: a row per model, its name then a ``counted_cell`` a metric."""
    def number(row: dict[str, str], key: str) -> float:
        try:
            return float(row.get(key) or "nan")
        except ValueError:
            return math.nan

    def count(row: dict[str, str], key: str) -> int:
        value = number(row, key)
        return int(value) if math.isfinite(value) else 0

    by_key = {(r["model"], r["metric"]): r for r in summary}
    uneven = uneven_metrics(record)
    table = []
    for model in models:
        cells = [model]
        for metric in metrics:
            row = by_key.get((model, metric))
            cells.append("—" if row is None else counted_cell(SummaryRow(
                model, metric, count(row, "n"), number(row, "mean"), number(row, "std"),
                math.nan, number(row, "ci_low"), number(row, "ci_high"),
                METRICS[metric].better, count(row, "n_failed"), ""), uneven))
        table.append(cells)
    return table


def _arrow(metric: str, latex: bool) -> str:
    higher = METRICS[metric].better == "higher"
    if latex:
        return "$\\uparrow$" if higher else "$\\downarrow$"
    return "↑" if higher else "↓"


def markdown_summary(results: ResultsData) -> str:
    """A Markdown table: one row per model, one column per metric (mean [95% CI])."""
    first = run_words(results.kind).role
    header = [first, *(f"{label(m)} {_arrow(m, False)}" for m in results.metrics)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    uneven = uneven_metrics(results.record)
    for model in results.models:
        cells = [markdown_text(model)]
        cells += [counted_cell(results.summary_of(model, m), uneven) for m in results.metrics]
        lines.append("| " + " | ".join(cells) + " |")
    confidence = results.record.get("statistics", {}).get("confidence", 0.95)
    lines += ["", table_note(results.metrics, kind=results.kind, confidence=confidence,
                             uneven=list(uneven), few=results.record.get("few_values"),
                             spread=with_spread(results.summary))]
    return "\n".join(lines) + "\n"


def table_note(metrics: Sequence[str], *, kind: str, confidence: float,
               uneven: Sequence[str] = (), few: Mapping[str, int] | None = None,
               name: Callable[[str], str] | None = None,
               spread: Collection[str] | None = None) -> str:
    """What a summary table's cells mean, for these metrics only (``kind``: ``"compare"``
    or ``"style"``; ``confidence``: of the intervals, e.g. 0.95; ``uneven``: the metrics
    whose models' values are over different pairs or sets of different sizes; ``few``: a
    record's ``few_values``, its models written by ``name``: Markdown's by default;
    ``spread``: the metrics whose cells show a ± std — KID of the whole sets has none)."""
    percent = int(round(100 * confidence))
    words = run_words(kind)
    unit = words.units
    parts = []
    if any(METRICS[m].reported_spread == "ci" for m in metrics):
        parts.append(f"Mean over {unit} with its {percent}% bootstrap confidence interval "
                     "in brackets")
        if few:
            parts.append(few_values_sentence(dict(few), kind=kind, confidence=confidence,
                                             name=name or markdown_text))
    sets = [m for m in metrics if METRICS[m].kind == "set"]
    if sets:
        against = ("each method's stylizations with the style images" if kind == "style"
                   else "each model's set with the reference set")
        parts.append(f"{listed([label(m) for m in sets])} compare{'s' if len(sets) == 1 else ''}"
                     f" {against}")
    with_std = [label(m) for m in metrics if METRICS[m].reported_spread == "std"
                and (spread is None or m in spread)]
    if with_std:  # over KID's subsets, the Inception Score's splits
        parts.append(f"{listed(with_std)}: mean ± std")
    models = words.roles
    uneven_pairs = [label(m) for m in uneven if METRICS[m].kind != "set"]
    if uneven_pairs:
        parts.append(f"{listed(uneven_pairs)}: the {models}' means are over different "
                     f"{unit} (n: how many; files without a partner or failed {unit}), so "
                     f"none is marked best; comparisons.csv compares two {models} on those "
                     "both have")
    uneven_sets = [label(m) for m in uneven if METRICS[m].kind == "set"]
    if uneven_sets:
        parts.append(f"{listed(uneven_sets)}: the {models}' sets differ in size (n: "
                     "images), on which a set metric depends (FID is biased by it), so none "
                     "is marked best")
    arrows = {METRICS[m].better for m in metrics}
    parts.append(", ".join(text for better, text in (("higher", "↑ higher is better"),
                                                      ("lower", "↓ lower is better"))
                           if better in arrows))
    return "; ".join(parts) + "."


_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\|*_`[]<>~"})


def markdown_text(text: str) -> str:
    """A name as Markdown shows it (a table cell, a heading): the characters Markdown reads
    as markup (``|``, ``*``, ``_``, backquotes, brackets, ``<``, ``>``, ``~``, ``\\``)
    escaped, line breaks (a folder named so) spaces, so that a row stays one row and a
    model called ``*ours*`` is not set in italics."""
    return " ".join(str(text).translate(_MARKDOWN_SPECIAL).splitlines())


def latex_summary(results: ResultsData) -> str:
    """A booktabs table (needs ``\\usepackage{booktabs}``); best model per metric bold."""
    metrics = results.metrics
    uneven = uneven_metrics(results.record)
    best = {m: _best([results.summary_of(model, m) for model in results.models])
            if m not in uneven else set() for m in metrics}
    lines = [
        "% likeness results table; needs \\usepackage{booktabs}",
        *pdflatex_note([*results.models, *(METRICS[m].latex_label for m in metrics)]),
        "\\begin{tabular}{l" + "c" * len(metrics) + "}",
        "\\toprule",
        run_words(results.kind).role.capitalize() + " & "
        + " & ".join(f"{METRICS[m].latex_label} {_arrow(m, True)}" for m in metrics)
        + " \\\\",
        "\\midrule",
    ]
    for model in results.models:
        cells = []
        for metric in metrics:
            row = results.summary_of(model, metric)
            cell = counted_cell(row, uneven, True).replace("—", "--").replace("∞", "$\\infty$")
            if model in best[metric]:
                head, _, tail = cell.partition(" ")
                cell = f"\\textbf{{{head}}}" + (f" {tail}" if tail else "")
            cells.append(cell)
        lines.append(latex_escape(model) + " & " + " & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"
