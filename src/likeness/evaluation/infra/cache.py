"""A content-addressed cache of per-image features and per-pair results (SQLite).

Keys are the SHA-256 of a file's bytes plus a *namespace* that names everything else the
value depends on (network and its weights hash, resize convention, decoding options,
metric settings), so a renamed file is still a hit and a changed file, network or setting
is a miss.

File hashes are remembered between runs, so a re-run over an unchanged folder reads no
image bytes.  A remembered hash is trusted only when the file's *stamp* is unchanged —
its size, modification time (ns), status-change time (ns), inode and device — and the
file was last changed at least ``RACY_SECONDS`` before it was hashed.  The status-change
time cannot be set by ``cp -p``, ``rsync -t``, ``tar`` or ``touch -r`` (they set the
modification time only), and the racy window covers filesystems whose clocks are coarse
(a file rewritten within the same tick as its hashing is hashed again, as git does).

The database lives in ``$LIKENESS_CACHE_DIR`` (default ``$XDG_CACHE_HOME/likeness``, else
``~/.cache/likeness``) as ``cache.sqlite``, in WAL mode so that concurrent runs can share
it; every ``put`` commits, so a killed run keeps what it computed.  A database that is
corrupt (truncated, overwritten, a damaged page) is moved aside with a warning and a new
one started — a cache holds nothing that cannot be computed again.  A cache that cannot be
written (read-only, full disk, a folder) is a ``StorageError`` naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from likeness.arguments import outside_stacklevel
from likeness.errors import InvalidInputError, LikenessError, StorageError
from likeness.evaluation.infra.cache_location import (
    check_cache_location,
    refuse_a_file_of_another_kind,
    storage_advice,
)
from likeness.io import Digests, FileStamp, disk_is_full, file_stamp, path_key, stat_regular_file
from likeness.io.files import resolved_paths

__all__ = ["RACY_SECONDS", "Cache", "CacheWarning", "LayeredCache", "file_digest", "remembered_in"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    namespace TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (namespace, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS file_stamps (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, device INTEGER NOT NULL,
    hashed_ns INTEGER NOT NULL, digest TEXT NOT NULL) WITHOUT ROWID;
"""
_CHUNK = 500  # SQLite's bound-parameter limit is 999 on old builds
RACY_SECONDS = 2.0  # FAT's modification times have a 2-second granularity
_CORRUPT = ("not a database", "malformed", "corrupt")
_SHA256 = re.compile("[0-9a-f]{64}")  # a remembered hash damaged in the database: none
T = TypeVar("T")


class CacheWarning(UserWarning):
    """A cache database was corrupt and has been replaced by a new one, or cached values
    could not be read and are computed again."""


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a regular file's bytes (a FIFO or device is refused, not read)."""
    stat_regular_file(Path(path))
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class Cache:
    """Namespaced key → bytes store; ``Cache(None)`` keeps everything in memory (no file).

    Thread-safe: one connection guarded by a lock (SQLite work here is tiny next to
    decoding and networks).  ``results_folder``: the database is a results folder's own
    (``progress.sqlite``), which the errors' advice names as such.

    Raises:
        StorageError: the database cannot be created, opened or written.
    """

    def __init__(self, path: str | os.PathLike[str] | None, *,
                 results_folder: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.results_folder = results_folder
        self._lock = threading.Lock()
        self._connection = self._connect()

    # -- opening, recovering, explaining --------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.path is None:
            connection = sqlite3.connect(":memory:", check_same_thread=False)
            connection.executescript(_SCHEMA)
            return connection
        check_cache_location(self.path)
        try:
            return self._open_file()
        except sqlite3.DatabaseError as error:
            if not _is_corrupt(error):
                raise self._storage_error(error, "open") from None
            refuse_a_file_of_another_kind(self.path)
            self._set_aside(error)
            try:
                return self._open_file()
            except sqlite3.DatabaseError as again:
                raise self._storage_error(again, "open") from None

    def _open_file(self) -> sqlite3.Connection:
        assert self.path is not None
        connection = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60.0)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)
            connection.execute("SELECT count(*) FROM file_stamps").fetchone()
        except sqlite3.DatabaseError:
            connection.close()
            raise
        return connection

    def _set_aside(self, error: sqlite3.DatabaseError) -> None:
        """Move a corrupt database (and its WAL files) aside, with a warning."""
        assert self.path is not None
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            self.path.replace(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        except OSError as move_error:
            raise StorageError(
                f"the cache {self.path} is corrupt ({error}) and cannot be moved aside "
                f"({move_error.strerror or move_error}); "
                f"{storage_advice('', self.results_folder)}") from None
        warnings.warn(f"the cache {self.path} was corrupt ({error}); it was moved to "
                      f"{aside.name} and a new cache started (values are computed again)",
                      CacheWarning, stacklevel=outside_stacklevel())

    def _storage_error(self, error: sqlite3.Error, action: str) -> StorageError:
        message = str(error)
        where = (f"the results folder's database {self.path}" if self.results_folder
                 else f"the cache {self.path}" if self.path is not None
                 else "the in-memory cache")
        if self.path is not None and _read_only(self.path.parent):
            message += "; its folder is read-only"  # SQLite says "unable to open" there
        elif self.path is not None and "full" not in message and "locked" not in message:
            message += disk_is_full(self.path.parent)
        return StorageError(f"cannot {action} {where} ({message}); "
                            f"{storage_advice(message, self.results_folder)}")

    def _run(self, action: str, operation: Callable[[sqlite3.Connection], T]) -> T:
        """``operation`` under the lock; a corrupt database is replaced and retried once."""
        with self._lock:
            try:
                return operation(self._connection)
            except sqlite3.DatabaseError as error:
                if self.path is None or not _is_corrupt(error):
                    raise self._storage_error(error, action) from None
                self._connection.close()
                self._set_aside(error)
                self._connection = self._connect()
            try:
                return operation(self._connection)
            except sqlite3.DatabaseError as error:
                raise self._storage_error(error, action) from None

    def close(self) -> None:
        with self._lock:
            if self.path is not None:  # the last connection leaves rollback mode: a later
                # read-only reader (the report) then makes no -wal and -shm it cannot remove;
                # never waiting (another run connected: the database stays in WAL mode)
                with contextlib.suppress(sqlite3.Error):
                    self._connection.execute("PRAGMA busy_timeout = 0")
                    self._connection.execute("PRAGMA journal_mode=DELETE").fetchone()
            self._connection.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- values ---------------------------------------------------------------------------

    def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, bytes]:
        """The stored values of those ``keys`` that are present."""
        unique = list(dict.fromkeys(keys))

        def read(connection: sqlite3.Connection) -> dict[str, bytes]:
            found: dict[str, bytes] = {}
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(
                    f"SELECT key, value FROM entries WHERE namespace = ? AND key IN ({marks})",
                    [namespace, *chunk])
                found.update((key, bytes(value)) for key, value in rows)
            return found

        return self._run("read", read)

    def put_many(self, namespace: str, items: Iterable[tuple[str, bytes]]) -> None:
        """Store values (replacing any) and commit."""
        self.put_together({namespace: list(items)})

    def put_together(self, batches: dict[str, list[tuple[str, bytes]]]) -> None:
        """Store values of several namespaces in one transaction: a process killed while
        storing leaves all of them or none (a pair's values and its notes go together)."""
        rows = [(namespace, key, value) for namespace, items in batches.items()
                for key, value in items]

        def write(connection: sqlite3.Connection) -> None:
            with connection:
                connection.executemany(
                    "INSERT OR REPLACE INTO entries (namespace, key, value) VALUES (?, ?, ?)",
                    rows)

        self._run("write", write)

    def is_empty(self) -> bool:
        """Whether no value is stored (remembered file hashes do not count)."""
        return self._run("read", lambda connection: connection.execute(
            "SELECT 1 FROM entries LIMIT 1").fetchone() is None)

    def get_arrays(self, namespace: str, keys: Sequence[str], dtype: str = "float32"
                   ) -> dict[str, np.ndarray]:
        """Stored 1-d arrays (written by ``put_arrays``)."""
        return {key: np.frombuffer(value, dtype=dtype)
                for key, value in self.get_many(namespace, keys).items()}

    def put_arrays(self, namespace: str, items: Iterable[tuple[str, np.ndarray]],
                   dtype: str = "float32") -> None:
        self.put_many(namespace, [(key, np.ascontiguousarray(array, dtype=dtype).tobytes())
                                  for key, array in items])

    # -- file hashes ----------------------------------------------------------------------

    def digest(self, path: Path) -> str:
        """The content hash of ``path``, remembered while its stamp is unchanged.

        Raises:
            ImageLoadError: the path is not a regular file (FIFO, device, folder, link loop).
            OSError: the file cannot be read.
        """
        digests, errors = self.digest_files([path], workers=1)
        if path in errors:
            raise errors[path]
        return digests[path]

    def digest_files(self, paths: Sequence[Path], *, workers: int = 4
                     ) -> tuple[Digests, dict[Path, Exception]]:
        """Content hashes of many files (remembered ones reused, the rest hashed — in
        threads unless they are small: ``inline_map`` — and remembered in one
        transaction), with the stamps they were hashed at where settled (``Digests``), and
        why each other file failed."""
        from likeness.evaluation.infra.inline_map import inline_or_ordered_map

        statuses: dict[Path, os.stat_result] = {}
        errors: dict[Path, Exception] = {}
        for path in dict.fromkeys(paths):
            try:
                statuses[path] = stat_regular_file(path)
            except (LikenessError, OSError) as error:
                errors[path] = error
        reals = resolved_paths(statuses)  # a folder's once, not each file's part by part
        stamps = {path: (path_key(reals[path]), file_stamp(status))
                  for path, status in statuses.items()}
        remembered = self._remembered([key for key, _ in stamps.values()])
        digests = Digests()
        to_hash = []
        for path, (key, stamp) in stamps.items():
            known = remembered.get(key)
            if known is not None and known[0] == stamp and _settled(stamp, known[1]):
                digests[path] = known[2]
                digests.settled[path] = stamp
            else:
                to_hash.append(path)
        fresh = []
        # small files (a hash under ``INLINE_BELOW``) in this thread, larger ones in threads
        for path, hashed, failure in inline_or_ordered_map(_hash_checked, to_hash,
                                                           workers=workers,
                                                           catch=(OSError, LikenessError)):
            if failure is not None:
                errors[path] = failure
                continue
            hashed_ns, stamp, value = hashed  # type: ignore[misc]
            digests[path] = value
            if _settled(stamp, hashed_ns):
                digests.settled[path] = stamp
            fresh.append((stamps[path][0], *stamp, hashed_ns, value))
        if fresh and self.path is not None:
            def write(connection: sqlite3.Connection) -> None:
                with connection:
                    connection.executemany(
                        "INSERT OR REPLACE INTO file_stamps (path, size, mtime_ns, ctime_ns, "
                        "inode, device, hashed_ns, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        fresh)

            self._run("write", write)
        return digests, errors

    def _remembered(self, keys: list[str]) -> dict[str, tuple[tuple[int, ...], int, str]]:
        if self.path is None or not keys:
            return {}
        return self._run("read", lambda connection: remembered_in(connection, keys))


def remembered_in(connection: sqlite3.Connection, keys: Sequence[str]
                  ) -> dict[str, tuple[tuple[int, ...], int, str]]:
    """The stamps and hashes a cache's database remembers for the file ``keys``
    (``path_key`` of each real path): key → (stamp, when hashed, SHA-256)."""
    found: dict[str, tuple[tuple[int, ...], int, str]] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        rows = connection.execute(
            "SELECT path, size, mtime_ns, ctime_ns, inode, device, hashed_ns, digest "
            f"FROM file_stamps WHERE path IN ({','.join('?' * len(chunk))})", chunk)
        for path, size, mtime, ctime, inode, device, hashed, digest in rows:
            if isinstance(digest, str) and _SHA256.fullmatch(digest):  # else hashed again
                found[path] = ((size, mtime, ctime, inode, device), hashed, digest)
    return found


def _settled(stamp: tuple[int, ...], hashed_ns: int) -> bool:
    """Whether the file's last change lies clearly before its hashing (else: hash again)."""
    margin = int(RACY_SECONDS * 1e9)
    return stamp[1] < hashed_ns - margin and stamp[2] < hashed_ns - margin


def _hash_checked(path: Path) -> tuple[int, FileStamp, str]:
    """(time of hashing, stamp after hashing, digest); a file that changed while it was
    read is hashed again, so the stamp stored always belongs to the bytes hashed."""
    for _ in range(3):
        before = file_stamp(stat_regular_file(path))
        hashed_ns = time.time_ns()
        digest = file_digest(path)
        after = file_stamp(os.stat(path))
        if after == before:
            return hashed_ns, after, digest
    raise OSError(f"{path}: the file keeps changing while it is read")


def _read_only(folder: Path) -> bool:
    try:
        return (bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
                or not os.access(folder, os.W_OK))
    except OSError:
        return False


def _is_corrupt(error: sqlite3.DatabaseError) -> bool:
    return (not isinstance(error, sqlite3.OperationalError)
            and any(word in str(error) for word in _CORRUPT))


class LayeredCache(Cache):
    """Several caches read in order (first hit wins) and all written: a run folder's own
    database in front of the user cache, so the run folder alone can resume the run."""

    def __init__(self, layers: Sequence[Cache]) -> None:  # noqa: D107 - no own connection
        if not layers:
            raise InvalidInputError("a layered cache needs at least one layer")
        self.layers = list(layers)
        self.path = self.layers[0].path

    def close(self) -> None:
        for layer in self.layers:
            layer.close()

    def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for layer in self.layers:
            remaining = [k for k in keys if k not in found]
            if not remaining:
                break
            found.update(layer.get_many(namespace, remaining))
        return found

    def put_together(self, batches: dict[str, list[tuple[str, bytes]]]) -> None:
        for layer in self.layers:
            layer.put_together(batches)

    def digest_files(self, paths: Sequence[Path], *, workers: int = 4
                     ) -> tuple[Digests, dict[Path, Exception]]:
        return self.layers[0].digest_files(paths, workers=workers)

