"""Which folders a run may write its results into, and what ``overwrite`` may remove.

A results folder belongs to likeness when its ``run.json`` is one likeness wrote (it
names ``likeness_version``) and its ``progress.sqlite``, if any, is likeness's database.
Then a run with equal settings resumes there; a run with other settings is refused unless
``overwrite=True``, which removes only the files that run's record lists (``files``) and
its database.  A folder holding another tool's ``run.json`` or database is refused, with
or without ``overwrite``; a folder holding other files but no run takes a new run only
with ``overwrite=True`` and only when none of those files bears the name of a file the run
writes (a ``references.bib`` of the user's is never replaced).  No file of a run is
written through a symbolic link: links planted in the folder are refused, and every file
is written to a fresh temporary file and renamed over its name.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from likeness.documents import NotAFileError, file_text, json_document
from likeness.errors import LikenessError, StorageError
from likeness.evaluation.infra.measured import RUN_DATABASE
from likeness.io import unreadable

__all__ = ["OWNED_FILES", "RUN_DATABASE", "RUN_FILES", "check_out_dir", "holding"]

RUN_FILES = ("per_image.csv", "summary.csv", "summary.md", "summary.tex", "comparisons.csv",
             "references.bib", "methods.md", "run.json")
# every name a run (and its report) writes in the folder: what run.json lists as its own
OWNED_FILES = (*RUN_FILES, "report.html", RUN_DATABASE, f"{RUN_DATABASE}-wal",
               f"{RUN_DATABASE}-shm")
_CACHE_TABLES = {"entries", "file_stamps"}


def _foreign(out_dir: Path, why: str) -> LikenessError:
    return LikenessError(f"{out_dir} holds {why}, which likeness did not write; choose "
                         "another folder for the results")


def _read_record(out_dir: Path) -> dict[str, Any] | None:
    """The folder's run record if likeness wrote it, None if there is none.

    Raises:
        LikenessError: a run.json that is not likeness's.
    """
    path = out_dir / "run.json"
    if not path.exists() and not path.is_symlink():
        return None
    text = ""
    try:
        text = file_text(path, errors="replace")
    except NotAFileError as error:  # a FIFO, a folder… in its place
        raise LikenessError(f"{error}: remove it, or choose another folder for the "
                            "results") from None
    except OSError as error:
        if path.is_file():  # no permission: whose it is cannot be told
            raise LikenessError(f"{unreadable(path, error)}: make it readable, or choose "
                                "another folder for the results") from None
    try:
        record = json_document(text)
    except ValueError:
        if text.startswith('{\n "likeness_version"'):  # ours, cut short (a full disk)
            return {"likeness_version": "unknown", "status": "damaged"}
        record = None
    if not isinstance(record, dict) or "likeness_version" not in record:
        raise _foreign(out_dir, "a run.json")
    return record


def is_likeness_database(path: Path) -> bool:
    """Whether ``path`` is a database likeness made (its tables and no others)."""
    try:
        # a URI from the path (a name with '?' or '#' stays a name), read-only
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            names = {row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            connection.close()
    except sqlite3.Error:
        return False
    return names <= _CACHE_TABLES


def _check_links(out_dir: Path) -> None:
    for name in OWNED_FILES:
        if (out_dir / name).is_symlink():
            raise LikenessError(f"{out_dir / name} is a symbolic link; likeness never writes "
                                "results through a link: remove it, or choose another folder")


def _remove_owned(out_dir: Path, record: dict[str, Any]) -> None:
    """Remove the files a likeness run record lists (older records: the run's files), and
    its database's journal files."""
    listed = record.get("files", OWNED_FILES)
    names = [*(listed if isinstance(listed, list) else []), f"{RUN_DATABASE}-wal",
             f"{RUN_DATABASE}-shm"]
    for name in names:
        if name in OWNED_FILES:  # never a name the record could smuggle in (../x)
            (out_dir / name).unlink(missing_ok=True)


@contextmanager
def holding(out_dir: Path) -> Iterator[None]:
    """``out_dir`` made and held by this run alone: another run asking for it meanwhile
    is refused (an advisory lock on the folder itself — no file added —, released when the
    run ends or its process dies; where the system or the filesystem has no such locks,
    runs are not kept apart, as before).

    Raises:
        LikenessError: another likeness run holds the folder.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        fcntl = None  # type: ignore[assignment]
    handle = None
    try:
        if fcntl is not None and not (out_dir.exists() and not out_dir.is_dir()):
            out_dir.mkdir(parents=True, exist_ok=True)
            handle = os.open(out_dir, os.O_RDONLY)
    except OSError:  # a file, a name too long, no permission: the run's check says so next
        pass
    if handle is None:
        yield
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LikenessError(f"{out_dir}: another likeness run is writing its results "
                                "there; let it finish, or choose another out_dir") from None
        except OSError:  # a filesystem without locks
            pass
        yield
    finally:
        os.close(handle)


def check_out_dir(out_dir: Path, settings: dict[str, Any], overwrite: bool) -> None:
    """Refuse a results folder the run must not write into, or clear it (module docs).

    Raises:
        LikenessError: the folder holds another run (without ``overwrite``), another
            tool's files, the user's files under the run's names, or links.
        StorageError: the path cannot be examined (a name too long, a permission).
    """
    try:
        _check(out_dir, settings, overwrite)
    except OSError as error:
        raise StorageError(f"{out_dir}: cannot use it as the results folder "
                           f"({error.strerror or error}); choose another out_dir") from None


def _check(out_dir: Path, settings: dict[str, Any], overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise LikenessError(f"{out_dir} is a file, not a folder; choose a folder for the "
                            "results")
    if not out_dir.is_dir():
        return
    if not os.access(out_dir, os.W_OK):  # (its database could not be read either)
        raise StorageError(f"cannot write into {out_dir} (no permission, or a read-only "
                           "disk): make the folder writable, or choose another folder for "
                           "the results")
    _check_links(out_dir)
    record = _read_record(out_dir)
    database = out_dir / RUN_DATABASE
    if database.exists() and not is_likeness_database(database):
        raise _foreign(out_dir, f"a {RUN_DATABASE}")
    if record is None:
        present = [p.name for p in out_dir.iterdir()]
        taken = sorted(set(present) & set(OWNED_FILES))
        if taken:
            raise LikenessError(f"{out_dir} holds {', '.join(taken)} but no likeness run: "
                                "likeness never replaces files it did not write; choose an "
                                "empty or new folder")
        if present and not overwrite:
            raise LikenessError(f"{out_dir} is not empty and holds no likeness run; choose an "
                                "empty or new folder, or pass overwrite=True to write the "
                                "results beside its files")
        return
    previous = record.get("settings")
    if previous == settings:
        return  # the same run: it resumes
    if _computed_nothing(out_dir, record):
        # an earlier run that computed nothing (missing weights, say) has nothing to
        # protect: the new run takes the folder
        _remove_owned(out_dir, record)
        return
    if not overwrite:
        if not isinstance(previous, dict):
            raise LikenessError(f"{out_dir} holds a likeness run whose run.json cannot be "
                                "read (damaged, cut short or edited): pass overwrite=True to "
                                "replace it, or choose another out_dir")
        changed = sorted(k for k in set(settings) | set(previous)
                         if previous.get(k) != settings.get(k))
        raise LikenessError(
            f"{out_dir} holds a run with other settings (differing: {', '.join(changed)}); "
            "pass overwrite=True to replace it, or choose another out_dir")
    _remove_owned(out_dir, record)


def _computed_nothing(out_dir: Path, record: dict[str, Any]) -> bool:
    """Whether the run recorded in ``out_dir`` ended without a value to lose: it failed, or
    completed with every metric failing (missing weights, say), and its database holds no
    value either.  A complete run's tables are judged by its record: values the run read
    from the user cache are not copied into its database."""
    status = record.get("status")
    if status not in ("failed", "interrupted", "complete"):
        return False  # running: maybe now, in another process
    if status == "complete" and _tables_hold_values(record):
        return False
    database = out_dir / RUN_DATABASE
    if not database.is_file():
        return True
    from likeness.evaluation.infra.cache import Cache

    try:
        with Cache(database) as progress:
            return progress.is_empty()
    except LikenessError:
        return False


def _tables_hold_values(record: dict[str, Any]) -> bool:
    """Whether a complete run's tables hold a value: its count of them, or (a record
    written before they were counted) a metric not failing everywhere."""
    counted = record.get("values_computed")
    if isinstance(counted, int) and not isinstance(counted, bool):
        return counted > 0
    settings, failures = record.get("settings"), record.get("metric_failures")
    metrics = settings.get("metrics") if isinstance(settings, dict) else None
    if not isinstance(metrics, list) or not isinstance(failures, dict):
        return True  # cannot tell: kept
    return any(not isinstance(failures.get(m), dict) or failures[m].get("computed") != 0
               for m in metrics)
