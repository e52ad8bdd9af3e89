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
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from likeness.errors import LikenessError
from likeness.evaluation.catalog.registry import METRICS
from likeness.io import replace_file
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
from likeness.results.tables import format_value, label, table_note

__all__ = ["build_report", "write_report"]


@dataclass
class _Pair:
    index: int
    model: str
    reference: str
    test: str
    values: dict[str, float]
    error: str
    notes: str
    style: str | None = None  # style-transfer runs
    disagreement: float | None = None
    sections: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return f"pair-{self.index}"


def _float(text: str) -> float | None:
    if text in ("", None):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _read(folder: Path) -> tuple[dict[str, Any], list[_Pair], list[dict[str, str]],
                                 list[dict[str, str]]]:
    try:
        record = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError) as error:
        raise LikenessError(f"{folder}: not a likeness results folder (run.json: {error}); "
                            "write one with likeness compare ... --out-dir") from None
    if record.get("status") != "complete":
        raise LikenessError(f"{folder}: the run is not complete (status "
                            f"{record.get('status')!r}); run the same compare command again "
                            "to finish it")

    def rows(name: str) -> list[dict[str, str]]:
        path = folder / name
        if not path.is_file():
            return []
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                return list(csv.DictReader(handle))
        except (csv.Error, UnicodeDecodeError, OSError) as error:
            raise LikenessError(f"{path}: cannot be read ({error}); the results folder is "
                                "damaged: run the same command again to rewrite it") from None

    metrics = [m for m in record["settings"]["metrics"] if METRICS[m].kind != "set"]
    style_run = record.get("kind") == "style"
    pairs = []
    for index, row in enumerate(rows("per_image.csv")):
        values = {m: v for m in metrics if (v := _float(row.get(m, ""))) is not None}
        if style_run:  # (method, content, style, stylized): content plays the reference
            pair = _Pair(index, row["method"], row["content"], row["stylized"], values,
                         row.get("error", ""), row.get("notes", ""), style=row["style"])
        else:
            pair = _Pair(index, row["model"], row["reference"], row["test"], values,
                         row.get("error", ""), row.get("notes", ""))
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


def _pair_paths(record: dict[str, Any], pair: _Pair) -> tuple[Path, Path]:
    settings = record["settings"]
    if record.get("kind") == "style":
        return (Path(settings["content"]) / pair.reference,
                Path(settings["models"][pair.model]) / pair.test)
    if settings.get("pairs_csv"):
        base = Path(settings["pairs_csv"]).parent
        return base / pair.reference, base / pair.test
    return (Path(settings["reference"]) / pair.reference,
            Path(settings["models"][pair.model]) / pair.test)


def _worst(pairs: list[_Pair], metric: str, count: int) -> list[_Pair]:
    scored = [p for p in pairs if metric in p.values and math.isfinite(p.values[metric])]
    higher = METRICS[metric].better == "higher"
    return sorted(scored, key=lambda p: p.values[metric], reverse=not higher)[:count]


def _sections(pairs: list[_Pair], metrics: list[str], models: list[str], count: int,
              chosen: MetricAgreement | None) -> list[tuple[str, str, list[_Pair]]]:
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


def _worst_by_metric(pairs: list[_Pair], metrics: list[str], models: list[str]
                     ) -> list[tuple[str, list[_Pair | None]]]:
    """Per metric, each model's worst pair (one line per metric, not one section)."""
    table = []
    for metric in metrics:
        cells: list[_Pair | None] = []
        for model in models:
            worst = _worst([p for p in pairs if p.model == model], metric, 1)
            cells.append(worst[0] if worst else None)
        table.append((metric, cells))
    return table


class _MapMaker:
    """SSIM and LPIPS maps of the shown pairs, as the run computed them."""

    def __init__(self, record: dict[str, Any], lpips_metric: str | None, device: str,
                 thumbnail: int) -> None:
        self.record, self.thumbnail, self.device = record, thumbnail, device
        self.lpips_metric = lpips_metric
        self._network: Any = None
        self.lpips_error: str | None = None

    def _lpips(self) -> Any:
        if self._network is None and self.lpips_error is None and self.lpips_metric:
            from likeness.nets.lpips import LPIPS, LPIPS_NETS

            net = self.lpips_metric.removeprefix("lpips_")
            backbone = LPIPS_NETS[net][0]
            info = self.record.get("weights", {}).get(backbone, {})
            path = info.get("path") if info.get("source") == "user-supplied" else None
            try:
                self._network = LPIPS(net=net, spatial=True,
                                      backbone_weights=path).to(self.device)
            except LikenessError as error:
                self.lpips_error = str(error)
        return self._network

    def figures(self, pair: _Pair) -> dict[str, Any]:
        from likeness.evaluation.items.prepare import prepare_pair, restoration_view
        from likeness.io import load_image
        from likeness.metrics.skimage_compat import structural_similarity

        settings = self.record["settings"]
        reference_path, test_path = _pair_paths(self.record, pair)
        try:
            reference = load_image(reference_path, alpha=settings.get("alpha"))
            test = load_image(test_path, alpha=settings.get("alpha"))
            prepared = prepare_pair(reference, test, gray=settings.get("gray", False),
                                    resize=settings.get("resize"))
        except LikenessError as error:
            return {"error": str(error)}
        out: dict[str, Any] = {"reference": image_uri(reference.pixels, self.thumbnail),
                               "test": image_uri(test.pixels, self.thumbnail)}
        # the SSIM map of the pixels the run's SSIM saw: its Y channel and cropped border
        y_channel, crop = bool(settings.get("y_channel")), int(settings.get("crop_border") or 0)
        try:
            seen = restoration_view(prepared, y_channel=y_channel, crop=crop,
                                    rounded_y=settings.get("ssim_convention") == "matlab")
        except LikenessError as error:
            return {**out, "error": str(error)}
        _, ssim_map = structural_similarity(seen.reference, seen.test, channel_axis=-1,
                                            data_range=seen.data_range, full=True)
        ssim_map = ssim_map.mean(axis=2)
        out["ssim_map"] = heatmap_uri(ssim_map, 0.0, 1.0, self.thumbnail)
        out["ssim_range"] = ("0", "1")
        out["ssim_caption"] = "SSIM map" + "".join(
            text for wanted, text in ((y_channel, ", Y channel"),
                                      (crop, f", {crop}-px border cropped")) if wanted)
        network = self._lpips()
        if network is not None:
            import torch

            def unit(pixels: np.ndarray) -> torch.Tensor:
                tensor = torch.from_numpy(np.ascontiguousarray(pixels, np.float32)
                                          / np.float32(prepared.data_range)).permute(2, 0, 1)
                tensor = tensor.expand(3, -1, -1) if tensor.shape[0] == 1 else tensor
                return tensor[None].to(self.device)

            with torch.inference_mode():
                lpips_map = network(unit(prepared.reference), unit(prepared.test),
                                    normalize=True)[0, 0].float().cpu().numpy()
            high = float(lpips_map.max()) or 1.0
            out["lpips_map"] = heatmap_uri(lpips_map, 0.0, high, self.thumbnail)
            out["lpips_range"] = ("0", f"{high:.3g}")
        return out


def build_report(results_dir: str | os.PathLike[str], *, worst: int = 5, thumbnail: int = 160,
                 device: str = "cpu", disagree: Sequence[str] | None = None) -> str:
    """The HTML report of a results folder, as a string.

    Args:
        results_dir: a folder written by ``likeness compare --out-dir``.
        worst: pairs shown in detail: the most disagreeing, and each model's worst and
            best.
        thumbnail: the longest side of thumbnails and maps, in pixels.
        device: where the LPIPS maps are computed.
        disagree: the two per-pair metrics whose disagreement is shown (default: the two
            whose rankings of the pairs agree least, by Kendall's τ).

    Raises:
        LikenessError: not a complete results folder, or ``disagree`` names metrics the
            run did not compute.
    """
    import jinja2

    folder = Path(results_dir)
    record, pairs, summary, comparisons = _read(folder)
    settings = record["settings"]
    metrics = [m for m in settings["metrics"] if METRICS[m].kind != "set"]
    models = list(dict.fromkeys([r["model"] for r in summary] + [p.model for p in pairs]))
    lpips_metric = next((m for m in metrics if m.startswith("lpips_")), None)

    # a metric whose values lie on different scales is neither ranked nor plotted
    mixed = record.get("not_summarised") or {}
    ranked_metrics = [m for m in metrics if m not in mixed]
    values = [p.values for p in pairs]
    metric_pair = choose_disagreeing(values, ranked_metrics, disagree)
    sections = _sections(pairs, ranked_metrics, models, worst, metric_pair)
    disagreeing = sections[0][2] if metric_pair is not None else []
    shown: dict[int, _Pair] = {}
    for key, _, chosen in sections:
        for pair in chosen:
            pair.sections.append(key)
            shown[pair.index] = pair
    maker = _MapMaker(record, lpips_metric, device, thumbnail)
    figures = {index: maker.figures(pair) for index, pair in shown.items()}

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

    summary_table = _summary_table(summary, models, settings["metrics"])
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
        lpips_metric=lpips_metric, lpips_error=maker.lpips_error, metric_pair=metric_pair,
        agreement=agreements(values, ranked_metrics)[:5],
        worst_by_metric=_worst_by_metric(pairs, ranked_metrics, models),
        table_note=table_note(settings["metrics"], kind=record.get("kind", "compare"),
                              confidence=settings["statistics"]["confidence"]),
        sections=sections, figures=figures, pairs=pairs, shown=shown,
        colour_bar=colour_bar_uri(), label=label, fmt=format_value,
        arrow=_arrow,
        total_pairs=len(pairs), failed=sum(1 for p in pairs if p.error),
        names=({"model": "method", "reference": "content", "test": "stylized",
                "pairs": "stylized images"} if record.get("kind") == "style" else
               {"model": "model", "reference": "reference", "test": "test",
                "pairs": "pairs"}))


def _arrow(metric: str) -> str:
    return "↑" if METRICS[metric].better == "higher" else "↓"


def _summary_table(summary: list[dict[str, str]], models: list[str],
                   metrics: list[str]) -> list[list[str]]:
    by_key = {(r["model"], r["metric"]): r for r in summary}
    table = []
    for model in models:
        cells = [model]
        for metric in metrics:
            row = by_key.get((model, metric))
            if row is None:
                cells.append("—")
                continue
            mean, low, high = (_float(row[k]) for k in ("mean", "ci_low", "ci_high"))
            text = format_value(metric, mean)
            std = _float(row.get("std", ""))
            spread = METRICS[metric].reported_spread
            if spread == "std" and std is not None:
                text += f" ± {format_value(metric, std)}"
            elif spread == "ci" and low is not None and high is not None:
                text += f" [{format_value(metric, low)}, {format_value(metric, high)}]"
            if row.get("n_failed") not in (None, "", "0"):
                text += f" (n={row['n']})"
            cells.append(text)
        table.append(cells)
    return table


def write_report(results_dir: str | os.PathLike[str],
                 output: str | os.PathLike[str] | None = None, **options: Any) -> Path:
    """Write the report (default ``RESULTS_DIR/report.html``); returns its path."""
    target = Path(output) if output is not None else Path(results_dir) / "report.html"
    text = build_report(results_dir, **options)
    target.parent.mkdir(parents=True, exist_ok=True)
    replace_file(target, text, errors="backslashreplace")  # never through a link
    record_path = Path(results_dir) / "run.json"
    if target.resolve() == (Path(results_dir) / "report.html").resolve():
        # the record lists the report once it exists: "complete" means every listed file is
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if "report.html" not in record.get("files", ["report.html"]):
            record["files"].append("report.html")
            replace_file(record_path, json.dumps(record, indent=1, default=str,
                                                 allow_nan=True) + "\n")
    return target
