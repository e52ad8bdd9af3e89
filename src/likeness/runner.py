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
import json
import os
import platform
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from importlib import metadata
from pathlib import Path
from typing import Any

from likeness.allocator import keep_freed_memory
from likeness.cache import Cache, LayeredCache, default_cache_path
from likeness.engine import EngineOptions, hash_files, run_pairs, run_sets
from likeness.errors import LikenessError, StorageError
from likeness.evaluate import METRICS, MetricContext, device_for, parse_metric_names
from likeness.plan import make_plan, model_names
from likeness.results import (
    Results,
    StatsOptions,
    compare_models,
    mixed_scales,
    summarize_rows,
    value_scales,
)

__all__ = ["RUN_FILES", "compare", "write_results_folder"]

RUN_FILES = ("per_image.csv", "summary.csv", "summary.md", "summary.tex", "comparisons.csv",
             "references.bib", "methods.md", "run.json")
RUN_DATABASE = "progress.sqlite"
_PACKAGES = {"numpy": "numpy", "scipy": "scipy", "torch": "torch", "pillow": "pillow",
             "opencv": "opencv-python-headless", "numba": "numba"}

PathLike = str | os.PathLike[str]


def _versions() -> dict[str, str]:
    versions = {"likeness": _version("likeness"), "python": platform.python_version()}
    for label, package in _PACKAGES.items():
        versions[label] = _version(package)
    return versions


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


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
              names: list[str], options: EngineOptions, stats: StatsOptions,
              weights: Mapping[str, PathLike]) -> dict[str, Any]:
    """What the values depend on: a run folder resumes only under equal settings."""
    def absolute(path: PathLike | None) -> str | None:
        return None if path is None else str(Path(path).resolve())

    return _settings_json({
        "reference": absolute(reference),
        "models": {name: absolute(folder) for name, folder in tests.items()},
        "pairs_csv": absolute(pairs),
        "metrics": names,
        "gray": options.gray, "resize": options.resize, "alpha": options.alpha,
        "fid_resize": options.fid_resize,
        "kid": {"subset_size": options.kid_subset_size, "subsets": options.kid_subsets,
                "seed": options.kid_seed},
        "statistics": {"resamples": stats.resamples, "seed": stats.seed,
                       "confidence": stats.confidence, "method": stats.method},
        "weights": {name: absolute(path) for name, path in sorted(weights.items())},
    })


def _settings_json(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings as they read back from run.json (so that equal settings compare equal)."""
    return json.loads(json.dumps(settings))


@contextmanager
def recording_failure(folder: Path | None, record: dict[str, Any]) -> Iterator[None]:
    """Mark run.json ``failed`` (or ``interrupted``) if the run ends by any exception, so
    that a record never says ``running`` after the process is gone (SIGKILL aside: a
    resumed run picks that up)."""
    try:
        yield
    except BaseException as error:
        if folder is not None:
            interrupted = isinstance(error, (KeyboardInterrupt, SystemExit))
            record["status"] = "interrupted" if interrupted else "failed"
            record["error"] = str(error) or type(error).__name__
            with suppress(LikenessError):  # the disk may be what failed
                _write_json(folder / "run.json", record)
        raise


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a failed write (full disk, read-only folder) into one message naming the path."""
    try:
        yield
    except OSError as error:
        raise StorageError(f"cannot write {path} ({error.strerror or error}); free some space "
                           "or make the folder writable — values computed so far are kept "
                           "and a re-run resumes") from None


def _check_out_dir(out_dir: Path, settings: dict[str, Any], overwrite: bool) -> None:
    record_path = out_dir / "run.json"
    if record_path.is_file():
        try:
            previous_record = json.loads(record_path.read_text())
            previous = previous_record.get("settings")
        except (OSError, ValueError, AttributeError):
            previous_record, previous = {}, None
        if previous != settings and _computed_nothing(out_dir, previous_record):
            # an earlier run that failed before computing anything (missing weights, say)
            # has nothing to protect: the new run takes the folder
            (out_dir / RUN_DATABASE).unlink(missing_ok=True)
            return
        if previous != settings and not overwrite:
            changed = sorted(k for k in set(settings) | set(previous or {})
                             if (previous or {}).get(k) != settings.get(k))
            raise LikenessError(
                f"{out_dir} holds a run with other settings (differing: {', '.join(changed)});"
                " pass overwrite=True to replace it, or choose another out_dir")
        if previous != settings:  # overwrite: the old progress belongs to other settings
            (out_dir / RUN_DATABASE).unlink(missing_ok=True)
    elif out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise LikenessError(f"{out_dir} is not empty and holds no likeness run; choose an "
                            "empty or new folder, or pass overwrite=True")


def _computed_nothing(out_dir: Path, record: dict[str, Any]) -> bool:
    """Whether the run recorded in ``out_dir`` ended without computing any value."""
    if record.get("status") not in ("failed", "interrupted"):
        return False
    database = out_dir / RUN_DATABASE
    if not database.is_file():
        return True
    try:
        with Cache(database) as progress:
            return progress.is_empty()
    except LikenessError:
        return False


def _open_cache(cache: bool | PathLike, out_dir: Path | None) -> Cache:
    layers = []
    if out_dir is not None:
        layers.append(Cache(out_dir / RUN_DATABASE))
    if cache is True:
        layers.append(Cache(default_cache_path()))
    elif cache is not False:
        layers.append(Cache(cache))
    if not layers:
        return Cache(None)
    return layers[0] if len(layers) == 1 else LayeredCache(layers)


def _write_json(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with writing(path):
        temporary.write_text(json.dumps(document, indent=1, default=str, allow_nan=True) + "\n",
                             encoding="utf-8")
        temporary.replace(path)


def _weights_record(names: list[str], weights: Mapping[str, PathLike],
                    set_settings: dict[str, Any]) -> dict[str, Any]:
    from likeness.weights import REGISTRY, resolve

    record: dict[str, Any] = {}
    wanted = []
    for metric in names:
        if metric.startswith("lpips_"):
            from likeness.nets.lpips import LPIPS_NETS

            wanted.append(LPIPS_NETS[metric.removeprefix("lpips_")][0])
    for name in dict.fromkeys(wanted):
        try:
            resolved = resolve(name, weights.get(name))
        except LikenessError as error:
            record[name] = {"error": str(error)}
            continue
        record[name] = {"file": REGISTRY[name].file_name if resolved.source != "user-supplied"
                        else resolved.path.name, "path": str(resolved.path),
                        "sha256": resolved.sha256, "source": resolved.source}
    if set_settings:
        record["pt_inception"] = {
            "file": Path(set_settings["weights_file"]).name, "path": set_settings["weights_file"],
            "sha256": set_settings["weights_sha256"], "source": set_settings["weights_source"]}
    return record


def compare(reference: PathLike | None, tests: PathLike | Sequence[PathLike] | None = None, *,
            models: Mapping[str, PathLike] | None = None, pairs: PathLike | None = None,
            metrics: str | Sequence[str] = ("ssim", "psnr"), out_dir: PathLike | None = None,
            weights: Mapping[str, PathLike] | None = None, device: str = "auto",
            gray: bool = False, resize: str | None = None, alpha: str | None = None,
            workers: int = 4, batch_size: int = 16, fid_resize: str = "pytorch-fid",
            kid_subset_size: int | None = 1000, kid_subsets: int = 100, kid_seed: int = 0,
            bootstrap: int = 2000, seed: int = 0, confidence: float = 0.95,
            ci_method: str = "auto", strict: bool = False, overwrite: bool = False,
            cache: bool | PathLike = True, engine: str = "local", address: str | None = None,
            progress: Callable[[str, int, int], None] | None = None) -> Results:
    """Compare one or more models' outputs with the references; optionally write a
    results folder (per_image.csv, summary.csv/.md/.tex, comparisons.csv,
    references.bib, methods.md, run.json).

    Args:
        reference: the folder of reference images (may be None with ``pairs``).
        tests: a test folder or a list of them, one per model (named by folder name).
        models: more models as {name: folder}.
        pairs: a CSV with columns ``reference,test[,model]`` (paths relative to the CSV).
        metrics: canonical names or a comma-separated string; ``fid`` and ``kid`` compare
            each model's set with the reference set.
        out_dir: the results folder (resumable; refused if it holds another run).
        weights: {checkpoint name: path} to run a network with a file you supply.
        device, gray, resize, alpha: as ``compare_files``.
        workers: decoding threads.  batch_size: images per LPIPS pass.
        fid_resize, kid_subset_size, kid_subsets, kid_seed: FID/KID settings.
        bootstrap, seed, confidence, ci_method: confidence intervals (``stats``).
        strict: raise at the first failure instead of recording it.
        overwrite: allow an out-dir holding another run or other files.
        cache: True (the user cache), False (none beyond the run folder), or a path.
        engine: ``"local"`` (this process) or ``"ray"`` (a Ray cluster: ``address``, or
            a local one); the same values either way.
        progress: called with (stage, done, total).

    Raises:
        LikenessError: bad inputs (missing folders, malformed pairs CSV, an out-dir
            holding another run), or any failure with ``strict``.

    Example:
        >>> results = likeness.compare("refs/", ["model_a/", "model_b/"],
        ...                            metrics="ssim,psnr,lpips", out_dir="results/")
        ...                                                  # doctest: +SKIP
    """
    started = time.perf_counter()
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    if engine == "ray":
        from likeness.engines.ray_engine import import_ray

        import_ray()  # fail early, in one line, when the extra is missing
    names = parse_metric_names(metrics)
    test_models = _test_models(tests, models)
    weights = dict(weights or {})
    options = EngineOptions(tuple(names), gray=gray, resize=resize, alpha=alpha,
                            fid_resize=fid_resize, kid_subset_size=kid_subset_size,
                            kid_subsets=kid_subsets, kid_seed=kid_seed, workers=workers,
                            batch_size=batch_size, strict=strict)
    stats = StatsOptions(bootstrap, seed, confidence, ci_method)
    settings = _settings(reference, test_models, pairs, names, options, stats, weights)
    folder = None if out_dir is None else Path(out_dir)
    need_pairs = any(METRICS[m].kind != "set" for m in names)
    need_sets = any(METRICS[m].kind == "set" for m in names)
    plan = make_plan(reference, test_models, pairs_csv=pairs, need_pairs=need_pairs,
                     need_sets=need_sets)
    if need_pairs and not plan.pairs:
        raise LikenessError(f"no test file has a namesake in {reference}; files are paired "
                            "by relative path without extension (or give pairs=CSV)")
    record: dict[str, Any] = {
        "likeness_version": _version("likeness"), "status": "running",
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": settings,
        "arguments": {"device": device, "engine": engine, "address": address,
                      "workers": workers, "batch_size": batch_size,
                      "strict": strict, "overwrite": overwrite,
                      "cache": str(cache) if not isinstance(cache, bool) else cache},
        "statistics": settings["statistics"], "versions": _versions(),
    }
    if folder is not None:
        _check_out_dir(folder, settings, overwrite)
        with writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "run.json", record)
    with recording_failure(folder, record):
        results, caught = _run(plan, names, options, stats, record, folder, weights, device,
                               engine, address, cache, progress, started)
    warn_of_failures(results)
    for message, category in caught.items():
        warnings.warn(message, category, stacklevel=2)  # once each, after the run
    return results


def _run(plan: Any, names: list[str], options: EngineOptions, stats: StatsOptions,
         record: dict[str, Any], folder: Path | None, weights: dict[str, PathLike],
         device: str, engine: str, address: str | None, cache: bool | PathLike,
         progress: Callable[[str, int, int], None] | None, started: float,
         ) -> tuple[Results, dict[str, type[Warning]]]:
    """The run itself; returns the results and the warnings it caught (message → category)."""
    resolved_device = device_for(names, device)
    keep_freed_memory()  # see likeness.allocator: large temporaries without page faults
    store = _open_cache(cache, folder)
    try:
        paths = [p for task in plan.pairs for p in (task.reference, task.test)]
        keep_nothing = cache is False and folder is None  # no need to read every byte
        digests, unreadable = hash_files(paths, store, options.workers,
                                         by_content=not keep_nothing)
        context = MetricContext(resolved_device, {k: str(v) for k, v in weights.items()})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if engine == "ray":
                rows = _run_pairs_on_ray(plan, digests, unreadable, options, weights,
                                         resolved_device, store, address, folder, progress)
            else:
                rows = run_pairs(plan, digests, options, context, store, progress,
                                 unreadable=unreadable)
            set_rows, set_settings = run_sets(plan, options, store,
                                              weights={k: str(v) for k, v in weights.items()},
                                              device=device, progress=progress)
    finally:
        store.close()
    models_in_order = plan.models
    summary = summarize_rows(models_in_order, names, rows, set_rows, stats)
    comparisons = compare_models(models_in_order, names, rows, stats)
    decisions: Counter[str] = Counter(note for row in rows for note in row.notes)
    noted: set[str] = set()
    for set_row in set_rows:  # each model's set decisions, once (fid and kid share them)
        if set_row.model not in noted:
            noted.add(set_row.model)
            decisions.update(f"{set_row.model} set: {note}" for note in set_row.notes)
    record.update({
        "status": "complete",
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(time.perf_counter() - started, 3),
        "device": resolved_device,
        "weights": _weights_record(names, weights, set_settings),
        "conventions": {m: METRICS[m].description for m in names},
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
        **value_record(names, rows, summary),
        "file_errors": file_errors(unreadable)
        + [{"file": f, "reason": r} for f, r in set_settings.get("file_errors", [])],
        "set_errors": [{"model": r.model, "metric": r.metric, "error": r.error}
                       for r in set_rows if r.error],
    })
    unique_warnings = {str(w.message): w.category for w in caught}
    record["warnings"] = list(unique_warnings)
    if set_settings:
        record["fid_network"] = {k: v for k, v in set_settings.items()
                                 if k not in ("file_errors", "reference_decisions")}
    results = Results(models_in_order, names, rows, set_rows, summary, comparisons, record,
                      dict(plan.unmatched), folder)
    if folder is not None:
        write_results_folder(results, folder)
    return results, unique_warnings


def file_errors(unreadable: Mapping[Path, str]) -> list[dict[str, str]]:
    """The record's list of files that could not be read: the file, and the reason without
    the file's name again (the messages begin with it)."""
    return [{"file": str(path), "reason": reason.removeprefix(f"{path}: ")}
            for path, reason in unreadable.items()]


def value_record(names: list[str], rows: list[Any], summary: list[Any]) -> dict[str, Any]:
    """What the run record says about the values' scales and non-finite values."""
    computed = [row for row in rows if row.data_range is not None]
    return {
        "pairs_attempted": len(rows),
        "pairs_succeeded": sum(1 for row in rows if not row.error),
        "pairs_failed": sum(1 for row in rows if row.error),
        "data_ranges": dict(Counter(f"{row.data_range:g}" for row in computed)),
        "channels": dict(Counter("gray" if row.channels == 1 else "RGB" for row in computed)),
        "scales": {metric: {"unit": "(data range)^2", "pairs_per_data_range": counts}
                   for metric, counts in value_scales(names, rows).items()},
        "not_summarised": mixed_scales(names, rows),
        "infinite_values": {f"{s.model}/{s.metric}": {
            "count": s.n_infinite, "why": METRICS[s.metric].infinite_when,
            "summary": "kept: the mean is +inf and its confidence interval undefined"}
            for s in summary if s.n_infinite},
    }


def warn_of_failures(results: Results) -> None:
    """One warning when pairs failed or files were left unmatched (the CLI prints its own)."""
    failed = sum(1 for row in results.rows if row.error)
    unmatched = sum(len(a) + len(b) for a, b in results.unmatched.values())
    set_failed = sum(1 for row in results.set_rows if row.error)
    if not failed and not unmatched and not results.failures:
        return
    where = ("per_image.csv and run.json in " + str(results.out_dir) if results.out_dir
             else "the rows' error fields (results.rows), results.unmatched and "
                  "results.record['file_errors']")
    warnings.warn(f"{failed} of {len(results.rows)} pair(s) failed, {unmatched} file(s) had "
                  f"no partner, {set_failed} set metric(s) failed; see {where}",
                  RunWarning, stacklevel=3)


class RunWarning(UserWarning):
    """A run finished, but some pairs failed or some files were left out."""


def _run_pairs_on_ray(plan: Any, digests: dict[Path, str], unreadable: dict[Path, str],
                      options: EngineOptions,
                      weights: dict[str, PathLike], device: str, store: Cache,
                      address: str | None, folder: Path | None,
                      progress: Callable[[str, int, int], None] | None) -> list[Any]:
    """Per-pair rows on Ray; set images' features computed there too (into the cache)."""
    from likeness.engines.ray_engine import features_on_ray, run_on_ray

    as_text = {k: str(v) for k, v in weights.items()}
    rows = run_on_ray(plan, digests, options, as_text, device, store, address=address,
                      shard_dir=None if folder is None else folder / "shards",
                      progress=progress, unreadable=unreadable)
    if any(METRICS[m].kind == "set" for m in options.metrics):
        files = [*plan.reference_set, *(f for fs in plan.model_sets.values() for f in fs)]
        set_digests, _ = hash_files(files, store, options.workers)
        features_on_ray(files, set_digests, options, as_text, device, store, address=address)
    return rows


def write_results_folder(results: Results, folder: Path) -> None:
    """Write every file of the results folder (each atomically).

    Raises:
        StorageError: a file cannot be written (full disk, read-only folder).
    """
    with writing(folder):
        _write_results_files(results, folder)


def _write_results_files(results: Results, folder: Path) -> None:
    from likeness.report.citations import (
        bibtex_for,
        citation_keys,
        methods_paragraph,
        style_methods_paragraph,
    )
    from likeness.report.tables import (
        TEXT_ERRORS,
        latex_summary,
        markdown_summary,
        write_csv_tables,
    )

    folder.mkdir(parents=True, exist_ok=True)
    write_csv_tables(results, folder)
    (folder / "summary.md").write_text(markdown_summary(results), encoding="utf-8",
                                       errors=TEXT_ERRORS)
    (folder / "summary.tex").write_text(latex_summary(results), encoding="utf-8",
                                        errors=TEXT_ERRORS)
    settings = results.record["settings"]
    keys = citation_keys(results.metrics, clean_resize=settings.get("fid_resize") == "clean",
                         comparisons=len(results.models) > 1,
                         fid_infinity=settings.get("art_fid_mode") == "infinity")
    (folder / "references.bib").write_text(bibtex_for(keys), encoding="utf-8")
    paragraph = (style_methods_paragraph(results.record) if results.kind == "style"
                 else methods_paragraph(results.record))
    (folder / "methods.md").write_text(
        "# Methods\n\n" + paragraph + "\n\nCitation keys refer to "
        "`references.bib` (Pandoc syntax: `[@key]`).\n", encoding="utf-8", errors=TEXT_ERRORS)
    _write_json(folder / "run.json", results.record)
    shards = folder / "shards"  # the Ray engine's streamed rows, now merged into the CSV
    if shards.is_dir():
        for shard in shards.glob("part-*.parquet"):
            shard.unlink()
        shards.rmdir()
