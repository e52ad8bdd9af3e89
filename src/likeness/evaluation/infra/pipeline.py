"""Running a function over many items in a pool, in order, a bounded window ahead.

Decoding (Pillow, OpenCV) and hashing release the GIL, so threads decode in parallel with
the network that consumes the results; the window bounds the memory held by decoded images.
Where decoding alone must keep an accelerator busy, threads are held back by the Python
work around each decode (checks, conversions, the GIL): ``processes=True`` runs the
function in worker processes instead (forked on Linux, as PyTorch's ``DataLoader`` does;
spawned elsewhere), its function and items picklable, the images of its results handed
over through shared memory (``shared_slots``: slots of one mapping the forked workers
inherit, each item in flight holding one; ``shared_arrays``: a file an image where no
slot serves).  A worker that
dies (a decoder crashing on a hostile file) fails no other item: the items then in flight
are run again one at a time, each in a process of its own — the one that kills it gets
``WorkerDiedError`` — and a new pool takes the rest.  Workers ignore Ctrl-C (SIGINT, which
a terminal sends to every process of the run): the run's process stops, lets the decodes
under way finish and shuts the pool down, and no worker prints a traceback of its own.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from likeness.errors import LikenessError
from likeness.evaluation.infra.shared_arrays import (
    in_shared_memory,
    remove_leftovers,
    remove_stale,
)
from likeness.evaluation.infra.shared_slots import Lease, SharedSlots

__all__ = ["Outcome", "WorkerDiedError", "ordered_map", "usable_cores"]

T = TypeVar("T")
R = TypeVar("R")
Outcome = tuple[T, "R | None", "Exception | None"]


class WorkerDiedError(LikenessError):
    """A worker process died running this item alone (its decoder crashed)."""


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def ordered_map(function: Callable[[T], R], items: Iterable[T], *, workers: int,
                window: int | None = None,
                catch: tuple[type[Exception], ...] = (Exception,),
                processes: bool = False,
                ) -> Generator[tuple[T, R | None, Exception | None], None, None]:
    """Yield ``(item, result, None)`` or ``(item, None, error)`` for each item, in order.

    At most ``window`` (default ``4 × workers``) items are submitted ahead of the consumer.
    Exceptions of the ``catch`` types are returned, others propagate.  ``processes``: run
    ``function`` in ``workers`` processes (see the module documentation).  A consumer that
    may stop early closes the generator (``contextlib.closing``): its pool is shut down
    then, not when the generator is collected (at exit, perhaps never: a run stopped by
    SIGTERM left images in transit in ``/dev/shm``).
    """
    workers = max(1, workers)
    window = max(1, window or 4 * workers)
    slots = None
    if processes:  # their results' images come through shared memory, not the pipes
        remove_stale()  # what killed runs left there
        # made before the workers fork, who inherit them; the consumer may hold as many
        # results again as are in flight
        slots = SharedSlots.create(2 * window) if _forks() else None
        run: Callable[[Any], R] = in_shared_memory(
            function, os.getpid(), slots.token if slots is not None else None)
    else:
        run = function
    pool: Executor = _process_pool(workers) if processes else ThreadPoolExecutor(workers)
    # (item, its result to come, what was submitted, the slot it holds)
    pending: deque[tuple[T, Future[R], Any, Lease | None]] = deque()
    try:
        def drain_one() -> tuple[T, R | None, Exception | None]:
            nonlocal pool
            item, future, _, _ = pending[0]
            try:
                result = future.result()
            except BrokenProcessPool:
                pool = _isolate(pool, workers, pending, run)
                item, future, _, _ = pending[0]
                try:
                    result = future.result()
                except catch as error:
                    pending.popleft()
                    return item, None, error
            except catch as error:
                pending.popleft()
                return item, None, error
            pending.popleft()
            return item, result, None

        def submit(item: T) -> None:
            lease = slots.take() if slots is not None else None
            job = (item, lease.number if lease is not None else None) if processes else item
            try:
                future = _submit(pool, run, job)
            except BrokenProcessPool as error:  # broke since the last drain: drained below
                future = Future()
                future.set_exception(error)
            pending.append((item, future, job, lease))

        for item in items:
            submit(item)
            if len(pending) >= window:
                yield drain_one()
        while pending:
            yield drain_one()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if processes:
            remove_leftovers(os.getpid())
        if slots is not None:
            slots.close()


def _forks() -> bool:
    """Whether worker processes are forked here (and so inherit the run's mappings)."""
    return sys.platform.startswith("linux")


def _process_pool(workers: int) -> ProcessPoolExecutor:
    method = "fork" if _forks() else "spawn"
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method),
                               initializer=_start_worker)


def _submit(pool: Executor, function: Callable[[Any], R], item: Any) -> Future[R]:
    """``pool.submit``, with Ctrl-C held back while it runs: a process pool starts its
    workers there, and a worker must not be interrupted before it ignores Ctrl-C
    (``_start_worker``); the run's process gets a Ctrl-C held back once it returns."""
    if not isinstance(pool, ProcessPoolExecutor) or not hasattr(signal, "pthread_sigmask"):
        return pool.submit(function, item)
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return pool.submit(function, item)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _start_worker() -> None:
    """In a worker: Ctrl-C is the run's process's to handle (see the module documentation;
    it was held back while the worker started, ``_submit``), and torch computes in this
    thread alone.  A forked process inherits OpenMP's state but not its threads: the first
    parallel torch operation would wait for them forever (PyTorch's ``DataLoader`` workers
    take one thread for the same reason)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    os.environ["OMP_NUM_THREADS"] = "1"  # for a torch loaded later (a spawned worker)
    torch = sys.modules.get("torch")
    if torch is not None:  # loaded before the fork (never loaded here just for this)
        torch.set_num_threads(1)


def _isolate(pool: Executor, workers: int,
             pending: deque[tuple[T, Future[R], Any, Lease | None]],
             function: Callable[[Any], R]) -> Executor:
    """After a worker died: each item in flight run again alone in a process of its own
    (its outcome, or ``WorkerDiedError`` if it kills that one too, put in its place), and a
    new pool for the items to come."""
    pool.shutdown(wait=True, cancel_futures=True)
    for position, (item, _, job, lease) in enumerate(pending):
        outcome: Future[R] = Future()
        with _process_pool(1) as alone:
            try:
                outcome.set_result(_submit(alone, function, job).result())
            except BrokenProcessPool:
                outcome.set_exception(WorkerDiedError(
                    "a decoding process died while reading this file alone (its decoder "
                    "crashed: is the file damaged?)"))
            except Exception as error:  # noqa: BLE001 - returned or raised by the caller
                outcome.set_exception(error)
        pending[position] = (item, outcome, job, lease)
    return _process_pool(workers)
