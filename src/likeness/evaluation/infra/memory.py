"""The process's memory: how glibc keeps what networks free, and how much a run may take.

**Keeping freed memory** (glibc only).  Networks allocate and free many large temporaries
per batch.  glibc serves blocks above its mmap threshold with fresh ``mmap`` pages and
unmaps them on ``free``, so every batch page-faults (and the kernel zeroes) its memory
again: measured here, LPIPS over folders ran ~1.3–1.5× slower for it.
``keep_freed_memory`` raises the mmap threshold to its maximum (32 MiB) and stops trimming
the heap, with ``mallopt`` — the runtime equivalent of ``MALLOC_MMAP_THRESHOLD_`` /
``MALLOC_TRIM_THRESHOLD_``.  Values are unchanged; only where memory comes from.  The
engine calls it when a run starts; it is process-wide, so ``LIKENESS_MALLOC_TUNING=0``
turns it off.  Elsewhere than glibc it does nothing.

**What a run may take** (``available_bytes``, ``fitting``).  A network that reads images at
their own size (LPIPS, DISTS, VGG19, ArtFID's Inception) takes memory in proportion to
their pixels (``NetworkSpec.bytes_per_pixel``): 16 DIV2K images (2040×1356) in one LPIPS-VGG
pass would take ~65 GB.  The runs size their passes, and the images they keep between
passes, to half of what the device has available when they start them; an image pair that
would not fit in all of it is its items' error, not a process the kernel kills.  The
images decoded ahead of the computation, and those a batch gathers, take a quarter of what
is available at most each (``decoding_budget``): 20 pairs of 16-bit 8K images read ahead
take ~8 GB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path

from likeness.switches import switch

__all__ = ["available_bytes", "decoding_budget", "fitting", "keep_freed_memory",
           "memory_needed"]

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


def available_bytes(device: str = "cpu", *, root: Path = Path("/")) -> int | None:
    """Bytes a computation on ``device`` can still take now: on CUDA, the device's free
    memory and what torch's caching allocator holds unused; on the CPU, what the kernel
    says can be allocated without swapping (``MemAvailable``), within the limit of the
    process's control group where it has one (a container's); else half the physical
    memory.  None where none of them can be read (then nothing is sized to it).

    ``root``: where ``/proc`` and ``/sys`` are read from (tests).
    """
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free + torch.cuda.memory_reserved(device)
                   - torch.cuda.memory_allocated(device))
    limits = [value for value in (_meminfo_available(root), _cgroup_room(root))
              if value is not None]
    if limits:
        return min(limits)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (AttributeError, ValueError, OSError):  # Windows: no sysconf
        return None


def _meminfo_available(root: Path) -> int | None:
    try:
        lines = (root / "proc/meminfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition(":")
        if name == "MemAvailable":
            return int(value.split()[0]) * 1024  # kB
    return None


def _cgroup_room(root: Path) -> int | None:
    """The process's control group's limit less its usage (cgroup v2, else v1); None
    without a limit."""
    for limit, usage in (("memory.max", "memory.current"),
                         ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            ceiling = (root / "sys/fs/cgroup" / limit).read_text().strip()
            used = int((root / "sys/fs/cgroup" / usage).read_text().strip())
        except (OSError, ValueError):
            continue
        if ceiling == "max" or not ceiling.isdigit() or int(ceiling) >= 2**60:
            return None  # v1 says "no limit" with a huge number
        return max(int(ceiling) - used, 0)
    return None


def fitting(bytes_each: int, budget: int | None, most: int) -> int:
    """How many items of ``bytes_each`` bytes go into ``budget`` (at least 1, at most
    ``most``; ``most`` when nothing is sized: no budget, or items of no size)."""
    if budget is None or bytes_each <= 0:
        return most
    return max(1, min(most, budget // bytes_each))


def decoding_budget() -> int | None:
    """The bytes that decoded images read ahead of the computation may take, and those a
    batch gathers: a quarter of the CPU memory available now (None: not known)."""
    available = available_bytes("cpu")
    return None if available is None else available // 4


def memory_needed(label: str, need: int, what: str, available: int | None) -> str | None:
    """Why ``label`` cannot take the ``need`` bytes ``what`` asks (``"a pair of 7680x4320
    images"``) with ``available`` bytes; None when it can (or nothing is known)."""
    if available is None or need <= available:
        return None
    return (f"{label} needs about {_amount(need)} of memory for {what}, more than the "
            f"{_amount(available)} available: free memory, compare smaller images, or use a "
            "machine with more memory")


def _amount(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"
