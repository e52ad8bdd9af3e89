"""Run a plan on an engine: hash its files, its items' rows, its set metrics.

``compare`` and ``style`` build plans and records; this is the one path both take, on the
local engine or on Ray (the same code, through ``likeness.evaluation.engines.ray_engine``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from likeness.errors import DecisionWarning, recording_warnings
from likeness.evaluation.catalog.registry import device_for, settings_without_effect
from likeness.evaluation.engines.built_networks import Networks
from likeness.evaluation.engines.local import hash_files, run_items
from likeness.evaluation.engines.set_runs import SetReport, run_sets, stop_at_refused_sizes
from likeness.evaluation.infra.cache import Cache
from likeness.evaluation.infra.memory import keep_freed_memory
from likeness.evaluation.infra.pipeline import keeping_processes, usable_cores
from likeness.evaluation.items.plan import Plan
from likeness.evaluation.items.rows import PairRow, SetRow
from likeness.evaluation.items.settings import ExecutionOptions, RunSettings
from likeness.nets.weights_scope import hashing_by, reporting_downloads
from likeness.wording import is_are, run_words

__all__ = ["Execution", "execute", "identical_outputs"]


@dataclass
class Execution:
    """What running a plan gave, and what the record needs to say about it."""

    rows: list[PairRow]
    set_rows: list[SetRow]
    set_report: SetReport
    unreadable: dict[Path, str]
    device: str | None  # None: every value came from the cache
    warnings: dict[str, type[Warning]] = field(default_factory=dict)
    identical: list[str] = field(default_factory=list)  # ``identical_outputs``


def execute(plan: Plan, options: RunSettings, execution: ExecutionOptions, store: Cache, *,
            weights: Mapping[str, str], device: str, engine: str = "local",
            address: str | None = None, shard_dir: Path | None = None, by_content: bool = True,
            missing_network: str = "raise",
            progress: Callable[[str, int, int], None] | None = None) -> Execution:
    """Rows of every item and set metric of ``plan`` (warnings caught, returned once each,
    first each setting that changes none of the run's metrics: ``settings_without_effect``;
    checkpoint files hashed through ``store``, which remembers them from run to run).

    Args:
        by_content: key files by content hash (False: by path and stamp, for a run that
            keeps nothing).
        missing_network: what a set metric whose weights are missing does (``run_sets``).
    """
    if execution.strict:  # a set metric that cannot be computed stops it before any work
        stop_at_refused_sizes(plan, options)
    asked: dict[str, type[Warning]] = dict.fromkeys(settings_without_effect(options),
                                                    DecisionWarning)
    with recording_warnings() as device_not_taken:  # (a device asked for and not taken)
        requested = device_for(options.metrics, device)  # resolved when a network is needed
    asked.update(device_not_taken)
    keep_freed_memory()  # see likeness.evaluation.infra.memory
    paths = [path for item in plan.items for path in item.files]
    digests, unreadable = hash_files(paths, store, execution.hashers(requested, usable_cores()),
                                     by_content=by_content)
    networks = Networks(requested, weights)
    # one pool of decoding processes for the items and every set (forked once)
    with recording_warnings() as caught, hashing_by(store.digest), keeping_processes(), \
            reporting_downloads(progress):
        caught.update(asked)
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
                     networks.resolved_device or report.device, caught,
                     identical_outputs(plan, digests) if by_content else [])


def identical_outputs(plan: Plan, digests: Mapping[Path, str]) -> list[str]:
    """The decisions on models (methods) whose outputs of the same item hold the same bytes
    (``digests``: each file's content hash): one folder under two names, a model's outputs
    copied into another's folder — a comparison of the two measures nothing there."""
    by_item: dict[tuple[Path, Path | None], dict[str, str]] = {}
    inputs: dict[str, list[int]] = {}  # model → [outputs equal to their reference, items]
    for item in plan.items:
        if (digest := digests.get(item.test)) is not None:
            by_item.setdefault((item.reference, item.style), {})[item.model] = digest
            counts = inputs.setdefault(item.model, [0, 0])
            counts[0] += digest == digests.get(item.reference)
            counts[1] += 1
    shared: dict[tuple[str, str], list[int]] = {}  # (model, model) → [identical, both have]
    for outputs in by_item.values():
        for first, second in combinations(outputs, 2):
            counts = shared.setdefault((first, second), [0, 0])
            counts[0] += outputs[first] == outputs[second]
            counts[1] += 1
    outputs_of = run_words(plan.kind).outputs
    first_role = plan.roles[0]  # reference, or content
    return [f"{first} and {second}: {same} of the {both} {outputs_of} both have "
            f"{is_are(same)} byte-identical (one folder under two names, or copied outputs?)"
            for (first, second), (same, both) in shared.items() if same] + [
        f"{model}: {same} of its {count} {outputs_of} {is_are(same)} byte-identical to "
        f"{'its' if same == 1 else 'their'} {first_role} (the {first_role}s copied as "
        "outputs?)"
        for model, (same, count) in inputs.items() if same]
