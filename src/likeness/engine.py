"""The local engine: a plan of pairs and sets → cached, batched, resumable metric values.

Per-pair metrics:

1. every file is hashed once (SHA-256, remembered by path, size and modification time);
2. each pair's values are looked up in the cache by (reference hash, test hash) and the
   metric's settings (convention, gray/resize/alpha, network weights hash): a re-run, a
   resumed run or a run over a grown folder computes only what is missing;
3. the missing pairs are grouped by reference; a thread pool decodes a group's reference
   and every model's test image a bounded window ahead of the computation;
4. pixel metrics (SSIM, PSNR, MSE, MS-SSIM) run per pair; LPIPS encodes each image once —
   a reference compared with k models is encoded once, not k times — with groups of one
   image size batched together;
5. results are stored (and committed) group by group, so a killed run loses at most the
   batch in flight.

Set metrics (FID, KID) take each model's set against the reference set through
``likeness.sets`` (features cached per file the same way).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from likeness.cache import Cache
from likeness.errors import LikenessError
from likeness.evaluate import (
    METRICS,
    MetricContext,
    describe_failure,
    invalid_values,
    prepare_pair,
)
from likeness.io import LoadedImage, load_image
from likeness.pipeline import ordered_map
from likeness.plan import PairTask, Plan

__all__ = ["EngineOptions", "PairRow", "SetRow", "run_pairs", "run_sets"]

Progress = Callable[[str, int, int], None]
_GRAY_NOTE = "gray replicated to RGB for LPIPS"


@dataclass(frozen=True)
class EngineOptions:
    """Everything that changes a value (and so the cache keys), plus how to run."""

    metrics: tuple[str, ...]
    gray: bool = False
    resize: str | None = None
    alpha: str | None = None
    fid_resize: str = "pytorch-fid"
    kid_subset_size: int | None = 1000
    kid_subsets: int = 100
    kid_seed: int = 0
    workers: int = 4
    batch_size: int = 16  # images per LPIPS pass (groups are never split)
    strict: bool = False


@dataclass
class PairRow:
    """One (reference, test) pair of one model: values, error, decisions."""

    model: str
    reference: str
    test: str
    values: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    notes: tuple[str, ...] = ()
    cached: bool = False
    style: str | None = None  # style-transfer runs: the style image (reference = content)
    data_range: float | None = None  # the scale of scale-dependent values (MSE: range²)
    channels: int | None = None  # as compared: 1 (gray) or 3 (RGB)

    @property
    def key(self) -> str:
        """What pairs this row with another model's row: its reference (and style)."""
        return self.reference if self.style is None else f"{self.reference}\n{self.style}"


@dataclass
class SetRow:
    """A set metric of one model against the references."""

    model: str
    metric: str
    value: float | None
    std: float | None
    n: int
    n_reference: int
    error: str | None = None
    notes: tuple[str, ...] = ()


def _pair_settings(options: EngineOptions) -> str:
    return f"gray={options.gray}/resize={options.resize}/alpha={options.alpha}"


def _metric_namespace(metric: str, options: EngineOptions, weights_sha: str | None) -> str:
    suffix = f"/weights={weights_sha}" if weights_sha else ""
    return f"pair/v1/{metric}/{_pair_settings(options)}{suffix}"


@dataclass
class _Group:
    """The missing pairs that share one reference file."""

    reference: Path
    tasks: list[int]  # indices into the plan's pairs


@dataclass
class _LpipsWork:
    rows: list[int]
    images: list[Any] = field(default_factory=list)  # [reference, test, test, ...] tensors


class _PairRunner:
    def __init__(self, plan: Plan, digests: dict[Path, str], options: EngineOptions,
                 context: MetricContext, cache: Cache, progress: Progress | None,
                 unreadable: Mapping[Path, str] | None = None) -> None:
        self.plan, self.digests, self.options = plan, digests, options
        self.unreadable = dict(unreadable or {})  # why each file without a key failed
        self.context, self.cache, self.progress = context, cache, progress
        names = [m for m in options.metrics if METRICS[m].kind != "set"]
        self.pixel_metrics = [m for m in names if METRICS[m].kind == "pixel"]
        self.network_metrics = [m for m in names if METRICS[m].kind == "network"]
        self.metrics = names
        self.rows = [PairRow(t.model, t.reference_name, t.test_name) for t in plan.pairs]
        self.failed_networks: dict[str, str] = {}
        self.namespaces = {m: _metric_namespace(m, options, self._weights_sha(m))
                           for m in names}
        self.notes_namespace = f"pair/v3/notes/{_pair_settings(options)}"
        self.done = 0
        self.pending: list[_LpipsWork] = []
        self.pending_images = 0
        self.to_store: list[int] = []
        self.metric_errors: dict[int, dict[str, str]] = {}  # row -> metric -> message

    def _weights_sha(self, metric: str) -> str | None:
        if METRICS[metric].kind != "network":
            return None
        from likeness.nets.lpips import LPIPS_NETS
        from likeness.weights import resolve

        backbone = LPIPS_NETS[metric.removeprefix("lpips_")][0]
        try:
            return resolve(backbone, self.context.weights.get(backbone)).sha256
        except LikenessError as error:
            self.failed_networks[metric] = str(error)
            return "unavailable"

    def _key(self, task: PairTask) -> str | None:
        ref, test = self.digests.get(task.reference), self.digests.get(task.test)
        return None if ref is None or test is None else f"{ref}:{test}"

    def _advance(self, count: int = 1) -> None:
        self.done += count
        if self.progress is not None:
            self.progress("pairs", self.done, len(self.rows))

    def _fail(self, index: int, message: str) -> None:
        row = self.rows[index]
        row.error = message if row.error is None else f"{row.error}; {message}"
        if self.options.strict:
            raise LikenessError(f"{row.model}: {row.reference} vs {row.test}: {message} "
                                f"(strict=True stops at the first failure)")

    def run(self) -> list[PairRow]:
        tasks = self.plan.pairs
        if self.progress is not None:
            self.progress("pairs", 0, len(tasks))
        missing = self._fill_from_cache()
        groups: dict[Path, _Group] = {}
        for index in missing:
            task = tasks[index]
            if self._key(task) is None:
                self._fail(index, unreadable_reason([task.reference, task.test], self.digests,
                                                    self.unreadable))
                self._advance()
                continue
            groups.setdefault(task.reference, _Group(task.reference, [])).tasks.append(index)
        workers = self.options.workers
        for group, loaded, error in ordered_map(self._load_group, list(groups.values()),
                                                workers=workers, window=2 * workers):
            if error is not None:  # not reached: _load_group catches per file
                raise error
            self._compute_group(group, *loaded)  # type: ignore[misc]
        self._flush_lpips()
        self._store()
        return self.rows

    def _fill_from_cache(self) -> list[int]:
        keys = [self._key(t) for t in self.plan.pairs]
        present = [k for k in keys if k is not None]
        stored = {m: self.cache.get_many(self.namespaces[m], present) for m in self.metrics}
        notes = self.cache.get_many(self.notes_namespace, present)
        missing = []
        for index, key in enumerate(keys):
            usable = [m for m in self.metrics if m not in self.failed_networks]
            if key is None or key not in notes or any(key not in stored[m] for m in usable):
                missing.append(index)
                continue
            row = self.rows[index]
            row.cached = True
            row.notes, row.data_range, row.channels = decode_notes(notes[key])
            for metric in usable:
                outcome = json.loads(stored[metric][key])
                if "v" in outcome:
                    row.values[metric] = float(outcome["v"])
                else:
                    self._fail(index, f"{metric}: {outcome['e']}")
            for metric, message in {**invalid_values(row.values),
                                    **self.failed_networks}.items():
                self._fail(index, f"{metric}: {message}")
            self._advance()
        return missing

    def _load_group(self, group: _Group) -> tuple[LoadedImage | Exception,
                                                  list[LoadedImage | Exception]]:
        def load(path: Path) -> LoadedImage | Exception:
            try:
                return load_image(path, alpha=self.options.alpha)
            except (LikenessError, OSError) as error:
                return error

        reference = load(group.reference)
        return reference, [load(self.plan.pairs[i].test) for i in group.tasks]

    def _compute_group(self, group: _Group, reference: LoadedImage | Exception,
                       tests: list[LoadedImage | Exception]) -> None:
        work = _LpipsWork(rows=[])
        for index, test in zip(group.tasks, tests, strict=True):
            row = self.rows[index]
            if isinstance(reference, Exception) or isinstance(test, Exception):
                failure = reference if isinstance(reference, Exception) else test
                self._fail(index, str(failure))
                self._advance()
                continue
            try:
                prepared = prepare_pair(reference, test, gray=self.options.gray,
                                        resize=self.options.resize)
            except Exception as error:  # noqa: BLE001 - any failure is this pair's error
                self._fail(index, describe_failure(error))
                self._advance()
                continue
            row.notes, row.data_range = prepared.decisions, prepared.data_range
            row.channels = int(prepared.reference.shape[2])
            errors = self.metric_errors.setdefault(index, {})
            for metric in self.pixel_metrics:
                try:
                    row.values[metric] = METRICS[metric].compute(prepared, self.context)
                except Exception as error:  # noqa: BLE001 - any failure is this pair's error
                    errors[metric] = describe_failure(error)
            usable = [m for m in self.network_metrics if m not in self.failed_networks]
            if not usable:
                self._finish(index)
                continue
            if prepared.reference.shape[2] == 1:
                row.notes = (*row.notes, _GRAY_NOTE)
            if not work.images:
                work.images.append(_unit_tensor(prepared.reference, prepared.data_range))
            work.images.append(_unit_tensor(prepared.test, prepared.data_range))
            work.rows.append(index)
        if work.rows:
            shape = tuple(work.images[0].shape)
            if self.pending and tuple(self.pending[0].images[0].shape) != shape:
                self._flush_lpips()
            self.pending.append(work)
            self.pending_images += len(work.images)
            if self.pending_images >= self.options.batch_size:
                self._flush_lpips()
        if len(self.to_store) >= self.options.batch_size:
            self._store()

    def _flush_lpips(self) -> None:
        if not self.pending:
            return
        import torch

        works, self.pending, self.pending_images = self.pending, [], 0
        images = torch.stack([image for work in works for image in work.images])
        rows = [index for work in works for index in work.rows]
        for metric in self.network_metrics:
            if metric in self.failed_networks:
                continue
            try:
                network = self.context.lpips_network(metric.removeprefix("lpips_"))
            except LikenessError as error:
                self.failed_networks[metric] = str(error)
                continue
            try:
                distances = _lpips_distances(network, images.to(self.context.device), works)
            except Exception as error:  # noqa: BLE001 - the batch's pairs fail, not the run
                for index in rows:
                    self.metric_errors.setdefault(index, {})[metric] = describe_failure(error)
                continue
            for index, value in zip(rows, distances, strict=True):
                self.rows[index].values[metric] = float(value)
        for index in rows:
            self._finish(index)
        self._store()  # commit each batch: a killed run loses at most the batch in flight

    def _finish(self, index: int) -> None:
        errors = self.metric_errors.setdefault(index, {})
        errors.update(invalid_values(self.rows[index].values))
        for metric, message in {**errors, **self.failed_networks}.items():
            self._fail(index, f"{metric}: {message}")
        self.to_store.append(index)
        self._advance()

    def _store(self) -> None:
        """Commit finished rows' outcomes (values and metric errors) to the cache."""
        if not self.to_store:
            return
        per_metric: dict[str, list[tuple[str, bytes]]] = {m: [] for m in self.metrics}
        notes: list[tuple[str, bytes]] = []
        for index in self.to_store:
            row, key = self.rows[index], self._key(self.plan.pairs[index])
            errors = self.metric_errors.pop(index, {})
            if key is None:
                continue
            for metric in self.metrics:
                outcome: dict[str, Any]
                if metric in row.values:
                    outcome = {"v": row.values[metric]}
                elif metric in errors:
                    outcome = {"e": errors[metric]}
                else:  # a network that could not be built: not a property of the pair
                    continue
                per_metric[metric].append((key, json.dumps(outcome).encode()))
            notes.append((key, encode_notes(row)))
        batches = {self.namespaces[m]: items for m, items in per_metric.items() if items}
        batches[self.notes_namespace] = notes
        self.cache.put_together(batches)  # a kill leaves a row's outcomes whole or absent
        self.to_store.clear()


def _lpips_distances(network: Any, images: Any, works: list[_LpipsWork]) -> list[float]:
    """Each work's reference (its first image) against each of its tests, one pass."""
    import torch

    from likeness.metrics.lpips import lpips_from_normalized, unit_normalize

    heads = list(network.heads)
    with torch.inference_mode():
        normalized = [unit_normalize(f) for f in network.encode(images * 2 - 1)]  # once each
        distances: list[float] = []
        offset = 0
        for work in works:
            end = offset + len(work.images)
            distances += lpips_from_normalized(
                [n[offset:offset + 1] for n in normalized],
                [n[offset + 1:end] for n in normalized], heads).flatten().tolist()
            offset = end
    return distances


def unreadable_reason(paths: Sequence[Path], digests: dict[Path, str],
                      reasons: Mapping[Path, str]) -> str:
    """Why the first of ``paths`` without a key could not be read, for its row's error:
    the reason hashing gave (``hash_files``), else what the file is."""
    from likeness.io import stat_regular_file

    path = next(p for p in paths if p not in digests)
    if path in reasons:
        return reasons[path]
    try:
        stat_regular_file(path)
    except LikenessError as error:
        return str(error)
    return f"{path}: cannot read the file"


def encode_notes(row: PairRow) -> bytes:
    """A row's decisions, data range and channels, as cached beside its values."""
    return json.dumps({"notes": list(row.notes), "data_range": row.data_range,
                       "channels": row.channels}).encode()


def decode_notes(stored: bytes) -> tuple[tuple[str, ...], float | None, int | None]:
    record = json.loads(stored)
    return tuple(record["notes"]), record.get("data_range"), record.get("channels")


def _unit_tensor(pixels: np.ndarray, data_range: float) -> Any:
    """(3, H, W) float32 in [0, 1]; one channel is replicated (LPIPS needs RGB)."""
    import torch

    unit = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)
                            / np.float32(data_range)).permute(2, 0, 1)
    return unit.expand(3, -1, -1).contiguous() if unit.shape[0] == 1 else unit


def _identity_key(path: Path) -> str:
    from likeness.io import path_key, stat_regular_file

    stat = stat_regular_file(path)
    return (f"file:{path_key(os.path.realpath(path))}:{stat.st_size}:{stat.st_mtime_ns}:"
            f"{stat.st_ctime_ns}:{stat.st_ino}")


def hash_files(paths: Sequence[Path], cache: Cache, workers: int, *,
               by_content: bool = True) -> tuple[dict[Path, str], dict[Path, str]]:
    """Each file's key — its content hash, or (``by_content=False``, for a run that keeps
    nothing) its path and stamp — and why each unreadable file failed (a FIFO, a device
    or a link loop is refused before it is read)."""
    unique = list(dict.fromkeys(paths))
    if by_content:
        digests, failures = cache.digest_files(unique, workers=workers)
        return digests, {path: str(error) for path, error in failures.items()}
    keys: dict[Path, str] = {}
    errors: dict[Path, str] = {}
    for path in unique:
        try:
            keys[path] = _identity_key(path)
        except (LikenessError, OSError) as error:
            errors[path] = str(error)
    return keys, errors


def run_pairs(plan: Plan, digests: dict[Path, str], options: EngineOptions,
              context: MetricContext, cache: Cache, progress: Progress | None = None, *,
              unreadable: Mapping[Path, str] | None = None) -> list[PairRow]:
    """Per-pair metric rows, in plan order (see the module documentation); ``unreadable``:
    why each file ``hash_files`` could not key failed."""
    if not any(METRICS[m].kind != "set" for m in options.metrics) or not plan.pairs:
        return []
    return _PairRunner(plan, digests, options, context, cache, progress, unreadable).run()


def run_sets(plan: Plan, options: EngineOptions, cache: Cache, *,
             weights: dict[str, str], device: str,
             progress: Progress | None = None) -> tuple[list[SetRow], dict[str, Any]]:
    """FID / KID of each model's set against the reference set, and the network settings."""
    from likeness.metrics.kid import kid
    from likeness.sets import FeatureExtractor, features_of_files, frechet_between

    wanted = [m for m in options.metrics if METRICS[m].kind == "set"]
    if not wanted:
        return [], {}
    extractor = FeatureExtractor(weights=weights.get("pt_inception"), resize=options.fid_resize,
                                 device=device, alpha=options.alpha)

    def report(label: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        return lambda done, total: progress(f"features {label}", done, total)

    reference_set = features_of_files(plan.reference_set, plan.set_names, "reference",
                                      extractor, cache, batch_size=32,
                                      workers=options.workers, progress=report("reference"))
    if options.strict and reference_set.errors:
        name, reason = reference_set.errors[0]
        raise LikenessError(f"{name}: {reason} (strict=True stops at the first failure)")
    rows: list[SetRow] = []
    file_errors = [(f"reference: {n}", r) for n, r in reference_set.errors]
    for model in plan.models:
        model_set = features_of_files(plan.model_sets.get(model, []), plan.set_names, model,
                                      extractor, cache, batch_size=32,
                                      workers=options.workers, progress=report(model))
        if options.strict and model_set.errors:
            name, reason = model_set.errors[0]
            raise LikenessError(f"{name}: {reason} (strict=True stops at the first failure)")
        file_errors += [(f"{model}: {n}", r) for n, r in model_set.errors]
        notes = tuple(f"{count} image(s): {note}"
                      for note, count in model_set.decisions.items())
        for metric in wanted:
            row = SetRow(model, metric, None, None, model_set.count, reference_set.count,
                         notes=notes)
            try:
                if metric == "fid":
                    row.value = frechet_between(reference_set, model_set)
                else:
                    assert reference_set.features is not None
                    assert model_set.features is not None
                    row.value, row.std = kid(reference_set.features, model_set.features,
                                             subset_size=options.kid_subset_size,
                                             subsets=options.kid_subsets,
                                             seed=options.kid_seed)
            except (LikenessError, ValueError) as error:
                row.error = str(error)
                if options.strict:
                    raise LikenessError(f"{model}: {metric}: {error}") from None
            if row.value is not None and not math.isfinite(row.value):
                row.error = "not finite"
            rows.append(row)
    settings = {**extractor.settings, "file_errors": file_errors,
                "reference_decisions": reference_set.decisions}
    return rows, settings
