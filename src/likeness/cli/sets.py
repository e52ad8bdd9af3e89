"""``likeness fid`` and ``likeness kid``: two folders (or statistics files)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from likeness.cli.app import SEED, decoding_options, main
from likeness.cli.compare import parse_subset_size
from likeness.cli.output import (
    echo,
    output_file,
    progress_bar,
    say,
    stderr_console,
)
from likeness.errors import LikenessError
from likeness.evaluation.catalog.defaults import CONVENTIONS, FID_ENCODERS
from likeness.wording import counted


def _set_options(command: Any) -> Any:
    """Options shared by ``fid`` and ``kid``."""
    options: list[Callable[[Any], Any]] = [
        click.option("--weights", "weights", default=None, metavar="PATH",
                     help="pt_inception checkpoint to use (default: the weights manager's; "
                          "NAME=PATH is accepted too)."),
        click.option("--resize", type=click.Choice(CONVENTIONS["fid_resize"]),
                     default="pytorch-fid", show_default=True,
                     help="How images reach 299×299: pytorch-fid's bilinear in the network, "
                          "or clean-fid's Pillow bicubic."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                     show_default=True),
        click.option("--batch-size", type=click.IntRange(1, 4096), default=32,
                     show_default=True),
        decoding_options,
        click.option("--alpha", type=click.Choice(["white", "black", "drop"]), default=None,
                     help="Handle transparent images: composite over white/black, or drop."),
        click.option("--cache", "cache", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, help="Feature cache database (default: "
                     "$LIKENESS_CACHE_DIR/cache.sqlite or ~/.cache/likeness/cache.sqlite)."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write cached features."),
        click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, callback=output_file("--out", ".json"),
                     help="Write the value, the sets and the settings as JSON (FILE.json)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _set_weights_path(weights: str | None, checkpoint: str) -> str | None:
    """``--weights PATH`` or ``--weights NAME=PATH`` (NAME must be the encoder's)."""
    if weights is None:
        return None
    name, separator, path = weights.partition("=")
    if separator:
        if name != checkpoint:
            raise click.BadParameter(f"{weights!r}: these features use {checkpoint}",
                                     param_hint="--weights")
        return path
    return weights


def _report_sets(sets: Any) -> bool:
    """Print each set's size, cache use, decisions, skipped files and errors on stderr;
    True if any failed."""
    from likeness.io.files import describe_skipped

    console = stderr_console()
    failed = False
    for image_set in sets:
        # pytorch-fid's statistics files do not record how many images they summarise
        line = f"{image_set.source}: " + (counted(image_set.count, "image") if image_set.count
                                          or image_set.features is not None
                                          else "images not counted in the file")
        if image_set.features is not None:
            line += f" ({counted(image_set.cached, 'feature')} from the cache)"
        console.print(line, highlight=False, markup=False)
        for note, count in image_set.decisions.items():
            say("note", f"{counted(count, 'image')}: {note}")
        if "note" in image_set.settings:
            say("note", image_set.settings["note"])
        if image_set.skipped:
            say("note", f"{counted(len(image_set.skipped), 'file')} skipped: "
                        f"{describe_skipped(image_set.skipped)}")
        for name, reason in image_set.errors:
            failed = True
            say("error", f"{name}: {reason} (left out of the set)")
    return failed


def _write_out(out: Path, record: dict[str, Any], command: str, cached: bool) -> None:
    """``--out``; a failed write is one message and exit code 1 (``cached``: the features
    are in a cache, and a re-run resumes)."""
    from likeness.runs.fid import write_set_record

    try:
        write_set_record(out, record, resumes=cached)
    except LikenessError as error:
        say("error", str(error), command)
        sys.exit(1)


def _run_set_command(action: Any, command: str) -> Any:
    import warnings

    report, stop = progress_bar()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            result = action(report)
    except LikenessError as error:
        stop()
        say("error", str(error), command)
        sys.exit(1)
    stop()
    for warning in {str(w.message) for w in caught}:
        say("warning", warning, command)
    return result


@main.command()
@click.argument("a", type=click.Path(exists=True, path_type=Path))
@click.argument("b", type=click.Path(exists=True, path_type=Path), required=False)
@_set_options
@click.option("--save-stats", "save_stats", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Write mu/sigma (pytorch-fid's .npz) of A, then of B if given again.")
@click.option("--encoder", type=click.Choice(list(FID_ENCODERS)), default="inception",
              show_default=True,
              help="Features: pytorch-fid's Inception (FID), DINOv2 ViT-L/14 (FD_DINOv2) or "
                   "CLIP ViT-L/14-336 (FD on CLIP); --weights NAME=PATH names its checkpoint.")
def fid(a: Path, b: Path | None, weights: str | None, resize: str, device: str,
        batch_size: int, workers: int, decoding: str, alpha: str | None, cache: Path | None,
        no_cache: bool, out: Path | None, save_stats: tuple[Path, ...], encoder: str) -> None:
    """FID between A and B: folders (recursive) or .npz statistics files.

    Exactly pytorch-fid's value.  With only A, --save-stats writes its statistics.  With
    --encoder dinov2 or clip, the Fréchet distance of those features (statistics files
    record the encoder, and one of another encoder is refused).
    """
    from likeness.runs.fid import checkpoint_of
    from likeness.runs.fid import fid as fid_of

    if b is None and not save_stats:
        raise click.UsageError("give two sets to compare, or one set with --save-stats FILE")
    if len(save_stats) > (1 if b is None else 2):
        raise click.UsageError(f"--save-stats given {len(save_stats)} times for "
                               f"{counted(1 if b is None else 2, 'set')}")
    path = _set_weights_path(weights, checkpoint_of(encoder))

    def run(report: Any) -> Any:
        return fid_of(a, b, encoder=encoder, save_stats=save_stats, weights=path,
                      resize=resize, device=device, alpha=alpha, batch_size=batch_size,
                      workers=workers, decoding=decoding,
                      cache=False if no_cache else (cache or True), progress=report)

    result = _run_set_command(run, "fid")
    failed = _report_sets(result.sets)
    for image_set, target in zip(result.sets, result.saved, strict=False):
        stderr_console().print(f"statistics of {image_set.source} written to {target}",
                                highlight=False, markup=False)
    if result.value is not None:
        echo(f"{result.label}\t{result.value:.10g}")
    if out is not None:
        _write_out(out, result.record(), "fid", cached=not no_cache)
    if failed:
        sys.exit(1)


@main.command()
@click.argument("a", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("b", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_set_options
@click.option("--subset-size", default="1000", show_default=True,
              help="Images per subset, or 'all' for the whole sets once.")
@click.option("--subsets", type=click.IntRange(1, 100000), default=100, show_default=True)
@click.option("--seed", type=SEED, default=0, show_default=True)
def kid(a: Path, b: Path, weights: str | None, resize: str, device: str, batch_size: int,
        workers: int, decoding: str, alpha: str | None, cache: Path | None, no_cache: bool,
        out: Path | None, subset_size: str, subsets: int, seed: int) -> None:
    """KID between folders A and B (unbiased MMD², cubic kernel): mean and std over subsets."""
    from likeness.runs.fid import checkpoint_of, kid_folders

    size = parse_subset_size(subset_size, "--subset-size")

    def run(report: Any) -> Any:
        return kid_folders(a, b, subset_size=size, subsets=subsets, seed=seed,
                           weights=_set_weights_path(weights, checkpoint_of("inception")),
                           resize=resize, device=device,
                           alpha=alpha, batch_size=batch_size, workers=workers,
                           decoding=decoding, cache=False if no_cache else (cache or True),
                           progress=report)

    result = _run_set_command(run, "kid")
    failed = _report_sets(result.sets)
    # from one subset (--subset-size all, --subsets 1) the std is no spread: not shown
    spread = "" if result.spread is None else f"\t± {result.spread:.4g}"
    echo(f"KID\t{result.mean:.10g}{spread}")
    if out is not None:
        _write_out(out, result.record(), "kid", cached=not no_cache)
    if failed:
        sys.exit(1)
