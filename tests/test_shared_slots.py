"""Slots of shared memory through which decoding processes hand images to the run's
process (``shared_slots``): read in place, never reused while an array read from them
lives, and files where no slot serves."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

from likeness.evaluation.infra import shared_slots
from likeness.evaluation.infra.pipeline import WorkerDiedError, ordered_map
from likeness.evaluation.infra.shared_slots import Lease, SharedSlots, SlotWriter

SIDE = (200, 150, 3)  # 90 kB: above the size that goes through the pipe


def _images(value: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(SIDE, value, np.uint8), np.full(SIDE[:2], value * 1000, np.int32)


def _held(array: np.ndarray) -> str:
    """"slot" when the array lies in a slot (its base holds the lease), else "elsewhere"."""
    while array is not None:
        if isinstance(getattr(array, "_lease", None), Lease):
            return "slot"
        array = getattr(array, "base", None)
    return "elsewhere"


def _expected(results: list) -> None:
    for item, images, error in results:
        assert error is None
        assert np.array_equal(images[0], np.full(SIDE, item, np.uint8))
        assert np.array_equal(images[1], np.full(SIDE[:2], item * 1000, np.int32))


def test_an_array_held_keeps_its_slot_while_later_items_reuse_the_others():
    stream = ordered_map(_images, range(40), workers=2, window=2, processes=True)
    first = next(stream)
    rest = []
    for outcome in stream:  # 4 slots for 40 items: the three others are used again
        _expected([outcome])
        assert _held(outcome[1][0]) == "slot"
        rest.append(outcome[1][0][0, 0, 0])
    _expected([first])  # never overwritten
    assert _held(first[1][0]) == "slot"
    assert rest == list(range(1, 40))


def test_items_without_a_free_slot_come_through_files():
    results = list(ordered_map(_images, range(12), workers=2, window=2, processes=True))
    _expected(results)  # every result kept: the first 4 in slots, the rest in files
    assert [_held(images[0]) for _, images, _ in results] == ["slot"] * 4 + ["elsewhere"] * 8


def test_an_array_too_large_for_what_is_left_of_its_slot_comes_through_a_file(monkeypatch):
    monkeypatch.setattr(shared_slots, "SLOT_BYTES", int(np.prod(SIDE)) + 100)
    results = list(ordered_map(_images, range(3), workers=2, processes=True))
    _expected(results)
    assert [(_held(a), _held(b)) for _, (a, b), _ in results] == [("slot", "elsewhere")] * 3


def _die_on_three(value: int) -> tuple[np.ndarray, np.ndarray]:
    if value == 3:
        os._exit(1)
    return _images(value)


def test_items_run_again_after_a_worker_died_keep_their_slots():
    results = list(ordered_map(_die_on_three, range(8), workers=2, window=3,
                               processes=True))
    assert isinstance(results[3][2], WorkerDiedError)
    _expected(results[:3] + results[4:])


def test_a_slot_is_free_again_when_its_last_array_is_gone():
    slots = SharedSlots.create(2, 4096)
    assert slots is not None
    try:
        first, second = slots.take(), slots.take()
        assert first is not None
        assert second is not None
        assert slots.take() is None  # both in use
        writer = SlotWriter(slots.token, first.number)
        where = writer.put(np.arange(10, dtype=np.float64))
        assert where is not None
        assert writer.put(np.zeros(4096, np.uint8)) is None  # what is left is too small
        array = slots.array(*where.where[1:])
        view = array[2:5]
        del first, array
        gc.collect()
        assert slots.take() is None  # a view of the array still holds the slot
        assert view.tolist() == [2.0, 3.0, 4.0]
        del view
        gc.collect()
        again = slots.take()
        assert again is not None
        assert again.number == 0
    finally:
        slots.close()


def test_an_array_whose_lease_is_gone_is_read_as_a_copy():
    slots = SharedSlots.create(1, 4096)
    assert slots is not None
    try:
        lease = slots.take()
        assert lease is not None
        where = SlotWriter(slots.token, lease.number).put(np.arange(6, dtype=np.int16))
        assert where is not None
        del lease
        gc.collect()
        array = slots.array(*where.where[1:])
        assert array.tolist() == list(range(6))
        assert _held(array) == "elsewhere"
        assert slots.take() is not None  # the slot was free: the copy does not hold it
    finally:
        slots.close()


def test_no_slots_where_the_mapping_cannot_be_made():
    assert SharedSlots.create(0) is None
    assert SharedSlots.create(1, 1 << 60) is None  # more than any address space
    with pytest.raises(RuntimeError, match="after its pool's run ended"):
        shared_slots._read_slot("gone", 0, 0, (1,), "|u1")
