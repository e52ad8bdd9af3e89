"""The ``likeness`` command line: parses arguments, calls the engine, renders results.

Exit codes: 0 success, 1 error (including pairs that failed), 2 usage error.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import re
import signal
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from likeness.errors import LikenessError

if TYPE_CHECKING:
    from rich.console import Console


# Digits shown in terminal tables; files keep full precision.
_TABLE_DIGITS = {"psnr": 3, "mse": 3}


def _format(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    decimals = _TABLE_DIGITS.get(metric, 4)
    if value != 0 and abs(value) < 1e-4:
        return f"{value:.3g}"
    if value != 0 and abs(value) < 1:  # three significant digits at least: MSE 0.00213
        decimals = max(decimals, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def _stdout_console() -> Console:
    """Tables on stdout; wide when piped, so that columns are not wrapped."""
    from rich.console import Console

    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 250)


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


# The library's messages name Python arguments; the command line names its own options.
_CLI_WORDS = [
    (r"gray=True", "--gray"),
    (r"resize='reference'", "--resize reference"),
    (r"alpha='(white|black|drop)'", r"--alpha \1"),
    (r"overwrite=True", "--overwrite"),
    (r"strict=True", "--strict"),
    (r"cache=PATH", "--cache FILE"),
    (r"cache=False", "--no-cache"),
    (r"pairs=CSV", "--pairs CSV"),
    (r"models=\{NAME: DIR\}", "--model NAME=DIR"),
    (r"methods=\{NAME: DIR\}", "--method NAME=DIR"),
    (r"stylized=DIR", "--stylized DIR"),
    (r"triplets=CSV", "--triplets CSV"),
    (r"raise cfsd_max_pixels", "raise --cfsd-max-pixels"),
    (r"weights=\{'(\w+)': PATH\}", r"--weights \1=PATH"),
    (r"device='(\w+)' or device='(\w+)'", r"--device \1 or \2"),
    (r"subset_size=None", "{subset} all"),
    (r"subset_size=(\d+)", r"{subset} \1"),
    (r"name=NAME", "--name NAME"),
]


def cli_words(text: str, command: str = "compare") -> str:
    """A library message in the command line's words (its options, not Python arguments)."""
    subset = "--subset-size" if command == "kid" else "--kid-subset-size"
    for pattern, replacement in _CLI_WORDS:
        text = re.sub(pattern, replacement.replace("{subset}", subset), text)
    return text


def _say(kind: str, text: str, command: str = "compare") -> None:
    """One line on stderr: ``error:``, ``warning:`` or ``note:``, in the command line's words."""
    style = {"error": "red", "warning": "yellow"}.get(kind)
    _stderr_console().print(f"{kind}: {cli_words(str(text), command)}", highlight=False,
                            markup=False, style=style)


class _Commands(click.Group):
    """The command group, with a last line of defence: an exception no command turned into
    a message (a bug) is one line on stderr and exit code 1, not a traceback
    (``LIKENESS_DEBUG=1`` shows the traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            if os.environ.get("LIKENESS_DEBUG"):
                raise
            if isinstance(error, ValueError):  # bad input a library below us refused
                _say("error", f"{error}")
            else:
                _say("error", f"unexpected {type(error).__name__}: {error} (a bug in "
                              "likeness: please report it; LIKENESS_DEBUG=1 shows the "
                              "traceback)")
            sys.exit(1)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="likeness")
def main() -> None:
    """Measure how alike images are: SSIM, MS-SSIM, PSNR, LPIPS, FID, KID, exactly as the
    reference implementations do."""
    # SIGTERM ends the run like Ctrl-C: the results folder's record says "interrupted"
    # instead of "running", and a re-run resumes
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    # a file name that is not valid UTF-8 is printed escaped, never a UnicodeEncodeError
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def _kid_subset_size(value: str, hint: str) -> int | None:
    if value == "all":
        return None
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: an integer, or 'all'", param_hint=hint) from None


def _parse_models(items: tuple[str, ...]) -> dict[str, Path]:
    models = {}
    for item in items:
        name, _, folder = item.partition("=")
        if not name or not folder:
            raise click.BadParameter(f"{item!r}: expected NAME=DIR", param_hint="--model")
        if name in models:
            raise click.BadParameter(f"model {name!r} given twice", param_hint="--model")
        models[name] = Path(folder)
    return models


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--model", "model_items", multiple=True, metavar="NAME=DIR",
              help="A model's output folder under a name of your choice; repeatable.")
@click.option("--pairs", "pairs_csv", type=click.Path(exists=True, dir_okay=False,
                                                     path_type=Path), default=None,
              help="CSV with columns reference,test[,model] (paths relative to the CSV).")
@click.option("--metrics", "metrics", default="ssim,psnr", show_default=True,
              help="Comma-separated: ssim, psnr, mse, ms-ssim, lpips (= lpips-alex), "
                   "lpips-vgg, lpips-squeeze, fid, kid.")
@click.option("--gray", is_flag=True, help="Compare ITU-R 601 luma (Pillow's convert('L')).")
@click.option("--resize", type=click.Choice(["reference"]), default=None,
              help="Resize the test image to the reference's size instead of refusing.")
@click.option("--alpha", type=click.Choice(["white", "black", "drop"]), default=None,
              help="Handle transparent images: composite over white/black, or drop alpha.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write one row per pair to a .csv or .json file.")
@click.option("--out-dir", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write the results folder (tables, statistics, BibTeX, "
                                 "methods, run.json); a killed run resumes there.")
@click.option("--overwrite", is_flag=True,
              help="Allow an --out-dir that holds another run or other files.")
@click.option("--html", "html_report", is_flag=True,
              help="Also write the visual report, report.html, into --out-dir.")
@click.option("--strict", is_flag=True, help="Stop at the first failure.")
@click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Decoding threads.")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=16, show_default=True,
              help="Images per LPIPS pass.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="Where networks run (auto: CUDA when available).")
@click.option("--weights", "weights", multiple=True, metavar="NAME=PATH",
              help="Use this checkpoint file for a network (e.g. alexnet=my.pth); repeatable.")
@click.option("--bootstrap", type=click.IntRange(100, 10_000_000), default=2000,
              show_default=True, help="Bootstrap resamples for confidence intervals.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95,
              show_default=True)
@click.option("--ci-method", type=click.Choice(["auto", "bca", "percentile"]), default="auto",
              show_default=True, help="auto: BCa up to 100,000 values, percentile above.")
@click.option("--fid-resize", type=click.Choice(["pytorch-fid", "clean"]),
              default="pytorch-fid", show_default=True)
@click.option("--kid-subset-size", default="1000", show_default=True,
              help="Images per KID subset, or 'all'.")
@click.option("--kid-subsets", type=click.IntRange(1, 100000), default=100, show_default=True)
@click.option("--kid-seed", type=int, default=0, show_default=True)
@click.option("--cache", "cache", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Cache database (default: ~/.cache/likeness/cache.sqlite "
                                 "or $LIKENESS_CACHE_DIR).")
@click.option("--no-cache", is_flag=True,
              help="Use no shared cache (a results folder still keeps its own progress).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="ray: run on a Ray cluster (pip install 'likeness[ray]').")
@click.option("--address", default=None,
              help="Ray cluster address (default: connect to RAY_ADDRESS or start one here).")
def compare(paths: tuple[Path, ...], model_items: tuple[str, ...], pairs_csv: Path | None,
            metrics: str, gray: bool, resize: str | None, alpha: str | None,
            out: Path | None, out_dir: Path | None, overwrite: bool, strict: bool,
            workers: int, batch_size: int, device: str, weights: tuple[str, ...],
            bootstrap: int, seed: int, confidence: float, ci_method: str, fid_resize: str,
            kid_subset_size: str, kid_subsets: int, kid_seed: int, cache: Path | None,
            no_cache: bool, html_report: bool, engine: str, address: str | None) -> None:
    """Compare REFERENCE with TEST...: two image files, or a reference folder with one or
    more model folders (paired by file name), or the pairs of a --pairs CSV.

    \b
      likeness compare ref.png out.png
      likeness compare refs/ outputs/ --metrics ssim,psnr,lpips --out results.csv
      likeness compare refs/ model_a/ model_b/ --metrics ssim,lpips,fid --out-dir results/

    Folders are searched recursively and paired by relative path without extension
    (ref/x/a.jpg with out/x/a.png); files without a partner are listed.
    """
    from likeness.evaluation.registry import parse_metric_names

    try:
        names = parse_metric_names(metrics)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--metrics") from None
    if out is not None and out.suffix.lower() not in (".csv", ".json"):
        raise click.BadParameter("the file must end in .csv or .json", param_hint="--out")
    if html_report and out_dir is None:
        raise click.UsageError("--html writes report.html into the results folder: give "
                               "--out-dir too")
    models = _parse_models(model_items)
    reference = paths[0] if paths else None
    tests = list(paths[1:])
    weight_files = _parse_weights(weights)
    options = {"gray": gray, "resize": resize, "alpha": alpha, "device": device,
               "weights": weight_files}
    try:
        if (pairs_csv is None and not models and len(tests) == 1 and reference is not None
                and reference.is_file() and tests[0].is_file()):
            failed = _compare_two_files(reference, tests[0], names, out, options)
        else:
            if pairs_csv is None:
                if reference is None or not (tests or models):
                    raise click.UsageError("give REFERENCE and at least one TEST folder (or "
                                           "--model NAME=DIR, or --pairs CSV)")
                if any(p.is_file() for p in [reference, *tests]):
                    raise click.UsageError("REFERENCE and TEST must both be files or all be "
                                           "folders")
            failed = _compare_folders(
                reference, tests, models, pairs_csv, names, out, out_dir,
                dict(options, workers=workers, batch_size=batch_size, overwrite=overwrite,
                     strict=strict, bootstrap=bootstrap, seed=seed, confidence=confidence,
                     ci_method=ci_method, fid_resize=fid_resize,
                     kid_subset_size=_kid_subset_size(kid_subset_size, "--kid-subset-size"),
                     kid_subsets=kid_subsets, kid_seed=kid_seed, engine=engine,
                     address=address, cache=False if no_cache else (cache or True)))
            if html_report and out_dir is not None and (out_dir / "run.json").is_file():
                from likeness.results.html import write_report

                report = write_report(out_dir, device=device if device != "auto" else "cpu")
                _stderr_console().print(f"report written to {report}", highlight=False,
                                        markup=False)
    except LikenessError as error:
        _say("error", str(error))
        sys.exit(1)
    if failed:
        sys.exit(1)


def _parse_weights(items: tuple[str, ...]) -> dict[str, str]:
    from likeness.nets.weights import REGISTRY

    weights = {}
    for item in items:
        name, _, path = item.partition("=")
        if not path or name not in REGISTRY:
            raise click.BadParameter(f"{item!r}: expected NAME=PATH with NAME one of "
                                     f"{', '.join(REGISTRY)}", param_hint="--weights")
        weights[name] = path
    return weights


def _compare_two_files(reference: Path, test: Path, names: list[str], out: Path | None,
                       options: dict[str, Any]) -> bool:
    from likeness.evaluation.rows import PairRow
    from likeness.evaluation.single import compare_pair

    result = compare_pair(reference, test, metrics=names, **options)
    for name in names:
        click.echo(f"{name}\t{_format(name, result.values.get(name))}")
    row = PairRow("test", result.reference, result.test, result.values, result.error,
                  result.decisions)
    _report_rows([row], {})
    if out is not None:
        _write_rows(out, [row], names, {})
    return row.error is not None


def _compare_folders(reference: Path | None, tests: list[Path], models: dict[str, Path],
                     pairs_csv: Path | None, names: list[str], out: Path | None,
                     out_dir: Path | None, options: dict[str, Any]) -> bool:
    from likeness.runs.compare import compare as run_compare

    console = _stderr_console()
    report, stop = _set_progress(describe=str, rate=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the run records them; printed below
            results = run_compare(reference, tests or None, models=models or None,
                                  pairs=pairs_csv, metrics=names, out_dir=out_dir,
                                  progress=report, **options)
    finally:
        stop()
    for message in results.record.get("warnings", []):
        _say("warning", message)
    for model, (unmatched_reference, unmatched_test) in results.unmatched.items():
        prefix = f"{model}: " if len(results.models) > 1 else ""
        for label, files in (("reference", unmatched_reference), ("test", unmatched_test)):
            if files:
                console.print(f"{prefix}{len(files)} {label} file(s) without a partner: "
                              + ", ".join(files), style="yellow", highlight=False,
                              markup=False)
    single = len(results.models) == 1
    if single and results.pair_metrics and not results.set_metrics:
        _print_table(results)
    else:
        _print_summary(results)
    _report_rows(results.rows, results.record)
    if out is not None:
        _write_rows(out, results.rows, results.pair_metrics, results.unmatched,
                    with_model=not single)
    if out_dir is not None:
        console.print(f"results written to {out_dir}/ (summary.md, summary.tex, "
                      "per_image.csv, comparisons.csv, references.bib, methods.md, run.json)",
                      highlight=False, markup=False)
    return results.failures > 0


def _print_table(results: Any) -> None:
    """One row per pair and the mean: the run's summary, so that a metric whose values lie
    on different scales shows no mean here either."""
    from rich.table import Table

    rows, names = results.rows, results.pair_metrics
    table = Table(show_edge=False)
    table.add_column("reference")
    table.add_column("test")
    for name in names:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(row.reference, row.test,
                      *(_format(name, row.values.get(name)) for name in names))
    table.add_section()
    means = []
    for name in names:
        summary = results.summary_of(results.models[0], name)
        mean = "—" if math.isnan(summary.mean) else _format(name, summary.mean)
        means.append(mean if summary.n == len(rows) else f"{mean} (n={summary.n})")
    table.add_row(f"mean of {len(rows)} pairs", "", *means)
    _stdout_console().print(table, highlight=False)


def _print_summary(results: Any) -> None:
    from rich.table import Table

    from likeness.evaluation.registry import METRICS
    from likeness.results.tables import format_value

    unit = "method" if results.kind == "style" else "model"
    table = Table(show_edge=False, title=f"mean [95% CI] per {unit}" if results.pair_metrics
                  else None)
    table.add_column(unit)
    for metric in results.metrics:
        arrow = "↑" if METRICS[metric].better == "higher" else "↓"
        table.add_column(f"{metric} {arrow}", justify="right")
    for model in results.models:
        cells = []
        for metric in results.metrics:
            row = results.summary_of(model, metric)
            cell = format_value(metric, row.mean)
            if metric == "kid" and row.std == row.std:
                cell += f" ± {format_value('kid', row.std)}"
            elif row.ci_low == row.ci_low:
                cell += (f" [{format_value(metric, row.ci_low)}, "
                         f"{format_value(metric, row.ci_high)}]")
            if row.n_failed:
                cell += f" (n={row.n})"
            cells.append(cell)
        table.add_row(model, *cells)
    _stdout_console().print(table, highlight=False)


def _report_rows(rows: list[Any], record: dict[str, Any]) -> None:
    console = _stderr_console()
    several = len({row.model for row in rows}) > 1
    for row in rows:
        if row.notes:
            who = f"{row.model}: {row.test}" if several else row.test
            _say("note", f"{who}: " + "; ".join(row.notes))
    for metric, why in record.get("not_summarised", {}).items():
        _say("warning", f"{metric} is {why}")
    for key, info in record.get("infinite_values", {}).items():
        _say("note", f"{key}: {info['count']} value(s) are +inf ({info['why']}); the mean "
                     "is +inf")
    for source, files in record.get("skipped_files", {}).items():
        _say("note", f"{source}: {len(files)} file(s) skipped for their extension: "
                     + ", ".join(files))
    failures = [row for row in rows if row.error]
    for row in failures:
        who = f"{row.model}: " if several else ""
        _say("error", f"{who}{row.reference} vs {row.test}: {row.error}")
    for error in record.get("set_errors", []):
        _say("error", f"{error['model']}: {error['metric']}: {error['error']}")
    for error in record.get("file_errors", []):
        _say("error", f"{error['file']}: {error['reason']}")
    if failures:
        console.print(f"{len(failures)} of {len(rows)} pair(s) failed", style="bold red")


def _write_rows(out: Path, rows: list[Any], names: list[str],
                unmatched: dict[str, tuple[list[str], list[str]]],
                with_model: bool = False) -> None:
    from likeness.runs.compare import writing

    with writing(out):  # a full disk or a read-only folder: one message naming --out
        _write_row_file(out, rows, names, unmatched, with_model)


def _write_row_file(out: Path, rows: list[Any], names: list[str],
                    unmatched: dict[str, tuple[list[str], list[str]]],
                    with_model: bool) -> None:
    columns = [*(["model"] if with_model else []), "reference", "test", *names, "error",
               "notes"]
    records = [{"model": row.model, "reference": row.reference, "test": row.test,
                **{name: row.values.get(name) for name in names},
                "error": row.error, "notes": "; ".join(row.notes) or None} for row in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
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
        out.write_text(json.dumps(document, indent=1, allow_nan=True) + "\n")
        return
    with out.open("w", newline="", encoding="utf-8", errors="backslashreplace") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for record in records:
            writer.writerow({k: ("" if v is None else repr(v) if isinstance(v, float) else v)
                             for k, v in record.items()})


def _set_options(command: Any) -> Any:
    """Options shared by ``fid`` and ``kid``."""
    options = [
        click.option("--weights", "weights", default=None, metavar="PATH",
                     help="pt_inception checkpoint to use (default: the weights manager's; "
                          "NAME=PATH is accepted too)."),
        click.option("--resize", type=click.Choice(["pytorch-fid", "clean"]),
                     default="pytorch-fid", show_default=True,
                     help="How images reach 299×299: pytorch-fid's bilinear in the network, "
                          "or clean-fid's Pillow bicubic."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                     show_default=True),
        click.option("--batch-size", type=click.IntRange(1, 4096), default=32,
                     show_default=True),
        click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True,
                     help="Decoding threads."),
        click.option("--alpha", type=click.Choice(["white", "black", "drop"]), default=None,
                     help="Handle transparent images: composite over white/black, or drop."),
        click.option("--cache", "cache", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, help="Feature cache database (default: "
                     "$LIKENESS_CACHE_DIR/cache.sqlite or ~/.cache/likeness/cache.sqlite)."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write cached features."),
        click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, help="Write the value, the sets and the settings as JSON."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _set_weights_path(weights: str | None) -> str | None:
    if weights is None:
        return None
    name, separator, path = weights.partition("=")
    if separator:
        if name != "pt_inception":
            raise click.BadParameter(f"{weights!r}: FID and KID use pt_inception",
                                     param_hint="--weights")
        return path
    return weights


def _set_progress(describe: Any = lambda label: f"features {Path(label).name}",
                  rate: bool = False) -> tuple[Any, Any]:
    """(report, stop): a progress bar on stderr that appears with the first report, so
    that an error raised before any work is not preceded by the blank line of a bar that
    never showed.  ``rate`` adds pairs/s (images/s for feature stages)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TimeRemainingColumn,
    )

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Any:
            from rich.text import Text

            speed = task.finished_speed or task.speed
            unit = "pairs" if task.description in ("pairs", "triplets") else "images"
            return Text(f"{speed:.1f} {unit}/s" if speed else "", style="progress.data.speed")

    columns = [BarColumn(), MofNCompleteColumn(), *([Rate()] if rate else []),
               TimeRemainingColumn()]
    progress = Progress("[progress.description]{task.description}", *columns,
                        console=_stderr_console(), transient=True)
    tasks: dict[str, Any] = {}

    def report(label: str, done: int, total: int) -> None:
        if not tasks:
            progress.start()
        if label not in tasks:
            tasks[label] = progress.add_task(describe(label), total=total)
        progress.update(tasks[label], completed=done, total=total)

    def stop() -> None:
        if tasks:
            progress.stop()

    return report, stop


def _report_sets(sets: Any) -> bool:
    """Print each set's size, cache use, decisions and errors on stderr; True if any failed."""
    console = _stderr_console()
    failed = False
    for image_set in sets:
        line = f"{image_set.source}: {image_set.count} images"
        if image_set.features is not None:
            line += f" ({image_set.cached} features from the cache)"
        console.print(line, highlight=False, markup=False)
        for note, count in image_set.decisions.items():
            _say("note", f"{count} image(s): {note}")
        if "note" in image_set.settings:
            _say("note", image_set.settings["note"])
        for name, reason in image_set.errors:
            failed = True
            _say("error", f"{name}: {reason} (left out of the set)")
    return failed


def _set_record(sets: Any, settings: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "settings": settings,
            "sets": [{"source": s.source, "count": s.count, "cached": s.cached,
                      "decisions": s.decisions,
                      "errors": [{"file": f, "reason": r} for f, r in s.errors]}
                     for s in sets]}


def _write_set_record(out: Path, record: dict[str, Any], command: str) -> None:
    """``--out`` of fid and kid; a failed write is one message and exit code 1."""
    from likeness.runs.compare import writing

    try:
        with writing(out):
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(record, indent=1) + "\n")
    except LikenessError as error:
        _say("error", str(error), command)
        sys.exit(1)


def _run_set_command(action: Any, command: str) -> Any:
    import warnings

    report, stop = _set_progress()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            result = action(report)
    except LikenessError as error:
        stop()
        _say("error", str(error), command)
        sys.exit(1)
    stop()
    for warning in {str(w.message) for w in caught}:
        _say("warning", warning, command)
    return result


@main.command()
@click.argument("a", type=click.Path(exists=True, path_type=Path))
@click.argument("b", type=click.Path(exists=True, path_type=Path), required=False)
@_set_options
@click.option("--save-stats", "save_stats", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Write mu/sigma (pytorch-fid's .npz) of A, then of B if given again.")
def fid(a: Path, b: Path | None, weights: str | None, resize: str, device: str,
        batch_size: int, workers: int, alpha: str | None, cache: Path | None, no_cache: bool,
        out: Path | None, save_stats: tuple[Path, ...]) -> None:
    """FID between A and B: folders (recursive) or .npz statistics files.

    Exactly pytorch-fid's value.  With only A, --save-stats writes its statistics.
    """
    from likeness.evaluation.cache import Cache, default_cache_path
    from likeness.evaluation.set_features import (
        FeatureExtractor,
        frechet_between,
        load_set,
        save_statistics,
    )

    sources = [a] if b is None else [a, b]
    if b is None and not save_stats:
        raise click.UsageError("give two sets to compare, or one set with --save-stats FILE")
    if len(save_stats) > len(sources):
        raise click.UsageError(f"--save-stats given {len(save_stats)} times for "
                               f"{len(sources)} set(s)")

    def run(report: Any) -> Any:
        extractor = FeatureExtractor(weights=_set_weights_path(weights), resize=resize,
                                     device=device, alpha=alpha)
        with Cache(None if no_cache else cache or default_cache_path()) as store:
            sets = [load_set(source, extractor, store, batch_size=batch_size,
                             workers=workers,
                             progress=functools.partial(report, str(source)))
                    for source in sources]
        for image_set, target in zip(sets, save_stats, strict=False):
            save_statistics(image_set, target)
        value = frechet_between(*sets) if len(sets) == 2 else None
        return sets, extractor.settings, value

    sets, settings, value = _run_set_command(run, "fid")
    failed = _report_sets(sets)
    for image_set, target in zip(sets, save_stats, strict=False):
        _stderr_console().print(f"statistics of {image_set.source} written to {target}",
                                highlight=False, markup=False)
    if value is not None:
        click.echo(f"FID\t{value:.10g}")
    if out is not None:
        _write_set_record(out, _set_record(sets, settings, {"fid": value}), "fid")
    if failed:
        sys.exit(1)


@main.command()
@click.argument("a", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("b", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_set_options
@click.option("--subset-size", default="1000", show_default=True,
              help="Images per subset, or 'all' for the whole sets once.")
@click.option("--subsets", type=click.IntRange(1, 100000), default=100, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def kid(a: Path, b: Path, weights: str | None, resize: str, device: str, batch_size: int,
        workers: int, alpha: str | None, cache: Path | None, no_cache: bool, out: Path | None,
        subset_size: str, subsets: int, seed: int) -> None:
    """KID between folders A and B (unbiased MMD², cubic kernel): mean and std over subsets."""
    from likeness.runs.fid import kid_folders

    size = _kid_subset_size(subset_size, "--subset-size")

    def run(report: Any) -> Any:
        return kid_folders(a, b, subset_size=size, subsets=subsets, seed=seed,
                           weights=_set_weights_path(weights), resize=resize, device=device,
                           alpha=alpha, batch_size=batch_size, workers=workers,
                           cache=False if no_cache else (cache or True), progress=report)

    result = _run_set_command(run, "kid")
    failed = _report_sets(result.sets)
    click.echo(f"KID\t{result.mean:.10g}\t± {result.std:.4g}")
    if out is not None:
        _write_set_record(out, _set_record(result.sets, result.settings,
                                           {"kid": result.mean, "kid_std": result.std}), "kid")
    if failed:
        sys.exit(1)


@main.command()
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the report (default: RESULTS_DIR/report.html).")
@click.option("--worst", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Pairs shown in detail per metric, and most-disagreeing pairs.")
@click.option("--thumbnail", type=click.IntRange(32, 2048), default=160, show_default=True,
              help="Longest side of thumbnails and maps, in pixels.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu",
              show_default=True, help="Where the LPIPS maps are computed.")
def report(results_dir: Path, output: Path | None, worst: int, thumbnail: int,
           device: str) -> None:
    """Write the visual HTML report of RESULTS_DIR (a likeness compare --out-dir folder):
    one self-contained file showing where and why SSIM and LPIPS disagree."""
    from likeness.results.html import write_report

    try:
        path = write_report(results_dir, output, worst=worst, thumbnail=thumbnail,
                            device=device)
    except LikenessError as error:
        _say("error", str(error), "report")
        sys.exit(1)
    click.echo(str(path))


@main.command()
@click.option("--content", "content", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of content images.")
@click.option("--style", "style", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of style images.")
@click.option("--stylized", "stylized", multiple=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of one method's outputs (C__S.ext or S/C.ext); repeatable.")
@click.option("--method", "method_items", multiple=True, metavar="NAME=DIR",
              help="A method's output folder under a name of your choice; repeatable.")
@click.option("--triplets", "triplets_csv", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Manifest CSV: content,style,stylized[,method].")
@click.option("--metrics", "metrics", default=",".join(
    ("art_fid", "fid_art", "fid", "lpips_alex", "cfsd", "gram", "adain_style",
     "content_loss", "ssim", "ssim_gray")), show_default=True, help="Comma-separated.")
@click.option("--out-dir", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write the results folder (resumable).")
@click.option("--overwrite", is_flag=True,
              help="Allow an --out-dir that holds another run or other files.")
@click.option("--strict", is_flag=True, help="Stop at the first failure.")
@click.option("--resize", type=click.Choice(["reference"]), default=None,
              help="Resize a stylized image to its content's size instead of refusing.")
@click.option("--alpha", type=click.Choice(["white", "black", "drop"]), default=None)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--weights", "weights", multiple=True, metavar="NAME=PATH",
              help="Checkpoint file for a network (alexnet, vgg19, pt_inception, "
                   "art_inception); repeatable.")
@click.option("--art-fid-mode", type=click.Choice(["plain", "infinity"]), default="plain",
              show_default=True, help="infinity: FID∞, needs >= 5,000 stylizations.")
@click.option("--fid-resize", type=click.Choice(["pytorch-fid", "clean"]),
              default="pytorch-fid", show_default=True)
@click.option("--cfsd-max-pixels", type=click.IntRange(1), default=1024 * 1024,
              show_default=True, help="CFSD refuses larger images (cost grows with (H·W)²).")
@click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--bootstrap", type=click.IntRange(100, 10_000_000), default=2000,
              show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95,
              show_default=True)
@click.option("--ci-method", type=click.Choice(["auto", "bca", "percentile"]), default="auto",
              show_default=True)
@click.option("--cache", "cache", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Cache database (default: the user cache).")
@click.option("--no-cache", is_flag=True, help="Use no shared cache.")
@click.option("--html", "html_report", is_flag=True,
              help="Also write the visual report, report.html, into --out-dir.")
def style(content: Path, style: Path, stylized: tuple[Path, ...],
          method_items: tuple[str, ...], triplets_csv: Path | None, metrics: str,
          out_dir: Path | None, overwrite: bool, strict: bool, resize: str | None,
          alpha: str | None, device: str, weights: tuple[str, ...], art_fid_mode: str,
          fid_resize: str, cfsd_max_pixels: int, workers: int, bootstrap: int, seed: int,
          confidence: float, ci_method: str, cache: Path | None, no_cache: bool,
          html_report: bool) -> None:
    """Evaluate style transfer: content fidelity (LPIPS, SSIM, CFSD, content loss), style
    fidelity (FID, FID with ArtFID's Inception, Gram and AdaIN losses) and ArtFID, for one
    or more methods, with statistics and a results folder."""
    from likeness.evaluation.registry import parse_metric_names
    from likeness.runs.style import evaluate_style

    try:
        names = parse_metric_names(metrics, command="style")
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--metrics") from None
    methods = {name: path for name, path in _parse_models(method_items).items()}
    if html_report and out_dir is None:
        raise click.UsageError("--html writes report.html into the results folder: give "
                               "--out-dir too")
    if not stylized and not methods:
        raise click.UsageError("give at least one --stylized DIR (or --method NAME=DIR)")
    console = _stderr_console()
    report, stop = _set_progress()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # recorded in run.json and printed below
            results = evaluate_style(
                content, style, list(stylized) or None, methods=methods or None,
                triplets=triplets_csv, metrics=names, out_dir=out_dir,
                weights=_parse_weights(weights), device=device, resize=resize, alpha=alpha,
                art_fid_mode=art_fid_mode, fid_resize=fid_resize,
                cfsd_max_pixels=cfsd_max_pixels, workers=workers, bootstrap=bootstrap,
                seed=seed, confidence=confidence, ci_method=ci_method, strict=strict,
                overwrite=overwrite, cache=False if no_cache else (cache or True),
                progress=report)
    except LikenessError as error:
        stop()
        _say("error", str(error), "style")
        sys.exit(1)
    stop()
    for message in results.record.get("warnings", []):
        _say("warning", message, "style")
    for method, files in results.record.get("unmatched", {}).items():
        if files:
            console.print(f"{method}: {len(files)} stylized file(s) without a content and "
                          f"style: " + ", ".join(files), style="yellow", highlight=False,
                          markup=False)
    _print_summary(results)
    _report_rows(results.rows, results.record)
    if out_dir is not None:
        console.print(f"results written to {out_dir}/", highlight=False, markup=False)
        if html_report:
            from likeness.results.html import write_report

            report_path = write_report(out_dir, device=device if device != "auto" else "cpu")
            console.print(f"report written to {report_path}", highlight=False, markup=False)
    if results.failures:
        sys.exit(1)


@main.group()
def weights() -> None:
    """Network checkpoints: list, download, verify, import, locate."""


@weights.command("list")
def weights_list() -> None:
    """Every registered checkpoint: name, file, hash, licence, where cached (tab-separated)."""
    from likeness.nets.weights import REGISTRY, cache_dirs

    click.echo("name\tfile\thash\tlicence\tcached at")
    for checkpoint in REGISTRY.values():
        found = next((str(d / checkpoint.file_name) for d in cache_dirs()
                      if (d / checkpoint.file_name).is_file()), "-")
        click.echo(f"{checkpoint.name}\t{checkpoint.file_name}\t"
                   f"{checkpoint.hash_description()}\t{checkpoint.licence}\t{found}")


@weights.command("path")
@click.argument("name")
def weights_path(name: str) -> None:
    """Print where checkpoint NAME is (or would be downloaded to); exit 1 if absent."""
    from likeness.nets.weights import REGISTRY, cache_dirs, download_dir

    checkpoint = _registered(name, REGISTRY)
    for folder in cache_dirs():
        if (folder / checkpoint.file_name).is_file():
            click.echo(folder / checkpoint.file_name)
            return
    click.echo(download_dir() / checkpoint.file_name)
    _stderr_console().print(f"{name} is not downloaded yet", highlight=False, markup=False)
    sys.exit(1)


@weights.command("download")
@click.argument("names", nargs=-1, required=True)
def weights_download(names: tuple[str, ...]) -> None:
    """Fetch and verify checkpoints NAMES into the cache (nothing if already there)."""
    from likeness.nets.weights import REGISTRY, resolve

    for name in names:
        _registered(name, REGISTRY)
        _run_weights(lambda name=name: resolve(name, progress=_download_bar(name)))


@weights.command("verify")
@click.argument("names", nargs=-1)
def weights_verify(names: tuple[str, ...]) -> None:
    """Check cached checkpoints (all cached ones by default) against their hashes."""
    from likeness.nets.weights import REGISTRY, cache_dirs, verify

    failed = False
    for name in names or tuple(REGISTRY):
        checkpoint = _registered(name, REGISTRY)
        paths = [d / checkpoint.file_name for d in cache_dirs()
                 if (d / checkpoint.file_name).is_file()]
        if not paths and names:
            click.echo(f"{name}\tmissing")
            failed = True
        for path in paths:
            try:
                click.echo(f"{name}\tok\t{verify(checkpoint, path)}\t{path}")
            except LikenessError as error:
                click.echo(f"{name}\tFAILED\t{error}")
                failed = True
    if failed:
        sys.exit(1)


@weights.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Registry name, if the file was renamed.")
def weights_import(file: Path, name: str | None) -> None:
    """Verify FILE (obtained elsewhere) and copy it into the cache."""
    from likeness.nets.weights import import_file

    _run_weights(lambda: import_file(file, name))


def _registered(name: str, registry: dict[str, Any]) -> Any:
    if name not in registry:
        raise click.BadParameter(f"{name!r} is not registered; choose from "
                                 f"{', '.join(registry)}", param_hint="NAME")
    return registry[name]


def _run_weights(action: Any) -> None:
    try:
        resolved = action()
    except LikenessError as error:
        _say("error", str(error), "weights")
        sys.exit(1)
    click.echo(f"{resolved.name}\t{resolved.source}\t{resolved.sha256}\t{resolved.path}")


def _download_bar(name: str) -> Any:
    console = _stderr_console()
    last = {"shown": -1}

    def report(done: int, total: int | None) -> None:
        percent = int(100 * done / total) if total else -1
        if percent != last["shown"] and (percent % 10 == 0 or percent == -1):
            last["shown"] = percent
            size = f"{done / 1e6:.1f} MB" + (f" of {total / 1e6:.1f} MB" if total else "")
            console.print(f"downloading {name}: {size}", highlight=False, markup=False)

    return report


if __name__ == "__main__":  # pragma: no cover
    main()
