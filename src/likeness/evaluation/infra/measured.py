"""Whether files are still those a run measured: the SHA-256 the run's own database
remembered for each, against their bytes now.  What shows a run's values beside pictures
of its files (the report, a study's analysis) checks them first, so that it never
pictures other files than the values measured."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from likeness.errors import LikenessError
from likeness.evaluation.infra.cache import file_digest, remembered_in
from likeness.io import path_key, resolved_paths

__all__ = ["RUN_DATABASE", "changed_since_the_run"]

RUN_DATABASE = "progress.sqlite"  # a results folder's own database: the hashes it measured


def changed_since_the_run(results_dir: Path, paths: Sequence[Path],
                          command: str = "the run's command") -> dict[Path, str]:
    """Of ``paths``, the files whose bytes are no longer those the run of the results
    folder ``results_dir`` measured, each with why, in the words of ``command``, the one
    that measures them again.  A file the run kept no hash of (or a database that is gone)
    is not judged; a file missing or unreadable now is left to whoever reads it to say."""
    measured = _measured_digests(results_dir / RUN_DATABASE, paths)
    changed = {}
    for path, digest in measured.items():
        try:
            now = file_digest(path)
        except (LikenessError, OSError):
            continue
        if now != digest:
            changed[path] = (f"{path} changed since the run measured it (its SHA-256 is not "
                             f"the one measured): run {command} again to measure it as it is")
    return changed


def _measured_digests(database: Path, paths: Sequence[Path]) -> dict[Path, str]:
    """The hashes ``database`` remembers for ``paths`` (by their real paths), read without
    writing a byte (a results folder may be read-only, or another user's); none where it
    is missing or cannot be read."""
    if not database.is_file():
        return {}
    keys = {path: path_key(real) for path, real in resolved_paths(paths).items()}
    # read-only; "immutable" where SQLite cannot even make a read-only WAL's index there
    for option in ("mode=ro", "immutable=1"):
        try:
            connection = sqlite3.connect(f"{database.resolve().as_uri()}?{option}", uri=True)
            try:
                found = remembered_in(connection, list(dict.fromkeys(keys.values())))
            finally:
                connection.close()
        except sqlite3.Error:
            continue
        return {path: found[key][2] for path, key in keys.items() if key in found}
    return {}
