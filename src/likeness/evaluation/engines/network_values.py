"""The network stage of ``ItemComputer``: items' network values from their reconciled
pairs.

For each network the run's metrics need (under the run's conventions:
``MetricSpec.use_in``):

1. each first image — a group's reference, or a style image — is encoded once, however
   many items share it, and each metric keeps what it needs of it (``FeatureUse.first``);
2. each prompt a metric reads (``FeatureUse.prompts``) is encoded once by its text
   network, whatever number of items, models and runs of the computer share it;
3. each test image is encoded, and each item's value is the distance between what was
   kept of its images (and its prompts' embeddings).

Images are encoded in batches of one size, at most the batch size (or the network's
``max_batch``); a failure — of a pass, of an image, of a prompt — is the error of the items
that need it, never the run's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from likeness.errors import LikenessError, describe_failure, raise_interruption
from likeness.evaluation.catalog.feature_metrics import FeatureUse
from likeness.evaluation.catalog.networks import NETWORKS
from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.engines.built_networks import Networks
from likeness.evaluation.engines.on_device import DeviceImages
from likeness.evaluation.engines.prompt_values import PromptStage
from likeness.evaluation.infra.device import full_float32
from likeness.evaluation.infra.memory import available_bytes, fitting, memory_needed
from likeness.evaluation.items.plan import Item
from likeness.evaluation.items.prepare import PreparedPair, unit_tensor, units_there
from likeness.evaluation.items.settings import RunSettings
from likeness.io import content_hash, load_image

__all__ = ["NetworkStage", "Pending", "pair_too_large"]


@dataclass
class Pending:
    """An item waiting for its network values: its outcome's ``values`` and ``errors``
    (an ``ItemOutcome``) are filled in."""

    outcome: Any
    item: Item | None  # None: a pair of arrays (no style image, no prompts)
    prepared: PreparedPair
    group: int


@dataclass(frozen=True)
class _OnDevice:
    """An image waiting to become a network's input on the device (``NetworkStage._unit``):
    its integers, held by the computation's ``DeviceImages``."""

    pixels: Any
    data_range: float

    @property
    def shape(self) -> tuple[int, int, int]:
        return (3, int(self.pixels.shape[0]), int(self.pixels.shape[1]))


class NetworkStage:
    """Computes pending items' network metrics (see the module documentation); style
    images and prompts are remembered across calls, as they recur across groups.

    Args:
        metrics: the run's network metrics.
        settings: the run's settings (which use of a network each metric makes).
        networks: where networks are built and kept.
        batch_size: images (prompts) per pass.
        digests: the run's file hashes (style images are checked against them).
        images: the computation's images already on the networks' device (None: each
            image is copied there as it is encoded).
    """

    def __init__(self, metrics: Sequence[str], settings: RunSettings, networks: Networks,
                 batch_size: int, digests: Mapping[Path, str],
                 images: DeviceImages | None = None) -> None:
        self.settings, self.networks, self.batch_size = settings, networks, batch_size
        self.digests, self.images = digests, images
        self.uses: dict[str, FeatureUse] = {}
        for metric in metrics:
            use = METRICS[metric].use_in(settings)
            assert use is not None
            self.uses[metric] = use
        self._style_memo: dict[tuple[Path, str], Any] = {}
        self.prompts = PromptStage(self.uses, networks, batch_size)
        self._budget: int | None = None  # bytes a chunk's first images, or a pass, may take
        self._later: list[Callable[[], None]] = []  # the values ``compute`` reads back

    def compute(self, pending: list[Pending]) -> Callable[[], None]:
        """Fill each pending item's network values (or errors): those a batch computes at
        once (``FeatureUse.distances``) are queued on the device and filled in by the
        function returned, which reads them back — so that the caller can make the next
        batch ready while the device works."""
        import torch

        later: list[Callable[[], None]] = []
        self._later = later
        by_network: dict[str, list[str]] = {}
        for metric, use in self.uses.items():
            by_network.setdefault(use.network, []).append(metric)
        with full_float32(), torch.inference_mode():
            for network, metrics in by_network.items():
                try:
                    module = self.networks.get(network)
                except LikenessError as error:  # missing weights: every item, not cached
                    for entry in pending:
                        for metric in metrics:
                            entry.outcome.errors[metric] = str(error)
                    continue
                for chunk in self._chunks(network, metrics, pending):
                    prompts = self.prompts.sides(metrics, chunk)
                    firsts = self._first_sides(network, metrics, chunk)
                    self._second_sides(network, module, metrics, chunk, firsts, prompts)

        def collect() -> None:
            for fill in later:
                fill()

        return collect

    def _chunks(self, network: str, metrics: list[str], pending: list[Pending]
                ) -> list[list[Pending]]:
        """``pending`` in runs whose first images (kept while their tests are encoded) take
        at most a quarter of the memory available now, for a network that reads images
        at their own size (a pass takes another quarter: ``_batches``); an item whose two
        images would not fit in all of it gets that as its error (see
        ``likeness.evaluation.infra.memory``)."""
        spec = NETWORKS[network]
        if not spec.bytes_per_pixel:
            self._budget = None
            return [pending]
        available = available_bytes(self.networks.device)
        self._budget = None if available is None else available // 4
        chunks: list[list[Pending]] = [[]]
        held, groups = 0, set[int]()
        for entry in pending:
            height, width = entry.prepared.reference.shape[:2]
            size = spec.bytes_per_pixel * height * width
            why = pair_too_large(network, (height, width), available)
            if why is not None:  # this machine's now, not the item's: never cached
                for metric in metrics:
                    entry.outcome.errors[metric] = why
                    entry.outcome.uncached.add(metric)
                continue
            if entry.group not in groups:
                if chunks[-1] and self._budget is not None and held + size > self._budget:
                    chunks.append([])
                    held, groups = 0, set()
                held += size
                groups.add(entry.group)
            chunks[-1].append(entry)
        return [chunk for chunk in chunks if chunk]

    def _batches(self, network: str, images: list[tuple[Any, Any]]) -> list[list[tuple[Any, Any]]]:
        """(key, unit tensor) pairs in batches of one size, at most the batch size each
        and what fits in the pass's share of the memory (``_chunks``)."""
        spec = NETWORKS[network]
        by_shape: dict[tuple[int, ...], list[tuple[Any, Any]]] = {}
        for key, unit in images:
            by_shape.setdefault(tuple(unit.shape), []).append((key, unit))
        batches = []
        for shape, same in by_shape.items():
            limit = fitting(spec.bytes_per_pixel * shape[1] * shape[2], self._budget,
                            spec.max_batch or self.batch_size)
            batches += [same[i:i + limit] for i in range(0, len(same), limit)]
        return batches

    def _encode(self, network: str, batch: list[tuple[Any, Any]]) -> list[Any] | Exception:
        """The pass's layer outputs (each of the batch's size), or its failure."""
        try:
            return list(self.networks.encode(network, self._stack([u for _, u in batch])))
        except Exception as error:  # noqa: BLE001 - the batch's items fail, not the run
            raise_interruption(error)
            return error

    def _kept(self, side: Any, batched: bool, layers: list[Any] | Exception, count: int,
              size: tuple[int, int]) -> list[Any]:
        """What ``side`` (a use's ``first`` or ``second``) keeps of each image of a pass
        (the exception where it fails on that image, or the pass failed): for a
        ``batched`` use on an accelerator, of the whole pass at once, then sliced per image
        (a few kernels instead of a few per image); image by image if that fails, so that
        a failure stays its image's."""
        if isinstance(layers, Exception):
            return [layers] * count
        if batched and count > 1 and _whole_passes(layers[0]):
            try:
                whole = side(layers, size, self.settings)
                return [[part[i:i + 1] for part in whole] for i in range(count)]
            except Exception as error:  # noqa: BLE001 - each image's own failure comes below
                raise_interruption(error)
        kept: list[Any] = []
        for i in range(count):
            try:
                kept.append(side([layer[i:i + 1] for layer in layers], size, self.settings))
            except Exception as error:  # noqa: BLE001 - this image's items fail
                raise_interruption(error)
                kept.append(error)
        return kept

    @staticmethod
    def _style_of(metric: str, entry: Pending) -> Path | None:
        """The style image ``metric`` compares the item's test image with; None where it
        reads the reference (a compare run's items have no style image: the reference
        plays it)."""
        if METRICS[metric].images[0] != "style" or entry.item is None:
            return None
        return entry.item.style

    def _first_sides(self, network: str, metrics: list[str],
                     pending: list[Pending]) -> dict[tuple[Any, str], Any]:
        """What each metric keeps of each first image (a group's reference, or a style
        image), each encoded once; metrics of a test image alone or with its prompt have
        none."""
        metrics = [m for m in metrics if METRICS[m].reads_first_image]
        kept: dict[tuple[Any, str], Any] = {}
        images: list[tuple[Any, Any]] = []
        sizes: dict[Any, tuple[int, int]] = {}
        readers: dict[Any, set[str]] = {}  # which metrics keep what of each first image
        for entry in pending:
            for metric in metrics:
                style = self._style_of(metric, entry)
                if style is not None:
                    key: Any = ("style", style)
                    readers.setdefault(key, set()).add(metric)
                    if (style, metric) in self._style_memo or key in sizes:
                        continue
                    unit = self._style_unit(style)
                else:
                    key = ("reference", entry.group)
                    readers.setdefault(key, set()).add(metric)
                    if key in sizes:
                        continue
                    unit = self._unit(entry.prepared.reference, entry.prepared.data_range)
                if isinstance(unit, Exception):
                    for other in metrics:
                        if METRICS[other].images[0] == "style":
                            self._style_memo[(key[1], other)] = unit
                    continue
                sizes[key] = (int(unit.shape[1]), int(unit.shape[2]))
                images.append((key, unit))
        for batch in self._batches(network, images):
            encoded = self._encode(network, batch)
            size = sizes[batch[0][0]]  # a batch's images are of one size
            firsts = {metric: self._kept(self.uses[metric].first, self.uses[metric].batched,
                                         encoded, len(batch), size)
                      for metric in metrics if any(metric in readers[key] for key, _ in batch)}
            for number, (key, _) in enumerate(batch):
                for metric in metrics:
                    if metric not in readers[key]:
                        continue
                    value = firsts[metric][number]
                    if key[0] == "style":
                        self._style_memo[(key[1], metric)] = value
                    else:
                        kept[(key, metric)] = value
        return kept

    def _unit(self, pixels: Any, data_range: float) -> Any:
        """An image as the networks take it — on an accelerator, its integers there, made
        a network's input a batch at a time by ``_stack`` (a few operations a batch, not a
        few an image: each waits for the GIL while threads decode)."""
        if self.images is not None:
            return _OnDevice(pixels, data_range)
        return unit_tensor(pixels, data_range, self.networks.device)

    def _stack(self, units: list[Any]) -> Any:
        """The (N, 3, H, W) batch of units of one shape."""
        import torch

        if self.images is not None and all(isinstance(u, _OnDevice) for u in units) and len(
                {(u.data_range, u.pixels.dtype.str) for u in units}) == 1:
            self.images.put([u.pixels for u in units])
            return units_there(torch.stack([self.images.get(u.pixels) for u in units]),
                               units[0].data_range)
        return torch.stack([unit_tensor(u.pixels, u.data_range, self.networks.device,
                                        moved=self.images and self.images.get(u.pixels))
                            if isinstance(u, _OnDevice) else u for u in units])

    def _style_unit(self, path: Path) -> Any:
        try:
            image = load_image(path, alpha=self.settings.alpha,
                               expect_sha256=content_hash(self.digests.get(path)))
        except (LikenessError, OSError) as error:
            return error
        return unit_tensor(image.pixels, image.data_range)

    def _second_sides(self, network: str, module: Any, metrics: list[str],
                      pending: list[Pending], firsts: dict[tuple[Any, str], Any],
                      prompts: dict[tuple[int, str], tuple[Any, ...] | Exception]) -> None:
        images = [(number, self._unit(entry.prepared.test, entry.prepared.data_range))
                  for number, entry in enumerate(pending)]
        for batch in self._batches(network, images):
            encoded = self._encode(network, batch)
            unit = batch[0][1]
            size = (int(unit.shape[1]), int(unit.shape[2]))  # a batch's images: one size
            seconds = {metric: self._kept(self.uses[metric].second, self.uses[metric].batched,
                                          encoded, len(batch), size) for metric in metrics}
            together: dict[str, list[tuple[Pending, Any, Any]]] = {}
            for position, (number, _) in enumerate(batch):
                entry = pending[number]
                for metric in metrics:
                    use = self.uses[metric]
                    first = self._first(metric, entry, firsts)
                    if use.prompts is not None and not isinstance(first, Exception):
                        texts = prompts[(number, metric)]
                        first = texts if isinstance(texts, Exception) else (first, *texts)
                    second = seconds[metric][position]
                    failure = encoded if isinstance(encoded, Exception) else first
                    if not isinstance(failure, Exception) and isinstance(second, Exception):
                        failure = second
                    if isinstance(failure, Exception):
                        entry.outcome.fail(metric, failure)
                        continue
                    try:
                        if use.distances is not None:
                            together.setdefault(metric, []).append((entry, first, second))
                            continue
                        entry.outcome.values[metric] = use.distance(first, second, module)
                    except Exception as error:  # noqa: BLE001 - this item's error
                        entry.outcome.fail(metric, error)
            for metric, triples in together.items():
                self._distances(metric, module, triples)

    def _distances(self, metric: str, module: Any,
                   triples: list[tuple[Pending, Any, Any]]) -> None:
        """``metric``'s values of a batch's items at once (``FeatureUse.distances``); if
        that fails, item by item, each failure its item's error."""
        use = self.uses[metric]
        assert use.distances is not None
        try:
            values = use.distances([f for _, f, _ in triples], [s for _, _, s in triples],
                                   module)
        except Exception as error:  # noqa: BLE001 - each item's own error comes item by item
            raise_interruption(error)
            values = None
        if values is None:
            for entry, first, second in triples:
                try:
                    entry.outcome.values[metric] = use.distance(first, second, module)
                except Exception as error:  # noqa: BLE001 - this item's error
                    entry.outcome.fail(metric, error)
            return
        entries = [entry for entry, _, _ in triples]  # not their features: freed by now

        def fill() -> None:  # read back with the batch's other values
            read = values.tolist() if hasattr(values, "tolist") else values
            for entry, value in zip(entries, read, strict=True):
                entry.outcome.values[metric] = float(value)

        self._later.append(fill)

    def _first(self, metric: str, entry: Pending,
               firsts: dict[tuple[Any, str], Any]) -> Any:
        """What ``metric`` kept of the item's first image (None: it reads none)."""
        if not METRICS[metric].reads_first_image:
            return None
        style = self._style_of(metric, entry)
        if style is None:
            return firsts[(("reference", entry.group), metric)]
        assert entry.item is not None
        first = self._style_memo[(style, metric)]
        if isinstance(first, Exception):
            return LikenessError(f"{entry.item.style_name}: {describe_failure(first)}")
        return first


def _whole_passes(layer: Any) -> bool:
    """Whether a batched use takes a whole pass at once here: on an accelerator (launches
    saved); not on the CPU, where one image's layer stays in the caches between the passes
    a normalisation makes and a whole batch's does not."""
    return bool(layer.device.type != "cpu")


def pair_too_large(network: str, size: tuple[int, int], available: int | None) -> str | None:
    """Why a pair of images of ``size`` (height, width) cannot go through ``network`` with
    ``available`` bytes (``available_bytes``); None where it can, or where the network
    reads a fixed input size."""
    spec = NETWORKS[network]
    height, width = size
    return memory_needed(spec.label, 2 * spec.pair_bytes * height * width,
                         f"a pair of {width}x{height} images", available)
