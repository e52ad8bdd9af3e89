"""``likeness.write_report``: the visual report of a results folder.  Its maps (SSIM's
windows, LPIPS's spatial distances) come from the run's own computer — an
``ItemComputer`` with the settings, conventions and checkpoints the run recorded — so a
map shows what the values measured; ``likeness.results.html`` only renders them."""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from likeness._version import __version__
from likeness.arguments import check_argument_kinds, check_paths, described, outside_stacklevel
from likeness.documents import file_text, json_document
from likeness.errors import InvalidInputError, InvalidInputTypeError, LikenessError
from likeness.evaluation.catalog.defaults import DEFAULT_METRICS
from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.engines.built_networks import Networks
from likeness.evaluation.engines.compute import ItemComputer
from likeness.evaluation.engines.maps import PairMaps, pair_maps
from likeness.evaluation.infra.measured import changed_since_the_run
from likeness.evaluation.items.plan import Item, item_paths
from likeness.evaluation.items.settings import RunSettings
from likeness.io import replace_file
from likeness.results.html import RECORD_DIGEST, ReportPair, render_report
from likeness.runs.folder import RunWarning, output_path, sign_record, write_json, writing
from likeness.wording import counted, run_words

__all__ = ["build_report", "results_pictures", "study_report", "write_report"]

# the recorded settings that decide what an item's computer sees
_ITEM_SETTINGS = ("gray", "resize", "alpha", "y_channel", "crop_border", "ssim_convention",
                  "convention", "ms_ssim_convention", "cfsd_max_pixels", "clip_t_convention")


def _pair_paths(record: dict[str, Any], pair: ReportPair) -> tuple[Path, Path]:
    return item_paths(record["settings"], str(record.get("kind")), pair.model, pair.reference,
                      pair.test)


class _RunMaps:
    """The maps of the pairs a report shows, by a computer rebuilt from the run record, of
    files unchanged since the run (``changed_since_the_run``)."""

    def __init__(self, device: str, results_dir: Path) -> None:
        self.device, self.results_dir = device, results_dir
        self.changed: dict[Path, str] = {}  # files shown without pictures, and why
        self.failed: dict[str, str] = {}  # pairs shown without pictures otherwise, and why
        self.command = "the run's command"
        self.unit = "pair"  # what the run measured: "stylization" for a style run
        self._computer: ItemComputer | None = None
        self.metrics: list[str] = []

    def _computer_for(self, record: dict[str, Any]) -> ItemComputer:
        if self._computer is None:
            settings = record["settings"]
            run = [m for m in settings["metrics"] if m in METRICS and METRICS[m].has_map]
            if not any(METRICS[m].map is not None for m in run):
                run = [*DEFAULT_METRICS["report"], *run]
            self.metrics = run
            options = RunSettings(tuple(run), **{name: settings[name] for name in
                                                 _ITEM_SETTINGS if name in settings})
            # built on first use, in the run's words for a missing checkpoint (Networks.get)
            networks = Networks(self.device, settings.get("weights") or {})
            words = run_words(record.get("kind"))
            roles = (words.reference, words.test)
            self._computer = ItemComputer(run, options, networks, roles)
        return self._computer

    def __call__(self, record: dict[str, Any], pair: ReportPair) -> PairMaps:
        computer = self._computer_for(record)
        reference, test = _pair_paths(record, pair)
        style = record.get("kind") == "style"
        self.command = f"`likeness {'style' if style else 'compare'}`"
        self.unit = run_words(record.get("kind")).unit
        if changed := changed_since_the_run(self.results_dir, (reference, test),
                                            self.command):
            self.changed.update(changed)
            return PairMaps(failure="; ".join(changed.values()))
        item = Item(pair.model, reference, test, pair.reference, pair.test)
        maps = pair_maps(computer, item, self.metrics)
        if maps.failure is not None:  # gone, unreadable or no longer decodable since the run
            self.failed[f"{pair.model}: {pair.reference} vs {pair.test}"] = maps.failure
        return maps


def build_report(results_dir: str | os.PathLike[str], *, worst: int = 5, thumbnail: int = 160,
                 device: str = "cpu", disagree: Sequence[str] | None = None) -> str:
    """The HTML report of a results folder, as a string.

    Args:
        results_dir: a folder written by ``likeness compare --out-dir`` (or ``style``).
        worst: pairs shown in detail: the most disagreeing, and each model's worst and
            best.
        thumbnail: the longest side of thumbnails and maps, in pixels.
        device: where the network maps (LPIPS) are computed.
        disagree: the two per-pair metrics whose disagreement is shown (default: the two
            whose rankings of the pairs agree least, by Kendall's τ).

    Raises:
        LikenessError: not a complete results folder, or ``disagree`` names metrics the
            run did not compute.
    """
    from jinja2 import UndefinedError

    check_paths(results_dir=results_dir)
    _check_report_arguments(worst, thumbnail, disagree)
    try:
        maps = _RunMaps(device, Path(results_dir))
        page = render_report(results_dir, maps, worst=worst, thumbnail=thumbnail,
                             disagree=disagree)
    except (KeyError, TypeError, AttributeError, UndefinedError) as error:
        written, signed = _written_by(Path(results_dir))
        if signed or written is None:
            raise  # a record this version wrote, unchanged: a bug, said as one
        if written == __version__:
            raise LikenessError(f"{results_dir}: run.json has a part likeness cannot read "
                                f"({type(error).__name__}: {error}): it was edited, or "
                                "written before likeness signed its records; run the command "
                                "again to rewrite the folder") from error
        raise LikenessError(f"{results_dir}: run.json was written by likeness {written}, whose "
                            f"record likeness {__version__} cannot read ({type(error).__name__}: "
                            f"{error}); write the report with likeness {written}") from error
    if maps.changed:
        one = len(maps.changed) == 1
        warnings.warn(f"{counted(len(maps.changed), 'file')} shown without pictures: changed "
                      f"since the run measured {'it' if one else 'them'} "
                      f"({', '.join(map(str, maps.changed))}); run {maps.command} again to "
                      f"measure {'it as it is' if one else 'them as they are'} now",
                      RunWarning, stacklevel=outside_stacklevel())
    if maps.failed:
        warnings.warn(f"{counted(len(maps.failed), maps.unit)} shown without pictures: "
                      + "; ".join(f"{pair} ({why})" for pair, why in maps.failed.items()),
                      RunWarning, stacklevel=outside_stacklevel())
    return page


def _check_report_arguments(worst: object, thumbnail: object, disagree: object) -> None:
    """The report's options as `likeness report` bounds them (``--worst``, ``--thumbnail``,
    ``--disagree``), checked before the folder is read.

    Raises:
        InvalidInputError: naming the argument (``InvalidInputTypeError`` for its kind).
    """
    for name, value, least, most in (("worst", worst, 1, 100), ("thumbnail", thumbnail, 32,
                                                                   2048)):
        check_argument_kinds({name: (value, "a whole number", (numbers.Integral,))})
        if isinstance(value, bool) or not least <= value <= most:  # type: ignore[operator]
            raise InvalidInputError(f"{name} must be a whole number from {least} to {most}, "
                                    f"got {value!r}")
    if disagree is not None and not (isinstance(disagree, (list, tuple)) and all(
            isinstance(name, str) for name in disagree)):
        raise InvalidInputTypeError(f"disagree must be two metric names or None, got "
                                    f"{described(disagree)}")


def _written_by(folder: Path) -> tuple[str | None, bool]:
    """The likeness version a results folder's run.json names, if it can be read, and
    whether the record is signed and unchanged."""
    from likeness.results.html import record_digest

    try:
        record = json_document(file_text(folder / "run.json"))
    except (OSError, ValueError):
        return None, False
    if not isinstance(record, dict):
        return None, False
    version = record.get("likeness_version")
    return (version if isinstance(version, str) else None,
            record.get(RECORD_DIGEST) == record_digest(record))


def write_report(results_dir: str | os.PathLike[str],
                 output: str | os.PathLike[str] | None = None, **options: Any) -> Path:
    """Write the report (default ``RESULTS_DIR/report.html``, never through a link) and
    list it in the run record; returns its path.  Options as ``build_report``.

    Raises:
        LikenessError: as ``build_report``; StorageError: the file cannot be written.
    """
    check_paths(results_dir=results_dir, output=output, optional=("output",))
    target = (output_path(output, "output", ".html", ".htm") if output is not None
              else Path(results_dir) / "report.html")
    text = build_report(results_dir, **options)
    with writing(target):  # a full disk, a read-only folder: one message naming the file
        target.parent.mkdir(parents=True, exist_ok=True)
        replace_file(target, text, errors="backslashreplace")
    record_path = Path(results_dir) / "run.json"
    if target.resolve() == (Path(results_dir) / "report.html").resolve():
        # the record lists the report once it exists: "complete" means every listed file is
        record = json_document(file_text(record_path))
        if "report.html" not in record.get("files", ["report.html"]):
            record["files"].append("report.html")
            # signed again only if it was signed (and so checked by build_report)
            write_json(record_path, sign_record(record) if RECORD_DIGEST in record
                       else record)
    return target


def results_pictures(results_dir: Path | None, thumbnail: int = 160
                     ) -> Callable[[str, str, bool], str]:
    """(model, item, reference?) → an ``<img>`` of that output (or of its reference) as the
    results folder ``results_dir`` names it, a thumbnail inlined; a missing image or a
    folder not given is said in its place."""
    from html import escape

    from likeness.io import load_image
    from likeness.results.figures import image_uri
    from likeness.results.html import read_results_folder

    record: dict[str, Any] = {}
    pairs: dict[tuple[str, str], ReportPair] = {}
    if results_dir is not None:
        record, found, _, _ = read_results_folder(results_dir)
        pairs = {(pair.model, pair.reference): pair for pair in found}

    def picture(model: str, item: str, reference: bool) -> str:
        pair = pairs.get((model, item))
        if pair is None:
            return "<div class='missing'>no image</div>"
        path = _pair_paths(record, pair)[0 if reference else 1]
        assert results_dir is not None  # (pairs come from it)
        if changed := changed_since_the_run(results_dir, (path,)):
            return f"<div class='missing'>{escape(changed[path])}</div>"
        try:
            uri = image_uri(load_image(path).pixels, thumbnail)
        except (LikenessError, OSError) as error:
            return f"<div class='missing'>{escape(str(error))}</div>"
        return f"<img src='{uri}' alt='{escape(str(path))}'>"

    return picture


def study_report(analysis: Any, judgments: dict[str, list[tuple[str, str, str, str]]],
                 metrics: dict[str, tuple[bool, dict[tuple[str, str], float]]],
                 results_dir: Path | None, methods: str, *, worst: int = 3,
                 thumbnail: int = 160) -> str:
    """A study's HTML page (self-contained): each question's scores with their intervals,
    each metric's agreement with the participants, and the item-and-pair groups where
    each metric disagrees most with them, with the reference and both outputs.
    ``judgments``: each question's scored (item, a, b, choice) rows."""
    from html import escape

    from likeness.results.reliability import most_disagreeing

    picture = results_pictures(results_dir, thumbnail)

    def number(value: float) -> str:
        return f"{value:.3f}" if value == value else "—"

    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>likeness: user study"
             "</title><style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
             "table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid "
             "#ddd}.bar{background:#4a7ebb;height:10px}.missing{color:#a00}figure{display:"
             "inline-block;margin:6px}img{max-width:160px}</style></head><body>",
             "<h1>User study</h1>", f"<p>{escape(methods)}</p>"]
    for question in analysis.questions:
        parts.append(f"<h2>{escape(question.question or 'Scores')}</h2>")
        parts.append("<table><tr><th>model</th><th>Bradley–Terry [CI]</th><th>JOD [CI]</th>"
                     "<th>wins / judgments</th></tr>")
        for model in question.ranking:
            low, high = question.ci[model]
            jod_low, jod_high = question.jod_ci[model]
            parts.append(f"<tr><td>{escape(model)}</td><td>{number(question.bradley_terry[model])}"
                         f" [{number(low)}, {number(high)}]</td><td>{number(question.jod[model])}"
                         f" [{number(jod_low)}, {number(jod_high)}]</td><td>"
                         f"{question.wins[model]} / {question.counts[model]}</td></tr>")
        parts.append("</table>")
        if not question.metrics:
            continue
        parts.append("<h3>Agreement of each metric with the participants</h3><table><tr>"
                     "<th>metric</th><th>2AFC score [CI]</th><th></th><th>Spearman ρ</th>"
                     "<th>Kendall τ</th></tr>")
        for name, (score, (low, high), _, _) in question.metrics.items():
            rho, _, tau, _ = question.correlations.get(name, (float("nan"),) * 4)
            width = int(max(score, 0.0) * 200) if score == score else 0
            parts.append(f"<tr><td>{escape(METRICS[name].label if name in METRICS else name)}"
                         f"</td><td>{number(score)} [{number(low)}, {number(high)}]</td>"
                         f"<td><div class='bar' style='width:{width}px'></div></td>"
                         f"<td>{number(rho)}</td><td>{number(tau)}</td></tr>")
        parts.append("</table>")
        rows = judgments.get(question.question, [])
        for name, (higher, values) in metrics.items():
            cases = most_disagreeing(rows, values, higher, worst)
            if not cases:
                continue
            label = METRICS[name].label if name in METRICS else name
            parts.append(f"<h3>Where {escape(label)} disagrees most with the participants</h3>")
            for item, preferred, other, share, judged in cases:
                parts.append(
                    f"<div><p>{escape(item)}: {escape(label)} prefers {escape(preferred)}; "
                    f"{share * 100:.0f} % of {counted(int(judged), 'judgment')} chose it</p>"
                    f"<figure>{picture(preferred, item, True)}<figcaption>reference"
                    f"</figcaption></figure><figure>{picture(preferred, item, False)}"
                    f"<figcaption>{escape(preferred)} ({label} {number(values[(preferred, item)])})"
                    f"</figcaption></figure><figure>{picture(other, item, False)}<figcaption>"
                    f"{escape(other)} ({label} {number(values[(other, item)])})</figcaption>"
                    "</figure></div>")
    parts.append("</body></html>")
    return "\n".join(parts)
