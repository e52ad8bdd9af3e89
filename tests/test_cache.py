"""The content-addressed cache, the layered run-folder cache, the allocator setting."""

from __future__ import annotations

import os

import numpy as np

from likeness.evaluation.infra.cache import Cache, LayeredCache, file_digest
from likeness.evaluation.infra.memory import keep_freed_memory


def test_values_arrays_and_namespaces(tmp_path):
    with Cache(tmp_path / "c.sqlite") as cache:
        cache.put_many("a", [("k1", b"one"), ("k2", b"two")])
        cache.put_arrays("arrays", [("k1", np.arange(3, dtype=np.float32))])
        assert cache.get_many("a", ["k1", "k2", "k3"]) == {"k1": b"one", "k2": b"two"}
        assert cache.get_many("b", ["k1"]) == {}
        np.testing.assert_array_equal(cache.get_arrays("arrays", ["k1"])["k1"], [0, 1, 2])
    with Cache(tmp_path / "c.sqlite") as reopened:  # committed: survives the process
        assert reopened.get_many("a", ["k1"]) == {"k1": b"one"}


def test_many_keys_in_one_query(tmp_path):
    with Cache(None) as cache:
        cache.put_many("n", [(str(i), b"x") for i in range(2000)])
        assert len(cache.get_many("n", [str(i) for i in range(2500)])) == 2000


def test_digest_is_the_content_hash_and_follows_changes(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"hello")
    with Cache(tmp_path / "c.sqlite") as cache:
        first = cache.digest(path)
        assert first == file_digest(path)
        assert cache.digest(path) == first
        path.write_bytes(b"hello, world")
        os.utime(path, ns=(1, 1))
        assert cache.digest(path) == file_digest(path) != first


def test_layered_cache_reads_in_order_and_writes_all(tmp_path):
    front, back = Cache(tmp_path / "front.sqlite"), Cache(tmp_path / "back.sqlite")
    back.put_many("n", [("shared", b"back"), ("only-back", b"b")])
    front.put_many("n", [("shared", b"front")])
    layered = LayeredCache([front, back])
    assert layered.get_many("n", ["shared", "only-back"]) == {"shared": b"front",
                                                               "only-back": b"b"}
    layered.put_many("n", [("new", b"v")])
    assert front.get_many("n", ["new"]) == back.get_many("n", ["new"]) == {"new": b"v"}
    layered.close()


def test_allocator_tuning_can_be_turned_off(monkeypatch):
    import likeness.evaluation.infra.memory as allocator

    monkeypatch.setattr(allocator, "_done", False)
    monkeypatch.setenv("LIKENESS_MALLOC_TUNING", "0")
    assert keep_freed_memory() is False
    monkeypatch.delenv("LIKENESS_MALLOC_TUNING")
    assert keep_freed_memory() in (True, False)  # False only off glibc
    assert keep_freed_memory() == keep_freed_memory()


def test_a_closed_database_is_read_afterwards_without_leaving_wal_files(tmp_path):
    """A run's database is in WAL mode while it runs; a read-only reader afterwards (the
    report, a re-run's check of what was measured) made -wal and -shm files it cannot
    remove, which stayed in the results folder.  The last connection now leaves it in
    rollback mode; with another connection open it never waits and the mode stays."""
    import sqlite3
    import time

    path = tmp_path / "progress.sqlite"
    with Cache(path) as cache:
        cache.put_many("a", [("k", b"v")])
    reader = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    assert reader.execute("SELECT count(*) FROM entries").fetchone() == (1,)
    reader.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress.sqlite"]
    with Cache(path) as cache:  # open again: WAL while it runs, the value kept
        assert cache.get_many("a", ["k"]) == {"k": b"v"}
        mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    other = sqlite3.connect(path)
    other.execute("SELECT count(*) FROM entries").fetchone()
    first = Cache(path)
    started = time.perf_counter()
    first.close()  # another connection open: no switch, no wait
    assert time.perf_counter() - started < 5
    assert other.execute("SELECT value FROM entries").fetchone() == (b"v",)
    other.close()


def test_files_are_remembered_by_real_path_resolved_once_a_folder(tmp_path, monkeypatch):
    """The cache remembered each file under its real path by ``os.path.realpath`` of
    every file (a system call per part of its path: a cached run of 2,000 pairs 10 folders
    deep took 0.44 s, now 0.29); now a folder's once, a link to a file on its own.  A file
    reached through a link to its folder is still the file remembered."""
    from likeness.evaluation.infra import cache as cache_module

    folder = tmp_path / "real"
    folder.mkdir()
    files = [folder / f"{n}.png" for n in range(5)]
    for number, path in enumerate(files):
        path.write_bytes(bytes([number]))
    (tmp_path / "linked").symlink_to(folder)
    (tmp_path / "alias.png").symlink_to(files[0])
    monkeypatch.setattr(cache_module, "RACY_SECONDS", 0.0)  # the files were just written
    calls = []
    realpath = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda path: calls.append(path) or realpath(path))
    with Cache(tmp_path / "c.sqlite") as cache:
        digests, errors = cache.digest_files(files, workers=1)
        assert not errors
        assert len(calls) == 1
        monkeypatch.setattr(cache_module, "_hash_checked", None)  # hashing again fails
        through = [tmp_path / "linked" / path.name for path in files] + [tmp_path / "alias.png"]
        again, errors = cache.digest_files(through, workers=1)
    assert not errors
    assert [again[path] for path in through] == [digests[path] for path in files + files[:1]]
