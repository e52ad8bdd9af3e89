"""Running a function over many items in a thread pool, in order, a bounded window ahead.

Decoding (Pillow, OpenCV) and hashing release the GIL, so threads decode in parallel with
the network that consumes the results; the window bounds the memory held by decoded images.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["Outcome", "ordered_map"]

T = TypeVar("T")
R = TypeVar("R")
Outcome = tuple[T, "R | None", "Exception | None"]


def ordered_map(function: Callable[[T], R], items: Iterable[T], *, workers: int,
                window: int | None = None,
                catch: tuple[type[Exception], ...] = (Exception,),
                ) -> Iterator[tuple[T, R | None, Exception | None]]:
    """Yield ``(item, result, None)`` or ``(item, None, error)`` for each item, in order.

    At most ``window`` (default ``4 × workers``) items are submitted ahead of the consumer.
    Exceptions of the ``catch`` types are returned, others propagate.
    """
    workers = max(1, workers)
    window = max(1, window or 4 * workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[tuple[T, Future[R]]] = deque()

        def drain_one() -> tuple[T, R | None, Exception | None]:
            item, future = pending.popleft()
            try:
                return item, future.result(), None
            except catch as error:
                return item, None, error

        for item in items:
            pending.append((item, pool.submit(function, item)))
            if len(pending) >= window:
                yield drain_one()
        while pending:
            yield drain_one()
