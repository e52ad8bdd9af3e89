"""The local engine: a plan's items → cached, batched, resumable rows.

1. every file is hashed once (SHA-256, remembered by path and stamp);
2. each item's values are looked up in the cache by its files' hashes and each metric's
   settings (``MetricSpec.key_settings``, and the network's weights hash): a re-run, a
   resumed run or a run over a grown folder computes only what is missing;
3. the missing items are grouped by reference; a pool decodes groups a window ahead of
   the computation, bounded in count and in bytes (``decoding_budget``): threads, or
   processes — on a CUDA run by default (``ExecutionOptions.decoders``);
4. ``ItemComputer`` computes decoded groups — pixel metrics per item, each image encoded
   once per network, groups batched up to ``batch_size`` images or that budget — a batch's
   device work queued (``ItemComputer.launch``), read back once the next one is queued;
5. outcomes are committed batch by batch, by a thread of their own (``write_behind``: the
   run does not wait for the disk), so a killed run loses at most the two batches in
   flight and the two commits waiting.

``ItemEngine`` exposes the steps (``lookup``, ``accept``, ``store``) so that the Ray engine
runs the same plans with the same code; ``run_items`` is the local loop.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from likeness.errors import LikenessError, in_callers_words
from likeness.evaluation.catalog.networks import NETWORKS
from likeness.evaluation.catalog.registry import METRICS, invalid_values
from likeness.evaluation.engines.built_networks import Networks
from likeness.evaluation.engines.compute import (
    Decoded,
    DecodeJob,
    Group,
    ItemComputer,
    ItemOutcome,
    network_notes,
    run_job,
)
from likeness.evaluation.engines.notes_cache import notes_namespace
from likeness.evaluation.infra.cache import Cache
from likeness.evaluation.infra.cached_values import decoded
from likeness.evaluation.infra.inline_map import inline_or_ordered_map
from likeness.evaluation.infra.memory import decoding_budget
from likeness.evaluation.infra.pipeline import ordered_map, usable_cores
from likeness.evaluation.infra.write_behind import write_behind
from likeness.evaluation.items.plan import Item, Plan
from likeness.evaluation.items.prompts import prompt_key
from likeness.evaluation.items.rows import (
    PairRow,
    decode_notes,
    decode_outcome,
    encode_notes,
)
from likeness.evaluation.items.settings import ExecutionOptions, RunSettings
from likeness.io import decoders_key, resolved_paths, unreadable
from likeness.io.plain_png import load_kernel
from likeness.metrics.kernel_threads import cores_shared

__all__ = ["ItemEngine", "hash_files", "run_items", "unreadable_reason"]

Progress = Callable[[str, int, int], None]


class ItemEngine:
    """The rows of a plan's items, from the cache or from computed outcomes.

    Args:
        plan: the items.
        digests: each file's key (``hash_files``); ``unreadable``: why the others failed.
        options: the run's settings (what changes a value).
        networks: where the networks' weights are resolved (their hashes key the cache).
        cache: where values are looked up and committed.
        progress: called with ("pairs" or "triplets", done, total).
    """

    def __init__(self, plan: Plan, digests: Mapping[Path, str], options: RunSettings,
                 networks: Networks, cache: Cache, progress: Progress | None = None,
                 unreadable: Mapping[Path, str] | None = None, strict: bool = False) -> None:
        self.plan, self.digests, self.options = plan, digests, options
        self.networks, self.cache, self.progress = networks, cache, progress
        self.unreadable = dict(unreadable or {})
        self.strict = strict
        self.metrics = [m for m in options.metrics if METRICS[m].kind != "set"]
        self.stage = "triplets" if plan.kind == "style" else "pairs"
        self.namespaces = {m: self._namespace(m) for m in self.metrics}
        self.prompt_roles = {m: roles for m in self.metrics
                             if (roles := METRICS[m].prompts_in(options))}
        read = {role for roles in self.prompt_roles.values() for role in roles}
        self.rows = [PairRow(i.model, i.reference_name, i.test_name, style=i.style_name,
                             prompts={p.role: p.text for p in i.prompts
                                      if p.role in read and p.text is not None})
                     for i in plan.items]
        self.feature_metrics = [m for m in self.metrics if METRICS[m].kind == "network"]
        self.notes_namespace = notes_namespace(plan.kind, options, self.metrics)
        self.done = 0
        # (row, its metrics' errors, its notes as computed: the cache keeps the library's
        # words, each run shows them in its own)
        self.to_store: list[tuple[int, dict[str, str], tuple[str, ...]]] = []

    def _namespace(self, metric: str) -> str:
        spec = METRICS[metric]
        network = spec.network_in(self.options)
        weights = f"/weights={self.networks.weights_hash(network)}" if network else ""
        if network and NETWORKS[network].revision > 1:
            weights += f"/network-revision={NETWORKS[network].revision}"
        revision = spec.revision_key
        return (f"item/v4/{metric}/{self.options.key(spec.key_settings)}{weights}{revision}"
                f"/decoders={decoders_key()}")

    def _unavailable(self) -> dict[str, str]:
        """Metrics whose network cannot be built here, and why (never cached)."""
        failed = self.networks.failed
        return {m: failed[network] for m in self.metrics
                if (network := METRICS[m].network_in(self.options)) in failed}

    def key(self, item: Item) -> str | None:
        """The item's cache key: its files' hashes (None when one could not be read)."""
        keys = [self.digests.get(path) for path in item.files]
        return None if None in keys else ":".join(keys)  # type: ignore[arg-type]

    def metric_key(self, index: int, metric: str, key: str) -> str | None:
        """The key of item ``index``'s value of ``metric``: its files' ``key`` and, for a
        metric that reads prompts, the prompts' text; None when a prompt is missing (its
        error is the sidecar's, never cached: the file may be fixed)."""
        roles = self.prompt_roles.get(metric)
        if roles is None:
            return key
        item = self.plan.items[index]
        texts = {role: getattr(item.prompt(role), "text", None) for role in roles}
        if None in texts.values():
            return None
        return f"{key}:prompts={prompt_key(texts)}"  # type: ignore[arg-type]

    def prompt_notes(self, index: int) -> tuple[str, ...]:
        """The decision taken on item ``index``'s prompt: read beside its reference (it
        follows from the files, so it is derived, never cached)."""
        if not self.prompt_roles:
            return ()
        prompt = self.plan.items[index].prompt("prompt")
        if prompt is None or not prompt.from_reference:
            return ()
        first = self.plan.roles[0]
        return (f"prompt read from the {first} image's sidecar {Path(prompt.origin).name}",)

    def prompt_failure(self, index: int, metric: str) -> str:
        """Why item ``index`` has no prompt ``metric`` reads."""
        item = self.plan.items[index]
        prompts = [item.prompt(role) for role in self.prompt_roles[metric]]
        return next((p.error for p in prompts if p is not None and p.error),
                    f"{item.test_name}: no prompt")

    def advance(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.stage, self.done, len(self.rows))

    def fail(self, index: int, message: str, metric: str | None = None) -> None:
        """Add ``message`` to the row's error, as ``metric``'s if one is named (with
        ``strict``: raise it)."""
        row = self.rows[index]
        message = in_callers_words(message)
        if metric is not None:
            row.metric_errors[metric] = message
            message = f"{metric}: {message}"
        row.error = message if row.error is None else f"{row.error}; {message}"
        if self.strict:
            names = " vs ".join(n for n in (row.reference, row.style, row.test) if n)
            raise LikenessError(f"{row.model}: {names}: {message} (strict=True stops at the "
                                "first failure)")

    def lookup(self) -> list[Group]:
        """Fill the rows the cache holds and those whose files cannot be read; return the
        rest as groups that share a reference, in plan order."""
        if self.progress is not None:
            self.progress(self.stage, 0, len(self.rows))
        items = self.plan.items
        keys = [self.key(item) for item in items]
        present = [k for k in keys if k is not None]
        unavailable = self._unavailable()
        usable = [m for m in self.metrics if m not in unavailable]
        metric_keys = [{m: self.metric_key(i, m, k) for m in usable} if k is not None else {}
                       for i, k in enumerate(keys)]
        stored = {m: decoded(self.cache.get_many(self.namespaces[m], [
            mk for own in metric_keys if (mk := own.get(m)) is not None]), decode_outcome, m)
            for m in usable}
        notes = decoded(self.cache.get_many(self.notes_namespace, present), decode_notes,
                        "the items' decisions")
        groups: dict[Path, list[int]] = {}
        for index, (item, key) in enumerate(zip(items, keys, strict=True)):
            own = metric_keys[index]
            if key is None:
                self.fail(index, unreadable_reason(item.files, self.digests, self.unreadable))
                self.advance()
            elif key in notes and all(own[m] is None or own[m] in stored[m] for m in usable):
                self._from_cache(index, notes[key], {m: stored[m][mk] for m in usable
                                                     if (mk := own[m]) is not None},
                                 unavailable)
            else:
                groups.setdefault(item.reference, []).append(index)
        return [Group(reference, tuple(indices)) for reference, indices in groups.items()]

    def _from_cache(self, index: int, notes: tuple[tuple[str, ...], float | None, int | None],
                    outcomes: dict[str, float | str], unavailable: dict[str, str]) -> None:
        """Fill row ``index`` from the cache (a metric absent from ``outcomes`` lacks a
        prompt; an outcome is a value or an error)."""
        row = self.rows[index]
        row.cached = True
        notes_of_item, row.data_range, row.channels = notes
        row.notes = tuple(in_callers_words(note) for note in
                          (*notes_of_item, *network_notes(row.channels, self.feature_metrics),
                           *self.prompt_notes(index)))
        errors = {}
        for metric, outcome in outcomes.items():
            if isinstance(outcome, str):
                errors[metric] = outcome
            else:
                row.values[metric] = outcome
        errors.update({m: self.prompt_failure(index, m) for m in self.prompt_roles
                       if m not in outcomes and m not in unavailable})
        for metric, message in {**errors, **invalid_values(row.values), **unavailable}.items():
            self.fail(index, message, metric)
        self.advance()

    def items_of(self, group: Group) -> list[Item]:
        return [self.plan.items[i] for i in group.items]

    def accept(self, index: int, outcome: ItemOutcome) -> PairRow:
        """Make the row of item ``index`` from its outcome, and queue it for the cache."""
        row = self.rows[index]
        row.values, row.metric_errors = dict(outcome.values), {}
        row.notes = tuple(in_callers_words(note) for note in
                          (*outcome.notes, *self.prompt_notes(index)))
        row.data_range, row.channels = outcome.data_range, outcome.channels
        if outcome.failure is not None:
            self.fail(index, outcome.failure)
        else:
            unavailable = self._unavailable()
            for metric, message in {**outcome.errors, **unavailable}.items():
                self.fail(index, message, metric)
            self.to_store.append((index, {m: e for m, e in outcome.errors.items()
                                          if m not in unavailable
                                          and m not in outcome.uncached}, outcome.notes))
        self.advance()
        return row

    def store(self) -> None:
        """Commit the queued rows' outcomes (values and metric errors), each row whole."""
        if not self.to_store:
            return
        per_metric: dict[str, list[tuple[str, bytes]]] = {m: [] for m in self.metrics}
        notes: list[tuple[str, bytes]] = []
        for index, errors, computed_notes in self.to_store:
            row, key = self.rows[index], self.key(self.plan.items[index])
            if key is None:
                continue
            for metric in self.metrics:
                metric_key = self.metric_key(index, metric, key)
                if metric_key is None:  # a missing prompt: not a property of the files
                    continue
                outcome: dict[str, Any]
                if metric in row.values:
                    outcome = {"v": row.values[metric]}
                elif metric in errors:
                    outcome = {"e": errors[metric]}
                else:  # no network, or too little memory now: not a property of the item
                    continue
                per_metric[metric].append((metric_key, json.dumps(outcome).encode()))
            derived = network_notes(row.channels, self.feature_metrics)
            notes.append((key, encode_notes(replace(row, notes=computed_notes),
                                            without=derived)))
        batches = {self.namespaces[m]: items for m, items in per_metric.items() if items}
        batches[self.notes_namespace] = notes
        self.cache.put_together(batches)  # a kill leaves a row's outcomes whole or absent
        self.to_store.clear()


def run_items(plan: Plan, digests: Mapping[Path, str], options: RunSettings,
              execution: ExecutionOptions, networks: Networks, cache: Cache,
              progress: Progress | None = None, *,
              unreadable: Mapping[Path, str] | None = None) -> list[PairRow]:
    """Every item's row, in plan order (see the module documentation)."""
    if not any(METRICS[m].kind != "set" for m in options.metrics) or not plan.items:
        return []
    with write_behind(cache) as writes:  # commits off the critical path
        return _computed_rows(plan, digests, options, execution, networks, writes,
                              progress, unreadable)


def _computed_rows(plan: Plan, digests: Mapping[Path, str], options: RunSettings,
                   execution: ExecutionOptions, networks: Networks, cache: Cache,
                   progress: Progress | None, unreadable: Mapping[Path, str] | None
                   ) -> list[PairRow]:
    engine = ItemEngine(plan, digests, options, networks, cache, progress, unreadable,
                        strict=execution.strict)
    groups = engine.lookup()
    if not groups:  # every row from the cache: no network, no device (torch never loaded)
        return engine.rows
    computer = ItemComputer(options.metrics, options, networks, plan.roles, digests,
                            batch_size=execution.batch_size)
    work: list[tuple[Group, Decoded]] = []
    images = held = 0  # in ``work``: images, and their bytes (within ``budget``)
    budget = decoding_budget()
    in_flight: list[tuple[list[int], Callable[[], list[ItemOutcome]]]] = []  # on the device

    def flush() -> None:
        nonlocal images, held
        finish = computer.launch([(engine.items_of(g), d) for g, d in work])
        indices = [index for group, _ in work for index in group.items]
        work.clear()
        images = held = 0
        settle()
        in_flight.append((indices, finish))

    def settle() -> None:
        while in_flight:
            indices, finish = in_flight.pop()
            for index, outcome in zip(indices, finish(), strict=True):
                engine.accept(index, outcome)
            if computer.feature_metrics or len(engine.to_store) >= execution.batch_size:
                engine.store()  # committed behind: see the module documentation

    workers, processes = execution.decoders(networks.device, usable_cores(), len(groups))
    if processes:
        load_kernel()  # forked decoders start with the PNG kernel loaded
    jobs = (DecodeJob.of(engine.items_of(group), options.alpha, digests) for group in groups)
    # ahead: groups to fill the next batch while one computes; threads only for decodes
    # long enough to pay for the hand-overs (``inline_map``)
    window = 2 * workers + execution.batch_size
    decoded_groups = (ordered_map(run_job, jobs, workers=workers, window=window,
                                  processes=True, weigh=Decoded.nbytes, budget=budget)
                      if processes else
                      inline_or_ordered_map(run_job, jobs, workers=workers, window=window,
                                            units=lambda job: 1 + len(job.tests),
                                            weigh=Decoded.nbytes, budget=budget))
    batches = computer.feature_metrics or computer.batches_pixels
    # the decoders keep the cores busy while this thread computes (short kernels unsplit);
    # the pool shut down even when interrupted
    with cores_shared(), contextlib.closing(decoded_groups):
        for group, (job, decoded, error) in zip(groups, decoded_groups, strict=True):
            if decoded is None:  # a decoding process died on these files
                decoded = Decoded(error or LikenessError("not decoded"),
                                  [error or LikenessError("not decoded")] * len(job.tests))
            work.append((group, decoded))
            images, held = images + 1 + len(group.items), held + decoded.nbytes()
            if (images >= execution.batch_size or (budget is not None and held >= budget)
                    or not batches or not computer.batches_groups):
                flush()
    if work:
        flush()
    settle()
    engine.store()
    return engine.rows


def unreadable_reason(paths: Sequence[Path], digests: Mapping[Path, str],
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


def _identity_key(path: Path, real: str) -> str:
    from likeness.io import path_key, stat_regular_file

    stat = stat_regular_file(path)
    return (f"file:{path_key(real)}:{stat.st_size}:{stat.st_mtime_ns}:"
            f"{stat.st_ctime_ns}:{stat.st_ino}")


def hash_files(paths: Sequence[Path], cache: Cache, workers: int, *,
               by_content: bool = True) -> tuple[dict[Path, str], dict[Path, str]]:
    """Each file's key — its content hash, or (``by_content=False``, for a run that keeps
    nothing) its path and stamp — and why each unreadable file failed (a FIFO, a device
    or a link loop is refused before it is read)."""
    unique = list(dict.fromkeys(paths))
    if by_content:
        digests, failures = cache.digest_files(unique, workers=workers)
        return digests, {path: unreadable(path, error) for path, error in failures.items()}
    keys: dict[Path, str] = {}
    errors: dict[Path, str] = {}
    reals = resolved_paths(unique)
    for path in unique:
        try:
            keys[path] = _identity_key(path, reals[path])
        except (LikenessError, OSError) as error:
            errors[path] = unreadable(path, error)
    return keys, errors
