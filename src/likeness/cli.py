"""The ``likeness`` command line: parses arguments, calls the engine, renders results.

Exit codes: 0 success, 1 error (including pairs that failed), 2 usage error.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from likeness.errors import LikenessError

if TYPE_CHECKING:
    from rich.console import Console

    from likeness.evaluate import PairResult

# Digits shown in terminal tables; files keep full precision.
_TABLE_DIGITS = {"psnr": 3, "mse": 3}


def _format(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.{_TABLE_DIGITS.get(metric, 4)}f}"


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="likeness")
def main() -> None:
    """Measure how alike images are: SSIM, MS-SSIM, PSNR, exactly as the references do."""


@main.command()
@click.argument("reference", type=click.Path(exists=True, path_type=Path))
@click.argument("test", type=click.Path(exists=True, path_type=Path))
@click.option("--metrics", "metrics", default="ssim,psnr", show_default=True,
              help="Comma-separated: ssim, psnr, mse, ms-ssim, lpips (= lpips-alex), "
                   "lpips-vgg, lpips-squeeze.")
@click.option("--gray", is_flag=True, help="Compare ITU-R 601 luma (Pillow's convert('L')).")
@click.option("--resize", type=click.Choice(["reference"]), default=None,
              help="Resize the test image to the reference's size instead of refusing.")
@click.option("--alpha", type=click.Choice(["white", "black", "drop"]), default=None,
              help="Handle transparent images: composite over white/black, or drop alpha.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write one row per pair to a .csv or .json file.")
@click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Decoding threads for folders.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="Where networks run (auto: CUDA when available).")
@click.option("--weights", "weights", multiple=True, metavar="NAME=PATH",
              help="Use this checkpoint file for a network (e.g. alexnet=my.pth); repeatable.")
def compare(reference: Path, test: Path, metrics: str, gray: bool, resize: str | None,
            alpha: str | None, out: Path | None, workers: int, device: str,
            weights: tuple[str, ...]) -> None:
    """Compare REFERENCE with TEST: two image files, or two folders paired by file name.

    Folders are searched recursively and paired by relative path without extension
    (ref/x/a.jpg with out/x/a.png); files without a partner are listed.
    """
    from likeness.evaluate import parse_metric_names

    try:
        names = parse_metric_names(metrics)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--metrics") from None
    if out is not None and out.suffix.lower() not in (".csv", ".json"):
        raise click.BadParameter("the file must end in .csv or .json", param_hint="--out")
    if reference.is_dir() != test.is_dir():
        raise click.UsageError("REFERENCE and TEST must both be files or both be folders")
    options = {"gray": gray, "resize": resize, "alpha": alpha, "device": device,
               "weights": _parse_weights(weights)}
    try:
        if reference.is_dir():
            failed = _compare_folders(reference, test, names, out, workers, options)
        else:
            failed = _compare_two_files(reference, test, names, out, options)
    except LikenessError as error:
        from rich.markup import escape

        _stderr_console().print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
        sys.exit(1)
    if failed:
        sys.exit(1)


def _parse_weights(items: tuple[str, ...]) -> dict[str, str]:
    from likeness.weights import REGISTRY

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
    from likeness.evaluate import compare_pair

    row = compare_pair(reference, test, metrics=names, **options)
    for name in names:
        click.echo(f"{name}\t{_format(name, row.values.get(name))}")
    _report_decisions_and_errors([row])
    if out is not None:
        _write_rows(out, [row], names)
    return row.error is not None


def _compare_folders(reference: Path, test: Path, names: list[str], out: Path | None,
                     workers: int, options: dict[str, Any]) -> bool:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from likeness.evaluate import compare_folders
    from likeness.io import pair_folders

    total = len(pair_folders(reference, test).pairs)
    console = _stderr_console()
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task("comparing", total=total)
        result = compare_folders(reference, test, metrics=names, workers=workers,
                                 on_pair_done=lambda _: progress.advance(task), **options)
    for label, files in (("reference", result.unmatched_reference),
                         ("test", result.unmatched_test)):
        if files:
            console.print(f"{len(files)} {label} file(s) without a partner: " + ", ".join(files),
                          style="yellow", highlight=False, markup=False)
    if not result.rows:
        raise LikenessError(f"no file of {test} has a namesake in {reference}; files are "
                            "paired by relative path without extension")
    _print_table(result.rows, names)
    _report_decisions_and_errors(result.rows)
    if out is not None:
        _write_rows(out, result.rows, names, result.unmatched_reference, result.unmatched_test)
    return result.failures > 0


def _print_table(rows: list[PairResult], names: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

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
        values = [row.values[name] for row in rows if name in row.values]
        mean = _format(name, sum(values) / len(values)) if values else "—"
        means.append(mean if len(values) == len(rows) else f"{mean} (n={len(values)})")
    table.add_row(f"mean of {len(rows)} pairs", "", *means)
    Console(soft_wrap=True).print(table, highlight=False)


def _report_decisions_and_errors(rows: list[PairResult]) -> None:
    console = _stderr_console()
    for row in rows:
        if row.decisions:
            console.print(f"note: {row.test}: " + "; ".join(row.decisions), highlight=False,
                          markup=False)
    failures = [row for row in rows if row.error]
    for row in failures:
        console.print(f"error: {row.reference} vs {row.test}: {row.error}", highlight=False,
                      markup=False, style="red")
    if failures:
        console.print(f"{len(failures)} of {len(rows)} pair(s) failed", style="bold red")


def _write_rows(out: Path, rows: list[PairResult], names: list[str],
                unmatched_reference: list[str] | None = None,
                unmatched_test: list[str] | None = None) -> None:
    columns = ["reference", "test", *names, "error", "notes"]
    records = [{"reference": row.reference, "test": row.test,
                **{name: row.values.get(name) for name in names},
                "error": row.error, "notes": "; ".join(row.decisions) or None} for row in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".json":
        document = {"rows": records, "unmatched_reference": unmatched_reference or [],
                    "unmatched_test": unmatched_test or []}
        out.write_text(json.dumps(document, indent=1, allow_nan=True) + "\n")
        return
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for record in records:
            writer.writerow({k: ("" if v is None else repr(v) if isinstance(v, float) else v)
                             for k, v in record.items()})


@main.group()
def weights() -> None:
    """Network checkpoints: list, download, verify, import, locate."""


@weights.command("list")
def weights_list() -> None:
    """Every registered checkpoint: name, file, hash, licence, where cached (tab-separated)."""
    from likeness.weights import REGISTRY, cache_dirs

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
    from likeness.weights import REGISTRY, cache_dirs, download_dir

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
    from likeness.weights import REGISTRY, resolve

    for name in names:
        _registered(name, REGISTRY)
        _run_weights(lambda name=name: resolve(name, progress=_download_bar(name)))


@weights.command("verify")
@click.argument("names", nargs=-1)
def weights_verify(names: tuple[str, ...]) -> None:
    """Check cached checkpoints (all cached ones by default) against their hashes."""
    from likeness.weights import REGISTRY, cache_dirs, verify

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
    from likeness.weights import import_file

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
        _stderr_console().print(f"error: {error}", highlight=False, markup=False, style="red")
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
