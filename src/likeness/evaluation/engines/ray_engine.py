"""Any plan on Ray, with the local engine's code: decoding in Ray Data CPU tasks, the
networks in an actor pool (``engine="ray"`` of ``likeness.compare`` and
``likeness.evaluate_style``, ``--engine ray`` on the command line).

1. The driver runs ``ItemEngine.lookup``: the same content-hash keys as the local engine,
   so a restarted job skips what is recorded.
2. Weights are resolved and verified once on the driver; their bytes go to the object
   store, and each actor checks the SHA-256 and writes them to a file named by it, once
   per node (``ray_cluster.materialise_weights``) — nodes need no internet and no shared file
   system for weights.
3. The missing items' groups (items sharing a reference) become a dataset; a CPU task per
   group runs ``decode_group``; an actor pool (one ``ItemComputer`` per actor, GPU actors
   when the cluster has GPUs) computes them.  Actor concurrency leaves a CPU per node for
   the readers; actors use the driver's torch thread count (reductions split over other
   thread counts round differently), so values equal the local engine's bit for bit.
4. Outcomes stream back to the driver, which deduplicates them (a task retried after a
   lost worker may deliver twice), turns them into rows (``ItemEngine.accept``), commits
   them to the cache and writes Parquet shards to ``OUT_DIR/shards/``; at the end the
   shards are merged into ``per_image.csv``.
5. Set metrics: images missing from the feature cache are decoded in CPU tasks and
   encoded by feature actors in the batches the local engine forms
   (``feature_batches``); their features come back to the driver's cache, and the set
   metrics are computed on the driver exactly as locally.
"""

from __future__ import annotations

import pickle
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from likeness.errors import LikenessError
from likeness.evaluation.catalog.networks import NETWORKS
from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.engines.built_networks import Networks
from likeness.evaluation.engines.compute import ItemComputer, decode_group
from likeness.evaluation.engines.local import ItemEngine
from likeness.evaluation.engines.ray_cluster import (
    cluster_failures,
    connect,
    import_ray,
    materialise_weights,
)
from likeness.evaluation.engines.set_runs import set_networks
from likeness.evaluation.infra.cache import Cache
from likeness.evaluation.items.plan import Plan
from likeness.evaluation.items.rows import PairRow
from likeness.evaluation.items.settings import ExecutionOptions, RunSettings
from likeness.evaluation.sets.features import (
    SET_BATCH_SIZE,
    FeatureExtractor,
    feature_batches,
)
from likeness.io import decoder_facts, escaped_text, other_decoders

__all__ = ["import_ray", "run_on_ray"]

Progress = Callable[[str, int, int], None]


def _same_decoders(driver: dict[str, str]) -> None:
    """Refuse to decode on a node whose decoders are not the driver's: its values would
    differ from the driver's and be cached under the driver's decoders (``io.decoders``)."""
    node = f"on the node {socket.gethostname()}"
    if differ := other_decoders(driver, theirs="on this machine", ours=node):
        raise LikenessError(
            f"a Ray node decodes images with other libraries than this machine ({differ}): "
            "install the same versions of likeness, Pillow and opencv-python-headless on "
            "every node of the cluster, or run without --engine ray")


def _decode_group(row: dict[str, Any]) -> dict[str, Any]:
    """Ray Data CPU task: decode one group's reference and test images."""
    indices, items, alpha, digests, driver = pickle.loads(row["payload"])
    _same_decoders(driver)
    return {"payload": pickle.dumps((indices, items, decode_group(items, alpha, digests)))}


class ItemActor:
    """Holds the networks; computes decoded groups with the local engine's computer."""

    def __init__(self, options: RunSettings, blobs: dict[str, Any], device: str,
                 roles: tuple[str, str], threads: int, batch_size: int,
                 style_digests: dict[Path, str] | None = None,
                 catalogue: dict[str, Any] | None = None, *,
                 decoders: dict[str, str]) -> None:
        import ray

        _same_decoders(decoders)  # it decodes the style images itself
        _use_threads(threads)
        # the run's catalogue entries: a metric the driver added with register_metric is
        # unknown to a worker's own import of likeness
        METRICS.update(catalogue or {})
        weights = materialise_weights({k: ray.get(v) if not isinstance(v, tuple) else v
                                        for k, v in blobs.items()})
        # the style images the actor decodes itself are checked against the run's hashes
        self.computer = ItemComputer(options.metrics, options, Networks(device, weights),
                                     roles, style_digests, batch_size=batch_size)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = []
        for payload in batch["payload"]:
            indices, items, decoded = pickle.loads(payload)
            outcomes = self.computer.compute([(items, decoded)])
            out.append(pickle.dumps(list(zip(indices, outcomes, strict=True))))
        return {"payload": out}


class FeatureActor:
    """Holds an Inception network; encodes each decoded batch as one batch (set metrics)."""

    def __init__(self, weights: tuple[bytes, str], resize: str, alpha: str | None,
                 device: str, network: str, threads: int) -> None:
        import ray

        _use_threads(threads)
        blob = ray.get(weights) if not isinstance(weights, tuple) else weights
        path = materialise_weights({network: blob})[network]
        self.extractor = FeatureExtractor(weights=path, resize=resize, device=device,
                                          alpha=alpha, network=network)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = []
        for payload in batch["payload"]:
            prepared = pickle.loads(payload)
            good = [(digest, tensor, notes) for digest, tensor, notes in prepared
                    if tensor is not None]
            features: Any = self.extractor.features([t for _, t, _ in good]) if good else []
            out.append(pickle.dumps([(digest, row, notes) for (digest, _, notes), row
                                     in zip(good, features, strict=True)]))
        return {"payload": out}


def _prepare_batch(row: dict[str, Any]) -> dict[str, Any]:
    """Ray Data CPU task: decode (and resize) one batch of images for the network."""
    spec = pickle.loads(row["payload"])
    _same_decoders(spec["decoders"])
    prepared = []
    for digest, path in spec["files"]:
        try:
            tensor, notes = spec["extractor"].prepare(Path(path))
            prepared.append((digest, tensor, notes))
        except (LikenessError, OSError):  # the driver's set pass reports it
            prepared.append((digest, None, ()))
    return {"payload": pickle.dumps(prepared)}


def _use_threads(threads: int) -> None:
    """Compute with the driver's torch thread count: a float reduction split over another
    number of threads rounds differently, and a Ray worker starts with one."""
    import torch

    torch.set_num_threads(threads)


def _driver_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _actor_options(ray: Any, device: str) -> tuple[int, dict[str, Any]]:
    """How many actors, and their resources: GPUs when the cluster has them, else CPUs,
    leaving a CPU per node to the decoding tasks."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    nodes = max(1, sum(1 for node in ray.nodes() if node.get("Alive")))
    if gpus and device != "cpu":
        return gpus, {"num_gpus": 1, "num_cpus": 1}
    cpus = int(resources.get("CPU", 1))
    return max(1, cpus - nodes), {"num_cpus": 1}


def _pipeline(ray: Any, items: list[dict[str, Any]], decode: Callable[..., Any], actor: type,
              device: str, arguments: dict[str, Any]) -> Any:
    """Ray Data: each item decoded by a CPU task, then computed by an actor pool (GPU
    actors when the cluster has GPUs) running with the driver's torch thread count."""
    actors, resources = _actor_options(ray, device)
    dataset = ray.data.from_items(items, override_num_blocks=min(len(items), 200))
    dataset = dataset.map(decode, num_cpus=1)
    return dataset.map_batches(
        actor, batch_size=1, compute=ray.data.ActorPoolStrategy(size=actors),
        fn_constructor_kwargs={**arguments, "threads": _driver_threads(),
                               "device": "cuda" if "num_gpus" in resources else "cpu"},
        **resources)  # Ray Data restarts lost actors and retries their tasks


def _ship_weights(ray: Any, networks: Networks, names: Sequence[str],
                  options: RunSettings) -> dict[str, Any]:
    """The checkpoints of the item metrics' networks, verified here, in the object store."""
    from likeness.nets.weights import resolve

    blobs: dict[str, Any] = {}
    for metric in names:
        network = METRICS[metric].network_in(options)
        if METRICS[metric].kind != "network" or network is None:
            continue
        for checkpoint in NETWORKS[network].checkpoints:
            if checkpoint in blobs:
                continue
            resolved = resolve(checkpoint, networks.weights.get(checkpoint))  # verified here
            blobs[checkpoint] = ray.put((resolved.path.read_bytes(), resolved.sha256))
    return blobs


def run_on_ray(plan: Plan, digests: Mapping[Path, str], options: RunSettings,
               execution: ExecutionOptions, networks: Networks, cache: Cache, *,
               address: str | None = None,
               shard_dir: Path | None = None, progress: Progress | None = None,
               unreadable: Mapping[Path, str] | None = None) -> list[PairRow]:
    """Every item's row computed on Ray (see the module documentation), in plan order; the
    set images' features too (into the cache, where the driver's set pass finds them)."""
    ray = import_ray()
    with cluster_failures(ray):
        connect(ray, address)
        rows: list[PairRow] = []
        if any(METRICS[m].kind != "set" for m in options.metrics) and plan.items:
            rows = _items_on_ray(ray, plan, digests, options, execution, networks, cache,
                                 shard_dir, progress, unreadable)
        for network in set_networks(options.metrics):
            features_on_ray(plan, options, execution, networks, cache, network)
    return rows


def _items_on_ray(ray: Any, plan: Plan, digests: Mapping[Path, str], options: RunSettings,
                  execution: ExecutionOptions, networks: Networks, cache: Cache,
                  shard_dir: Path | None,
                  progress: Progress | None,
                  unreadable: Mapping[Path, str] | None) -> list[PairRow]:
    engine = ItemEngine(plan, digests, options, networks, cache, progress, unreadable,
                        strict=execution.strict)
    groups = engine.lookup()
    if not groups:
        return engine.rows
    try:
        blobs = _ship_weights(ray, networks, engine.metrics, options)
    except LikenessError as error:
        raise LikenessError(f"weights for the Ray workers: {error}") from None
    items = [{"payload": pickle.dumps((group.items, engine.items_of(group), options.alpha,
                                       {path: digests[path] for item in engine.items_of(group)
                                        for path in item.files if path in digests},
                                       decoder_facts()))}
             for group in groups]
    dataset = _pipeline(ray, items, _decode_group, ItemActor, networks.device, {
        "options": options, "blobs": blobs, "roles": plan.roles,
        "batch_size": execution.batch_size,
        "catalogue": {name: METRICS[name] for metric in options.metrics
                      for name in (metric, *METRICS[metric].needs)},
        "style_digests": {item.style: digests[item.style] for item in plan.items
                          if item.style is not None and item.style in digests},
        "decoders": decoder_facts()})
    done: set[int] = set()
    shard: list[dict[str, Any]] = []
    for record in dataset.iter_rows():
        for index, outcome in pickle.loads(record["payload"]):
            if index in done:  # a retried task delivered it twice
                continue
            done.add(index)
            row = engine.accept(index, outcome)
            shard.append({"model": row.model, "reference": row.reference, "test": row.test,
                          **({"style": row.style} if row.style is not None else {}),
                          **row.values, "error": row.error})
        if len(engine.to_store) >= execution.batch_size:
            engine.store()
            _write_shard(shard_dir, shard)
    engine.store()
    _write_shard(shard_dir, shard)
    return engine.rows


def _write_shard(folder: Path | None, rows: list[dict[str, Any]]) -> None:
    """Append the rows received since the last shard as one Parquet file (names that are
    not UTF-8 escaped as the CSV tables write them: Arrow's strings are UTF-8)."""
    if folder is None or not rows:
        rows.clear()
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    number = len(list(folder.glob("part-*.parquet")))
    pq.write_table(pa.Table.from_pylist(escaped_text(rows)),
                   folder / f"part-{number:05d}.parquet")
    rows.clear()


def features_on_ray(plan: Plan, options: RunSettings, execution: ExecutionOptions,
                    networks: Networks, cache: Cache, network: str) -> None:
    """Encode the set images missing from the feature cache on Ray, in the batches the
    local engine forms (``feature_batches``), and store their features."""
    import json

    import numpy as np

    ray = import_ray()
    extractor = FeatureExtractor(weights=networks.weights.get(NETWORKS[network].checkpoint),
                                 resize=options.fid_resize, device="cpu", alpha=options.alpha,
                                 network=network)
    namespace = extractor.namespace
    scheduled: set[str] = set()
    batches = []
    for name in dict.fromkeys(name for pair in plan.set_pairs for name in pair[1:]):
        files = plan.sets.get(name, [])
        digests, _ = cache.digest_files(files, workers=execution.workers)
        known = set(cache.get_many(namespace, list(digests.values()))) | scheduled
        for batch in feature_batches(files, digests, known, SET_BATCH_SIZE):
            batches.append([(digests[path], str(path)) for path in batch])
            scheduled.update(digest for digest, _ in batches[-1])
    if not batches:
        return
    blob = ray.put((extractor.weights.path.read_bytes(), extractor.weights.sha256))
    items = [{"payload": pickle.dumps({"extractor": extractor, "files": batch,
                                       "decoders": decoder_facts()})}
             for batch in batches]
    dataset = _pipeline(ray, items, _prepare_batch, FeatureActor, networks.device, {
        "weights": blob, "resize": options.fid_resize, "alpha": options.alpha,
        "network": network})
    features, notes = [], []
    for record in dataset.iter_rows():
        for digest, row, decisions in pickle.loads(record["payload"]):
            features.append((digest, np.asarray(row, np.float32)))
            notes.append((digest, json.dumps(list(decisions)).encode()))
        if len(features) >= 64:
            cache.put_arrays(namespace, features)
            cache.put_many(extractor.decisions_namespace, notes)
            features, notes = [], []
    if features:
        cache.put_arrays(namespace, features)
        cache.put_many(extractor.decisions_namespace, notes)
