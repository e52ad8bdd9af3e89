"""Running a function over many items in a pool, in order, a bounded window ahead.

Decoding (Pillow, OpenCV) and hashing release the GIL, so threads decode in parallel with
the network that consumes the results; the window bounds the memory held by decoded images.
Where decoding alone must keep an accelerator busy, threads are held back by the Python
work around each decode (checks, conversions, the GIL): ``processes=True`` runs the
function in worker processes instead (forked on Linux, as PyTorch's ``DataLoader`` does;
spawned elsewhere), its function and items picklable, the images of its results handed
over through shared memory (``shared_slots``: slots of one mapping the forked workers
inherit, each item in flight holding one; ``shared_arrays``: a file an image where no
slot serves), a chunk of consecutive items a submission (``chunk_size``: the pool's
machinery costs the run's process per submission), each item's error its own.  A worker
that dies (a decoder crashing on a hostile file) fails no other item: the items then in
flight without a result are run again one at a time, each in a process of its own — the
one that kills it gets ``WorkerDiedError`` — and a new pool takes the rest.  Workers
ignore Ctrl-C (SIGINT, which a terminal sends to every process of the run): the run's
process stops, lets the decodes under way finish and shuts the pool down, and no worker
prints a traceback of its own.  Within ``keeping_processes`` (a run's items and sets), a
pool whose map took every item is kept for the next map of as many workers (``_Kept``):
its workers fork once a run, not once a set (forking the lent H200's CUDA process took
20–30 ms a worker).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextvars import ContextVar
from typing import Any, TypeVar

from likeness.errors import LikenessError, raise_interruption
from likeness.evaluation.infra.memory import fitting
from likeness.evaluation.infra.shared_arrays import (
    in_shared_memory,
    remove_leftovers,
    remove_stale,
    shared_memory_usable,
)
from likeness.evaluation.infra.shared_slots import Lease, SharedSlots
from likeness.io.decoders import decoders_quiet, quiet_decoders
from likeness.metrics.kernel_threads import usable_cores

__all__ = ["MOST_A_CHUNK", "Outcome", "WorkerDiedError", "chunk_size", "keeping_processes",
           "ordered_map", "processes_share_images", "usable_cores"]

T = TypeVar("T")
R = TypeVar("R")
Outcome = tuple[T, "R | None", "Exception | None"]
MOST_A_CHUNK = 4  # items a worker process runs a submission (``chunk_size``)
# what Python 3.12 and later warn when a process with threads forks
_FORK_WITH_THREADS = r"This process \(pid=\d+\) is multi-threaded, use of fork\(\)"


class WorkerDiedError(LikenessError):
    """A worker process died running this item alone (its decoder crashed)."""


def ordered_map(function: Callable[[T], R], items: Iterable[T], *, workers: int,
                window: int | None = None,
                catch: tuple[type[Exception], ...] = (Exception,),
                processes: bool = False,
                weigh: Callable[[Any], int] | None = None,
                budget: int | None = None,
                ) -> Generator[tuple[T, R | None, Exception | None], None, None]:
    """Yield ``(item, result, None)`` or ``(item, None, error)`` for each item, in order.

    About ``window`` (default ``4 × workers``) items are submitted ahead of the consumer —
    at most a chunk's less one more (``chunk_size``).  Exceptions of the ``catch`` types
    are returned, others propagate.  ``processes``: run ``function`` in ``workers``
    processes (see the module documentation), a chunk of consecutive items a submission.
    ``weigh`` (a result's bytes) with ``budget``: the results ahead of the consumer hold
    about ``budget`` bytes at most — the window shrinks to ``budget`` over the largest result
    weighed so far (one item at least; large images decoded ahead exhausted the memory),
    and no more items than ``workers`` are in flight before a result is weighed.
    A consumer that may stop early closes the generator (``contextlib.closing``): its pool
    is shut down then, not when the generator is collected (at exit, perhaps never: a run
    stopped by SIGTERM left images in transit in ``/dev/shm``).
    """
    workers = max(1, workers)
    window = max(1, window or 4 * workers)
    chunk = chunk_size(workers, window) if processes else 1
    kept = _KEPT.get() if processes else None
    workforce: _Processes | _Threads
    slots = None
    if processes:  # their results' images come through shared memory, not the pipes
        remove_stale()  # what killed runs left there
        in_flight = window + chunk - 1
        workforce = (kept.take(workers, in_flight) if kept is not None
                     else _Processes(workers, in_flight))
        slots = workforce.slots
        run = _RunEach(in_shared_memory(function, os.getpid(),
                                        slots.token if slots is not None else None),
                       in_processes=True)
    else:
        workforce = _Threads(workers)
        run = _RunEach(function, in_processes=False)
    pending: deque[_Pending] = deque()
    chunk_items: list[tuple[T, Any, Lease | None]] = []  # (item, its job, its slot)
    every_item_taken = False
    largest = 0  # the largest result weighed (``weigh``)

    def ahead() -> int:  # how many items may be in flight now
        if weigh is None or budget is None:
            return window
        return fitting(largest, budget, window) if largest else min(window, workers)

    try:
        def drain_one() -> tuple[T, R | None, Exception | None]:
            nonlocal largest
            try:
                result, error = pending[0].outcome()
            except BrokenProcessPool:
                workforce.pool = _isolate(workforce.pool, workers, pending, run)
                result, error = pending[0].outcome()
            item = pending.popleft().item
            if error is not None and not isinstance(error, catch):
                raise error
            if weigh is not None and result is not None:
                largest = max(largest, weigh(result))
            return item, result, error

        def submit_chunk() -> None:
            try:
                future = _submit(workforce.pool, run, tuple(job for _, job, _ in chunk_items))
            except BrokenProcessPool as error:  # broke since the last drain: drained below
                future = Future()
                future.set_exception(error)
            pending.extend(_Pending(item, future, position, job, lease)
                           for position, (item, job, lease) in enumerate(chunk_items))
            chunk_items.clear()

        for item in items:
            lease = slots.take() if slots is not None else None
            job = (item, lease.number if lease is not None else None) if processes else item
            chunk_items.append((item, job, lease))
            if len(chunk_items) >= chunk:
                submit_chunk()
            while len(pending) >= ahead():
                yield drain_one()
        if chunk_items:
            submit_chunk()
        while pending:
            yield drain_one()
        every_item_taken = True
    finally:
        # kept only with nothing in flight: a worker still writing an item given up
        # would write into a slot the next map may have taken
        if kept is not None and every_item_taken and isinstance(workforce, _Processes):
            kept.keep(workforce)
        else:
            workforce.close()
        if processes:
            remove_leftovers(os.getpid())


@contextlib.contextmanager
def keeping_processes() -> Iterator[None]:
    """Within: a pool of worker processes whose map took every item is kept for the next
    ``ordered_map`` of as many workers (``_Kept``), instead of being shut down; shut down
    when the block ends."""
    kept = _Kept()
    token = _KEPT.set(kept)
    try:
        yield
    finally:
        _KEPT.reset(token)
        kept.close()


def chunk_size(workers: int, window: int) -> int:
    """How many consecutive items a worker process runs a submission: each submission
    costs the run's process a wake-up of the pool's manager thread, a pickled call and a
    future — 0.14 ms an item on this 2-core AMD EPYC, 0.055 ms in chunks of 4 — yet every
    worker keeps two chunks within the window (work queued behind the one it runs)."""
    return max(1, min(MOST_A_CHUNK, window // (2 * workers)))


class _RunEach:
    """What a worker runs a submission: the function on each of its chunk's jobs, in
    order — each job's ``(result, None)`` or ``(None, error)``, so that one job's error
    is its own (an error from a process carries its traceback's text, as
    concurrent.futures gives it)."""

    def __init__(self, function: Callable[[Any], Any], *, in_processes: bool) -> None:
        self.function, self.in_processes = function, in_processes

    def __call__(self, jobs: tuple[Any, ...]) -> list[tuple[Any, Exception | None]]:
        outcomes: list[tuple[Any, Exception | None]] = []
        for job in jobs:
            try:
                outcomes.append((self.function(job), None))
            except Exception as error:  # noqa: BLE001 - the caller's to return or raise
                raise_interruption(error)
                outcomes.append((None, _Raised.of(error) if self.in_processes else error))
        return outcomes


class _Raised(Exception):
    """An error raised in a worker, on its way back: unpickled, the error itself, its
    traceback's text as its cause; an error that cannot be pickled or unpickled (an
    exception whose ``__init__`` takes other arguments than its ``args``) comes back as a
    ``RuntimeError`` that names it — else it would break the pool."""

    def __init__(self, error: Exception, text: str) -> None:
        super().__init__(error, text)
        self.error, self.text = error, text

    @classmethod
    def of(cls, error: Exception) -> _Raised:
        text = "".join(traceback.format_exception(error))
        try:
            pickle.loads(pickle.dumps(error))
        except Exception:  # noqa: BLE001 - any error pickling or unpickling it
            error = RuntimeError(f"{type(error).__name__}: {error}")
        return cls(error, text)

    def __reduce__(self) -> tuple[Any, ...]:
        return _with_cause, (self.error, self.text)


def _with_cause(error: Exception, text: str) -> Exception:
    error.__cause__ = _RemoteTraceback(text)
    return error


class _RemoteTraceback(Exception):
    def __str__(self) -> str:
        return f'\n"""\n{self.args[0]}"""'


class _Pending:
    """An item submitted: its chunk's future, its position in the chunk, its job (to run
    it again alone) and the slot it holds."""

    def __init__(self, item: Any, future: Future[Any], position: int, job: Any,
                 lease: Lease | None) -> None:
        self.item, self.future, self.position = item, future, position
        self.job, self.lease = job, lease

    def outcome(self) -> tuple[Any, Exception | None]:
        """The item's ``(result, error)``: its chunk's failure (a worker's death raised,
        ``BrokenProcessPool``) is every item's of the chunk."""
        try:
            outcomes = self.future.result()
        except BrokenProcessPool:
            raise
        except Exception as error:  # noqa: BLE001 - the chunk's failure, each item's
            return None, error
        return outcomes[self.position]


class _Threads:
    """A map's thread pool."""

    def __init__(self, workers: int) -> None:
        self.pool: Executor = ThreadPoolExecutor(workers)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Processes:
    """A pool of worker processes and the slots they inherit (made before they fork, at
    the pool's first submission): twice the items ``in_flight`` (the consumer may hold as
    many results again)."""

    def __init__(self, workers: int, in_flight: int) -> None:
        self.workers, self.slot_count = workers, 2 * in_flight
        self.slots = SharedSlots.create(self.slot_count) if _forks() else None
        self.pool: Executor = _process_pool(workers)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.slots is not None:
            self.slots.close()


class _Kept:
    """The pool ``keeping_processes`` keeps between maps: taken by a map (no other map uses
    it meanwhile) and kept again when that map took every item.  It serves a map of as many
    workers whose items in flight its slots hold (the results that map's consumer holds
    beyond them come through files, as any result no slot serves): a run's items and its
    sets, whose windows differ."""

    def __init__(self) -> None:
        self.processes: _Processes | None = None

    def take(self, workers: int, in_flight: int) -> _Processes:
        kept, self.processes = self.processes, None
        if kept is not None and kept.workers == workers and kept.slot_count >= in_flight:
            return kept
        if kept is not None:
            kept.close()
        return _Processes(workers, in_flight)

    def keep(self, processes: _Processes) -> None:
        if self.processes is not None:  # kept by a map that ran inside this one's
            self.processes.close()
        self.processes = processes

    def close(self) -> None:
        if self.processes is not None:
            self.processes.close()
            self.processes = None


_KEPT: ContextVar[_Kept | None] = ContextVar("likeness_kept_processes", default=None)


def processes_share_images() -> bool:
    """Whether decoding processes hand their images over through shared memory here: the
    slots of a mapping forked workers inherit (Linux: no ``/dev/shm`` needed for an image
    a slot holds), or files in ``/dev/shm`` — else through their pipes."""
    return _forks() or shared_memory_usable()


def _forks() -> bool:
    """Whether worker processes are forked here (and so inherit the run's mappings)."""
    return sys.platform.startswith("linux")


def _process_pool(workers: int) -> ProcessPoolExecutor:
    method = "fork" if _forks() else "spawn"
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method),
                               initializer=_start_worker, initargs=(decoders_quiet(),))


def _submit(pool: Executor, function: Callable[[Any], R], item: Any) -> Future[R]:
    """``pool.submit``.  A process pool starts its workers there: with Ctrl-C held back (a
    worker must not be interrupted before it ignores Ctrl-C, ``_start_worker``; the run's
    process gets a Ctrl-C held back once it returns), and without Python 3.12's warning
    that the process forking has threads — forking is this module's choice, as it is
    PyTorch's ``DataLoader``'s: a worker takes none of the locks the run's other threads
    hold (OpenMP's state: ``_start_worker``), and the warning is nothing a user can act on.
    """
    if not isinstance(pool, ProcessPoolExecutor):
        return pool.submit(function, item)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _FORK_WITH_THREADS, DeprecationWarning)
        if not hasattr(signal, "pthread_sigmask"):
            return pool.submit(function, item)
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return pool.submit(function, item)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _start_worker(quiet: bool) -> None:
    """In a worker: Ctrl-C is the run's process's to handle (see the module documentation;
    it was held back while the worker started, ``_submit``), torch computes in this
    thread alone, and the decoders are as quiet as in the run's process (``quiet``: a
    spawned worker does not inherit it).  A forked process inherits OpenMP's state but not
    its threads: the first parallel torch operation would wait for them forever
    (PyTorch's ``DataLoader`` workers take one thread for the same reason)."""
    if quiet:
        quiet_decoders()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    os.environ["OMP_NUM_THREADS"] = "1"  # for a torch loaded later (a spawned worker)
    torch = sys.modules.get("torch")
    if torch is not None:  # loaded before the fork (never loaded here just for this)
        torch.set_num_threads(1)


def _isolate(pool: Executor, workers: int, pending: deque[_Pending],
             run: Callable[[Any], Any]) -> Executor:
    """After a worker died: each item in flight without its result run again alone in a
    process of its own (its outcome, or ``WorkerDiedError`` if it kills that one too, put
    in its place), and a new pool for the items to come."""
    pool.shutdown(wait=True, cancel_futures=True)
    for entry in pending:
        done = entry.future
        if done.done() and not done.cancelled() and done.exception() is None:
            continue  # its chunk came back before the worker died
        outcome: Future[Any] = Future()
        with _process_pool(1) as alone:
            try:
                outcome.set_result(_submit(alone, run, (entry.job,)).result())
            except BrokenProcessPool:
                outcome.set_exception(WorkerDiedError(
                    "a decoding process died while reading this file alone (its decoder "
                    "crashed: is the file damaged?)"))
            except Exception as error:  # noqa: BLE001 - returned or raised by the caller
                outcome.set_exception(error)
        entry.future, entry.position = outcome, 0
    return _process_pool(workers)
