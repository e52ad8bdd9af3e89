"""Slots of shared memory, reused, through which forked decoding processes hand their
images to the run's process.

A file in ``/dev/shm`` per image (``shared_arrays``) costs each image a file created,
written, mapped, unlinked and unmapped, its pages allocated, faulted in and freed: on
this 2-core AMD EPYC, 0.9 ms of the run's process's time per pair of 512² PNGs decoded
alone (0.6 ms of it in the kernel, mostly unmapping), where the run's process has about
1.2 ms a pair to spare at the 840 pairs/s 15 processes decoded on the lent H200 machine.

``SharedSlots`` is one anonymous shared mapping, made before the pool's workers fork (they
inherit it), cut into ``count`` slots of ``size`` bytes.  Each item submitted takes a free
slot (``take``: its ``Lease``); the worker copies its result's large arrays into that slot
(``SlotWriter``) and sends only where they lie; the run's process reads them where they
are (``array``): no system call and, once a slot has been used, no page fault on either
side.  The slot is free again when the last array in it is gone (the lease is the base of
every array read from it), never while the run still reads it.  An item that finds no free
slot, or an array that does not fit in what is left of its slot, goes through a file as
before: the slots only make the common case cheap.  Pages a slot has held stay allocated
until the pool's run ends: those of as many slots as were in use at once (the images in
flight, as before, and those the run still held).
"""

from __future__ import annotations

import math
import mmap
import uuid
import weakref
from collections import deque
from typing import Any

import numpy as np

__all__ = ["SLOT_BYTES", "Lease", "SharedSlots", "SlotWriter"]

SLOT_BYTES = 16 << 20  # a pair of 1024² RGB images and more; larger results use files
_ALIGN = 64  # each array starts on a cache line (and suits every dtype's alignment)
# the slots of the pools this process made, by token: a forked worker finds its pool's
# here, inherited with the mapping
_MADE: dict[str, SharedSlots] = {}


class Lease:
    """A slot taken for one item: it is free again when this object is gone (the item's
    entry in the pool's queue and every array read from the slot hold it)."""

    def __init__(self, number: int, free: deque[int]) -> None:
        self.number = number
        weakref.finalize(self, free.append, number)  # in whichever thread drops it last


class SharedSlots:
    """``count`` slots of ``size`` bytes in one shared mapping (see the module
    documentation); ``create`` gives None where the mapping cannot be made."""

    def __init__(self, count: int, size: int) -> None:
        self.token, self.size = uuid.uuid4().hex, size
        self.mapping = mmap.mmap(-1, count * size, flags=mmap.MAP_SHARED,
                                 prot=mmap.PROT_READ | mmap.PROT_WRITE)
        # the slot freed last is taken first: pages of as few slots as are in use at once
        # are touched (deque's append and pop are atomic: safe from any thread)
        self._free: deque[int] = deque(reversed(range(count)))
        self._issued: dict[int, weakref.ref[Lease]] = {}

    @classmethod
    def create(cls, count: int, size: int | None = None) -> SharedSlots | None:
        """Slots (of ``SLOT_BYTES`` unless ``size`` is given) for a pool about to fork its
        workers, or None (no shared mapping here: its images go through files)."""
        if not hasattr(mmap, "MAP_SHARED") or count < 1:
            return None
        try:
            slots = cls(count, size or SLOT_BYTES)
        except (OSError, ValueError, OverflowError):  # no memory for the mapping
            return None
        _MADE[slots.token] = slots
        return slots

    def close(self) -> None:
        """The pool's run is over: no more slots are read by token (the mapping stays
        while arrays read from it do)."""
        _MADE.pop(self.token, None)

    def take(self) -> Lease | None:
        """A free slot, or None when every slot is in use."""
        try:
            number = self._free.pop()
        except IndexError:
            return None
        lease = Lease(number, self._free)
        self._issued[number] = weakref.ref(lease)
        return lease

    def array(self, number: int, offset: int, shape: tuple[int, ...], dtype: str
              ) -> np.ndarray:
        """The array a worker wrote at ``offset`` in slot ``number``, read in place; a copy
        if the slot's lease is already gone (its item was given up)."""
        dtype_ = np.dtype(dtype)
        view = np.frombuffer(self.mapping, dtype=dtype_, count=math.prod(shape),
                             offset=number * self.size + offset).reshape(shape)
        issued = self._issued.get(number)
        lease = issued() if issued is not None else None
        if lease is None:
            return view.copy()
        return np.asarray(_Leased(view, lease))


class _Leased:
    """An array read from a slot, holding the slot's lease: numpy makes it the base of the
    array it builds from it (``__array_interface__``), so every view of that array holds
    the lease too."""

    def __init__(self, view: np.ndarray, lease: Lease) -> None:
        self.__array_interface__ = view.__array_interface__
        self._view, self._lease = view, lease


class SlotWriter:
    """In a worker: copies arrays one after another into slot ``number`` of the pool's
    slots (``put``: what travels instead of the array, or None where it does not fit)."""

    def __init__(self, token: str, number: int) -> None:
        self.slots, self.number, self.used = _MADE.get(token), number, 0

    def put(self, array: np.ndarray) -> _SlotArray | None:
        """``array`` copied into the slot (C-contiguous arrays only), or None."""
        slots = self.slots
        start = -(-self.used // _ALIGN) * _ALIGN
        if slots is None or start + array.nbytes > slots.size:
            return None
        target = np.frombuffer(slots.mapping, dtype=array.dtype, count=array.size,
                               offset=self.number * slots.size + start)
        target[...] = array.reshape(-1)
        self.used = start + array.nbytes
        return _SlotArray(slots.token, self.number, start, array.shape, array.dtype.str)


class _SlotArray:
    """Where an array lies in a pool's slots; unpickled in the run's process, that array."""

    def __init__(self, token: str, number: int, offset: int, shape: tuple[int, ...],
                 dtype: str) -> None:
        self.where = (token, number, offset, shape, dtype)

    def __reduce__(self) -> tuple[Any, ...]:
        return _read_slot, self.where


def _read_slot(token: str, number: int, offset: int, shape: tuple[int, ...], dtype: str
               ) -> np.ndarray:
    slots = _MADE.get(token)
    if slots is None:  # cannot happen while the pool runs: its results are read before
        raise RuntimeError("a decoded image arrived after its pool's run ended")
    return slots.array(number, offset, shape, dtype)
