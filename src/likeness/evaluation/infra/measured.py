"""Whether files are still those a run measured: the SHA-256 the run's own database
remembered for each (``Cache.measured_digests``) against their bytes now.  What shows a
run's values beside pictures of its files (the report, a study's analysis) checks them
first, so that it never pictures other files than the values measured."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from likeness.errors import LikenessError
from likeness.evaluation.infra.cache import Cache, file_digest

__all__ = ["RUN_DATABASE", "changed_since_the_run"]

RUN_DATABASE = "progress.sqlite"  # a results folder's own database: the hashes it measured


def changed_since_the_run(results_dir: Path, paths: Sequence[Path],
                          command: str = "the run's command") -> dict[Path, str]:
    """Of ``paths``, the files whose bytes are no longer those the run of the results
    folder ``results_dir`` measured, each with why, in the words of ``command``, the one
    that measures them again.  A file the run kept no hash of (or a database that is gone)
    is not judged; a file missing or unreadable now is left to whoever reads it to say."""
    database = results_dir / RUN_DATABASE
    if not database.is_file():
        return {}
    with Cache(database) as run:
        measured = run.measured_digests(paths)
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
