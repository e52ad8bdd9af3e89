"""The visual HTML report of a results folder: where and why metrics disagree.

One self-contained file (images inlined as data URIs, plots as inline SVG, a few lines of
inline script to sort the table; no network access): the summary and the model
comparisons, the distribution of each metric per model, two metrics against each other
per pair — by default the two whose rankings agree least (Kendall's τ,
``likeness.results.agreement``), or those chosen with ``disagree=`` — with the
most-disagreeing pairs highlighted and linked, each metric's worst pair per model in one
table, and in detail the most-disagreeing pairs and each model's worst and best pairs by
their mean rank over every metric: the reference, the test image, the SSIM map and the
LPIPS spatial map side by side; then every pair in a sortable table.  Maps are computed
only for the pairs shown; thumbnails are downscaled, so the report stays small, however
many metrics the run has.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from likeness._version import __version__
from likeness.documents import NotAFileError, file_text, json_document
from likeness.errors import LikenessError
from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.infra.cache import file_digest
from likeness.evaluation.items.prompts import PROMPT_ROLES
from likeness.evaluation.items.rows import PairRow
from likeness.io import unreadable
from likeness.results.agreement import (
    MetricAgreement,
    agreements,
    choose_disagreeing,
    disagreement,
    overall_ranks,
)
from likeness.results.figures import (
    PALETTE,
    box_plot_svg,
    colour_bar_uri,
    heatmap_uri,
    image_uri,
    scatter_svg,
)
from likeness.results.summary import too_few_to_test_sentence
from likeness.results.tables import format_value, label, summary_cells, table_note, uneven_metrics
from likeness.wording import run_words

__all__ = ["RECORD_DIGEST", "ReportPair", "read_results_folder", "record_digest",
           "render_report"]


@dataclass
class ReportPair(PairRow):
    """A row of ``per_image.csv`` as the report reads it (a style run's content plays the
    reference, its stylization the test), with where the report shows it: its position,
    its disagreement between the chosen metrics, and the sections that show it."""

    index: int = -1
    disagreement: float | None = None
    sections: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return f"pair-{self.index}"


def _notes(row: dict[str, str]) -> tuple[str, ...]:
    """The notes column of ``per_image.csv`` (joined by "; ") as a row's notes."""
    return tuple(text.split("; ")) if (text := row.get("notes")) else ()


def _float(text: str) -> float | None:
    try:
        return None if text in ("", None) else float(text)
    except ValueError:
        return None


# what a run record's parts are (where present), as this version writes them
_RECORD_KINDS: dict[str, type] = {
    **dict.fromkeys(("settings", "arguments", "statistics", "versions", "weights",
                     "conventions", "counts", "unmatched", "skipped_files", "decisions",
                     "metric_failures", "data_ranges", "channels", "scales", "not_summarised",
                     "uneven_pairs", "uneven_sets", "few_values",
                     "infinite_values", "set_sizes", "tables_sha256", "protocol", "networks"),
                    dict),
    **dict.fromkeys(("files", "file_errors", "set_errors", "warnings", "stylized_sizes",
                     "identical_outputs", "too_few_to_test"), list),
    **dict.fromkeys(("pairs_attempted", "pairs_succeeded", "pairs_failed", "values_computed"),
                    int)}
RECORD_DIGEST = "record_sha256"  # the part of run.json that signs the rest


def record_digest(record: dict[str, Any]) -> str:
    """The SHA-256 of a run record as JSON reads it back (keys sorted, the digest itself
    left out): what ``run.json`` keeps under ``RECORD_DIGEST``, so that an edit is known
    however the file is laid out."""
    parts = {key: value for key, value in record.items() if key != RECORD_DIGEST}
    as_read = json.loads(json.dumps(parts, default=str, allow_nan=True))
    text = json.dumps(as_read, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_run_record(folder: Path, record: Any) -> None:
    """Refuse a ``run.json`` that is no likeness run record, that was changed after the run
    (this version's digest no longer matches), or that names metrics this likeness does
    not know (a folder written by a later version).

    Raises:
        LikenessError: saying which, and what to do.
    """
    if (isinstance(record, dict) and RECORD_DIGEST in record
            and record.get("likeness_version") == __version__
            and record[RECORD_DIGEST] != record_digest(record)):
        raise LikenessError(f"{folder}: run.json was changed after the run (it no longer "
                            "matches the digest likeness wrote into it), so it may record "
                            "what the run did not do; run the command again to rewrite the "
                            "folder, or restore the file")
    settings = record.get("settings") if isinstance(record, dict) else None
    metrics = settings.get("metrics") if isinstance(settings, dict) else None
    if not (isinstance(metrics, list) and all(isinstance(m, str) for m in metrics)):
        raise LikenessError(f"{folder}: run.json is not a likeness run record (it records no "
                            "settings and metrics); run the command again to rewrite the folder")
    unknown_names = [m for m in metrics if m not in METRICS]
    unknown = f"{'metric' if len(unknown_names) == 1 else 'metrics'} {', '.join(unknown_names)}"
    written = record.get("likeness_version")
    wrong = [f"{key} is {type(record[key]).__name__}, not {kind.__name__}"
             for key, kind in _RECORD_KINDS.items() if not isinstance(record.get(key, kind()),
                                                                       kind)]
    if wrong and written == __version__:
        raise LikenessError(f"{folder}: run.json was edited or damaged ({'; '.join(wrong)}); "
                            "run the command again to rewrite the folder")
    if unknown_names:
        registered = ("added with likeness.register_metric: register it again and read the "
                      "folder from Python (likeness.write_report, likeness.analyze_study)")
        why = (f"likeness {__version__} does not know (the folder was written by likeness "
               f"{written}): use that version, or run the command again with this one"
               if written != __version__ else f"the run {registered}" if RECORD_DIGEST in record
               else f"was {registered}, or the record was edited or damaged (run the command "
               "again to rewrite the folder)")
        raise LikenessError(f"{folder}: run.json names {unknown}, which {why}")


def read_results_folder(folder: Path) -> tuple[dict[str, Any], list[ReportPair],
                                              list[dict[str, str]], list[dict[str, str]]]:
    """A complete results folder's record, its pairs (model, reference, test, values), its
    summary and comparisons rows.

    Raises:
        LikenessError: not a likeness results folder, an incomplete run, or damaged files.
    """
    try:
        record = json_document(file_text(folder / "run.json"))
    except (OSError, ValueError) as error:
        if isinstance(error, OSError) and (folder / "run.json").is_file():  # no permission
            raise LikenessError(f"{unreadable(folder / 'run.json', error)}: make it "
                                "readable") from None
        raise LikenessError(f"{folder}: not a likeness results folder (run.json: {error}); "
                            "write one with likeness compare ... --out-dir") from None
    check_run_record(folder, record)
    if record.get("status") != "complete":
        raise LikenessError(f"{folder}: the run is not complete (status "
                            f"{record.get('status')!r}); run the same compare command again "
                            "to finish it")

    def rows(name: str) -> list[dict[str, str]]:
        path = folder / name
        if not os.path.lexists(path):  # (a FIFO in its place is said, not taken as none)
            return []
        written = record.get("tables_sha256", {}).get(name)
        try:
            if written is not None and file_digest(path) != written:
                raise LikenessError(f"{path} changed since the run wrote it (its SHA-256 is "
                                    "not run.json's; a spreadsheet program that saves it "
                                    "rewrites it): the report shows only the run's own values "
                                    "— run the same command again to rewrite the folder")
            return list(csv.DictReader(io.StringIO(file_text(path), newline="")))
        except NotAFileError as error:  # a folder, a FIFO… in its place
            raise LikenessError(f"{error}: the results folder is damaged: run the same "
                                "command again to rewrite it") from None
        except OSError as error:  # no permission
            raise LikenessError(f"{unreadable(path, error)}: make it readable") from None
        except (csv.Error, UnicodeDecodeError) as error:
            raise LikenessError(f"{path}: cannot be read ({error}); the results folder is "
                                "damaged: run the same command again to rewrite it") from None

    metrics = [m for m in record["settings"]["metrics"] if METRICS[m].kind != "set"]
    style_run = record.get("kind") == "style"
    pairs = []
    for index, row in enumerate(rows("per_image.csv")):
        values = {m: v for m in metrics if (v := _float(row.get(m, ""))) is not None}
        prompts = {role: text for role in PROMPT_ROLES if (text := row.get(role))}
        if style_run:  # (method, content, style, stylized): content plays the reference
            pair = ReportPair(row["method"], row["content"], row["stylized"], values,
                              row.get("error") or None, _notes(row), style=row["style"],
                              prompts=prompts, index=index)
        else:
            pair = ReportPair(row["model"], row["reference"], row["test"], values,
                              row.get("error") or None, _notes(row), prompts=prompts,
                              index=index)
        pairs.append(pair)
    attempted = record.get("pairs_attempted")
    if metrics and attempted is not None and len(pairs) != attempted:
        raise LikenessError(f"{folder}: per_image.csv holds {len(pairs)} rows but run.json "
                            f"records {attempted}; the results folder is damaged: run the same "
                            "command again to rewrite it")
    renamed = {"method": "model", "method_a": "model_a", "method_b": "model_b"}
    summary = [{renamed.get(k, k): v for k, v in r.items()} for r in rows("summary.csv")]
    comparisons = [{renamed.get(k, k): v for k, v in r.items()}
                   for r in rows("comparisons.csv")]
    return record, pairs, summary, comparisons


def _worst(pairs: list[ReportPair], metric: str, count: int) -> list[ReportPair]:
    scored = [p for p in pairs if metric in p.values and not math.isnan(p.values[metric])]
    higher = METRICS[metric].better == "higher"
    return sorted(scored, key=lambda p: p.values[metric], reverse=not higher)[:count]


def _sections(pairs: list[ReportPair], metrics: list[str], models: list[str], count: int,
              chosen: MetricAgreement | None) -> list[tuple[str, str, list[ReportPair]]]:
    """The pairs shown in detail: the chosen metrics' most disagreeing, then each model's
    worst and best by their mean rank over every metric (a page as long for 2 metrics as
    for 20)."""
    sections = []
    if chosen is not None:
        for index, value in disagreement([p.values for p in pairs], chosen.first,
                                         chosen.second).items():
            pairs[index].disagreement = value
        ranked = sorted((p for p in pairs if p.disagreement is not None),
                        key=lambda p: -(p.disagreement or 0.0))
        tau = "" if math.isnan(chosen.tau) else f" (Kendall's τ = {chosen.tau:.2f})"
        sections.append(("disagree", f"{label(chosen.first)} and {label(chosen.second)} "
                         f"disagree most{tau}", ranked[:count]))
    overall = overall_ranks([p.values for p in pairs], metrics)
    several = len(models) > 1
    for model in models:
        own = sorted((p for p in pairs if p.model == model and p.index in overall),
                     key=lambda p: overall[p.index])
        prefix = f"{model}: " if several else ""
        slug = "".join(c if c.isalnum() else "-" for c in model)
        worst = own[:min(count, (len(own) + 1) // 2)]  # few pairs: half worst, half best
        best = [p for p in reversed(own) if p not in worst][:count]
        for key, title, chosen_pairs in (("worst", "worst", worst), ("best", "best", best)):
            if chosen_pairs:
                sections.append((f"{key}-{slug}", f"{prefix}{title} {len(chosen_pairs)} by "
                                 "their mean rank over every metric", chosen_pairs))
    return sections


def _worst_by_metric(pairs: list[ReportPair], metrics: list[str], models: list[str]
                     ) -> list[tuple[str, list[ReportPair | None]]]:
    """Per metric, each model's worst pair (one line per metric, not one section)."""
    table = []
    for metric in metrics:
        cells: list[ReportPair | None] = []
        for model in models:
            worst = _worst([p for p in pairs if p.model == model], metric, 1)
            cells.append(worst[0] if worst else None)
        table.append((metric, cells))
    return table


def _figures(maps: Any, thumbnail: int) -> dict[str, Any]:
    """A pair's thumbnails and each metric's map as images, with their captions and
    colour-bar ends (similarities from 0 to 1, distances from 0 to the map's largest)."""
    if maps.failure is not None:
        return {"error": maps.failure}
    shown = []
    for metric, local in maps.maps.items():
        spec = METRICS[metric]
        high = 1.0 if spec.better == "higher" else (float(np.max(local)) or 1.0)
        caption = f"{label(metric)} map" + "".join(f", {words}"
                                                   for words in maps.views.get(metric, ()))
        shown.append({"metric": metric, "caption": caption,
                      "uri": heatmap_uri(local, 0.0, high, thumbnail),
                      "range": ("0", "1" if high == 1.0 and spec.better == "higher"
                                else f"{high:.3g}")})
    return {"reference": image_uri(maps.reference, thumbnail),
            "test": image_uri(maps.test, thumbnail), "maps": shown, "errors": maps.errors}


def render_report(results_dir: str | os.PathLike[str],
                  maps_of: Callable[[dict[str, Any], ReportPair], Any], *, worst: int = 5,
                  thumbnail: int = 160, disagree: Sequence[str] | None = None) -> str:
    """The HTML report of a results folder, as a string; ``likeness.write_report`` gives
    it the maps of the run's computer.

    Args:
        results_dir: a folder written by ``likeness compare --out-dir``.
        maps_of: (run record, a pair shown) → its ``PairMaps`` (called for the pairs shown
            only).
        worst: pairs shown in detail: the most disagreeing, and each model's worst and
            best.
        thumbnail: the longest side of thumbnails and maps, in pixels.
        disagree: the two per-pair metrics whose disagreement is shown (default: the two
            whose rankings of the pairs agree least, by Kendall's τ).

    Raises:
        LikenessError: not a complete results folder, or ``disagree`` names metrics the
            run did not compute.
    """
    import jinja2

    folder = Path(results_dir)
    record, pairs, summary, comparisons = read_results_folder(folder)
    settings = record["settings"]
    metrics = [m for m in settings["metrics"] if METRICS[m].kind != "set"]
    models = list(dict.fromkeys([r["model"] for r in summary] + [p.model for p in pairs]))

    # a metric whose values lie on different scales is neither ranked nor plotted
    mixed = record.get("not_summarised") or {}
    ranked_metrics = [m for m in metrics if m not in mixed]
    values = [p.values for p in pairs]
    metric_pair = choose_disagreeing(values, ranked_metrics, disagree)
    sections = _sections(pairs, ranked_metrics, models, worst, metric_pair)
    disagreeing = sections[0][2] if metric_pair is not None else []
    shown: dict[int, ReportPair] = {}
    for key, _, chosen in sections:
        for pair in chosen:
            pair.sections.append(key)
            shown[pair.index] = pair
    figures = {index: _figures(maps_of(record, pair), thumbnail)
               for index, pair in shown.items()}
    map_errors: dict[str, str] = {}
    for figure in figures.values():
        for metric, why in figure.get("errors", {}).items():
            map_errors.setdefault(metric, why)

    model_index = {m: i for i, m in enumerate(models)}
    highlighted = {p.index for p in disagreeing}
    scatter = None
    if metric_pair is not None:
        x, y = metric_pair.first, metric_pair.second
        points = [(p.values[x], p.values[y], model_index[p.model],
                   f"{p.model}: {p.reference} vs {p.test} ({label(x)} "
                   f"{format_value(x, p.values[x])}, {label(y)} {format_value(y, p.values[y])})",
                   p.anchor if p.index in shown else None, p.index in highlighted)
                  for p in pairs if p.disagreement is not None]
        scatter = scatter_svg(points, models, f"{label(x)} ({METRICS[x].better} is better)",
                              f"{label(y)} ({METRICS[y].better} is better)")
    distributions = [box_plot_svg([(m, [p.values[metric] for p in pairs
                                        if p.model == m and metric in p.values])
                                   for m in models], f"{label(metric)} {_arrow(metric)}")
                     for metric in metrics if metric not in mixed]

    summary_table = summary_cells(summary, models, settings["metrics"], record)
    template_text = (resources.files("likeness") / "data" / "report.html.j2").read_text()
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = environment.from_string(template_text)
    return template.render(
        record=record, settings=settings, models=models, metrics=metrics,
        palette={m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)},
        summary_metrics=settings["metrics"], summary_table=summary_table,
        comparisons=comparisons, distributions=[jinja2.utils.markupsafe.Markup(svg)
                                                for svg in distributions],
        scatter=jinja2.utils.markupsafe.Markup(scatter) if scatter else None,
        map_errors=map_errors, metric_pair=metric_pair,
        agreement=agreements(values, ranked_metrics)[:5],
        worst_by_metric=_worst_by_metric(pairs, ranked_metrics, models),
        table_note=table_note(settings["metrics"], kind=record.get("kind", "compare"),
                              confidence=settings["statistics"]["confidence"],
                              uneven=list(uneven_metrics(record)),
                              few=record.get("few_values"), name=str,
                              spread={row["metric"] for row in summary if row.get("std")}),
        tests_note=(too_few_to_test_sentence(record["too_few_to_test"],
                                             kind=record.get("kind", "compare"))
                    if record.get("too_few_to_test") else None),
        sections=sections, figures=figures, pairs=pairs, shown=shown,
        colour_bar=colour_bar_uri(), label=label, fmt=format_value,
        arrow=_arrow,
        total_pairs=len(pairs), failed=sum(1 for p in pairs if p.error),
        names=run_words(record.get("kind")))


def _arrow(metric: str) -> str:
    return "↑" if METRICS[metric].better == "higher" else "↓"
