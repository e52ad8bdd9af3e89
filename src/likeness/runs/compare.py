"""``likeness.compare``: folders (or a pairs CSV) in, a results folder out.

A run: plan (models, pairs, sets) → hash files → per-pair metrics (engine) → set metrics →
statistics → results folder.  The results folder holds ``run.json`` from the start (status
``running``) and a database of the values computed so far (committed batch by batch), so a
run that is killed resumes where it stopped when started again with the same settings; a
folder holding a run with other settings, or other files, is refused unless
``overwrite=True``.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from likeness._version import __version__
from likeness.arguments import check_named_paths, check_path_list, check_paths, outside_stacklevel
from likeness.errors import LikenessError, in_callers_words
from likeness.evaluation.catalog.registry import (
    DEFAULT_METRICS,
    METRICS,
    parse_metric_names,
)
from likeness.evaluation.items.plan import Plan, make_plan, model_names
from likeness.evaluation.items.settings import ExecutionOptions, RunSettings
from likeness.io import describe_skipped, differ_in_case_only
from likeness.metrics.caller_modes import as_defined
from likeness.nets.weights_scope import downloading_once
from likeness.results.frames import Results
from likeness.results.summary import StatsOptions, compare_models, summarize_rows
from likeness.runs.execute import execute
from likeness.runs.folder import (
    file_errors,
    open_cache_noting,
    recording_failure,
    set_inputs_record,
    settings_json,
    starting_run,
    value_record,
    versions,
    warn_of_failures,
    weights_record,
    write_results_folder,
)
from likeness.runs.out_dir import RUN_DATABASE, RUN_FILES
from likeness.runs.single import check_run_arguments, restoration_options, with_prompts
from likeness.wording import counted

__all__ = ["compare"]

PathLike = str | os.PathLike[str]


def _test_models(tests: PathLike | Sequence[PathLike] | None,
                 models: Mapping[str, PathLike] | None) -> dict[str, Path]:
    folders: list[PathLike]
    if tests is None:
        folders = []
    elif isinstance(tests, (str, os.PathLike)):
        folders = [tests]
    else:
        folders = list(tests)
    named = model_names(folders) if folders else {}
    for name, folder in (models or {}).items():
        if name in named:
            raise LikenessError(f"model name {name!r} is given twice; choose another name")
        named[name] = Path(folder)
    return named


def _settings(reference: PathLike | None, tests: dict[str, Path], pairs: PathLike | None,
              names: list[str], options: RunSettings, stats: StatsOptions,
              weights: Mapping[str, PathLike], source_prompt: str | None) -> dict[str, Any]:
    """What the values depend on: a run folder resumes only under equal settings."""
    def absolute(path: PathLike | None) -> str | None:
        return None if path is None else str(Path(path).resolve())

    return settings_json({
        "reference": absolute(reference),
        "models": {name: absolute(folder) for name, folder in tests.items()},
        "pairs_csv": absolute(pairs),
        "metrics": names,
        "gray": options.gray, "resize": options.resize, "alpha": options.alpha,
        "y_channel": options.y_channel, "crop_border": options.crop_border,
        "ssim_convention": options.ssim_convention, "convention": options.convention,
        "ms_ssim_convention": options.ms_ssim_convention,
        "clip_t_convention": options.clip_t_convention, "source_prompt": source_prompt,
        "fid_resize": options.fid_resize,
        "kid": {"subset_size": options.kid_subset_size, "subsets": options.kid_subsets,
                "seed": options.kid_seed},
        "statistics": {"resamples": stats.resamples, "seed": stats.seed,
                       "confidence": stats.confidence, "method": stats.method},
        "weights": {name: absolute(path) for name, path in sorted(weights.items())},
    })


def no_pairs_message(plan: Plan, reference: PathLike | None) -> str:
    """Why a plan has no pair: what each folder holds (images, files skipped: hidden or
    not in an image format likeness reads) and how files are paired."""
    def listed(names: list[str]) -> str:
        return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")

    what = []
    for model in plan.models:
        unmatched_reference, unmatched_test = plan.unmatched.get(model, ([], []))
        skipped = plan.skipped.get(model, [])
        held = (f"{counted(len(unmatched_test), 'image')} ({listed(unmatched_test)})"
                if unmatched_test else "no image file")
        if skipped:
            held += f", {counted(len(skipped), 'file')} skipped: {describe_skipped(skipped)}"
        what.append(f"{plan.sources.get(model, model)} holds {held}")
    references = (plan.unmatched.get(plan.models[0], ([], []))[0] if plan.models else [])
    what.append(f"{reference} holds {counted(len(references), 'image')}"
                + (f" ({listed(references)})" if references else ""))
    cased = [sentence for model in plan.models
             for sentence in differ_in_case_only(*plan.unmatched.get(model, ([], [])))][:3]
    return (f"no test file has a namesake in {reference}: " + "; ".join(what) + ". Files "
            "are paired by relative path without extension (ref/x/a.jpg with out/x/a.png)"
            + "".join(f"; {sentence}" for sentence in cased)
            + "; name them alike, or list the pairs in a CSV (pairs=CSV)")


@as_defined
def compare(reference: PathLike | None, tests: PathLike | Sequence[PathLike] | None = None, *,
            models: Mapping[str, PathLike] | None = None, pairs: PathLike | None = None,
            metrics: str | Sequence[str] = DEFAULT_METRICS["compare"],
            out_dir: PathLike | None = None,
            weights: Mapping[str, PathLike] | None = None, device: str = "auto",
            gray: bool = False, resize: str | None = None, alpha: str | None = None,
            workers: int = 4, batch_size: int = 16, fid_resize: str = "pytorch-fid",
            kid_subset_size: int | None = 1000, kid_subsets: int = 100, kid_seed: int = 0,
            bootstrap: int = 2000, seed: int = 0, confidence: float = 0.95,
            ci_method: str = "auto", strict: bool = False, overwrite: bool = False,
            cache: bool | PathLike = True, engine: str = "local", address: str | None = None,
            y_channel: bool = False, crop_border: int = 0, ssim_convention: str = "skimage",
            convention: str = "piq", ms_ssim_convention: str = "pytorch-msssim",
            clip_t_convention: str = "hessel", source_prompt: str | None = None,
            decoding: str = "auto",
            progress: Callable[[str, int, int], None] | None = None) -> Results:
    """Compare one or more models' outputs with the references; optionally write a
    results folder (per_image.csv, summary.csv/.md/.tex, comparisons.csv,
    references.bib, methods.md, run.json).

    Args:
        reference: the folder of reference images (may be None with ``pairs``).
        tests: a test folder or a list of them, one per model (named by folder name).
        models: more models as {name: folder}.
        pairs: a CSV with columns reference and test and, optionally, model, prompt and
            source_prompt (paths relative to the CSV).
        metrics: canonical names or a comma-separated string; ``fid`` and ``kid`` compare
            each model's set with the reference set.
        out_dir: the results folder (resumable; refused if it holds another run).
        weights: {checkpoint name: path} to run a network with a file you supply.
        device, gray, resize, alpha: as ``compare_files``.
        y_channel, crop_border, ssim_convention: restoration papers' conventions, as
            ``compare_files`` (recorded in run.json and the methods paragraph).
        convention: ``"piq"`` (default) or ``"matlab"``: the classical metrics as their
            authors' MATLAB code computes them, ``gray`` as MATLAB's ``rgb2gray``
            (recorded, stated in methods.md).
        ms_ssim_convention: ``"pytorch-msssim"`` (default), ``"piq"``, ``"torchmetrics"``,
            ``"matlab"`` (Wang's ``msssim.m``) or ``"matlab-wtd-sum"`` (its method
            ``'wtd_sum'``): whose MS-SSIM.
        clip_t_convention: ``"hessel"`` (default: CLIP-S, ViT-B/32), ``"torchmetrics"``
            (CLIPScore, ViT-L/14) or ``"cosine"``: whose CLIP-T.  A test image's prompt is
            the pairs CSV's ``prompt`` column, else its sidecar ``.txt`` file, else its
            reference's (``likeness.evaluation.items.prompts``).
        source_prompt: the directional similarity's source prompt for every pair (else
            a ``source_prompt`` column, or the reference's sidecar ``.txt`` file).
        workers: decoding threads (or processes).  batch_size: images per LPIPS pass.
        decoding: ``"auto"`` (``workers`` threads on the CPU; on CUDA one process per
            core but one, their images handed over through ``/dev/shm`` — or half the
            cores' threads, at least ``workers``, where it is missing or the pairs are
            few), ``"threads"`` (``workers``) or ``"processes"`` (``workers``): how files
            are decoded (the same values either way; FID's input resized on the CPU: see
            ``likeness.fid``).
        fid_resize, kid_subset_size, kid_subsets, kid_seed: FID/KID settings.
        bootstrap, seed, confidence, ci_method: confidence intervals (``stats``).
        strict: raise at the first failure instead of recording it.
        overwrite: allow an out-dir holding another run or other files.
        cache: True (the user cache), False (none beyond the run folder), or a path.
        engine: ``"local"`` (this process) or ``"ray"`` (a Ray cluster: ``address``, or
            a local one); the same values either way.
        progress: called with (stage, done, total): ``"pairs"``, a set metric's folder
            (images), and ``"download FILE"`` (bytes; a total of 0 when the server does not
            say) while a checkpoint downloads.

    Raises:
        LikenessError: bad inputs (missing folders, malformed pairs CSV, an out-dir
            holding another run), or any failure with ``strict``.

    Example:
        >>> import likeness
        >>> results = likeness.compare("samples/reference", ["samples/jpeg", "samples/stylized"],
        ...                            metrics="ssim,psnr", cache=False)
        >>> round(results.summary_of("jpeg", "ssim").mean, 4)
        0.7827
    """
    started = time.perf_counter()
    check_paths(reference=reference, pairs=pairs, optional=("reference", "pairs"))
    check_path_list("tests", tests)
    check_named_paths("models", models)
    weights = check_run_arguments(engine=engine, address=address, out_dir=out_dir, cache=cache,
                                  overwrite=overwrite, source_prompt=source_prompt,
                                  progress=progress, weights=weights)
    names = parse_metric_names(metrics)
    test_models = _test_models(tests, models)
    options = restoration_options(names, gray=gray, resize=resize, alpha=alpha,
                                  y_channel=y_channel, crop_border=crop_border,
                                  ssim_convention=ssim_convention, convention=convention,
                                  ms_ssim_convention=ms_ssim_convention, fid_resize=fid_resize,
                                  clip_t_convention=clip_t_convention,
                                  kid_subset_size=kid_subset_size, kid_subsets=kid_subsets,
                                  kid_seed=kid_seed, warn_unapplied=False)
    execution = ExecutionOptions(workers=workers, batch_size=batch_size, strict=strict,
                                 decoding=decoding)
    stats = StatsOptions(bootstrap, seed, confidence, ci_method)
    settings = _settings(reference, test_models, pairs, names, options, stats, weights,
                         source_prompt)
    folder = None if out_dir is None else Path(out_dir)
    need_pairs = any(METRICS[m].kind != "set" for m in names)
    need_sets = any(METRICS[m].kind == "set" for m in names)
    plan = with_prompts(make_plan(reference, test_models, pairs_csv=pairs,
                                  need_pairs=need_pairs, need_sets=need_sets), options,
                        source_prompt)
    if need_pairs and not plan.items:
        raise LikenessError(no_pairs_message(plan, reference))
    record: dict[str, Any] = {
        "likeness_version": __version__, "status": "running",
        "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "settings": settings,
        "arguments": {"device": device, "engine": engine, "address": address,
                      "workers": workers, "batch_size": batch_size, "decoding": decoding,
                      "strict": strict, "overwrite": overwrite,
                      "cache": str(cache) if not isinstance(cache, bool) else cache},
        "statistics": settings["statistics"], "versions": versions(),
        "files": [*RUN_FILES, RUN_DATABASE],  # what it writes: all that overwrite removes
    }
    # a checkpoint whose download fails is fetched once, not by each of its resolutions
    with starting_run(folder, settings, overwrite, record), recording_failure(
            folder, record), downloading_once():
        results, caught = _run(plan, names, options, execution, stats, record, folder,
                               weights, device, engine, address, cache, progress, started)
    warn_of_failures(results)
    for message, category in caught.items():
        # once each, after the run
        warnings.warn(message, category, stacklevel=outside_stacklevel())
    return results


def _run(plan: Plan, names: list[str], options: RunSettings, execution: ExecutionOptions,
         stats: StatsOptions,
         record: dict[str, Any], folder: Path | None, weights: dict[str, PathLike],
         device: str, engine: str, address: str | None, cache: bool | PathLike,
         progress: Callable[[str, int, int], None] | None, started: float,
         ) -> tuple[Results, dict[str, type[Warning]]]:
    """The run itself; returns the results and the warnings it caught (message → category)."""
    store, opening = open_cache_noting(cache, folder)
    try:
        done = execute(plan, options, execution, store,
                       weights={k: str(v) for k, v in weights.items()},
                       device=device, engine=engine, address=address,
                       shard_dir=None if folder is None else folder / "shards",
                       by_content=not (cache is False and folder is None), progress=progress,
                       missing_network="record")
    finally:
        store.close()
    rows, set_rows = done.rows, done.set_rows
    models_in_order = plan.models
    summary = summarize_rows(models_in_order, names, rows, set_rows, stats)
    comparisons = compare_models(models_in_order, names, rows, stats)
    decisions: Counter[str] = Counter(note for row in rows for note in row.notes)
    set_files_left_out, set_decisions = set_inputs_record(done.set_report)
    decisions.update(set_decisions)
    fid_network = done.set_report.settings.get("pt_inception")
    record.update({
        "status": "complete",
        "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "elapsed_s": round(time.perf_counter() - started, 3),
        "device": done.device,
        "weights": weights_record(names, weights, done.set_report, options),
        "conventions": {m: METRICS[m].described(options) for m in names},
        "counts": {model: {
            "pairs": sum(1 for r in rows if r.model == model),
            "failed_pairs": sum(1 for r in rows if r.model == model and r.error),
            "cached_pairs": sum(1 for r in rows if r.model == model and r.cached),
            "unmatched_reference": len(plan.unmatched.get(model, ([], []))[0]),
            "unmatched_test": len(plan.unmatched.get(model, ([], []))[1])}
            for model in models_in_order},
        "unmatched": {m: {"reference": u[0], "test": u[1]} for m, u in plan.unmatched.items()},
        "skipped_files": plan.skipped,
        "decisions": dict(decisions),
        "identical_outputs": done.identical,
        **value_record(names, rows, set_rows, summary, comparisons),
        "file_errors": file_errors(done.unreadable) + set_files_left_out,
        "set_errors": [{"model": r.model, "metric": r.metric, "error": r.error}
                       for r in set_rows if r.error],
        "set_sizes": {r.model: {"reference": r.n_reference, "model": r.n} for r in set_rows},
    })
    done.warnings = {**opening, **done.warnings}
    record["warnings"] = [in_callers_words(text) for text in done.warnings]
    if fid_network:
        record["fid_network"] = fid_network
    results = Results(models_in_order, names, rows, set_rows, summary, comparisons, record,
                      dict(plan.unmatched), folder)
    if folder is not None:
        write_results_folder(results, folder)
    return results, done.warnings
