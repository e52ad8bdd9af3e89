"""``likeness report``: the visual HTML report of a results folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from likeness.errors import LikenessError

if TYPE_CHECKING:
    pass

from likeness.cli.app import main
from likeness.cli.output import (
    say,
)


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
        say("error", str(error), "report")
        sys.exit(1)
    click.echo(str(path))
