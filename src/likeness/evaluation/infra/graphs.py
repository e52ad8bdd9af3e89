"""A network's passes on CUDA replayed as CUDA graphs.

A forward pass launches a few hundred kernels, and each launch lets go of the GIL and takes
it back.  While threads decode files — each holding the GIL between its C calls — taking it
back can wait a millisecond or more: on the lent H200 machine (16 cores, 15 decoding
threads) cProfile put a convolution call through FID's Inception at 2.4 ms, ~250 launches a
batch.  A CUDA graph replays the same kernels, with the same results (measured there: max
|graph − eager| 0), in one launch; alone, with no decoding beside it, it is no faster
(1,866 against 1,837 images/s).

``GraphedCalls`` captures a shape the second time it meets it (so a run's last, smaller
batch stays eager, and a one-batch run captures nothing), after warm-up passes on a side
stream as PyTorch requires; a shape that cannot be captured runs eagerly from then on.
Anywhere but CUDA, or with gradients, calls run as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from likeness.errors import raise_interruption

__all__ = ["GraphedCalls"]

_WARM_UP = 2  # eager passes on a side stream before a capture


class GraphedCalls:
    """``function`` (of one tensor, returning one tensor) replayed as a CUDA graph per input
    shape (see the module documentation).

    Args:
        function: what is called; it must launch the same work for inputs of one shape.
    """

    def __init__(self, function: Callable[[Any], Any]) -> None:
        self.function = function
        self._seen: dict[tuple[Any, ...], int] = {}
        # shape → (graph, its input, its output), or None where capture failed
        self._graphs: dict[tuple[Any, ...], tuple[Any, Any, Any] | None] = {}

    def __call__(self, x: Any) -> Any:
        import torch

        if x.device.type != "cuda" or (torch.is_grad_enabled() and x.requires_grad):
            return self.function(x)
        key = (tuple(x.shape), x.dtype, x.stride(), x.device)
        if key not in self._graphs:
            self._seen[key] = self._seen.get(key, 0) + 1
            if self._seen[key] < 2:
                return self.function(x)
            self._graphs[key] = self._capture(x)
        captured = self._graphs[key]
        if captured is None:
            return self.function(x)
        graph, given, made = captured
        given.copy_(x)
        graph.replay()
        return made.clone()

    @property
    def captured(self) -> int:
        """How many shapes are replayed as graphs."""
        return sum(1 for captured in self._graphs.values() if captured is not None)

    def _capture(self, x: Any) -> tuple[Any, Any, Any] | None:
        import torch

        try:
            given = x.clone()
            side = torch.cuda.Stream(device=x.device)
            side.wait_stream(torch.cuda.current_stream(x.device))
            with torch.cuda.stream(side):
                for _ in range(_WARM_UP):
                    self.function(given)
            torch.cuda.current_stream(x.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                made = self.function(given)
        except Exception as error:  # noqa: BLE001 - work a graph cannot hold runs eagerly
            raise_interruption(error)
            return None
        return graph, given, made
