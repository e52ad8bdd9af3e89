"""``likeness.evaluate_style``: content, style and stylized folders → one results folder.

Per triplet (content C, style S, stylized X): ``lpips_alex`` (C vs X, ArtFID's content
term), ``ssim`` and ``ssim_gray`` (C vs X, scikit-image), ``cfsd`` and ``content_loss``
(C vs X, VGG19), ``gram`` and ``adain_style`` (S vs X, VGG19).  Per method: ``fid``
(pytorch-fid's Inception) and ``fid_art`` (ArtFID's Inception) between the stylized set
and the style set, and ``art_fid`` = (1 + mean LPIPS)·(1 + FID_art).

The triplets are a plan (``likeness.evaluation.items.triplets``) that the same engine as
``compare`` runs: every content and style image is decoded and encoded once, per-triplet
values are cached by the three files' content hashes and every setting, batch by batch.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from likeness._version import __version__
from likeness.arguments import check_named_paths, check_path_list, check_paths, outside_stacklevel
from likeness.documents import open_file
from likeness.errors import InvalidInputError, LikenessError, in_callers_words
from likeness.evaluation.catalog.defaults import STYLE_PROTOCOLS
from likeness.evaluation.catalog.registry import (
    DEFAULT_METRICS,
    METRICS,
    parse_metric_names,
    with_item_needs,
)
from likeness.evaluation.engines.set_runs import SetReport
from likeness.evaluation.items.plan import model_names
from likeness.evaluation.items.rows import PairRow, SetRow
from likeness.evaluation.items.settings import ExecutionOptions, RunSettings
from likeness.evaluation.items.triplets import Triplet, find_triplets, style_plan
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
from likeness.runs.single import check_conventions, check_run_arguments, with_prompts
from likeness.wording import listed

__all__ = ["DEFAULT_STYLE_METRICS", "evaluate_style", "find_triplets"]

# the usual column order of style-transfer papers
DEFAULT_STYLE_METRICS = DEFAULT_METRICS["style"]
CFSD_MAX_PIXELS = 1024 * 1024
PathLike = str | os.PathLike[str]
Progress = Callable[[str, int, int], None]


@as_defined
def evaluate_style(content: PathLike, style: PathLike,
                   stylized: PathLike | Sequence[PathLike] | None = None, *,
                   methods: Mapping[str, PathLike] | None = None,
                   triplets: PathLike | None = None,
                   metrics: str | Sequence[str] | None = None, protocol: str | None = None,
                   out_dir: PathLike | None = None, weights: Mapping[str, PathLike] | None = None,
                   device: str = "auto", resize: str | None = None, alpha: str | None = None,
                   art_fid_mode: str = "plain", fid_resize: str = "pytorch-fid",
                   workers: int = 4, decoding: str = "auto",
                   cfsd_max_pixels: int = CFSD_MAX_PIXELS, bootstrap: int = 2000,
                   seed: int = 0, confidence: float = 0.95,
                   ci_method: str = "auto", strict: bool = False, overwrite: bool = False,
                   cache: bool | PathLike = True, engine: str = "local",
                   address: str | None = None, batch_size: int = 16,
                   clip_t_convention: str = "hessel", source_prompt: str | None = None,
                   progress: Progress | None = None) -> Results:
    """Evaluate style-transfer outputs: per-triplet metrics, per-method set metrics,
    statistics, and (with ``out_dir``) the results folder.

    Args:
        content, style: folders of content and style images.
        stylized: a stylized folder or a list of them, one per method (named by folder).
        methods: more methods as {name: folder}.
        triplets: a manifest CSV: columns content, style, stylized and, optionally,
            method, prompt and source_prompt.
        metrics: from ``DEFAULT_STYLE_METRICS`` (the default: all of them).
        protocol: instead of ``metrics``, the set the papers of a period report together:
            ``"2023"`` (ArtFID, its FID, LPIPS, CFSD) or ``"2024"`` (and CSD, DINO,
            CLIP-I, CLIP-T); ``likeness.evaluation.catalog.defaults.STYLE_PROTOCOLS``.
        art_fid_mode: ``"plain"`` (ArtFID's ``art_fid`` mode) or ``"infinity"`` (FID∞,
            only with at least 5,000 stylized images per method).
        cfsd_max_pixels: images larger than this are refused for CFSD (its cost grows
            with (H·W)²).
        engine, address: ``"local"`` or ``"ray"`` (a Ray cluster: ``address``, or a
            local one); the same values either way.
        clip_t_convention, source_prompt: CLIP-T's convention and the directional
            similarity's source prompt, as ``likeness.compare``; a stylized image's prompt
            is the manifest's ``prompt`` column, else its sidecar ``.txt`` file, else its
            content image's.
        Other arguments: as ``likeness.compare``.

    Raises:
        LikenessError: bad inputs, or any failure with ``strict``.
    """
    started = time.perf_counter()
    check_paths(content=content, style=style, triplets=triplets, optional=("triplets",))
    check_path_list("stylized", stylized)
    check_named_paths("methods", methods)
    weights = check_run_arguments(engine=engine, address=address, out_dir=out_dir, cache=cache,
                                  overwrite=overwrite, source_prompt=source_prompt,
                                  progress=progress, weights=weights)
    execution = ExecutionOptions(workers=workers, batch_size=batch_size, strict=strict,
                                 decoding=decoding)
    check_conventions(art_fid_mode=art_fid_mode, clip_t_convention=clip_t_convention,
                      fid_resize=fid_resize)
    if protocol is not None and (not isinstance(protocol, str)
                                 or protocol not in STYLE_PROTOCOLS):
        raise InvalidInputError(f"protocol must be one of {', '.join(STYLE_PROTOCOLS)}, got "
                                f"{protocol!r}")
    if protocol is not None and metrics is not None:
        raise InvalidInputError("give metrics or protocol, not both: a protocol is a set of "
                                "metrics")
    chosen = STYLE_PROTOCOLS[protocol] if protocol else metrics or DEFAULT_STYLE_METRICS
    names = with_item_needs(parse_metric_names(chosen, command="style"))
    folders: list[PathLike] = ([] if stylized is None else [stylized]
                               if isinstance(stylized, (str, os.PathLike)) else list(stylized))
    method_folders: dict[str, Path] = dict(model_names(folders)) if folders else {}
    for name, method_folder in (methods or {}).items():
        if name in method_folders:
            raise LikenessError(f"method name {name!r} is given twice")
        method_folders[name] = Path(method_folder)
    if not method_folders:
        raise LikenessError("give at least one stylized folder (stylized=DIR or "
                            "methods={NAME: DIR})")
    skipped: dict[str, list[str]] = {}
    found, unmatched = find_triplets(content, style, method_folders, triplets, skipped=skipped)
    if not found:
        raise LikenessError(_nothing_matched(unmatched, method_folders))
    weight_files = {k: str(v) for k, v in (weights or {}).items()}
    stats = StatsOptions(bootstrap, seed, confidence, ci_method)
    settings = settings_json({
        "content": str(Path(content).resolve()), "style": str(Path(style).resolve()),
        "models": {m: str(f.resolve()) for m, f in method_folders.items()},
        "triplets_csv": None if triplets is None else str(Path(triplets).resolve()),
        "metrics": names, "protocol": protocol, "resize": resize, "alpha": alpha,
        "art_fid_mode": art_fid_mode,
        "fid_resize": fid_resize, "cfsd_max_pixels": cfsd_max_pixels,
        "clip_t_convention": clip_t_convention, "source_prompt": source_prompt,
        "statistics": {"resamples": bootstrap, "seed": seed, "confidence": confidence,
                       "method": ci_method},
        "weights": dict(sorted(weight_files.items())),
    })
    folder = None if out_dir is None else Path(out_dir)
    record: dict[str, Any] = {
        "likeness_version": __version__, "kind": "style", "status": "running",
        "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "settings": settings, "statistics": settings["statistics"], "versions": versions(),
        "files": [*RUN_FILES, RUN_DATABASE],  # what it writes: all that overwrite removes
        "arguments": {"device": device, "engine": engine, "address": address,
                      "workers": workers, "decoding": decoding, "batch_size": batch_size,
                      "strict": strict, "overwrite": overwrite,
                      "cache": str(cache) if not isinstance(cache, bool) else cache}}
    options = RunSettings(tuple(names), resize=resize, alpha=alpha, fid_resize=fid_resize,
                          art_fid_mode=art_fid_mode, cfsd_max_pixels=cfsd_max_pixels,
                          clip_t_convention=clip_t_convention)
    plan = with_prompts(style_plan(found, list(method_folders), unmatched), options,
                        source_prompt)
    # a checkpoint whose download fails is fetched once, not by each of its resolutions
    with starting_run(folder, settings, overwrite, record), recording_failure(
            folder, record), downloading_once():
        store, opening = open_cache_noting(cache, folder)
        try:
            done = execute(plan, options, execution, store, weights=weight_files,
                           device=device,
                           engine=engine, address=address, missing_network="record",
                           shard_dir=None if folder is None else folder / "shards",
                           progress=progress)
        finally:
            store.close()
        rows, set_rows = done.rows, done.set_rows
        method_list = list(method_folders)
        summary = summarize_rows(method_list, names, rows, set_rows, stats)
        comparisons = compare_models(method_list, names, rows, stats)
        record.update(_style_record(found, rows, set_rows, unmatched, done.unreadable,
                                    options, weight_files, done.set_report, done.device,
                                    started))
        record["skipped_files"] = skipped
        record["identical_outputs"] = done.identical
        record.update(value_record(names, rows, set_rows, summary, comparisons))
        unique_warnings = {**opening, **done.warnings}
        record["warnings"] = [in_callers_words(text) for text in unique_warnings]
        results = Results(method_list, names, rows, set_rows, summary, comparisons, record,
                          {m: ([], u) for m, u in unmatched.items()}, folder, kind="style")
        if folder is not None:
            write_results_folder(results, folder)
    warn_of_failures(results)
    for message, category in unique_warnings.items():
        warnings.warn(message, category, stacklevel=outside_stacklevel())
    return results


def _style_record(triplets: list[Triplet], rows: list[PairRow], set_rows: list[SetRow],
                  unmatched: dict[str, list[str]], unreadable: dict[Path, str],
                  options: RunSettings, weights: Mapping[str, str], set_report: SetReport,
                  device: str | None, started: float) -> dict[str, Any]:
    names = list(options.metrics)
    set_files_left_out, decisions = set_inputs_record(set_report)
    for row in rows:
        for note in row.notes:
            decisions[note] = decisions.get(note, 0) + 1
    methods = list(dict.fromkeys(t.method for t in triplets))
    protocol = {method: {
        "contents": len({t.content for t in triplets if t.method == method}),
        "styles": len({t.style for t in triplets if t.method == method}),
        "stylized": sum(1 for t in triplets if t.method == method),
        "failed": sum(1 for r in rows if r.model == method and r.error),
        "cached": sum(1 for r in rows if r.model == method and r.cached),
        "unmatched": len(unmatched.get(method, []))} for method in methods}
    image_sizes = sorted({f"{w}x{h}" for w, h in _sizes(triplets)})
    return {
        "status": "complete",
        "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "elapsed_s": round(time.perf_counter() - started, 3), "device": device,
        "weights": weights_record(names, weights, set_report, options),
        "conventions": {m: METRICS[m].described(options) for m in names},
        "protocol": protocol, "counts": {m: {"pairs": p["stylized"]} for m, p in
                                         protocol.items()},
        "stylized_sizes": image_sizes, "unmatched": unmatched, "decisions": decisions,
        "file_errors": file_errors(unreadable) + set_files_left_out,
        "set_errors": [{"model": r.model, "metric": r.metric, "error": r.error}
                       for r in set_rows if r.error],
        "networks": set_report.settings,
    }


def _sizes(triplets: list[Triplet], limit: int = 200) -> set[tuple[int, int]]:
    """The sizes of (up to ``limit``) stylized images, read from their headers."""
    from PIL import Image

    sizes = set()
    for triplet in triplets[:limit]:
        try:
            # (a FIFO named as an image would block the read for ever)
            with open_file(triplet.stylized) as file, Image.open(file) as image:
                sizes.add(image.size)
        except Exception:  # noqa: BLE001 - a hostile header (a bomb's): the row's error says
            continue
    return sizes


def _nothing_matched(unmatched: dict[str, list[str]], folders: dict[str, Path]) -> str:
    """Why no triplet was found: the stylized folders hold no image, or what each of the
    first files names instead (an ambiguous split, letter case, nothing known)."""
    reasons = [reason for each in unmatched.values() for reason in each]
    if not reasons:
        named = listed([str(folder) for folder in folders.values()])
        return f"{named} {'holds' if len(folders) == 1 else 'hold'} no image likeness reads"
    shown = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3
                                      else "")
    return (f"no stylized file names a content and a style ({shown}): name them C__S.ext or "
            "S/C.ext, or give a manifest (triplets=CSV)")
