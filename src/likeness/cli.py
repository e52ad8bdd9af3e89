"""The ``likeness`` command line: parses arguments, calls the engine, renders results.

Exit codes: 0 success, 1 error (including pairs that failed), 2 usage error.
"""

from __future__ import annotations

import csv
import functools
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
    """Measure how alike images are: SSIM, MS-SSIM, PSNR, LPIPS, FID, KID, exactly as the
    reference implementations do."""


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


def _set_progress() -> tuple[Any, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    progress = Progress("[progress.description]{task.description}", BarColumn(),
                        MofNCompleteColumn(), TimeRemainingColumn(),
                        console=_stderr_console(), transient=True)
    tasks: dict[str, Any] = {}

    def report(label: str, done: int, total: int) -> None:
        if label not in tasks:
            tasks[label] = progress.add_task(f"features {Path(label).name}", total=total)
        progress.update(tasks[label], completed=done, total=total)

    return progress, report


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
            console.print(f"note: {count} image(s): {note}", highlight=False, markup=False)
        if "note" in image_set.settings:
            console.print(f"note: {image_set.settings['note']}", highlight=False, markup=False)
        for name, reason in image_set.errors:
            failed = True
            console.print(f"error: {name}: {reason} (left out of the set)", highlight=False,
                          markup=False, style="red")
    return failed


def _set_record(sets: Any, settings: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "settings": settings,
            "sets": [{"source": s.source, "count": s.count, "cached": s.cached,
                      "decisions": s.decisions,
                      "errors": [{"file": f, "reason": r} for f, r in s.errors]}
                     for s in sets]}


def _run_set_command(action: Any) -> Any:
    import warnings

    progress, report = _set_progress()
    try:
        with progress, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            result = action(report)
    except LikenessError as error:
        _stderr_console().print(f"error: {error}", highlight=False, markup=False, style="red")
        sys.exit(1)
    for warning in {str(w.message) for w in caught}:
        _stderr_console().print(f"warning: {warning}", highlight=False, markup=False,
                                style="yellow")
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
    from likeness.cache import Cache, default_cache_path
    from likeness.sets import FeatureExtractor, frechet_between, load_set, save_statistics

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

    sets, settings, value = _run_set_command(run)
    failed = _report_sets(sets)
    for image_set, target in zip(sets, save_stats, strict=False):
        _stderr_console().print(f"statistics of {image_set.source} written to {target}",
                                highlight=False, markup=False)
    if value is not None:
        click.echo(f"FID\t{value:.10g}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(_set_record(sets, settings, {"fid": value}), indent=1) + "\n")
    if failed:
        sys.exit(1)


def _subset_size(value: str) -> int | None:
    if value == "all":
        return None
    try:
        size = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: an integer, or 'all'",
                                 param_hint="--subset-size") from None
    return size


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
    from likeness.sets import kid_folders

    size = _subset_size(subset_size)

    def run(report: Any) -> Any:
        return kid_folders(a, b, subset_size=size, subsets=subsets, seed=seed,
                           weights=_set_weights_path(weights), resize=resize, device=device,
                           alpha=alpha, batch_size=batch_size, workers=workers,
                           cache=False if no_cache else (cache or True), progress=report)

    result = _run_set_command(run)
    failed = _report_sets(result.sets)
    click.echo(f"KID\t{result.mean:.10g}\t± {result.std:.4g}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        record = _set_record(result.sets, result.settings,
                             {"kid": result.mean, "kid_std": result.std})
        out.write_text(json.dumps(record, indent=1) + "\n")
    if failed:
        sys.exit(1)


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
