"""Keep freed memory in the process instead of returning it to the kernel (glibc only).

Networks allocate and free many large temporaries per batch.  glibc serves blocks above
its mmap threshold with fresh ``mmap`` pages and unmaps them on ``free``, so every batch
page-faults (and the kernel zeroes) its memory again: measured here, LPIPS over folders
ran ~1.3–1.5× slower for it.  ``keep_freed_memory`` raises the mmap threshold to its
maximum (32 MiB) and stops trimming the heap, with ``mallopt`` — the runtime equivalent
of ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``.  Values are unchanged; only
where memory comes from.  The engine calls it when a run starts; it is process-wide, so
``LIKENESS_MALLOC_TUNING=0`` turns it off.  Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

from likeness.switches import switch

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling on 64-bit systems
_done = False


def keep_freed_memory() -> bool:
    """Tune glibc's allocator once per process; returns whether it was tuned."""
    global _done
    if _done:
        return True
    if switch("LIKENESS_MALLOC_TUNING") is False or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another C library: nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = (mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX) == 1
          and mallopt(_M_TRIM_THRESHOLD, 2**30) == 1
          and mallopt(_M_TOP_PAD, 256 * 1024 * 1024) == 1)
    _done = ok
    return ok
