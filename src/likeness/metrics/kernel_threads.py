"""How many threads a compiled (numba) kernel call runs on.

numba splits a kernel's ``prange`` loop over one thread a core, and the call returns when
its slowest thread is done.  On idle cores that halves a call on two cores.  But a run
keeps the cores busy decoding the next images while it computes, and a kernel thread
then waits for a core, up to a scheduler time slice (milliseconds): a short call takes
longer split than whole.  Measured on this repository's 2-core AMD EPYC, a 512² RGB pair
(median of 15 calls; one thread against two):

=====================  ===============  ==============================  ==============
kernel                 idle cores       one core busy                   both busy
=====================  ===============  ==============================  ==============
squared error (PSNR)   0.64 / 0.32 ms   0.64 / 0.32 ms (worst 17 ms)    0.63 / 0.32 ms
                                                                        (worst 16 ms)
box SSIM (7×7)         4.4 / 2.2 ms     4.3 / 6.2 ms                    8.3 / 16.0 ms
separable SSIM (11²)   14.6 / 7.7 ms    19.3 / 17.9 ms                  31.3 / 16.8 ms
=====================  ===============  ==============================  ==============

So inside a run that decodes while it computes (``cores_shared``), a call whose work
takes less than ``SHORT_CALL`` on one thread runs on one thread; longer calls, and every
call outside a run (a single ``likeness.ssim``), use all of numba's threads.  Measured
on the same machine, ``compare`` of 200 such pairs (4 decoding threads), medians of 3
runs alternating with the code before: ``psnr`` 202 → 268 pairs/s; ``psnr,ssim``,
``ms_ssim`` and ``ssim,psnr,lpips`` unchanged within the runs' spread (a longer
``SHORT_CALL``, 8 ms, gained ``psnr,ssim`` ~15 % but lost ``ms_ssim`` ~8 %: its smaller
scales gain from both threads while the decoders wait for the run).  The values never
depend on it: each kernel's partial sums are fixed by the data, not by the threads.

Every parallel kernel call goes through ``kernel_threads``, for three more reasons:

- It runs on no more threads than the process may use (``threads_allowed``: torch's
  count where torch is loaded — ``torch.set_num_threads``, ``OMP_NUM_THREADS``, a
  decoding process's or a Ray actor's —, else ``OMP_NUM_THREADS`` or the cores the
  process may run on): numba's own count is one a core of the machine, whatever the
  caller allowed — 64 threads on the 4 cores a SLURM job holds of a 64-core node.
- It leaves torch's thread count as it was.  numba's OpenMP threading layer sets the
  calling thread's OpenMP thread count to its own, and torch reads its count from there:
  after a first Winograd convolution, ``torch.set_num_threads(1)`` (or
  ``OMP_NUM_THREADS=1``) silently became one thread a core, and torch's values that
  depend on how its threads split a reduction (a resize, a matrix product) changed with
  it, 1.8e-7 apart on FID's input.
- It leaves numba's thread count as it was: a caller's own numba kernels, on the thread
  that called likeness, keep the count the caller set — after each call, or inside a run
  (``cores_shared``) when the run's block ends.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

from likeness.errors import raise_interruption

__all__ = ["SHORT_CALL", "cores_shared", "kernel_threads", "threads_allowed",
           "usable_cores"]

SHORT_CALL = 0.002  # seconds of one thread's work: shorter calls are not split in a run
_state = threading.local()  # whether this thread computes for a run that shares the cores


@contextlib.contextmanager
def cores_shared() -> Iterator[None]:
    """While the block runs, this thread computes beside other work that keeps the cores
    busy (a run's decoders): short kernel calls run on one thread.  numba's thread count
    is put back when the block ends, not after each call (~10 µs a call, on calls of tens
    of µs)."""
    before = getattr(_state, "shared", False)
    numba: Any = sys.modules.get("numba")
    callers = numba.get_num_threads() if numba is not None else None  # else its default
    _state.shared = True
    try:
        yield
    finally:
        _state.shared = before
        if not before and (numba := sys.modules.get("numba")) is not None:
            _put_back(numba, callers or numba.config.NUMBA_NUM_THREADS)


def usable_cores() -> int:
    """The CPU cores this process may run on (a SLURM job's or ``taskset``'s, not the
    machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_allowed() -> int:
    """The threads this process may compute on: torch's count where torch is loaded
    (``torch.set_num_threads``, else ``OMP_NUM_THREADS``, else the cores it may run on);
    without torch ``OMP_NUM_THREADS`` where set, else ``usable_cores()``."""
    torch: Any = sys.modules.get("torch")
    if hasattr(torch, "get_num_threads"):
        return int(torch.get_num_threads())
    with contextlib.suppress(ValueError):
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    return usable_cores()


@contextlib.contextmanager
def kernel_threads(seconds: float = math.inf) -> Iterator[None]:
    """Around one parallel kernel call whose work takes about ``seconds`` on one thread
    (unknown: a long call): one thread for it when the cores are shared and the call is
    short, else ``threads_allowed()``, at most numba's; numba's and torch's thread counts
    are the same after the call as before.  A Ctrl-C that numba's dispatcher hands back
    as a ``SystemError`` is raised as the KeyboardInterrupt it is."""
    import numba  # loaded already: the caller is about to run a kernel

    torch: Any = sys.modules.get("torch")
    torch_threads = (torch.get_num_threads()
                     if hasattr(torch, "get_num_threads") else None)
    callers = numba.get_num_threads()
    if getattr(_state, "shared", False) and seconds < SHORT_CALL:
        wanted = 1
    else:
        most = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]  # (no stubs)
        wanted = max(1, min(torch_threads or threads_allowed(), most))
    if callers != wanted:
        numba.set_num_threads(wanted)  # this thread's calls only
    try:
        yield
    except SystemError as error:  # Ctrl-C in the kernel: numba's dispatcher wraps it
        raise_interruption(error)
        raise
    finally:
        if not getattr(_state, "shared", False):  # else when the run's block ends
            _put_back(numba, callers)
        if torch_threads is not None and torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)  # numba's OpenMP layer changed it


def _put_back(numba: Any, callers: int) -> None:
    """numba's thread count as the caller had it; torch's where that moved it (numba's
    OpenMP layer sets OpenMP's count, which torch reads)."""
    if numba.get_num_threads() == callers:
        return
    torch: Any = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if hasattr(torch, "get_num_threads") else None
    numba.set_num_threads(callers)
    if torch_threads is not None and torch.get_num_threads() != torch_threads:
        torch.set_num_threads(torch_threads)
