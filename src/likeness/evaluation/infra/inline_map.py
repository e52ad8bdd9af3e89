"""``ordered_map`` for work that may be too short to hand to a pool: the first items run in
the consumer's thread, timed, and the rest follow them there when they were short.

Handing an item to a pool thread and taking its result back costs the consumer's thread
about as much as decoding a small image, and the GIL's hand-overs cost more: decoding the
pairs of 32×32 PNGs in threads, ``compare`` ssim,psnr spent 1.0 ms of CPU a pair and made
1,144 pairs/s; in its own thread 0.52 ms and 1,915 pairs/s (64×64: 1,151 and 1,527 pairs/s;
128×128: 1,010 and 951; medians of 7 runs, this repository's 2-core AMD EPYC).  An image's
decode there took 0.09–0.12 ms at 32² and 64², 0.15–0.21 ms at 128² (0.43 at 192²):
``INLINE_BELOW`` lies between, per image (a reference decoded with the outputs of three
models is one job of four images: 32² took 0.4 ms, and threads made 0.75× a script's
pairs per second).  Used for a run's decoding (``engines.local``) and for hashing files
(``cache.Cache.digest_files``: a 3 KB PNG's SHA-256 takes microseconds).

The times are read against the machine's speed at that moment (``reference_seconds``:
inflating a fixed 16 KiB with zlib, as a PNG's decoding does), not in seconds: this VM
has slow spells in which the same 32² image took 0.19 ms instead of 0.11, so a threshold
in seconds sent one run in four to threads (1.0–1.2 s against 0.55), and a slower
machine would send every run there.
"""

from __future__ import annotations

import functools
import random
import statistics
import time
import zlib
from collections.abc import Callable, Generator, Iterable
from typing import Any, TypeVar

from likeness.evaluation.infra.pipeline import ordered_map

__all__ = ["INLINE_BELOW", "PROBED", "inline_or_ordered_map", "reference_seconds"]

T = TypeVar("T")
R = TypeVar("R")
# a unit of work's time (the probe's median) in ``reference_seconds``: shorter, inline.
# Measured on a 2-core AMD EPYC (reference 46-49 µs), a run's decoding job per image: 32²
# 1.9-3.1 (4.2 in a process's first run), 64² 3.0-4.4 (inline 1.8x threads' pairs/s),
# 128² 6.0-9.4 (threads 1.2x faster), 192² 11-14 (threads 1.4x)
INLINE_BELOW = 5.0
PROBED = 8  # items run inline and timed before the rest are sent one way or the other


@functools.cache
def _reference_payload() -> bytes:
    """16 KiB of 6-bit values from a seeded generator, deflated (to ~75 %, as noisy image
    rows)."""
    raw = bytes(value & 63 for value in random.Random(0).randbytes(16384))
    return zlib.compress(raw, 6)


def reference_seconds() -> float:
    """The machine's speed now: the shortest of three inflations of ``_reference_payload``
    (~45 µs on a 2-core AMD EPYC)."""
    payload = _reference_payload()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        zlib.decompress(payload)
        best = min(best, time.perf_counter() - started)
    return max(best, 1e-9)


def inline_or_ordered_map(function: Callable[[T], R], items: Iterable[T], *, workers: int,
                          window: int | None = None,
                          catch: tuple[type[Exception], ...] = (Exception,),
                          units: Callable[[T], int] = lambda item: 1,
                          weigh: Callable[[Any], int] | None = None,
                          budget: int | None = None,
                          ) -> Generator[tuple[T, R | None, Exception | None], None, None]:
    """What ``ordered_map(function, items, workers=workers, window=window, catch=catch,
    weigh=weigh, budget=budget)`` yields, in order: the first ``PROBED`` items computed in
    this thread and timed (only ``function``'s time, not the consumer's), each per unit of
    its work (``units``: a decoding job's images), in ``reference_seconds``; if the median
    took less than ``INLINE_BELOW`` of them a unit (the first item, and maybe another, also
    pays for what a process does once), every item is, else the rest go to
    ``ordered_map``'s threads."""
    iterator = iter(items)
    spent: list[float] = []
    reference = 0.0
    for item in iterator:
        if not spent:  # the machine's speed, measured only where there is work
            reference = reference_seconds()
        started = time.perf_counter()
        outcome = _outcome(function, item, catch)
        spent.append((time.perf_counter() - started) / max(1, units(item)) / reference)
        yield outcome
        if len(spent) == PROBED or sum(unit > 3 * INLINE_BELOW for unit in spent[1:]) > 1:
            break  # (two items after the first that took clearly long: no need for more;
            # one may have paid for something done once, a module loaded on the way)
    else:
        return  # no item left
    if len(spent) == PROBED and statistics.median(spent) < INLINE_BELOW:
        for item in iterator:
            yield _outcome(function, item, catch)
        return
    yield from ordered_map(function, iterator, workers=workers, window=window, catch=catch,
                           weigh=weigh, budget=budget)


def _outcome(function: Callable[[T], R], item: T, catch: tuple[type[Exception], ...]
             ) -> tuple[T, R | None, Exception | None]:
    """``(item, result, None)``, or ``(item, None, error)`` for an error of ``catch``'s
    types (others propagate), as ``ordered_map`` yields them."""
    try:
        return item, function(item), None
    except catch as error:
        return item, None, error
