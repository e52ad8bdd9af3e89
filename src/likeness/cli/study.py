"""``likeness study analyze``: a 2AFC study's judgments analysed into a folder."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from likeness.cli.app import main
from likeness.cli.output import say, stderr_console
from likeness.errors import LikenessError


@main.group()
def study() -> None:
    """User studies: analyse two-alternative forced-choice (2AFC) judgments."""


@study.command()
@click.option("--judgments", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV, one row per judgment: participant,item,a,b,choice (optional "
                   "question, trial, rt_ms, expected for attention checks).")
@click.option("--out-dir", type=click.Path(file_okay=True, path_type=Path), required=True,
              help="Folder for scores.csv, pairwise.csv, exclusions.csv, summary.md, "
                   "methods.md and study.json (new, empty, or an earlier analysis).")
@click.option("--bootstrap", type=click.IntRange(1, 1_000_000), default=2000,
              show_default=True, help="Bootstrap resamples of the participants.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.95, show_default=True)
@click.option("--jod-zero", default=None, metavar="MODEL",
              help="The model at 0 on the JOD scale (default: the first in the file).")
@click.option("--results", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="The compare results folder of the same items and models: "
                                 "each metric's agreement with the participants.")
def analyze(judgments: Path, out_dir: Path, bootstrap: int, seed: int, confidence: float,
            jod_zero: str | None, results: Path | None) -> None:
    """Scores per model (Bradley–Terry and JOD, bootstrap CIs over participants),
    pairwise binomial tests with Holm correction, and the exclusions, written to --out-dir.

    \b
      likeness study analyze --judgments judgments.csv --out-dir study/
    """
    from likeness.runs.study import analyze_study

    if not judgments.is_file():
        raise click.BadParameter(f"{judgments} is not a file", param_hint="--judgments")
    try:
        analysis = analyze_study(judgments, out_dir, resamples=bootstrap, seed=seed,
                                 confidence=confidence, jod_zero=jod_zero, results=results)
    except LikenessError as error:
        say("error", str(error), "study analyze")
        sys.exit(1)
    console = stderr_console()
    for who, why in analysis.exclusions:
        say("note", f"participant {who} excluded: {why}", "study analyze")
    for decision in analysis.decisions:
        say("note", decision, "study analyze")
    for question in analysis.questions:
        heading = f"{question.question}: " if question.question else ""
        ranking = ", ".join(f"{m} {question.jod[m]:+.2f} JOD"
                            for m in question.ranking)
        console.print(f"{heading}{ranking}", highlight=False, markup=False)
    console.print(f"analysis written to {out_dir}", highlight=False, markup=False)
