"""Pixel metrics on the run's accelerator: the pairs of one computation, in batches.

When a run's device is CUDA, ``ItemComputer`` hands each pixel metric that has an
``on_device`` form (``MetricSpec.on_device``) to ``DeviceBatches`` instead of computing
it pair by pair on the CPU.  ``compute`` then

1. groups the deferred pairs by shape, dtypes and data range;
2. copies each group's arrays to the device once, for every metric that reads them — and
   for the networks: ``DeviceImages`` holds a computation's arrays on the device, stacked
   into pinned host memory the allocator reuses (one copy, no freshly faulted pages: a
   fresh 100 MB stack took 200 ms here, a reused one 8 ms) and sent in one asynchronous
   copy per shape;
3. computes each metric on its pairs in one call (``launch``), and reads all the values
   back with one synchronisation (the collector it returns) — none per pair, and after the
   networks' work has been queued behind it.

A group a metric does not compute there (its ``on_device`` gives None: a convention kept
on the CPU) or whose batch fails is computed pair by pair on the CPU by the ``fallback``
given, which records each pair's own error: the values and errors a pair gets never
depend on the batch it was in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from likeness.errors import raise_interruption
from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.infra.device import full_float32, stacked_on_device
from likeness.evaluation.items.prepare import PreparedPair
from likeness.evaluation.items.settings import RunSettings

__all__ = ["Deferred", "DeviceBatches", "DeviceImages"]


@dataclass
class Deferred:
    """A pixel metric of one pair, waiting for its batch: its value goes into
    ``outcome.values`` (an ``ItemOutcome``)."""

    outcome: Any
    metric: str
    pair: PreparedPair


class DeviceImages:
    """A computation's arrays on the device, each copied there once (see the module
    documentation); ``get`` gives an array's (H, W, C) integer tensor there (16-bit values
    as int32: torch computes little on uint16).

    Args:
        device: the torch device (``"cpu"`` wraps the arrays without copying them).
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self._kept: dict[int, tuple[np.ndarray, Any]] = {}  # id → (array kept alive, tensor)

    def put(self, arrays: Sequence[np.ndarray]) -> None:
        """Copy the arrays not there yet: those of one shape and type in one copy."""
        import torch

        groups: dict[tuple[Any, ...], dict[int, np.ndarray]] = {}
        for array in arrays:
            if id(array) not in self._kept:
                groups.setdefault((array.shape, array.dtype.str), {})[id(array)] = array
        for unique in groups.values():
            same = list(unique.values())
            dtype = np.dtype(np.int32) if same[0].dtype == np.uint16 else same[0].dtype
            if self.device == "cpu":
                for array in same:
                    self._kept[id(array)] = (array, torch.from_numpy(
                        np.ascontiguousarray(array, dtype=dtype)))
                continue
            moved = stacked_on_device(same, self.device, dtype)
            for row, array in enumerate(same):
                self._kept[id(array)] = (array, moved[row])

    def get(self, array: np.ndarray) -> Any:
        """The array's tensor on the device (copied now if it was not ``put``)."""
        if id(array) not in self._kept:
            self.put([array])
        return self._kept[id(array)][1]

    def clear(self) -> None:
        self._kept.clear()


class DeviceBatches:
    """The deferred pixel metrics of one computation (see the module documentation).

    Args:
        device: the torch device the batches run on (``"cuda"``; ``"cpu"`` runs the same
            tensor code on the CPU, as the tests do).
        settings: the run's settings (each metric's conventions).
        images: where the pairs' arrays are copied to the device, shared with the
            networks (whoever gave it clears it); by default one of its own, cleared
            after each launch.
    """

    def __init__(self, device: str, settings: RunSettings,
                 images: DeviceImages | None = None) -> None:
        self.device, self.settings = device, settings
        self.images = images if images is not None else DeviceImages(device)
        self._own_images = images is None
        self.pending: list[Deferred] = []

    def defer(self, outcome: Any, metric: str, pair: PreparedPair) -> bool:
        """Queue ``metric`` of ``pair`` if it has an ``on_device`` form; False: compute
        it on the CPU now."""
        if METRICS[metric].on_device is None:
            return False
        self.pending.append(Deferred(outcome, metric, pair))
        return True

    def compute(self, fallback: Callable[[Deferred], None]) -> None:
        """Fill every deferred value; ``fallback`` computes one on the CPU."""
        self.launch(fallback)()

    def arrays(self) -> list[np.ndarray]:
        """The arrays the deferred pairs read (for ``DeviceImages.put``)."""
        return [array for entry in self.pending
                for array in (entry.pair.reference, entry.pair.test)]

    def launch(self, fallback: Callable[[Deferred], None]) -> Callable[[], None]:
        """Queue every deferred value's computation on the device (``fallback`` computes
        those it cannot take, now); the function returned reads them back and fills them
        in."""
        import torch

        pending, self.pending = self.pending, []
        if not pending:
            return _nothing
        groups: dict[tuple[Any, ...], list[Deferred]] = {}
        for entry in pending:
            pair = entry.pair
            key = (pair.reference.shape, pair.reference.dtype.str, pair.test.dtype.str,
                   pair.data_range)
            groups.setdefault(key, []).append(entry)
        results: list[tuple[list[Deferred], Any]] = []
        # no_grad, not inference_mode: the metrics memoise windows and filters, which
        # would become inference tensors that a later differentiable call cannot use
        with full_float32(), torch.no_grad():
            try:
                for entries in groups.values():
                    results += self._group(entries, fallback)
            finally:
                if self._own_images:
                    self.images.clear()
            if not results:
                return _nothing
            together = torch.cat([v.reshape(-1).to(torch.float64) for _, v in results])

        def collect() -> None:
            values = together.cpu().tolist()
            position = 0
            for entries, _ in results:
                for entry in entries:
                    entry.outcome.values[entry.metric] = values[position]
                    position += 1

        return collect

    def _group(self, entries: list[Deferred], fallback: Callable[[Deferred], None]
               ) -> list[tuple[list[Deferred], Any]]:
        """The queued values of one group of like pairs (computed on the device, not yet
        read back); the entries it could not compute go to ``fallback``."""
        pairs: dict[int, int] = {}  # id(pair) → its row in the batch
        unique: list[PreparedPair] = []
        for entry in entries:
            if id(entry.pair) not in pairs:
                pairs[id(entry.pair)] = len(unique)
                unique.append(entry.pair)
        references = self._to_device([p.reference for p in unique])
        tests = self._to_device([p.test for p in unique])
        data_range = unique[0].data_range
        by_metric: dict[str, list[Deferred]] = {}
        for entry in entries:
            by_metric.setdefault(entry.metric, []).append(entry)
        queued = []
        for metric, own in by_metric.items():
            rows = [pairs[id(entry.pair)] for entry in own]
            test, reference = tests, references
            if rows != list(range(len(unique))):
                index = self._index(rows)
                test, reference = tests[index], references[index]
            on_device = METRICS[metric].on_device
            assert on_device is not None
            try:
                values = on_device(test, reference, data_range, self.settings)
            except Exception as error:  # noqa: BLE001 - each pair's own error comes from the CPU
                raise_interruption(error)
                values = None
            if values is None or tuple(values.shape) != (len(own),):
                for entry in own:
                    fallback(entry)
                continue
            queued.append((own, values))
        return queued

    def _to_device(self, arrays: list[np.ndarray]) -> Any:
        """(N, C, H, W) tensor on the device of (H, W, C) arrays of one shape (16-bit
        values as int32: torch computes little on uint16)."""
        import torch

        self.images.put(arrays)
        return torch.stack([self.images.get(array) for array in arrays]).permute(0, 3, 1, 2)

    def _index(self, rows: list[int]) -> Any:
        import torch

        return torch.tensor(rows, device=self.device)


def _nothing() -> None:
    """The collector of a launch that queued nothing."""
