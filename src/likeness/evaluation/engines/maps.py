"""Where a pair's values come from: each metric's local map (SSIM's windows under the
run's convention, LPIPS's spatial distances), computed by the run's own ``ItemComputer``
— the same reconciliation, restoration view, networks and weights as the values — for
the pairs a report shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from likeness.errors import LikenessError, describe_failure
from likeness.evaluation.catalog.networks import NETWORKS
from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.engines.compute import ItemComputer, check_memory, decode_group
from likeness.evaluation.engines.network_values import pair_too_large
from likeness.evaluation.infra.device import full_float32
from likeness.evaluation.infra.memory import available_bytes
from likeness.evaluation.items.plan import Item
from likeness.evaluation.items.prepare import PreparedPair, unit_tensor

__all__ = ["PairMaps", "pair_maps"]


@dataclass
class PairMaps:
    """A pair as decoded (for thumbnails) and each metric's map, or why there is none.

    Attributes:
        reference, test: the decoded pixels, as in the files.
        maps: metric → (H, W) float map, in the metric's units.
        errors: metric → why it has no map.
        failure: why the pair could not be decoded or reconciled.
        views: metric → what its map was computed on ("Y channel", "4-px border cropped").
    """

    reference: np.ndarray | None = None
    test: np.ndarray | None = None
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    failure: str | None = None
    views: dict[str, tuple[str, ...]] = field(default_factory=dict)


def pair_maps(computer: ItemComputer, item: Item, metrics: Sequence[str]) -> PairMaps:
    """The maps of ``metrics`` (those with ``MetricSpec.has_map``) for one item, as the
    run computed its values."""
    settings = computer.settings
    decoded = decode_group([item], settings.alpha)
    outcome, prepared, images = computer.prepare(item, decoded.reference, decoded.tests[0])
    if prepared is None or images is None:
        return PairMaps(failure=outcome.failure)
    result = PairMaps(images[0].pixels, images[1].pixels)
    views: dict[str, PreparedPair | Exception] = {}
    for metric in metrics:
        spec = METRICS[metric]
        try:
            if spec.map is not None:
                pair = computer.view(metric, prepared, images, views)
                if why := check_memory(spec, pair, settings):
                    raise LikenessError(why)
                result.maps[metric] = np.asarray(spec.map(pair, settings), np.float64)
                result.views[metric] = _view_words(computer, pair is not prepared, spec.luma)
            elif spec.features is not None and spec.features.spatial is not None:
                result.maps[metric] = _spatial(computer, metric, prepared)
        except Exception as error:  # noqa: BLE001 - the map is missing, not the report
            result.errors[metric] = describe_failure(error)
    return result


def _view_words(computer: ItemComputer, restored: bool, luma: bool) -> tuple[str, ...]:
    settings = computer.settings
    if luma:
        return ("luma",)
    if not restored:
        return ()
    words: tuple[str, ...] = ("Y channel",) if settings.y_channel else ()
    if settings.crop_border:
        words += (f"{settings.crop_border}-px border cropped",)
    return words


def _spatial(computer: ItemComputer, metric: str, prepared: PreparedPair) -> np.ndarray:
    """A network metric's map: each image encoded by the run's network, what the metric
    keeps of each, and its spatial distance at the image's size."""
    import torch

    use = METRICS[metric].features
    assert use is not None
    assert use.spatial is not None
    networks, settings = computer.networks, computer.settings
    size = (int(prepared.reference.shape[0]), int(prepared.reference.shape[1]))
    if NETWORKS[use.network].bytes_per_pixel and (why := pair_too_large(
            use.network, size, available_bytes(networks.device))):
        raise LikenessError(why)
    module = networks.get(use.network)
    with full_float32(), torch.inference_mode():
        layers = [networks.encode(use.network, unit_tensor(pixels, prepared.data_range)[None])
                  for pixels in (prepared.reference, prepared.test)]
        first = use.first(layers[0], size, settings)
        second = use.second(layers[1], size, settings)
        local: Any = use.spatial(first, second, module, size)
    if not isinstance(local, np.ndarray):
        local = local.float().cpu().numpy()
    if not np.isfinite(local).all():
        raise LikenessError(f"{METRICS[metric].plain_label}'s map holds non-finite values")
    return np.asarray(local, np.float64)
