"""``likeness study analyze``: a study's judgments (a CSV, or a study folder's answers
exported in the same step) or a rating study's ratings analysed into a folder."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from likeness.cli.app import SEED, NumberRange
from likeness.cli.output import say, stderr_console
from likeness.cli.study import export_answers, fail, study
from likeness.errors import LikenessError


@study.command()
@click.option("--judgments", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV, one row per judgment: participant,item,a,b,choice (optional "
                   "question, trial, rt_ms, expected for attention checks).")
@click.option("--ratings", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Instead of 2AFC judgments, a rating (MOS) study's CSV, one row per "
                   "rating: participant,item,model,rating (optional question, expected "
                   "for attention checks): MOS and z-MOS per model.")
@click.option("--study", "study_folder", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="A study folder (likeness study create): its answers, "
                                 "exported and analysed in one step (instead of "
                                 "--judgments; the export is kept as judgments.csv).")
@click.option("--offline", "offline_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --study: an answers file of the offline form (repeatable).")
@click.option("--database", default=None, metavar="URL",
              help="With --study: the postgresql://… database it was served with.")
@click.option("--out-dir", type=click.Path(file_okay=True, path_type=Path), required=True,
              help="Folder for scores.csv, pairwise.csv, exclusions.csv, summary.md, "
                   "methods.md and study.json (new, empty, or an earlier analysis).")
@click.option("--bootstrap", type=click.IntRange(1, 1_000_000), default=2000,
              show_default=True, help="Bootstrap resamples of the participants.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--confidence", type=NumberRange(0, 1, min_open=True, max_open=True),
              default=0.95, show_default=True)
@click.option("--jod-zero", default=None, metavar="MODEL",
              help="The model at 0 on the JOD scale (default: the first in the file).")
@click.option("--results", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="The compare results folder of the same items and models: "
                                 "each metric's agreement with the participants.")
def analyze(judgments: Path | None, ratings: Path | None, study_folder: Path | None,
            offline_files: tuple[Path, ...], database: str | None, out_dir: Path,
            bootstrap: int, seed: int, confidence: float, jod_zero: str | None,
            results: Path | None) -> None:
    """Scores per model (Bradley–Terry and JOD, bootstrap CIs over participants),
    pairwise binomial tests with Holm correction, and the exclusions, written to --out-dir;
    for a rating study (--ratings), MOS and z-MOS with Wilcoxon tests.

    \b
      likeness study analyze --judgments judgments.csv --out-dir analysis/
      likeness study analyze --study study/ --out-dir analysis/
      likeness study analyze --ratings ratings.csv --results results/ --out-dir mos/
    """
    from likeness.runs.study import analyze_study

    if sum(given is not None for given in (judgments, ratings, study_folder)) != 1:
        raise click.UsageError("give --judgments FILE, --ratings FILE or --study FOLDER (one "
                               "of them)")
    if ratings is not None:
        if jod_zero is not None:
            raise click.UsageError("--jod-zero scales 2AFC judgments; a rating study has "
                                   "no JOD scale")
        _analyze_ratings(ratings, out_dir, bootstrap, seed, confidence, results)
        return
    if study_folder is None and (offline_files or database):
        raise click.UsageError("--offline and --database go with --study")
    if judgments is not None and not judgments.is_file():
        raise click.BadParameter(f"{judgments} is not a file", param_hint="--judgments")
    with tempfile.TemporaryDirectory() as scratch:
        source = None
        if study_folder is not None:
            judgments, source = Path(scratch) / "judgments.csv", f"exported from {study_folder}"
            export_answers(study_folder, judgments, offline_files, database, "analyze")
            if results is not None:
                _check_shown_as_measured(study_folder, results)
        assert judgments is not None
        try:
            analysis = analyze_study(judgments, out_dir, resamples=bootstrap, seed=seed,
                                     confidence=confidence, jod_zero=jod_zero,
                                     results=results, keep_judgments=source)
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


def _analyze_ratings(ratings: Path, out_dir: Path, bootstrap: int, seed: int,
                     confidence: float, results: Path | None) -> None:
    from likeness.runs.ratings import analyze_rating_study

    if not ratings.is_file():
        raise click.BadParameter(f"{ratings} is not a file", param_hint="--ratings")
    try:
        analysis = analyze_rating_study(ratings, out_dir, resamples=bootstrap, seed=seed,
                                        confidence=confidence, results=results)
    except LikenessError as error:
        say("error", str(error), "study analyze")
        sys.exit(1)
    for who, why in analysis.exclusions:
        say("note", f"participant {who} excluded: {why}", "study analyze")
    for decision in analysis.decisions:
        say("note", decision, "study analyze")
    console = stderr_console()
    for question in analysis.questions:
        heading = f"{question.question}: " if question.question else ""
        ranking = ", ".join(f"{s.model} MOS {s.mos:.3f}"
                            for s in sorted(question.scores, key=lambda s: -s.mos))
        console.print(f"{heading}{ranking}", highlight=False, markup=False)
    console.print(f"analysis written to {out_dir}", highlight=False, markup=False)


def _check_shown_as_measured(study_folder: Path, results: Path) -> None:
    """Stop when --results measured other images than the study showed its participants:
    each metric would be scored against judgments of other pixels."""
    from likeness.study import open_study
    from likeness.study.provenance import unlike_the_results

    try:
        unlike = unlike_the_results(open_study(study_folder), results)
    except LikenessError as error:
        fail(error, "analyze")
    if unlike:
        more = f"; and {len(unlike) - 3} more" if len(unlike) > 3 else ""
        fail(LikenessError(
            f"{results} measured other images than the study {study_folder} shows, so its "
            f"metrics cannot be scored by the participants' judgments: "
            f"{'; '.join(unlike[:3])}{more}; compare the files the study was created from "
            "again (or leave out --results)"), "analyze")
