"""Decoded images handed from decoding processes to the run's process through shared
memory instead of a pipe.

A process that decodes returns its result by pickling it down a pipe; for images that is
every pixel copied twice more, and unpickled in the receiving process under its GIL (on
the lent H200 machine, 15 decoding processes decoded 1,599 images/s when they returned
only the shapes, and fed ``compare`` 266 pairs/s when the pixels went through pipes).
``in_shared_memory`` wraps the function a process runs: each large array of its result
(in tuples, lists and dataclasses) is copied into the item's slot of the pool's
``SharedSlots`` (``shared_slots``: reused memory, the common case) or else written to a
file of its own in ``/dev/shm`` (one copy) and travels as where it lies; unpickling it in
the receiving process reads it there (no copy): a file is mapped and its name removed at
once, so the memory goes when the array does.

Where ``/dev/shm`` is missing or full (a container's 64 MB default), or a file cannot be
written, the array travels through the pipe as before.  Files are named after the
receiving process: ``remove_leftovers`` removes those a dead worker left behind, and
``remove_stale`` those of runs that were killed (SIGKILL, the kernel's out-of-memory
killer) with images in transit — files in ``/dev/shm`` hold memory until they are removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import mmap
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from likeness.evaluation.infra.shared_slots import SlotWriter

__all__ = ["SHARED_FOLDER", "in_shared_memory", "remove_leftovers", "remove_stale",
           "shared_memory_usable"]

SHARED_FOLDER = Path("/dev/shm")
SMALLEST = 1 << 16  # bytes: smaller arrays go through the pipe (a file costs more)
# seconds: a file in transit lives for milliseconds (its receiver maps and removes it when
# it arrives); an older one whose receiver is gone was left by a killed run
STALE_AFTER = 10.0
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)
_NAMES = "likeness"  # files are named likeness-<receiving process>-<uuid>

T = TypeVar("T")
R = TypeVar("R")


def _prefix(owner: int) -> str:
    return f"{_NAMES}-{owner}-"


class in_shared_memory(Generic[T, R]):  # noqa: N801 - used as a function
    """``function`` whose result's large arrays travel through shared memory (see the
    module documentation), called with ``(item, slot)``: the number of the item's slot in
    the pool's slots (``slots``: their token), or None; picklable when ``function`` is.

    Args:
        function: what the worker runs.
        owner: the receiving process's id (names its files).
        slots: the token of the pool's ``SharedSlots``, if it has them.
    """

    def __init__(self, function: Callable[[T], R], owner: int, slots: str | None = None
                 ) -> None:
        self.function, self.owner, self.slots = function, owner, slots

    def __call__(self, job: tuple[T, int | None]) -> R:
        item, slot = job
        result = self.function(item)
        writer = (SlotWriter(self.slots, slot) if self.slots is not None and slot is not None
                  else None)
        prefix = _prefix(self.owner)

        def place(array: np.ndarray) -> Any:
            return ((writer.put(array) if writer is not None else None)
                    or _SharedArray.of(array, prefix) or array)

        return _shared(result, place)


def shared_memory_usable() -> bool:
    """Whether decoding processes can hand images over here (``/dev/shm`` writable)."""
    return SHARED_FOLDER.is_dir() and os.access(SHARED_FOLDER, os.W_OK | os.X_OK)


def remove_leftovers(owner: int) -> None:
    """Remove the files of ``owner``'s workers that were never received."""
    for name in glob.glob(str(SHARED_FOLDER / f"{_prefix(owner)}*")):
        with contextlib.suppress(OSError):
            os.unlink(name)


def remove_stale() -> list[str]:
    """Remove the files of runs that no longer exist (their receiving process is not
    running, and the file is older than ``STALE_AFTER``); the names removed."""
    removed = []
    now = time.time()
    for name in glob.glob(str(SHARED_FOLDER / f"{_NAMES}-*-*")):
        owner = Path(name).name.split("-")[1]
        with contextlib.suppress(OSError, ValueError):  # gone meanwhile; not ours
            if not _running(int(owner)) and now - os.stat(name).st_mtime > STALE_AFTER:
                os.unlink(name)
                removed.append(name)
    return removed


def _running(process: int) -> bool:
    try:
        os.kill(process, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def _shared(value: Any, place: Callable[[np.ndarray], Any]) -> Any:
    """``value`` with each large array replaced by where ``place`` put it."""
    if isinstance(value, np.ndarray):
        small = (value.nbytes < SMALLEST or not value.flags.c_contiguous
                 or value.dtype.hasobject)
        return value if small else place(value)
    if isinstance(value, tuple):
        return tuple(_shared(v, place) for v in value)
    if isinstance(value, list):
        return [_shared(v, place) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _shared(getattr(value, f.name), place)
                   for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    return value


class _SharedArray:
    """An array written to a file in shared memory; unpickled, it is that array again."""

    def __init__(self, path: str, shape: tuple[int, ...], dtype: str) -> None:
        self.path, self.shape, self.dtype = path, shape, dtype

    @classmethod
    def of(cls, array: np.ndarray, prefix: str) -> _SharedArray | None:
        """``array`` (C-contiguous) written to shared memory; None where it cannot be."""
        path = str(SHARED_FOLDER / f"{prefix}{uuid.uuid4().hex}")
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError:
            return None
        try:
            with os.fdopen(descriptor, "wb", buffering=0) as file:
                view = array.data.cast("B")
                written = 0
                while written < len(view):
                    written += file.write(view[written:])
        except OSError:  # full: the pipe takes it
            with contextlib.suppress(OSError):
                os.unlink(path)
            return None
        return cls(path, array.shape, array.dtype.str)

    def __reduce__(self) -> tuple[Any, ...]:
        return _attach, (self.path, self.shape, self.dtype)


def _attach(path: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """The array in the file at ``path``, mapped, its name removed (the memory stays until
    the array goes)."""
    descriptor = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(descriptor).st_size
        # its pages mapped at once (where the system can), here in the pool's thread
        # that receives results, not one fault at a time where the run first reads them
        mapped = mmap.mmap(descriptor, size, mmap.MAP_SHARED | _POPULATE,
                           mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(descriptor)
        os.unlink(path)
    return np.frombuffer(mapped, dtype=np.dtype(dtype)).reshape(shape)
