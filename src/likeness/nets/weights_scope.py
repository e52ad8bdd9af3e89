"""What a caller's block tells the checkpoint resolver (``likeness.nets.weights``): how the
files in use are hashed (a run's cache), how the caller passes a file (for messages),
which downloads already failed in this run (not fetched again), and where a run's
downloads report their progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TypeVar

_Value = TypeVar("_Value")

__all__ = ["download_progress", "downloading_once", "failed_downloads", "hashing_by",
           "passing_weights_as", "reporting_downloads", "weights_argument", "weights_hasher"]

# how a checkpoint file in use is hashed: by a run's cache (``hashing_by``), else plainly
_HASHER: ContextVar[Callable[[Path], str] | None] = ContextVar("likeness_weights_hasher",
                                                                default=None)
# how the caller passes a checkpoint file, for messages: the runs' ``weights=`` mapping by
# default; a class or function that takes one file names its own argument
_WEIGHTS_ARGUMENT: ContextVar[str | None] = ContextVar("likeness_weights_argument",
                                                        default=None)
# a run's failed downloads (``downloading_once``): checkpoint name → the error's message
_FAILED_DOWNLOADS: ContextVar[dict[str, str] | None] = ContextVar(
    "likeness_failed_downloads", default=None)
# a run's progress callback, for its downloads (``reporting_downloads``)
_DOWNLOAD_PROGRESS: ContextVar[Callable[[str, int, int], None] | None] = ContextVar(
    "likeness_download_progress", default=None)


@contextmanager
def _set_within(variable: ContextVar[_Value], value: _Value) -> Iterator[None]:
    """``variable`` is ``value`` within this block, as it was again after it."""
    token = variable.set(value)
    try:
        yield
    finally:
        variable.reset(token)


def hashing_by(hasher: Callable[[Path], str]) -> AbstractContextManager[None]:
    """Within this block, the checkpoint files a run resolves are hashed by ``hasher``: the
    run's cache's ``Cache.digest``, which remembers a file's SHA-256 from one run to the
    next by its path and stamp, as it does its images' (hashing VGG-19's 548 MB takes 0.35 s
    here). ``likeness weights verify`` and imports always hash the file."""
    return _set_within(_HASHER, hasher)


def weights_hasher() -> Callable[[Path], str] | None:
    """The enclosing ``hashing_by``'s hasher, if any."""
    return _HASHER.get()


def passing_weights_as(argument: str) -> AbstractContextManager[None]:
    """Messages inside this block tell the user to pass a checkpoint file as ``argument``
    (e.g. ``backbone_weights=PATH``), unless an enclosing block already said how: a run
    that builds an ``LPIPS`` takes its files through ``weights={NAME: PATH}``."""
    return _set_within(_WEIGHTS_ARGUMENT, _WEIGHTS_ARGUMENT.get() or argument)


def weights_argument(default: str = "weights={'NAME': PATH}") -> str:
    """How the caller passes a checkpoint file (``passing_weights_as``), else ``default``."""
    return _WEIGHTS_ARGUMENT.get() or default


def downloading_once() -> AbstractContextManager[None]:
    """Within this block (a run), a checkpoint whose download failed is not fetched again:
    its error is raised again.  A run resolves a checkpoint in several places (its cache
    keys, its network, its record), and each fetched a failing download anew — hundreds of
    megabytes that failed their hash, or minutes of a stalled mirror, twice."""
    return _set_within(_FAILED_DOWNLOADS, {})


def failed_downloads() -> dict[str, str] | None:
    """The enclosing ``downloading_once``'s failed downloads (name → message), to read and
    add to; None outside any."""
    return _FAILED_DOWNLOADS.get()


def reporting_downloads(progress: Callable[[str, int, int], None] | None
                        ) -> AbstractContextManager[None]:
    """Within this block, a checkpoint download reports to a run's ``progress`` as the
    stage ``"download FILE"``, in bytes (a total of 0: the server did not say): the first
    run downloads hundreds of megabytes, and its bar of pairs stood at 0 meanwhile."""
    return _set_within(_DOWNLOAD_PROGRESS, progress)


def download_progress() -> Callable[[str, int, int], None] | None:
    """The enclosing ``reporting_downloads``'s callback, if any."""
    return _DOWNLOAD_PROGRESS.get()
