"""Streaming a checkpoint over HTTP without ever waiting forever.

A socket timeout alone bounds each read, not the download: a server (or a captive proxy)
that sends one byte every 59 seconds keeps a 60-second timeout happy for ever.  So the
transfer also has a lowest speed, as ``curl --speed-limit --speed-time`` has: fewer than
``SLOWEST_BYTES_PER_SECOND`` over any ``STALL_SECONDS`` ends it with an error, and so does a
reply whose headers have not all arrived within ``STALL_SECONDS``.  A process that waits for
another's download of the same file (``download_lock``) says so on its run's progress bar.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["SLOWEST_BYTES_PER_SECOND", "STALL_SECONDS", "TransferFailed", "download_lock",
           "stream"]

STALL_SECONDS = 60.0
SLOWEST_BYTES_PER_SECOND = 1024
_BLOCK = 1 << 20


class TransferFailed(Exception):
    """The network side of a download failed; the message says how."""


def stream(url: str) -> Iterator[tuple[bytes, int | None]]:
    """The blocks of ``url``'s body, each with the length the server announced.

    Raises:
        TransferFailed: no connection, an HTTP error, a stall (no byte, or too few, for
            ``STALL_SECONDS``) or a body shorter than announced.
    """
    stall = STALL_SECONDS
    least = SLOWEST_BYTES_PER_SECOND * stall
    done = 0
    try:
        with _open_within(url, stall) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            window_start, window_bytes = time.monotonic(), 0
            while block := response.read1(_BLOCK):
                done += len(block)
                window_bytes += len(block)
                now = time.monotonic()
                if now - window_start >= stall:
                    if window_bytes < least:
                        raise TransferFailed(
                            f"the server sent {window_bytes} bytes in {now - window_start:.0f} "
                            f"s, slower than {SLOWEST_BYTES_PER_SECOND} bytes/s; stopped after "
                            f"{done} bytes")
                    window_start, window_bytes = now, 0
                yield block, total
    except TransferFailed:
        raise
    except TimeoutError:
        raise TransferFailed(f"nothing arrived for {stall:.0f} s; stopped after {done} "
                             "bytes") from None
    except http.client.RemoteDisconnected:
        raise TransferFailed("the server closed the connection without a reply") from None
    except http.client.BadStatusLine as error:
        raise TransferFailed(f"the reply is not HTTP: it began {str(error).strip()[:60]!r}"
                             ) from None
    except http.client.HTTPException as error:
        raise TransferFailed(f"the reply broke off after {done} bytes "
                             f"({type(error).__name__})") from None
    except urllib.error.HTTPError as error:
        error.close()  # it holds the reply's connection (a ResourceWarning when collected)
        raise TransferFailed(f"the server answered HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise TransferFailed(_unreached(url, error.reason)) from None
    except (OSError, ValueError) as error:
        raise TransferFailed(str(error)) from None
    if total is not None and done != total:
        raise TransferFailed(f"interrupted after {done} of {total} bytes")


def _unreached(url: str, reason: object) -> str:
    """Why ``url``'s server could not be reached, in words ("<urlopen error [Errno -2] Name
    or service not known>" was the message of a machine offline)."""
    host = urllib.parse.urlsplit(url).netloc or url
    if isinstance(reason, socket.gaierror):
        return (f"the name {host} cannot be resolved ({reason.strerror or reason}): this "
                "machine is offline, or the address is wrong")
    if isinstance(reason, ConnectionRefusedError):
        return f"{host} refused the connection: no server listens there"
    if isinstance(reason, TimeoutError):
        return f"{host} did not answer within {STALL_SECONDS:.0f} s"
    if isinstance(reason, OSError) and reason.strerror:
        return f"{host} cannot be reached ({reason.strerror})"
    return f"{host} cannot be reached ({reason})"


def _open_within(url: str, seconds: float) -> http.client.HTTPResponse:
    """``urlopen(url)``, whose reply must have begun, headers complete, within ``seconds``.

    The socket timeout bounds each read of the headers, not all of them; so the opening
    runs in a helper thread, left behind when the server trickles them: it closes the
    reply it gets after that itself.
    """
    outcome: list[object] = []
    settled = threading.Lock()  # the reply is taken, or given up on, once

    def open_url() -> None:
        try:
            reply: object = urllib.request.urlopen(url, timeout=seconds)  # noqa: S310
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            reply = error
        with settled:
            if outcome:  # given up on
                # a reply (HTTP, file://), or an HTTP error, which holds one
                if isinstance(reply, urllib.error.HTTPError) or not isinstance(
                        reply, BaseException):
                    reply.close()  # type: ignore[attr-defined]
                return
            outcome.append(reply)

    opener = threading.Thread(target=open_url, name="likeness-download", daemon=True)
    opener.start()
    opener.join(seconds)
    with settled:
        if not outcome:
            outcome.append(None)
            raise TransferFailed(f"the server's reply had not begun within {seconds:.0f} s")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]  # type: ignore[return-value]


@contextmanager
def download_lock(target: Path,
                  waiting: Callable[[str, int, int], None] | None = None) -> Iterator[None]:
    """The file lock of ``target``'s download.  Another process that holds it is downloading
    the same file: ``waiting`` (a run's progress) then hears the stage ``"download FILE
    (another process is downloading it)"``, so that the wait is not silent."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(target) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        label = f"download {target.name} (another process is downloading it)"
        if waiting is not None:
            waiting(label, 0, 0)
        lock.acquire()
        if waiting is not None:  # the wait is over: its line full, not pulsing on
            size = target.stat().st_size if target.is_file() else 1
            waiting(label, size, size)
    try:
        yield
    finally:
        lock.release()
