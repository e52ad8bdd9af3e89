"""The exceptions likeness raises on bad input, in one small tree.

::

    LikenessError                 base of every error likeness raises on purpose
    ├── ImageLoadError            a file could not be decoded into a trustworthy array
    ├── PairingError              files could not be paired unambiguously
    ├── ImageMismatchError        two images cannot be compared as they are (size, channels)
    ├── ImageTooSmallError        an image is too small for a metric
    ├── InvalidInputError         a tensor, array or argument a function cannot take (shape,
    │   │                         dtype, non-finite or out-of-range values, data range)
    │   └── InvalidInputTypeError also a TypeError: not a tensor, a boolean tensor, ...
    ├── WeightsError              a checkpoint is missing, fails verification or does not fit
    └── StorageError              a cache or results file cannot be read or written (full
                                  disk, read-only folder, a path that is not a file)

``DecisionWarning`` (a ``UserWarning``) says a decision where a function returns values
alone.

``LikenessError`` derives from ``ValueError`` so that code written against scikit-image,
which raises ``ValueError`` for bad input, keeps working.

Messages name Python arguments (``gray=True``); the command line names its options
instead.  A message that is stored (a row's error in ``per_image.csv``, ``run.json``,
``methods.md``) is written once, in the words of the interface the run was started from:
the command line runs its commands inside ``callers_words(cli_words)``, and the library
passes each stored message through ``in_callers_words``.  The warnings a run gives are
recorded with it (``recording_warnings``).
"""

from __future__ import annotations

import errno
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_TRANSLATION: ContextVar[Callable[[str], str] | None] = ContextVar("likeness_words",
                                                                     default=None)


@contextmanager
def callers_words(translate: Callable[[str], str]) -> Iterator[None]:
    """Within this block, stored messages are put in the caller's words by ``translate``
    (the command line's: its options instead of Python arguments)."""
    token = _TRANSLATION.set(translate)
    try:
        yield
    finally:
        _TRANSLATION.reset(token)


def in_callers_words(text: str) -> str:
    """``text`` in the words of the interface the caller uses (unchanged from Python)."""
    translate = _TRANSLATION.get()
    return text if translate is None else translate(text)


_PILLOW_LARGE_IMAGE = r"Image size \(\d+ pixels\) exceeds limit of \d+ pixels"


@contextmanager
def recording_warnings() -> Iterator[dict[str, type[Warning]]]:
    """Within this block, warnings are recorded (message → category, each once), for a
    run's record and the terminal: every category but those Python itself hides by default,
    ``DeprecationWarning`` and ``PendingDeprecationWarning`` — meant for whoever maintains
    the code calling a deprecated interface (a library, likeness), nothing a run's user can
    act on (Python 3.12's warning that a process with threads forks, say)."""
    recorded: dict[str, type[Warning]] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        # Pillow's decompression-bomb warning names no file: the decoder records it as the
        # file's decision (``likeness.io.decode``)
        warnings.filterwarnings("ignore", _PILLOW_LARGE_IMAGE)
        try:
            yield recorded
        finally:
            recorded.update({str(w.message): w.category for w in caught})


class LikenessError(ValueError):
    """Base class of every error likeness raises on bad input."""


class ImageLoadError(LikenessError):
    """A file could not be decoded into a trustworthy pixel array."""


class PairingError(LikenessError):
    """Reference and test files could not be paired unambiguously."""


class ImageMismatchError(LikenessError):
    """Two images differ in a way that a metric cannot bridge without a user decision."""


class ImageTooSmallError(LikenessError):
    """An image is smaller than a metric needs."""


class UnsupportedImageError(LikenessError):
    """An image is of a kind a metric is not defined for (FSIMc of a gray image)."""


class InvalidInputError(LikenessError):
    """A tensor, array or argument that a function cannot take: wrong shape or dtype,
    NaN or infinite values, values outside [0, data_range], a data range that is not a
    finite positive number."""


class InvalidInputTypeError(InvalidInputError, TypeError):
    """An argument of the wrong type (a list where a tensor is needed, a boolean tensor);
    also a ``TypeError``, as Python code expects."""


class WeightsError(LikenessError):
    """A network checkpoint is missing, fails verification, or does not fit the network."""


class StorageError(LikenessError):
    """A cache database or a results file cannot be read or written."""


class DecisionWarning(UserWarning):
    """A decision taken on the user's behalf (a 16-bit file of 8-bit values, a palette
    expanded, a file holding another format than its name says), said where a function
    returns values alone (``compare_files``) and has no notes to carry it."""


class ScaleWarning(UserWarning):
    """Images whose values suggest another scale than the ``data_range`` passed: all of
    them within [0, 1] with ``data_range=255``, the usual slip (a ``ToTensor`` image with
    8-bit's range).  The value is computed as asked; the warning says what it means."""


# a failed write's advice by its cause (no file can be made at /proc/x or /dev/null/x)
_WRITE_ADVICE = {**dict.fromkeys((errno.ENOSPC, errno.EDQUOT), "free some space"),
                 **dict.fromkeys((errno.EACCES, errno.EPERM), "make the folder writable"),
                 errno.EROFS: "its disk is read-only: choose another place",
                 **dict.fromkeys((errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG,
                                  errno.ELOOP), "this path cannot hold it: choose another place")}


def write_advice(error: OSError) -> str:
    """What to do where a file could not be written, by the cause ``error`` gives."""
    return _WRITE_ADVICE.get(error.errno or 0, "check the disk, or choose another place")


def interruption(error: BaseException) -> BaseException | None:
    """The Ctrl-C or stop signal behind ``error``, or None.  A signal's exception raised
    while a compiled extension runs (numba's dispatcher, between FSIM's kernels) comes back
    wrapped: "SystemError: CPUDispatcher(…) returned a result with an exception set", the
    KeyboardInterrupt (or the SystemExit of a SIGTERM handler) at the end of its causes."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt | SystemExit):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def raise_interruption(error: BaseException) -> None:
    """Raise the Ctrl-C or stop signal behind ``error`` (``interruption``), if any: a run
    that catches a metric's failure must stop on it, never record it as the item's error
    and go on."""
    interrupt = interruption(error)
    if interrupt is not None:
        raise interrupt


def describe_failure(error: BaseException) -> str:
    """A failure as a row error: likeness's own message, or the exception's type and
    message for anything else (a metric must never end a run with a traceback).  A Ctrl-C
    or stop signal behind ``error`` is raised instead (``raise_interruption``)."""
    raise_interruption(error)
    if isinstance(error, LikenessError):
        return str(error)
    return f"{type(error).__name__}: {error}"
