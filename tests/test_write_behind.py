"""Cache writes committed by a thread of their own (``write_behind``): in order, read back
by the run that wrote them, their failure raised in the run's thread, none lost when the
run stops."""

from __future__ import annotations

import threading

import pytest

import likeness
from likeness.errors import StorageError
from likeness.evaluation.infra.cache import Cache
from likeness.evaluation.infra.write_behind import WriteBehind, write_behind


class _HeldCache(Cache):
    """A cache whose writes wait for ``go`` (a slow disk), and record their order."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.go = threading.Event()
        self.started = threading.Semaphore(0)
        self.order: list[str] = []

    def put_together(self, batches: dict[str, list[tuple[str, bytes]]]) -> None:
        self.started.release()
        self.go.wait()
        self.order += [key for items in batches.values() for key, _ in items]
        super().put_together(batches)


def test_the_run_goes_on_while_a_write_waits_for_the_disk(tmp_path):
    cache = _HeldCache(tmp_path / "cache.sqlite")
    with write_behind(cache) as writes:
        writes.put_many("n", [("a", b"1")])
        assert cache.started.acquire(timeout=10)  # the write has started ...
        writes.put_many("n", [("b", b"2")])  # ... and is still waiting: the run is not
        assert cache.order == []
        cache.go.set()
        assert writes.get_many("n", ["a", "b"]) == {"a": b"1", "b": b"2"}  # reads wait
    assert cache.order == ["a", "b"]


def test_a_run_waits_when_more_writes_wait_than_ahead(tmp_path):
    cache = _HeldCache(tmp_path / "cache.sqlite")
    writes = WriteBehind(cache, ahead=1)
    writes.put_many("n", [("a", b"1")])
    assert cache.started.acquire(timeout=10)
    writes.put_many("n", [("b", b"2")])  # waits in the queue
    third = threading.Thread(target=writes.put_many, args=("n", [("c", b"3")]))
    third.start()
    third.join(timeout=0.5)
    assert third.is_alive()  # held back until a write is done
    cache.go.set()
    third.join(timeout=10)
    writes.close()
    assert cache.order == ["a", "b", "c"]


class _FullDisk(Cache):
    def __init__(self, path) -> None:
        super().__init__(path)
        self.written: list[str] = []

    def put_together(self, batches: dict[str, list[tuple[str, bytes]]]) -> None:
        keys = [key for items in batches.values() for key, _ in items]
        if "full" in keys:
            raise StorageError("cannot write the cache (database or disk is full); free "
                               "some space")
        self.written += keys


def test_a_failed_write_stops_the_run_with_its_error_and_nothing_after_it_lands(tmp_path):
    cache = _FullDisk(tmp_path / "cache.sqlite")
    writes = WriteBehind(cache)
    writes.put_many("n", [("a", b"1")])
    writes.put_many("n", [("full", b"2")])
    with pytest.raises(StorageError, match="disk is full"):
        writes.wait()
    writes.put_many("n", [("c", b"3")])  # after a failure: not written
    writes.close()  # raised once, not again
    assert cache.written == ["a"]


def test_the_error_of_a_write_is_raised_when_the_block_ends(tmp_path):
    cache = _FullDisk(tmp_path / "cache.sqlite")
    with pytest.raises(StorageError, match="disk is full"), write_behind(cache) as writes:
        writes.put_many("n", [("full", b"1")])


def test_writes_queued_when_a_run_is_stopped_are_committed(tmp_path):
    cache = _HeldCache(tmp_path / "cache.sqlite")
    cache.go.set()

    def stopped() -> None:
        with write_behind(cache) as writes:
            writes.put_many("n", [("a", b"1")])
            writes.put_many("n", [("b", b"2")])
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stopped()
    assert cache.get_many("n", ["a", "b"]) == {"a": b"1", "b": b"2"}


def test_a_run_stopped_by_its_own_error_reports_that_error_not_the_writes(tmp_path):
    cache = _FullDisk(tmp_path / "cache.sqlite")

    def failing() -> None:
        with write_behind(cache) as writes:
            writes.put_many("n", [("full", b"1")])  # fails in the thread, unreported
            raise ValueError("the run's own")

    with pytest.raises(ValueError, match="the run's own"):
        failing()


def test_compare_commits_everything_it_computed(tmp_path, tid2013_folders):
    """End to end: what a run computed is in the cache when it returns (a second run
    reads every value from it)."""
    reference, test = tid2013_folders
    cache = tmp_path / "cache.sqlite"
    first = likeness.compare(reference, test, metrics="psnr,ssim", cache=cache)
    again = likeness.compare(reference, test, metrics="psnr,ssim", cache=cache)
    assert [row.cached for row in first.rows] == [False]
    assert [row.cached for row in again.rows] == [True]
    assert [row.values for row in again.rows] == [row.values for row in first.rows]


def test_a_cache_without_a_file_is_written_as_it_is():
    cache = Cache(None)
    with write_behind(cache) as writes:
        assert writes is cache


def test_writes_after_closing_are_committed_at_once(tmp_path):
    cache = Cache(tmp_path / "cache.sqlite")
    writes = WriteBehind(cache, ahead=1)
    writes.close()
    for key in ("a", "b", "c"):  # more than the queue holds: none waits for a thread
        writes.put_many("n", [(key, key.encode())])
    assert cache.get_many("n", ["a", "b", "c"]) == {"a": b"a", "b": b"b", "c": b"c"}
