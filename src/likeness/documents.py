"""Files likeness reads back and the JSON documents among them.

Every file a user names or a folder holds (a results folder's ``run.json`` and tables, a
study's manifest, handouts and answers, a CSV, a prompt, a statistics file) is opened
without blocking and read only if it is a regular file (``open_file``, ``file_bytes``,
``file_text``): a FIFO in its place would block the run for ever, ``/dev/zero`` never
end.  JSON documents (``run.json``, a study's manifest, handouts and exports) are parsed,
and refused past a depth none of them reaches: Python's parser raises ``RecursionError``
past ~1,000 levels and its encoder (a record's digest) sooner, which no reader took for a
damaged file."""

from __future__ import annotations

import json
import os
import stat
from typing import Any, BinaryIO

__all__ = ["MAX_DEPTH", "NotAFileError", "file_bytes", "file_text", "json_document",
           "open_file", "special_file_kind"]

_SPECIAL_FILES = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                  (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                  (stat.S_ISSOCK, "a socket"))


class NotAFileError(OSError):
    """A path to read is a folder, FIFO, device or socket, not a regular file (an
    ``OSError``: every reader's handling of a file it cannot read applies)."""


def special_file_kind(mode: int) -> str | None:
    """What a file of this ``st_mode`` is when it is not a regular file ("a FIFO (named
    pipe)", …), else None."""
    return next((kind for test, kind in _SPECIAL_FILES if test(mode)), None)


def open_file(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for reading in binary, if it is a regular file: opened without
    blocking (a FIFO opens at once) and checked on the open file, so that nothing between
    the check and the read can swap it.

    Raises:
        NotAFileError: a folder, FIFO, device or socket.
        OSError: missing, not readable.
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                         | getattr(os, "O_BINARY", 0))
    try:
        kind = special_file_kind(os.fstat(descriptor).st_mode)
        if kind is not None:
            raise NotAFileError(f"{os.fspath(path)}: {kind}, not a regular file; likeness "
                                "reads only regular files")
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def file_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the regular file ``path`` (``open_file``'s errors)."""
    with open_file(path) as handle:
        return handle.read()


def file_text(path: str | os.PathLike[str], encoding: str = "utf-8",
              errors: str = "strict") -> str:
    """The text of the regular file ``path``, its line ends kept as they are (as ``open``
    with ``newline=""`` gives them to the ``csv`` module).

    Raises:
        UnicodeDecodeError: not text in ``encoding``; as ``open_file``.
    """
    return file_bytes(path).decode(encoding, errors)

MAX_DEPTH = 64  # levels of lists and objects; likeness's own documents nest fewer than 10


def json_document(text: str | bytes) -> Any:
    """The JSON document ``text``.

    Raises:
        ValueError: not JSON (``json.JSONDecodeError``), or nested deeper than
            ``MAX_DEPTH`` levels: a file edited or damaged, not one likeness wrote.
    """
    try:
        document = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested past Python's stack") from None
    pending = [(document, 1)]
    while pending:  # (iterative: a recursive walk would fail where the parser did not)
        value, depth = pending.pop()
        if isinstance(value, dict | list) and depth > MAX_DEPTH:
            raise ValueError(f"JSON nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            pending.extend((each, depth + 1) for each in value.values())
        elif isinstance(value, list):
            pending.extend((each, depth + 1) for each in value)
    return document
