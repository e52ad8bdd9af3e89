"""A run's results folder: its guard, its record, and writing it.

``run.json`` exists from the start of a run (status ``running``) and says ``failed`` or
``interrupted`` if the run ends by any exception; ``progress.sqlite`` beside it holds the
values computed so far, so a run resumes under equal settings; a folder holding another
run is refused unless overwritten.  ``write_rows``: ``likeness compare --out FILE``, the
rows of a run (or of one pair) as one CSV or JSON file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import signal
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from importlib import metadata
from pathlib import Path
from typing import Any

from likeness._version import __version__
from likeness.arguments import outside_stacklevel
from likeness.errors import (
    InvalidInputError,
    LikenessError,
    StorageError,
    in_callers_words,
    recording_warnings,
    write_advice,
)
from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.engines.set_runs import SetReport
from likeness.evaluation.infra.cache import Cache, LayeredCache
from likeness.evaluation.infra.cache_location import default_cache_path
from likeness.evaluation.items.rows import PairRow, failed_rows_phrase
from likeness.evaluation.items.settings import RunSettings
from likeness.io import decoder_facts, decoding_libraries, replace_file
from likeness.results.frames import Results
from likeness.results.summary import mixed_scales, uneven_pairs, uneven_sets, value_scales
from likeness.results.tables import prompt_columns
from likeness.runs.out_dir import OWNED_FILES, RUN_DATABASE, RUN_FILES, check_out_dir, holding
from likeness.wording import counted, run_words

__all__ = ["OWNED_FILES", "RUN_DATABASE", "RUN_FILES", "RunWarning", "check_out_dir",
           "file_errors", "metric_failures", "open_cache", "open_cache_noting", "output_path",
           "recording_failure", "set_inputs_record", "settings_json", "starting_run",
           "value_record", "version", "versions", "warn_of_failures", "weights_record",
           "write_json", "write_results_folder", "write_rows", "writing"]

_PACKAGES = ("numpy", "scipy", "torch", "pillow", "numba")  # recorded by their versions

PathLike = str | os.PathLike[str]


def versions() -> dict[str, str]:
    """likeness's, Python's, the packages' and the decoders' (``io.decoder_facts``)."""
    return {"likeness": __version__, "python": platform.python_version(),
            **{package: version(package) for package in _PACKAGES},
            "opencv": decoder_facts()["OpenCV"], **decoding_libraries()}


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def settings_json(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings as they read back from run.json (so that equal settings compare equal)."""
    return json.loads(json.dumps(settings))


@contextmanager
def starting_run(folder: Path | None, settings: dict[str, Any], overwrite: bool,
                 record: dict[str, Any]) -> Iterator[None]:
    """The results folder, if any, held by this run to its end (``out_dir.holding``),
    checked (``check_out_dir``) and its ``run.json`` written before the run starts."""
    if folder is None:
        yield
        return
    with holding(folder):
        check_out_dir(folder, settings, overwrite)
        with writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
        write_run_record(folder / "run.json", record)
        yield


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
            record["error"] = in_callers_words(_why_it_ended(error))
            _write_record_anyway(folder / "run.json", record)
        raise


def _why_it_ended(error: BaseException) -> str:
    """How a run ended, in words: "stopped by SIGTERM", not a SystemExit's code ("143")."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    if isinstance(error, SystemExit) and isinstance(error.code, int) and error.code > 128:
        with suppress(ValueError):
            return f"stopped by {signal.Signals(error.code - 128).name}"
    return str(error) or type(error).__name__


def _write_record_anyway(path: Path, record: dict[str, Any]) -> None:
    """Write the record of a failed run; on a full disk, in place of the old one (whose
    blocks, freed by truncating it, hold the new one), so that it never says ``running``."""
    text = json.dumps(sign_record(record), indent=1, default=str, allow_nan=True) + "\n"
    try:
        write_json(path, record)
    except LikenessError:
        with suppress(OSError):
            # (never blocking: a FIFO in its place, without a reader, fails at once)
            handle = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
                             | getattr(os, "O_NONBLOCK", 0))
            try:
                os.ftruncate(handle, 0)
                os.write(handle, text.encode("utf-8"))
            finally:
                os.close(handle)


@contextmanager
def writing(path: Path, resumes: bool = False) -> Iterator[None]:
    """Turn a failed write (full disk, read-only folder) into one message naming the path,
    saying that a re-run resumes where it does: the values are kept (``resumes``)."""
    try:
        yield
    except OSError as error:
        fix = write_advice(error)
        fix += " — values computed so far are kept and a re-run resumes" if resumes else ""
        raise StorageError(f"cannot write {path} ({error.strerror or error}); {fix}") from None


def output_path(path: PathLike, argument: str, *suffixes: str) -> Path:
    """``path``, if it ends in one of ``suffixes``: a mistyped output must not replace an
    image (or any file of another kind) with a table.

    Raises:
        InvalidInputError: another ending.
    """
    target = Path(path)
    if target.suffix.lower() not in suffixes:
        raise InvalidInputError(f"{argument} must end in {' or '.join(suffixes)}, got "
                                f"{target.name!r}")
    return target


def open_cache_noting(cache: bool | PathLike, out_dir: Path | None
                      ) -> tuple[Cache, dict[str, type[Warning]]]:
    """``open_cache``, and the warnings opening it gave (a corrupt database moved aside),
    so that the run record and the terminal carry them."""
    with recording_warnings() as caught:
        store = open_cache(cache, out_dir)
    return store, caught


def open_cache(cache: bool | PathLike, out_dir: Path | None) -> Cache:
    layers = []
    if out_dir is not None:
        layers.append(Cache(out_dir / RUN_DATABASE, results_folder=True))
    if cache is True:
        layers.append(Cache(default_cache_path()))
    elif cache is not False:
        layers.append(Cache(cache))
    if not layers:
        return Cache(None)
    return layers[0] if len(layers) == 1 else LayeredCache(layers)


def write_json(path: Path, document: dict[str, Any], resumes: bool = False) -> None:
    with writing(path, resumes):
        replace_file(path, json.dumps(document, indent=1, default=str, allow_nan=True) + "\n")


def write_run_record(path: Path, record: dict[str, Any]) -> None:
    """Write a run's ``run.json``, signed: its digest (``results.html.record_digest``) in
    it, so that what reads it back knows it unchanged."""
    write_json(path, sign_record(record))


def sign_record(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with its digest under ``RECORD_DIGEST`` (set in place, and returned)."""
    from likeness.results.html import RECORD_DIGEST, record_digest

    record[RECORD_DIGEST] = record_digest(record)
    return record


def file_errors(unreadable: Mapping[Path, str]) -> list[dict[str, str]]:
    """The record's list of files that could not be read: the file, and the reason without
    the file's name again (the messages begin with it)."""
    return [{"file": str(path), "reason": in_callers_words(reason.removeprefix(f"{path}: "))}
            for path, reason in unreadable.items()]


def set_inputs_record(report: SetReport) -> tuple[list[dict[str, str]], dict[str, int]]:
    """What the record says of the image sets' inputs: the files a set network could not
    read (left out of that set), and each set's decisions — the reference's too — as
    ``decisions`` lists them ("NAME set: COUNT images: DECISION")."""
    left_out = [{"file": file, "reason": reason} for file, reason in report.file_errors]
    decisions = {f"{name} set: {counted(count, 'image')}: {note}": 1
                 for name, counts in report.decisions.items() for note, count in counts.items()}
    return left_out, decisions


def value_record(names: list[str], rows: list[Any], set_rows: list[Any],
                 summary: list[Any], comparisons: list[Any]) -> dict[str, Any]:
    """What the run record says about the values' scales, non-finite values, the
    metrics that failed and the statistics' small samples."""
    from likeness.results.summary import few_values, too_few_to_test

    computed = [row for row in rows if row.data_range is not None]
    models = list(dict.fromkeys(s.model for s in summary))
    return {
        "metric_failures": metric_failures(names, rows, set_rows),
        "pairs_attempted": len(rows),
        "pairs_succeeded": sum(1 for row in rows if not row.error),
        "pairs_failed": sum(1 for row in rows if row.error),
        # what the tables hold: a folder with values is never taken without overwrite
        "values_computed": sum(len(row.values) for row in rows)
        + sum(1 for row in set_rows if row.value is not None and not row.error),
        "data_ranges": dict(Counter(f"{row.data_range:g}" for row in computed)),
        "channels": dict(Counter("gray" if row.channels == 1 else "RGB" for row in computed)),
        "scales": {m: {"unit": METRICS[m].scale_unit, "pairs_per_data_range": counts}
                   for m, counts in value_scales(names, rows).items()},
        "not_summarised": mixed_scales(names, rows),
        "uneven_pairs": uneven_pairs(models, names, rows),
        "uneven_sets": uneven_sets(models, names, set_rows),
        "few_values": few_values(summary),
        "too_few_to_test": too_few_to_test(comparisons),
        "infinite_values": {f"{s.model}/{s.metric}": {
            "count": s.n_infinite, "why": METRICS[s.metric].infinite_when,
            "summary": "kept: the mean is +inf and its confidence interval undefined"}
            for s in summary if s.n_infinite},
    }


def weights_record(names: list[str], weights: Mapping[str, Any], set_report: SetReport,
                   options: RunSettings) -> dict[str, Any]:
    """Each checkpoint the run's metrics depend on (under its ``options``): its file, path,
    SHA-256 and source, or the error that kept it from being used."""
    from likeness.evaluation.catalog.networks import NETWORKS
    from likeness.nets.weights import REGISTRY, resolve

    record: dict[str, Any] = {}
    uses = [METRICS[m].use_in(options) for m in names]
    networks = [use.network for use in uses if use is not None]
    for name in dict.fromkeys(c for n in networks for c in NETWORKS[n].checkpoints):
        try:
            resolved = resolve(name, weights.get(name))
        except LikenessError as error:
            record[name] = {"error": in_callers_words(str(error))}
            continue
        user = resolved.source == "user-supplied"
        record[name] = {"file": resolved.path.name if user else REGISTRY[name].file_name,
                        "path": str(resolved.path), "sha256": resolved.sha256,
                        "source": resolved.source}
    for network, settings in set_report.settings.items():  # each set network's checkpoint
        record[NETWORKS[network].checkpoint] = {
            "file": Path(settings["weights_file"]).name, "path": settings["weights_file"],
            "sha256": settings["weights_sha256"], "source": settings["weights_source"]}
    for network, why in set_report.missing.items():
        record[NETWORKS[network].checkpoint] = {"error": in_callers_words(why)}
    return record


def metric_failures(names: list[str], rows: list[Any], set_rows: list[Any]
                    ) -> dict[str, dict[str, Any]]:
    """Per metric that failed anywhere: how many values it has, how many items (or
    models, for a set metric) it failed on, and the commonest reason."""
    failures: dict[str, dict[str, Any]] = {}
    for metric in names:
        if METRICS[metric].kind == "set":
            own = [r for r in set_rows if r.metric == metric]
            reasons = [r.error for r in own if r.error]
            computed = sum(1 for r in own if r.value is not None and not r.error)
        else:
            reasons = [r.metric_errors[metric] for r in rows if metric in r.metric_errors]
            computed = sum(1 for r in rows if metric in r.values)
        if reasons:
            failures[metric] = {"computed": computed, "failed": len(reasons),
                                "reason": Counter(reasons).most_common(1)[0][0]}
    return failures


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
    unit = run_words(results.record.get("kind")).unit
    warnings.warn(f"{failed_rows_phrase(results.rows, unit)}, {counted(unmatched, 'file')} "
                  f"had no partner, {counted(set_failed, 'set metric')} failed; see {where}",
                  RunWarning, stacklevel=outside_stacklevel())


class RunWarning(UserWarning):
    """A run finished, but some pairs failed or some files were left out."""


def write_results_folder(results: Results, folder: Path) -> None:
    """Write every file of the results folder (each atomically).

    Raises:
        StorageError: a file cannot be written (full disk, read-only folder).
    """
    with writing(folder, resumes=True):  # its values are in its progress.sqlite
        _write_results_files(results, folder)


def _write_results_files(results: Results, folder: Path) -> None:
    from likeness.results import citations, tables

    folder.mkdir(parents=True, exist_ok=True)
    results.record["tables_sha256"] = tables.write_csv_tables(results, folder)
    replace_file(folder / "summary.md", tables.markdown_summary(results), errors=tables.TEXT_ERRORS)
    replace_file(folder / "summary.tex", tables.latex_summary(results), errors=tables.TEXT_ERRORS)
    settings = results.record["settings"]
    keys = citations.citation_keys(results.metrics, settings, comparisons=len(results.models) > 1)
    keys = list(dict.fromkeys([*keys, *citations.restoration_keys(settings)]))
    replace_file(folder / "references.bib", citations.bibtex_for(keys))
    paragraph = (citations.style_methods_paragraph(results.record) if results.kind == "style"
                 else citations.methods_paragraph(results.record))
    replace_file(folder / "methods.md", "# Methods\n\n" + paragraph + "\n\nCitation keys refer "
                 "to `references.bib` (Pandoc syntax: `[@key]`).\n", errors=tables.TEXT_ERRORS)
    write_run_record(folder / "run.json", results.record)
    shards = folder / "shards"  # the Ray engine's streamed rows, now merged into the CSV
    if shards.is_dir():
        for shard in shards.glob("part-*.parquet"):
            shard.unlink()
        shards.rmdir()


def write_rows(out: Path, rows: Sequence[PairRow], names: Sequence[str],
               unmatched: dict[str, tuple[list[str], list[str]]], with_model: bool = False,
               resumes: bool = False) -> None:
    """Write ``rows`` to ``out`` (``.json``: a document; else CSV) in one step (as ``writing``).

    Raises:
        StorageError: the file cannot be written (a full disk, a read-only folder).
    """
    output_path(out, "out", ".csv", ".json")
    with writing(out, resumes):  # a full disk, a read-only folder: one message naming it
        out.parent.mkdir(parents=True, exist_ok=True)
        replace_file(out, _rows_text(out, rows, names, unmatched, with_model),
                     errors="backslashreplace")


def _rows_text(out: Path, rows: Sequence[PairRow], names: Sequence[str],
               unmatched: dict[str, tuple[list[str], list[str]]], with_model: bool) -> str:
    columns = [*(["model"] if with_model else []), "reference", "test",
               *prompt_columns(rows), *names, "error", "notes"]
    records: list[dict[str, Any]] = [
        {"model": row.model, "reference": row.reference, "test": row.test, **row.prompts,
         **{name: row.values.get(name) for name in names},
         "error": row.error, "notes": "; ".join(row.notes) or None} for row in rows]
    if out.suffix.lower() == ".json":
        if not with_model:
            for record in records:
                del record["model"]
        lists = list(unmatched.values())
        document: dict[str, Any] = {"rows": records}
        if with_model:
            document["unmatched"] = {m: {"reference": u[0], "test": u[1]}
                                     for m, u in unmatched.items()}
        else:
            document["unmatched_reference"] = lists[0][0] if lists else []
            document["unmatched_test"] = lists[0][1] if lists else []
        return json.dumps(document, indent=1, allow_nan=True) + "\n"
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow({k: ("" if v is None else repr(v) if isinstance(v, float) else v)
                         for k, v in record.items()})
    return buffer.getvalue()
