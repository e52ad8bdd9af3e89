"""Run a plan on an engine: hash its files, its items' rows, its set metrics.

``compare`` and ``style`` build plans and records; this is the one path both take, on the
local engine or on Ray (the same code, through ``likeness.evaluation.engines.ray_engine``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from likeness.errors import recording_warnings
from likeness.evaluation.catalog.registry import device_for
from likeness.evaluation.engines.built_networks import Networks
from likeness.evaluation.engines.local import hash_files, run_items
from likeness.evaluation.engines.set_runs import SetReport, run_sets
from likeness.evaluation.infra.allocator import keep_freed_memory
from likeness.evaluation.infra.cache import Cache
from likeness.evaluation.infra.pipeline import keeping_processes, usable_cores
from likeness.evaluation.items.plan import Plan
from likeness.evaluation.items.rows import PairRow, SetRow
from likeness.evaluation.items.settings import ExecutionOptions, RunSettings
from likeness.nets.weights import hashing_by

__all__ = ["Execution", "execute"]


@dataclass
class Execution:
    """What running a plan gave, and what the record needs to say about it."""

    rows: list[PairRow]
    set_rows: list[SetRow]
    set_report: SetReport
    unreadable: dict[Path, str]
    device: str | None  # None: every value came from the cache
    warnings: dict[str, type[Warning]] = field(default_factory=dict)


def execute(plan: Plan, options: RunSettings, execution: ExecutionOptions, store: Cache, *,
            weights: Mapping[str, str], device: str, engine: str = "local",
            address: str | None = None, shard_dir: Path | None = None, by_content: bool = True,
            missing_network: str = "raise",
            progress: Callable[[str, int, int], None] | None = None) -> Execution:
    """Rows of every item and set metric of ``plan`` (warnings caught, returned once each;
    checkpoint files hashed through ``store``, which remembers them from run to run).

    Args:
        by_content: key files by content hash (False: by path and stamp, for a run that
            keeps nothing).
        missing_network: what a set metric whose weights are missing does (``run_sets``).
    """
    requested = device_for(options.metrics, device)  # resolved when a network is needed
    keep_freed_memory()  # see likeness.evaluation.infra.allocator
    paths = [path for item in plan.items for path in item.files]
    digests, unreadable = hash_files(paths, store, execution.hashers(requested, usable_cores()),
                                     by_content=by_content)
    networks = Networks(requested, weights)
    # one pool of decoding processes for the items and every set (forked once)
    with recording_warnings() as caught, hashing_by(store.digest), keeping_processes():
        if engine == "ray":
            from likeness.evaluation.engines.ray_engine import run_on_ray

            rows = run_on_ray(plan, digests, options, execution, networks, store,
                              address=address,
                              shard_dir=shard_dir, progress=progress, unreadable=unreadable)
        else:
            rows = run_items(plan, digests, options, execution, networks, store, progress,
                             unreadable=unreadable)
        set_rows, report = run_sets(plan, options, execution, store, weights=weights,
                                    device=device,
                                    progress=progress, item_rows=rows,
                                    missing_network=missing_network)
    # where the run computed: None when every value came from the cache
    return Execution(rows, set_rows, report, unreadable,
                     networks.resolved_device or report.device, caught)
