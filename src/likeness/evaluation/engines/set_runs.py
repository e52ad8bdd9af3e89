"""Set metrics of a plan: each set's per-image features (cached), then each model's value.

For each network the requested set metrics need (``MetricSpec.set_network``), every set
the plan compares is encoded once (``features_of_files``: hash → cache → decode in
threads → batches → cache); then each set metric of each model is computed from its two
sets (``MetricSpec.set_value``), and derived metrics (ArtFID) from the values they need.
Before any of it, each set metric's domain is checked on the sets' counts of files
(``MetricSpec.set_sizes``): a model's metric refused there is its row's error (a strict
run stops), and a network that only refused metrics need is not run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from likeness.errors import LikenessError, StorageError, in_callers_words
from likeness.evaluation.catalog.networks import NETWORKS
from likeness.evaluation.catalog.registry import METRICS, describe_failure
from likeness.evaluation.infra.cache import Cache
from likeness.evaluation.items.image_set import shared_with
from likeness.evaluation.items.plan import Plan
from likeness.evaluation.items.rows import PairRow, SetRow
from likeness.evaluation.items.settings import ExecutionOptions, RunSettings
from likeness.evaluation.sets.features import (
    SET_BATCH_SIZE,
    FeatureExtractor,
    ImageSet,
    features_of_files,
)
from likeness.wording import counted

__all__ = ["SetReport", "refused_by_sizes", "run_sets", "set_networks", "stop_at_refused_sizes"]

Progress = Callable[[str, int, int], None]


@dataclass
class SetReport:
    """What the set metrics depended on: each network's settings, the files left out,
    and the decisions taken per set."""

    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    file_errors: list[tuple[str, str]] = field(default_factory=list)
    decisions: dict[str, dict[str, int]] = field(default_factory=dict)
    # networks that could not be built (missing or refused weights), and why
    missing: dict[str, str] = field(default_factory=dict)
    # where a set network computed features (None: every feature came from the cache)
    device: str | None = None


def set_networks(metrics: Sequence[str]) -> list[str]:
    """The feature networks the set metrics among ``metrics`` need, in order."""
    networks = (METRICS[m].set_network for m in metrics if METRICS[m].kind == "set")
    return list(dict.fromkeys(n for n in networks if n is not None))


def _strict_failure(image_set: ImageSet) -> LikenessError:
    name, reason = image_set.errors[0]
    return LikenessError(f"{name}: {reason} (strict=True stops at the first failure)")


def run_sets(plan: Plan, options: RunSettings, execution: ExecutionOptions, cache: Cache, *,
             weights: Mapping[str, str],
             device: str, progress: Progress | None = None,
             item_rows: Sequence[PairRow] = (), missing_network: str = "raise",
             ) -> tuple[list[SetRow], SetReport]:
    """Each model's set metrics (``plan.set_pairs``) and what they depended on.

    Args:
        item_rows: the run's item rows (ArtFID takes the mean LPIPS from them).
        missing_network: ``"raise"`` when a network's weights are missing, or
            ``"record"`` the error in each of its rows.
    """
    wanted, computed = _set_metrics(options)
    report = SetReport()
    if not wanted:
        return [], report
    refused = refused_by_sizes(plan, options)  # a strict run stopped at them (``execute``)
    sets: dict[tuple[str, str], ImageSet] = {}
    # a network only refused metrics need computes nothing
    for network in set_networks([m for m in computed if any(
            (model, m) not in refused for model, _, _ in plan.set_pairs)]):
        try:
            _encode_sets(network, plan, options, execution, cache, weights, device,
                         progress, sets, report)
        except StorageError:
            raise  # the disk, not the metric: the run cannot go on
        except Exception as error:  # noqa: BLE001 - missing weights, a network that fails
            if missing_network == "raise" or execution.strict:
                if isinstance(error, LikenessError):
                    raise
                raise LikenessError(f"{network}: {describe_failure(error)}") from error
            report.missing[network] = describe_failure(error)
            report.settings.pop(network, None)
    missing = report.missing
    rows = []
    for model, first, second in plan.set_pairs:
        values: dict[str, SetRow] = {}
        other = second if first == model else first
        for metric in computed:
            if (model, metric) in refused:
                values[metric] = SetRow(model, metric, None, None, len(plan.sets.get(model, [])),
                                        len(plan.sets.get(other, [])),
                                        error=refused[(model, metric)])
                continue
            values[metric] = _set_row(metric, model, first, second, sets, missing, values,
                                      item_rows, options, execution.strict)
        rows += [values[metric] for metric in wanted]
    return rows, report


def _set_metrics(options: RunSettings) -> tuple[list[str], list[str]]:
    """The run's set metrics, and those computed for them: their needs first."""
    wanted = [m for m in options.metrics if METRICS[m].kind == "set"]
    needed = [n for m in wanted for n in METRICS[m].needs if METRICS[n].kind == "set"]
    return wanted, sorted(dict.fromkeys([*needed, *wanted]), key=lambda m: bool(METRICS[m].needs))


def refused_by_sizes(plan: Plan, options: RunSettings) -> dict[tuple[str, str], str]:
    """(model, metric) → why the two sets, counted by their files before any feature is
    computed (sets only shrink), give that model no value of the metric
    (``MetricSpec.set_sizes``: KID's --kid-subset-size above a set's size, k neighbours
    among k images); of a derived metric, what it needs."""
    refused: dict[tuple[str, str], str] = {}
    computed = _set_metrics(options)[1]
    for model, first, second in plan.set_pairs:
        counts = len(plan.sets.get(first, [])), len(plan.sets.get(second, []))
        for metric in computed:
            spec = METRICS[metric]
            if needed := [n for n in spec.needs if (model, n) in refused]:
                refused[(model, metric)] = f"needs {needed[0]}: {refused[(model, needed[0])]}"
            elif spec.set_sizes is not None:
                try:
                    spec.set_sizes(*counts, options)
                except Exception as error:  # noqa: BLE001 - any refusal is the rows' error
                    refused[(model, metric)] = in_callers_words(describe_failure(error))
    return refused


def stop_at_refused_sizes(plan: Plan, options: RunSettings) -> None:
    """A strict run's stop, before any pair or feature is computed, at the first set
    metric that the sets' counts of files refuse (``refused_by_sizes``).

    Raises:
        LikenessError: naming the model, the metric and why.
    """
    for (model, metric), why in refused_by_sizes(plan, options).items():
        raise LikenessError(f"{model}: {metric}: {why} (strict=True stops at the first "
                            "failure)")


def _encode_sets(network: str, plan: Plan, options: RunSettings, execution: ExecutionOptions,
                 cache: Cache,
                 weights: Mapping[str, str], device: str, progress: Progress | None,
                 sets: dict[tuple[str, str], ImageSet], report: SetReport) -> None:
    """Every set of the plan encoded by ``network`` (cached per image), into ``sets``; its
    files left out and its decisions into ``report``, merged with other networks' (a file
    one network cannot read — too small for ArtFID's Inception, read at its own size — is
    left out of that network's set only, and said)."""
    extractor = FeatureExtractor(weights=weights.get(NETWORKS[network].checkpoint),
                                 resize=options.fid_resize, device=device,
                                 alpha=options.alpha, network=network)
    report.settings[network] = extractor.settings
    names = list(dict.fromkeys(name for pair in plan.set_pairs for name in pair[1:]))
    for name in names:
        report_progress = None if progress is None else (
            lambda done, total, label=f"features {name}": progress(label, done, total))
        image_set = features_of_files(plan.sets.get(name, []), plan.set_names, name,
                                      extractor, cache, batch_size=SET_BATCH_SIZE,
                                      workers=execution.workers, progress=report_progress,
                                      decoding=execution.decoding)
        if execution.strict and image_set.errors:
            raise _strict_failure(image_set)
        sets[(network, name)] = image_set
        report.device = extractor.device or report.device  # set when the network was built
        for file, reason in image_set.errors:  # one failure in several networks: said once
            if (f"{name}: {file}", reason) not in report.file_errors:
                report.file_errors.append((f"{name}: {file}", reason))
        decisions = report.decisions.setdefault(name, {})
        for decision, count in image_set.decisions.items():  # the files it concerned
            decisions[decision] = max(count, decisions.get(decision, 0))
    for model, first, second in plan.set_pairs:  # a model's set holding the other's images
        other = second if first == model else first
        if (model_set := sets.get((network, model))) and (others := sets.get((network, other))):
            report.decisions.setdefault(model, {}).update(shared_with(model_set, others, other))


def _set_row(metric: str, model: str, first: str, second: str,
             sets: dict[tuple[str, str], ImageSet], missing: dict[str, str],
             done: dict[str, SetRow], item_rows: Sequence[PairRow], options: RunSettings,
             strict: bool) -> SetRow:
    spec = METRICS[metric]
    network = spec.set_network or ""
    other = second if first == model else first
    model_set, other_set = sets.get((network, model)), sets.get((network, other))
    row = SetRow(model, metric, None, None, model_set.count if model_set else 0,
                 other_set.count if other_set else 0)
    if network in missing:
        row.error = in_callers_words(missing[network])
        return row
    assert model_set is not None
    assert other_set is not None
    row.notes = tuple(f"{counted(count, 'image')}: {note}"
                      for note, count in model_set.decisions.items())
    row.notes += tuple(f"{file}: {reason} (left out)"
                       for file, reason in (*other_set.errors, *model_set.errors))
    try:
        if spec.needs:
            row.value = _derived(metric, model, done, item_rows)
        else:
            assert spec.set_value is not None
            row.value, row.std = spec.set_value(sets[(network, first)], sets[(network, second)],
                                                options)
    except Exception as error:  # noqa: BLE001 - any failure is this row's error
        row.error = in_callers_words(describe_failure(error))
        if strict:
            raise LikenessError(f"{model}: {metric}: {row.error}") from None
    if row.value is not None and not math.isfinite(row.value):
        row.error = "not finite"
    return row


def _derived(metric: str, model: str, done: dict[str, SetRow],
             item_rows: Sequence[PairRow]) -> float:
    """A derived metric of one model (``MetricSpec.combine``) from the values of its needs:
    a set metric's row, an item metric's mean over the model's items."""
    spec = METRICS[metric]
    assert spec.combine is not None
    values: dict[str, float] = {}
    for needed in spec.needs:
        if METRICS[needed].kind == "set":
            row = done.get(needed)
            if row is None or row.value is None:
                raise LikenessError(f"needs {needed}: {row.error if row else 'not computed'}")
            values[needed] = row.value
        else:
            found = [r.values[needed] for r in item_rows
                     if r.model == model and needed in r.values]
            if not found:
                raise LikenessError(f"needs {needed} values of {model}'s items")
            values[needed] = float(np.mean(found))
    return spec.combine(values)
