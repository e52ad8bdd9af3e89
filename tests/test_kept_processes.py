"""A run's decoding processes forked once (``keeping_processes``): a pool whose map took
every item serves the next map of its size; one stopped early, or of another size, is shut
down; the slots of images still held are never written by the next map."""

from __future__ import annotations

import multiprocessing
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import likeness
from likeness.evaluation.infra import pipeline
from likeness.evaluation.infra.pipeline import keeping_processes, ordered_map
from likeness.evaluation.infra.shared_slots import Lease

SIDE = (200, 150, 3)  # 90 kB: through the slots, not the pipes


def _value_and_worker(value: int) -> tuple[int, int]:
    return value, os.getpid()


def _image(value: int) -> np.ndarray:
    return np.full(SIDE, value, np.uint8)


def _die_on_five(value: int) -> int:
    if value == 5:
        os._exit(1)  # a decoder crashing: the worker process dies
    return value


def _children() -> set[int]:
    return {process.pid for process in multiprocessing.active_children()}


def _in_a_slot(array: np.ndarray) -> bool:
    while array is not None:
        if isinstance(getattr(array, "_lease", None), Lease):
            return True
        array = getattr(array, "base", None)
    return False


def _map(function, items, workers: int = 2) -> list:
    return list(ordered_map(function, items, workers=workers, processes=True))


@pytest.fixture
def counted_pools(monkeypatch) -> list[int]:
    """How many process pools the run made, each with its workers count."""
    made: list[int] = []
    original = pipeline._process_pool

    def counted(workers: int):
        made.append(workers)
        return original(workers)

    monkeypatch.setattr(pipeline, "_process_pool", counted)
    return made


def test_maps_within_keeping_processes_share_one_pool():
    assert _children() == set()
    with keeping_processes():
        first = _map(_value_and_worker, range(12))
        workers = _children()
        assert len(workers) == 2
        second = _map(_value_and_worker, range(12, 24))
        assert _children() == workers  # no worker forked for the second map
        assert [value for _, (value, _), _ in first + second] == list(range(24))
        assert {pid for _, (_, pid), _ in first + second} <= workers
    assert _children() == set()  # shut down when the block ends


def test_without_keeping_processes_each_map_has_its_own_pool():
    _map(_value_and_worker, range(8))
    assert _children() == set()


def test_a_map_stopped_early_shuts_its_pool_down_and_the_next_forks_anew():
    with keeping_processes():
        stream = ordered_map(_value_and_worker, range(40), workers=2, processes=True)
        next(stream)
        before = _children()
        stream.close()  # items still in flight: their workers may write into their slots
        assert _children() == set()
        assert [value for _, (value, _), _ in _map(_value_and_worker, range(6))] == list(
            range(6))
        assert _children().isdisjoint(before)


def test_a_map_of_another_size_gets_a_pool_of_its_own():
    with keeping_processes():
        _map(_value_and_worker, range(8), workers=2)
        two = _children()
        _map(_value_and_worker, range(8), workers=1)
        one = _children()
        assert len(one) == 1
        assert one.isdisjoint(two)


def test_images_held_from_one_map_are_never_written_by_the_next():
    with keeping_processes():
        first = _map(_image, range(6))
        second = _map(_image, range(100, 112))
        for values, results in ((range(6), first), (range(100, 112), second)):
            for value, (_, array, error) in zip(values, results, strict=True):
                assert error is None
                assert np.array_equal(array, np.full(SIDE, value, np.uint8))
        assert all(_in_a_slot(array) for _, array, _ in first)
        # the second map's images lie in the slots the first map's no longer hold
        assert any(_in_a_slot(array) for _, array, _ in second)


def test_a_kept_pool_whose_worker_died_is_replaced_and_kept(counted_pools):
    with keeping_processes():
        results = _map(_die_on_five, range(8))
        assert [value for _, value, error in results if error is None] == [
            0, 1, 2, 3, 4, 6, 7]
        assert isinstance(results[5][2], pipeline.WorkerDiedError)
        assert counted_pools[-1] == 2  # the pool that replaced the broken one
        made = len(counted_pools)
        assert [value for _, value, _ in _map(_die_on_five, [6, 7, 8, 9])] == [6, 7, 8, 9]
        assert len(counted_pools) == made  # the replacement served the next map


def test_fid_of_two_folders_forks_its_decoders_once(golden, fid_weights, tmp_path,
                                                    counted_pools):
    folders = []
    for label, names in (("a", golden.expected["fid_sets"]["b"][:5]),
                         ("b", golden.expected["fid_sets"]["b"][5:10])):
        folder = tmp_path / label
        folder.mkdir()
        for name in names:
            shutil.copy(golden.image_path(name), folder / name)
        folders.append(folder)
    options = {"weights": fid_weights, "device": "cpu", "cache": False, "workers": 2}
    with pytest.warns(UserWarning, match="singular"):
        in_processes = likeness.fid(*folders, decoding="processes", **options)
    assert counted_pools == [2]
    with pytest.warns(UserWarning, match="singular"):
        in_threads = likeness.fid(*folders, decoding="threads", **options)
    assert in_processes.value == pytest.approx(in_threads.value, rel=1e-6)
    assert _children() == set()


def test_a_run_of_items_and_sets_forks_its_decoders_once(fid_weights, tmp_path,
                                                         counted_pools):
    rng = np.random.default_rng(5)
    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
        for index in range(6):
            Image.fromarray(rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)).save(
                tmp_path / folder / f"{index}.png")
    with pytest.warns(UserWarning, match="singular"):
        results = likeness.compare(tmp_path / "ref", tmp_path / "out", metrics="ssim,fid",
                                   weights={"pt_inception": fid_weights}, cache=False,
                                   device="cpu", workers=2, decoding="processes")
    assert [row.error for row in results.rows] == [None] * 6
    assert results.set_rows[0].value is not None
    assert counted_pools == [2]  # the pairs' pool decoded both sets too
