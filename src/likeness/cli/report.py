"""``likeness report``: the visual HTML report of a results folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from likeness.errors import LikenessError

if TYPE_CHECKING:
    pass

from likeness.cli.app import main
from likeness.cli.output import echo, output_file, say


def parse_disagree(value: str | None) -> tuple[str, ...] | None:
    """``--disagree A,B`` as two metric names (checked against the run by the report)."""
    if value is None:
        return None
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    if len(names) != 2:
        raise click.BadParameter(f"{value!r}: expected two metrics, e.g. ssim,lpips",
                                 param_hint="--disagree")
    return names


@main.command()
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              callback=output_file("--output", ".html", ".htm"),
              help="Where to write the report (default: RESULTS_DIR/report.html).")
@click.option("--worst", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Pairs shown in detail: most disagreeing, each model's worst and best.")
@click.option("--thumbnail", type=click.IntRange(32, 2048), default=160, show_default=True,
              help="Longest side of thumbnails and maps, in pixels.")
@click.option("--disagree", "disagree", default=None, metavar="A,B",
              help="The two per-pair metrics the report sets side by side (default: the two "
                   "whose rankings agree least).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu",
              show_default=True, help="Where the LPIPS maps are computed.")
def report(results_dir: Path, output: Path | None, worst: int, thumbnail: int,
           device: str, disagree: str | None) -> None:
    """Write the visual HTML report of RESULTS_DIR (a likeness compare or style --out-dir
    folder): one self-contained file showing where and why its metrics disagree."""
    try:
        path = write_report_noting(results_dir, output, worst=worst, thumbnail=thumbnail,
                                   device=device, disagree=parse_disagree(disagree))
    except LikenessError as error:
        say("error", str(error), "report")
        sys.exit(1)
    echo(str(path))


def write_report_noting(results_dir: Path, output: Path | None = None,
                        command: str = "report", **options: Any) -> Path:
    """``write_report``, each warning it gives (files changed since the run) said as a
    note on the terminal."""
    from likeness.errors import recording_warnings
    from likeness.runs.report import write_report

    with recording_warnings() as caught:
        path = write_report(results_dir, output, **options)
    for message in caught:
        say("note", message, command)
    return path
