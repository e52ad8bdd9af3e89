"""``likeness compare``: two files, or folders of models, or a pairs CSV."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from likeness.errors import LikenessError
from likeness.evaluation.catalog.defaults import CONVENTIONS

if TYPE_CHECKING:
    pass

from likeness.cli.app import (
    SEED,
    NumberRange,
    decoding_options,
    main,
    metrics_option,
    prompt_options,
)
from likeness.cli.output import (
    echo,
    print_summary,
    print_table,
    progress_bar,
    report_rows,
    say,
    stderr_console,
)
from likeness.cli.report import parse_disagree, write_report_noting
from likeness.wording import counted


def parse_subset_size(value: str, hint: str) -> int | None:
    if value == "all":
        return None
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: an integer, or 'all'", param_hint=hint) from None


def parse_models(items: tuple[str, ...]) -> dict[str, Path]:
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
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--model", "model_items", multiple=True, metavar="NAME=DIR",
              help="A model's output folder under a name of your choice; repeatable.")
@click.option("--pairs", "pairs_csv", type=click.Path(exists=True, dir_okay=False,
                                                     path_type=Path), default=None,
              help="CSV with columns reference,test[,model] (paths relative to the CSV).")
@metrics_option("compare")
@click.option("--gray", is_flag=True,
              help="Compare ITU-R 601 luma: Pillow's convert('L'), or MATLAB's rgb2gray with "
                   "--convention matlab.")
@click.option("--y-channel", is_flag=True,
              help="PSNR, SSIM, MSE, MS-SSIM on Y of ITU-R BT.601 YCbCr, as restoration papers "
                   "report them (BasicSR's float Y, range [16, 235]).")
@click.option("--crop-border", type=click.IntRange(0), default=0, show_default=True,
              help="Pixels cut from every edge before PSNR, SSIM, MSE, MS-SSIM (BasicSR's "
                   "crop_border).")
@click.option("--ssim-convention",
              type=click.Choice(CONVENTIONS["ssim_convention"]),
              default="skimage", show_default=True,
              help="skimage: 7x7 uniform window; wang2004: 11-tap gaussian, population "
                   "covariance; pytorch-msssim: its ssim; basicsr: BasicSR's "
                   "calculate_ssim; matlab: Wang's ssim.m with its downsampling, and "
                   "--y-channel rounded as MATLAB's rgb2ycbcr (for every metric); "
                   "torchmetrics: its reflect-padded map, averaged whole.")
@click.option("--convention", type=click.Choice(CONVENTIONS["convention"]), default="piq",
              show_default=True,
              help="The classical metrics as piq computes them, or as their authors' MATLAB "
                   "code (GMSD.m's std2, HaarPSI.m's and FeatureSIM.m's YIQ, FeatureSIM.m's "
                   "real power, MATLAB's rounding and borders when downsampling, rgb2gray for "
                   "colour where the .m file takes gray images and for --gray); SSIM's: "
                   "--ssim-convention, MS-SSIM's: --ms-ssim-convention.")
@click.option("--ms-ssim-convention", type=click.Choice(CONVENTIONS["ms_ssim_convention"]),
              default="pytorch-msssim", show_default=True,
              help="MS-SSIM as pytorch-msssim computes it, or as piq's multi_scale_ssim "
                   "(odd sides padded by replication: up to 3e-3 apart), torchmetrics' "
                   "(reflect-padded maps: 1e-3 to 3e-3 apart) or Wang's msssim.m (rgb2gray, "
                   "symmetric borders, nothing clipped; matlab-wtd-sum: its method "
                   "'wtd_sum', the weighted sum of the scales' terms).")
@prompt_options
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
@click.option("--disagree", "disagree", default=None, metavar="A,B",
              help="The two per-pair metrics the report sets side by side (default: the two "
                   "whose rankings agree least).")
@click.option("--strict", is_flag=True, help="Stop at the first failure.")
@decoding_options
@click.option("--batch-size", type=click.IntRange(1, 4096), default=16, show_default=True,
              help="Images per network pass (fewer where large images would not fit in "
                   "memory).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="Where networks run (auto: CUDA when available).")
@click.option("--weights", "weights", multiple=True, metavar="NAME=PATH",
              help="Use this checkpoint file for a network (e.g. alexnet=my.pth); repeatable.")
@click.option("--bootstrap", type=click.IntRange(100, 10_000_000), default=2000,
              show_default=True, help="Bootstrap resamples for confidence intervals.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--confidence", type=NumberRange(0.5, 0.999), default=0.95,
              show_default=True)
@click.option("--ci-method", type=click.Choice(["auto", "bca", "percentile"]), default="auto",
              show_default=True, help="auto: BCa up to 100,000 values, percentile above.")
@click.option("--fid-resize", type=click.Choice(CONVENTIONS["fid_resize"]),
              default="pytorch-fid", show_default=True)
@click.option("--kid-subset-size", default="1000", show_default=True,
              help="Images per KID subset, or 'all'.")
@click.option("--kid-subsets", type=click.IntRange(1, 100000), default=100, show_default=True)
@click.option("--kid-seed", type=SEED, default=0, show_default=True)
@click.option("--cache", "cache", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Cache database (default: ~/.cache/likeness/cache.sqlite "
                                 "or $LIKENESS_CACHE_DIR).")
@click.option("--no-cache", is_flag=True,
              help="Use no shared cache (a results folder still keeps its own progress).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local",
              show_default=True,
              help="ray: run on a Ray cluster (pip install 'likeness-metrics[ray]').")
@click.option("--address", default=None,
              help="Ray cluster address (default: connect to RAY_ADDRESS or start one here).")
def compare(paths: tuple[Path, ...], model_items: tuple[str, ...], pairs_csv: Path | None,
            metrics: str, gray: bool, resize: str | None, alpha: str | None,
            out: Path | None, out_dir: Path | None, overwrite: bool, strict: bool,
            workers: int, batch_size: int, device: str, weights: tuple[str, ...],
            bootstrap: int, seed: int, confidence: float, ci_method: str, fid_resize: str,
            kid_subset_size: str, kid_subsets: int, kid_seed: int, cache: Path | None,
            no_cache: bool, html_report: bool, engine: str, address: str | None,
            y_channel: bool, crop_border: int, ssim_convention: str, convention: str,
            ms_ssim_convention: str, clip_t_convention: str, source_prompt: str | None,
            disagree: str | None, decoding: str) -> None:
    """Compare REFERENCE with TEST...: two image files, or a reference folder with one or
    more model folders (paired by file name), or the pairs of a --pairs CSV.

    \b
      likeness compare ref.png out.png
      likeness compare refs/ outputs/ --metrics ssim,psnr,lpips --out results.csv
      likeness compare refs/ model_a/ model_b/ --metrics ssim,lpips,fid --out-dir results/

    Folders are searched recursively and paired by relative path without extension
    (ref/x/a.jpg with out/x/a.png); files without a partner are listed.
    """
    from likeness.evaluation.catalog.registry import parse_metric_names

    try:
        names = parse_metric_names(metrics, hyphens=True)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--metrics") from None
    check_paths(paths)
    if out is not None and out.suffix.lower() not in (".csv", ".json"):
        raise click.BadParameter("the file must end in .csv or .json", param_hint="--out")
    if out is not None:
        _check_out_file(out, pairs_csv, out_dir)
    if y_channel and gray:
        raise click.UsageError("--y-channel and --gray convert colour in two different ways; "
                               "choose one")
    if disagree is not None and not html_report:
        raise click.UsageError("--disagree chooses what the report shows: give --html too")
    if html_report and out_dir is None:
        raise click.UsageError("--html writes report.html into the results folder: give "
                               "--out-dir too")
    models = parse_models(model_items)
    reference = paths[0] if paths else None
    tests = list(paths[1:])
    weight_files = parse_weights(weights)
    options = {"gray": gray, "resize": resize, "alpha": alpha, "device": device,
               "y_channel": y_channel, "crop_border": crop_border,
               "ssim_convention": ssim_convention, "convention": convention,
               "ms_ssim_convention": ms_ssim_convention,
               "clip_t_convention": clip_t_convention, "source_prompt": source_prompt,
               "weights": weight_files}
    try:
        if (pairs_csv is None and not models and len(tests) == 1 and reference is not None
                and reference.is_file() and tests[0].is_file()):
            if out_dir is not None:
                raise click.UsageError(
                    "--out-dir writes a results folder for folders of images; for two files "
                    "give --out FILE.csv (or .json), or put each file in a folder of its own")
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
                     decoding=decoding,
                     strict=strict, bootstrap=bootstrap, seed=seed, confidence=confidence,
                     ci_method=ci_method, fid_resize=fid_resize,
                     kid_subset_size=parse_subset_size(kid_subset_size, "--kid-subset-size"),
                     kid_subsets=kid_subsets, kid_seed=kid_seed, engine=engine,
                     address=address, cache=False if no_cache else (cache or True)))
            if html_report and out_dir is not None and (out_dir / "run.json").is_file():
                report = write_report_noting(
                    out_dir, command="compare", device=device if device != "auto" else "cpu",
                    disagree=parse_disagree(disagree))
                stderr_console().print(f"report written to {report}", highlight=False,
                                        markup=False)
    except LikenessError as error:
        say("error", str(error))
        sys.exit(1)
    if failed:
        sys.exit(1)


def check_paths(paths: tuple[Path, ...]) -> None:
    """Each path a folder or a regular file; else what it is (missing, a broken link, a
    link loop, a FIFO), said before anything is read."""
    from likeness.io import stat_regular_file

    for path in paths:
        if path.is_dir():
            continue
        try:
            stat_regular_file(path)
        except LikenessError as error:
            raise click.BadParameter(str(error), param_hint="PATHS") from None


def parse_weights(items: tuple[str, ...]) -> dict[str, str]:
    from likeness.nets.weights import REGISTRY

    weights = {}
    for item in items:
        name, _, path = item.partition("=")
        if not path or name not in REGISTRY:
            raise click.BadParameter(f"{item!r}: expected NAME=PATH with NAME one of "
                                     f"{', '.join(REGISTRY)}", param_hint="--weights")
        weights[name] = path
    return weights


def _check_out_file(out: Path, pairs_csv: Path | None, out_dir: Path | None) -> None:
    """Refuse an ``--out`` that would replace the ``--pairs`` file, or a table of the
    results folder (whose record keeps its SHA-256: the report would refuse it)."""
    from likeness.runs.out_dir import OWNED_FILES

    real = os.path.realpath(out)
    if pairs_csv is not None and real == os.path.realpath(pairs_csv):
        raise click.BadParameter(f"{out} is the --pairs file, which it would replace; "
                                 "choose another file", param_hint="--out")
    if out_dir is not None and any(real == os.path.realpath(out_dir / name)
                                   for name in OWNED_FILES):
        raise click.BadParameter(f"{out} is a file of the results folder --out-dir "
                                 f"{out_dir}, which it would replace; choose another file",
                                 param_hint="--out")


def _compare_two_files(reference: Path, test: Path, names: list[str], out: Path | None,
                       options: dict[str, Any]) -> bool:
    from likeness.errors import recording_warnings
    from likeness.results.tables import format_value
    from likeness.runs.folder import write_rows
    from likeness.runs.single import compare_pair

    with recording_warnings() as caught:
        row = compare_pair(reference, test, metrics=names, **options)
    for message in caught:
        say("warning", message)
    for name in names:
        echo(f"{name}\t{format_value(name, row.values.get(name))}")
    report_rows([row], {})
    if out is not None:
        write_rows(out, [row], names, {})
    return row.error is not None


def _compare_folders(reference: Path | None, tests: list[Path], models: dict[str, Path],
                     pairs_csv: Path | None, names: list[str], out: Path | None,
                     out_dir: Path | None, options: dict[str, Any]) -> bool:
    from likeness.io import differ_in_case_only
    from likeness.runs.compare import compare as run_compare
    from likeness.runs.folder import write_rows

    console = stderr_console()
    report, stop = progress_bar(describe=str, rate=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the run records them; printed below
            results = run_compare(reference, tests or None, models=models or None,
                                  pairs=pairs_csv, metrics=names, out_dir=out_dir,
                                  progress=report, **options)
    finally:
        stop()
    for message in results.record.get("warnings", []):
        say("warning", message)
    for model, (unmatched_reference, unmatched_test) in results.unmatched.items():
        prefix = f"{model}: " if len(results.models) > 1 else ""
        for label, files in (("reference", unmatched_reference), ("test", unmatched_test)):
            if files:
                console.print(f"{prefix}{counted(len(files), label + ' file')} without a "
                              "partner: " + ", ".join(files), style="yellow", highlight=False,
                              markup=False)
        for sentence in differ_in_case_only(unmatched_reference, unmatched_test):
            say("note", f"{prefix}{sentence}")
    single = len(results.models) == 1
    unwritten: LikenessError | None = None  # --out before the table, which then points to it
    if out is not None:
        try:
            write_rows(out, results.rows, results.pair_metrics, results.unmatched,
                       with_model=not single,
                       resumes=out_dir is not None or options.get("cache") is not False)
        except LikenessError as error:  # a full disk: every row on the terminal, then why
            unwritten = error
    rows_in = (str(out) if out is not None and unwritten is None else
               str(Path(out_dir) / "per_image.csv") if out_dir is not None else None)
    if single and results.pair_metrics and not results.set_metrics:
        print_table(results, rows_in=rows_in)
    else:
        print_summary(results)
    report_rows(results.rows, results.record)
    if unwritten is not None:
        raise unwritten
    if out_dir is not None:
        console.print(f"results written to {out_dir}/ (summary.md, summary.tex, "
                      "per_image.csv, comparisons.csv, references.bib, methods.md, run.json)",
                      highlight=False, markup=False)
    return results.failures > 0
