"""The environment variables that switch likeness's routes, each read one way: on with
``1``, ``true``, ``yes`` or ``on``, off with ``0``, ``false``, ``no`` or ``off`` (any case),
the default when unset or empty — and a value that is none of these refused, not guessed
(``LIKENESS_OFFLINE=false`` was taken as set: offline)."""

from __future__ import annotations

import os

from likeness.errors import LikenessError

__all__ = ["SWITCHES", "check_switches", "switch"]

# each switch, and what it does when set (docs/weights.md, docs/speed.md, docs/workflows)
SWITCHES = {
    "LIKENESS_OFFLINE": "forbids downloading checkpoints",
    "LIKENESS_WINOGRAD": "0 runs every convolution directly (no Winograd)",
    "LIKENESS_COMPILED": "1 takes the compiled kernels at once, 0 never (unset: when they pay)",
    "LIKENESS_MALLOC_TUNING": "0 leaves glibc's allocator as it is",
}
_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")


def switch(name: str) -> bool | None:
    """Whether the switch ``name`` is on (True), off (False) or unset (None).

    Raises:
        LikenessError: its value is none of the words a switch takes.
    """
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if not value:
        return None
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise LikenessError(f"{name}={raw!r} is not a switch: set it to 1 or 0 (or true/false, "
                        f"yes/no, on/off), or unset it ({name}: {SWITCHES.get(name, '')})")


def check_switches() -> None:
    """Refuse, before a command starts, any switch set to a value it does not take.

    Raises:
        LikenessError: naming the variable.
    """
    for name in SWITCHES:
        switch(name)
