"""Where a cache database lives, and what it must never touch: the default path, a
folder it can be made in, and no file of another kind taken for it."""

from __future__ import annotations

import os
from pathlib import Path

from likeness.documents import open_file
from likeness.errors import StorageError
from likeness.io import IMAGE_EXTENSIONS, sniff_format

__all__ = ["check_cache_location", "default_cache_path", "refuse_a_file_of_another_kind",
           "storage_advice"]

_ELSEWHERE = ("choose another cache file with cache=PATH (or $LIKENESS_CACHE_DIR), or run "
              "without one: cache=False")


def default_cache_path() -> Path:
    """``$LIKENESS_CACHE_DIR/cache.sqlite``; else ``$XDG_CACHE_HOME/likeness/cache.sqlite``;
    else ``~/.cache/likeness/cache.sqlite``."""
    folder = os.environ.get("LIKENESS_CACHE_DIR")
    if folder:
        return Path(folder).expanduser() / "cache.sqlite"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "likeness" / "cache.sqlite"


def check_cache_location(path: Path) -> None:
    """Make the cache's folder; refuse a path named as an image (a folder scan would read
    the database as one) and one that is a folder or a special file.

    Raises:
        StorageError: saying what to do.
    """
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError(f"cannot create the cache folder {parent} "
                           f"({error.strerror or error}); {_ELSEWHERE}") from None
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        raise StorageError(f"the cache path {path} ends in {path.suffix}, an image's "
                           f"extension (cache.sqlite, say, is a database's); {_ELSEWHERE}")
    if os.path.lexists(path) and not path.is_file():
        raise StorageError(f"the cache path {path} is not a file (it is a folder or a special "
                           f"file); remove it, or {_ELSEWHERE}")


def refuse_a_file_of_another_kind(path: Path) -> None:
    """Refuse to set aside and replace a file that is no database — neither SQLite's header
    nor a database's name: someone's image, table or checkpoint given as the cache by
    mistake (a damaged cache keeps one of the two).

    Raises:
        StorageError: naming what the file is, where its first bytes say.
    """
    with open_file(path) as handle:  # (a FIFO would block the read for ever)
        header = handle.read(64)
    if header.startswith(b"SQLite format 3\x00") or path.suffix.lower() in (
            ".sqlite", ".sqlite3", ".db"):
        return
    kind = sniff_format(header)
    raise StorageError(f"the cache path {path} is not a cache database"
                       + (f" (it is a {kind} file)" if kind else "")
                       + f"; likeness leaves it as it is: {_ELSEWHERE}")


def storage_advice(message: str, results_folder: bool) -> str:
    """What to do where SQLite could not open or write a cache (``message``, its error) —
    for a results folder's own database (``progress.sqlite``) in the words of ``out_dir``:
    no cache option moves that one, and running without a cache keeps it."""
    if "full" in message:
        elsewhere = ("choose another out_dir" if results_folder
                     else "move the cache (cache=PATH or $LIKENESS_CACHE_DIR)")
        return (f"free some space, or {elsewhere}; what was computed so far is kept and a "
                "re-run resumes")
    if "readonly" in message or "read-only" in message or "unable to open" in message:
        return ("make the folder and its files writable, or choose another out_dir"
                if results_folder else
                f"make the file and its folder writable, or {_ELSEWHERE}")
    if "locked" in message:
        return ("another process holds it locked; wait for it, or choose another "
                + ("out_dir" if results_folder else "cache"))
    return ("delete it (the run then starts over), or choose another out_dir"
            if results_folder else f"delete it, or {_ELSEWHERE}")
