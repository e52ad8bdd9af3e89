"""A content-addressed cache of per-image features and per-pair results (SQLite).

Keys are the SHA-256 of a file's bytes plus a *namespace* that names everything else the
value depends on (network and its weights hash, resize convention, decoding options,
metric settings), so a renamed file is still a hit and a changed file, network or setting
is a miss.  File hashes are themselves remembered by (path, size, modification time), so a
re-run over an unchanged folder reads no image bytes at all.

The database lives in ``$LIKENESS_CACHE_DIR`` (default ``~/.cache/likeness``) as
``cache.sqlite``, in WAL mode so that concurrent runs can share it; every ``put`` commits,
so a killed run keeps what it computed.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

__all__ = ["Cache", "LayeredCache", "default_cache_path", "file_digest"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    namespace TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (namespace, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS file_digests (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    digest TEXT NOT NULL) WITHOUT ROWID;
"""
_CHUNK = 500  # SQLite's bound-parameter limit is 999 on old builds


def default_cache_path() -> Path:
    """``$LIKENESS_CACHE_DIR/cache.sqlite``, default ``~/.cache/likeness/cache.sqlite``."""
    folder = os.environ.get("LIKENESS_CACHE_DIR")
    base = Path(folder).expanduser() if folder else Path.home() / ".cache" / "likeness"
    return base / "cache.sqlite"


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class Cache:
    """Namespaced key → bytes store; ``Cache(None)`` keeps everything in memory (no file).

    Thread-safe: one connection guarded by a lock (SQLite work here is tiny next to
    decoding and networks).
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(str(self.path) if self.path else ":memory:",
                                           check_same_thread=False, timeout=60.0)
        with self._lock:
            if self.path is not None:
                self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, bytes]:
        """The stored values of those ``keys`` that are present."""
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._connection.execute(
                    f"SELECT key, value FROM entries WHERE namespace = ? AND key IN ({marks})",
                    [namespace, *chunk])
                found.update((key, bytes(value)) for key, value in rows)
        return found

    def put_many(self, namespace: str, items: Iterable[tuple[str, bytes]]) -> None:
        """Store values (replacing any) and commit."""
        with self._lock, self._connection:
            self._connection.executemany(
                "INSERT OR REPLACE INTO entries (namespace, key, value) VALUES (?, ?, ?)",
                [(namespace, key, value) for key, value in items])

    def get_arrays(self, namespace: str, keys: Sequence[str], dtype: str = "float32"
                   ) -> dict[str, np.ndarray]:
        """Stored 1-d arrays (written by ``put_arrays``)."""
        return {key: np.frombuffer(value, dtype=dtype)
                for key, value in self.get_many(namespace, keys).items()}

    def put_arrays(self, namespace: str, items: Iterable[tuple[str, np.ndarray]],
                   dtype: str = "float32") -> None:
        self.put_many(namespace, [(key, np.ascontiguousarray(array, dtype=dtype).tobytes())
                                  for key, array in items])

    def digest(self, path: Path) -> str:
        """The content hash of ``path``, remembered by (path, size, mtime) between runs."""
        resolved = str(path.resolve())
        stat = path.stat()
        with self._lock:
            row = self._connection.execute(
                "SELECT size, mtime_ns, digest FROM file_digests WHERE path = ?",
                (resolved,)).fetchone()
        if row is not None and row[0] == stat.st_size and row[1] == stat.st_mtime_ns:
            return str(row[2])
        digest = file_digest(path)
        with self._lock, self._connection:
            self._connection.execute(
                "INSERT OR REPLACE INTO file_digests (path, size, mtime_ns, digest) "
                "VALUES (?, ?, ?, ?)", (resolved, stat.st_size, stat.st_mtime_ns, digest))
        return digest


class LayeredCache(Cache):
    """Several caches read in order (first hit wins) and all written: a run folder's own
    database in front of the user cache, so the run folder alone can resume the run."""

    def __init__(self, layers: Sequence[Cache]) -> None:  # noqa: D107 - no own connection
        if not layers:
            raise ValueError("a layered cache needs at least one layer")
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

    def put_many(self, namespace: str, items: Iterable[tuple[str, bytes]]) -> None:
        materialised = list(items)
        for layer in self.layers:
            layer.put_many(namespace, materialised)

    def digest(self, path: Path) -> str:
        return self.layers[0].digest(path)
