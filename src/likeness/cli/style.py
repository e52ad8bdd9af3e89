"""``likeness style``: content, style and stylized folders."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

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
from likeness.cli.compare import parse_models, parse_weights
from likeness.cli.output import (
    print_summary,
    progress_bar,
    report_rows,
    say,
    stderr_console,
)
from likeness.cli.report import parse_disagree, write_report_noting
from likeness.wording import counted


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
@metrics_option("style")
@click.option("--protocol", type=click.Choice(["2023", "2024"]), default=None,
              help="Instead of --metrics, the set the papers of a period report together: "
                   "2023 (ArtFID, its FID, LPIPS, CFSD, as StyleID tabulates them) or 2024 "
                   "(and CSD, DINO, CLIP-I, CLIP-T; CLIP-T reads each stylized image's "
                   "prompt).")
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
@click.option("--art-fid-mode", type=click.Choice(CONVENTIONS["art_fid_mode"]), default="plain",
              show_default=True, help="infinity: FID∞, needs >= 5,000 stylizations.")
@click.option("--fid-resize", type=click.Choice(CONVENTIONS["fid_resize"]),
              default="pytorch-fid", show_default=True)
@click.option("--cfsd-max-pixels", type=click.IntRange(1), default=1024 * 1024,
              show_default=True, help="CFSD refuses larger images (cost grows with (H·W)²).")
@decoding_options
@click.option("--batch-size", type=click.IntRange(1, 4096), default=16, show_default=True,
              help="Images per network pass (VGG19 takes one at a time; fewer where large "
                   "images would not fit in memory).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local",
              show_default=True,
              help="ray: run on a Ray cluster (pip install 'likeness-metrics[ray]').")
@click.option("--address", default=None,
              help="Ray cluster address (default: connect to RAY_ADDRESS or start one here).")
@click.option("--bootstrap", type=click.IntRange(100, 10_000_000), default=2000,
              show_default=True)
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--confidence", type=NumberRange(0.5, 0.999), default=0.95,
              show_default=True)
@click.option("--ci-method", type=click.Choice(["auto", "bca", "percentile"]), default="auto",
              show_default=True)
@click.option("--cache", "cache", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Cache database (default: the user cache).")
@click.option("--no-cache", is_flag=True, help="Use no shared cache.")
@click.option("--html", "html_report", is_flag=True,
              help="Also write the visual report, report.html, into --out-dir.")
@click.option("--disagree", "disagree", default=None, metavar="A,B",
              help="The two per-pair metrics the report sets side by side (default: the two "
                   "whose rankings agree least).")
@prompt_options
def style(content: Path, style: Path, stylized: tuple[Path, ...],
          method_items: tuple[str, ...], triplets_csv: Path | None, metrics: str,
          out_dir: Path | None, overwrite: bool, strict: bool, resize: str | None,
          alpha: str | None, device: str, weights: tuple[str, ...], art_fid_mode: str,
          fid_resize: str, cfsd_max_pixels: int, workers: int, decoding: str,
          batch_size: int, engine: str,
          address: str | None, bootstrap: int, seed: int, confidence: float,
          ci_method: str, cache: Path | None, no_cache: bool, html_report: bool,
          disagree: str | None, clip_t_convention: str, source_prompt: str | None,
          protocol: str | None) -> None:
    """Evaluate style transfer: content fidelity (LPIPS, SSIM, CFSD, content loss), style
    fidelity (FID, FID with ArtFID's Inception, Gram and AdaIN losses) and ArtFID, for one
    or more methods, with statistics and a results folder."""
    from likeness.evaluation.catalog.registry import parse_metric_names
    from likeness.runs.style import evaluate_style

    given = click.get_current_context().get_parameter_source("metrics")
    if protocol is not None and given is not click.core.ParameterSource.DEFAULT:
        raise click.UsageError("give --metrics or --protocol, not both: a protocol is a set "
                               "of metrics")
    try:
        names = None if protocol else parse_metric_names(metrics, command="style", hyphens=True)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--metrics") from None
    methods = {name: path for name, path in parse_models(method_items).items()}
    if disagree is not None and not html_report:
        raise click.UsageError("--disagree chooses what the report shows: give --html too")
    if html_report and out_dir is None:
        raise click.UsageError("--html writes report.html into the results folder: give "
                               "--out-dir too")
    if not stylized and not methods:
        raise click.UsageError("give at least one --stylized DIR (or --method NAME=DIR)")
    console = stderr_console()
    report, stop = progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # recorded in run.json and printed below
            results = evaluate_style(
                content, style, list(stylized) or None, methods=methods or None,
                triplets=triplets_csv, metrics=names, protocol=protocol, out_dir=out_dir,
                weights=parse_weights(weights), device=device, resize=resize, alpha=alpha,
                art_fid_mode=art_fid_mode, fid_resize=fid_resize,
                cfsd_max_pixels=cfsd_max_pixels, workers=workers, decoding=decoding,
                batch_size=batch_size,
                engine=engine, address=address, bootstrap=bootstrap,
                seed=seed, confidence=confidence, ci_method=ci_method, strict=strict,
                overwrite=overwrite, cache=False if no_cache else (cache or True),
                clip_t_convention=clip_t_convention, source_prompt=source_prompt,
                progress=report)
    except LikenessError as error:
        stop()
        say("error", str(error), "style")
        sys.exit(1)
    stop()
    for message in results.record.get("warnings", []):
        say("warning", message, "style")
    for method, files in results.record.get("unmatched", {}).items():
        if files:
            console.print(f"{method}: {counted(len(files), 'stylized file')} without a content and "
                          f"style: " + ", ".join(files), style="yellow", highlight=False,
                          markup=False)
    print_summary(results)
    report_rows(results.rows, results.record)
    if out_dir is not None:
        console.print(f"results written to {out_dir}/", highlight=False, markup=False)
        if html_report:
            report_path = write_report_noting(
                out_dir, command="style", device=device if device != "auto" else "cpu",
                disagree=parse_disagree(disagree))
            console.print(f"report written to {report_path}", highlight=False, markup=False)
    if results.failures:
        sys.exit(1)
