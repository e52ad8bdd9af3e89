"""A cache whose writes are committed by a thread of their own, off the run's critical path.

A run commits each batch's values as it goes (a killed run keeps what it computed).  In
the run's own thread each commit holds up the next batch: the rows are written and the
write-ahead log is synced to disk while the device and the decoders wait for work (on
this 2-core AMD EPYC, 3–6 ms a batch of 64 pairs; on the lent H200 machine, 2–3 ms a
batch of FID features).  ``write_behind`` hands the writes to one thread, in the order
they were made, at most ``ahead`` of them waiting (when more come, the run waits: a
killed run loses at most those and the batch in flight); reads first wait for the
writes queued, so a run always reads what it wrote.  A write that fails (a full disk, a
read-only folder) stops the run as it did, with the same ``StorageError``, at the run's
next write or when the run ends, once the writes before it are done.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from likeness.evaluation.infra.cache import Cache
from likeness.io import Digests

__all__ = ["WriteBehind", "write_behind"]

_DONE = None  # what tells the writing thread to stop


class WriteBehind(Cache):
    """``cache`` read as it is and written by a thread of its own (see the module
    documentation); ``close`` waits for the writes and stops the thread, not ``cache``.

    Args:
        cache: where values are read and written.
        ahead: writes that may wait before a new one makes the run wait.
    """

    def __init__(self, cache: Cache, ahead: int = 2) -> None:  # noqa: D107 - no own connection
        self.cache, self.path = cache, cache.path
        self._writes: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=ahead)
        self._failure: BaseException | None = None  # the first write's that failed
        self._reported = False
        self._thread = threading.Thread(target=self._write_all, name="likeness-cache-writes",
                                        daemon=True)
        self._thread.start()

    def _write_all(self) -> None:
        while True:
            write = self._writes.get()
            try:
                if write is _DONE:
                    return
                if self._failure is None:  # after a failure, no later write lands
                    write()
            except BaseException as error:  # noqa: BLE001 - raised in the run's thread
                self._failure = error
            finally:
                self._writes.task_done()

    def _raise_failure(self) -> None:
        """Raise a failed write's error in the run's thread (once)."""
        if self._failure is not None and not self._reported:
            self._reported = True
            raise self._failure

    def wait(self) -> None:
        """Return once every write queued is committed; raise the error of one that
        failed."""
        self._writes.join()
        self._raise_failure()

    def close(self) -> None:
        """Wait for the writes queued (their error raised), and stop the thread."""
        if self._thread.is_alive():
            self._writes.put(_DONE)
            self._thread.join()
        self._raise_failure()

    def put_together(self, batches: dict[str, list[tuple[str, bytes]]]) -> None:
        self._raise_failure()
        if not self._thread.is_alive():  # closed: written here (a queue nobody reads hangs)
            self.cache.put_together(batches)
            return
        self._writes.put(lambda: self.cache.put_together(batches))

    def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, bytes]:
        self.wait()
        return self.cache.get_many(namespace, keys)

    def is_empty(self) -> bool:
        self.wait()
        return self.cache.is_empty()

    def digest_files(self, paths: Sequence[Path], *, workers: int = 4
                     ) -> tuple[Digests, dict[Path, Exception]]:
        self.wait()
        return self.cache.digest_files(paths, workers=workers)


@contextlib.contextmanager
def write_behind(cache: Cache) -> Iterator[Cache]:
    """``cache`` written by a thread of its own while the block runs (``WriteBehind``);
    every write committed when the block is left, even by an error or Ctrl-C.  A cache
    without a file (``Cache(None)``: nothing waits for a disk) is used as it is."""
    if cache.path is None:
        yield cache
        return
    writer = WriteBehind(cache)
    try:
        yield writer
    except BaseException:
        with contextlib.suppress(Exception):  # the block's own error comes first
            writer.close()
        raise
    writer.close()
