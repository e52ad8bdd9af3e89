"""Cached values read back: a damaged entry (a disk's error, an edit, a value another
version wrote under the same name by mistake) is computed again, never shown, never a
crash — SQLite finds damaged pages (``Cache`` moves such a database aside), not a value
whose bytes are whole but wrong in form."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import TypeVar

from likeness.arguments import outside_stacklevel
from likeness.evaluation.infra.cache import CacheWarning
from likeness.wording import counted

__all__ = ["decoded"]

T = TypeVar("T")


def decoded(values: Mapping[str, bytes], decode: Callable[[bytes], T],
            what: str) -> dict[str, T]:
    """The cached ``values`` that ``decode`` reads; one it cannot is left out — computed
    again — with one ``CacheWarning`` saying how many."""
    read: dict[str, T] = {}
    for key, value in values.items():
        try:
            read[key] = decode(value)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError):
            continue  # JSON and Unicode errors are ValueErrors; JSON nested past Python's stack
    if len(read) < len(values):
        damaged = len(values) - len(read)
        warnings.warn(f"{counted(damaged, 'cached value')} of {what} could not be read (a "
                      "damaged cache entry): computed again", CacheWarning,
                      stacklevel=outside_stacklevel())
    return read
