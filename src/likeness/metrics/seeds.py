"""The one check of a random seed, where it enters a public function: a whole number from 0
to 2³² − 1, as both of numpy's generators take it (``RandomState``, torch-fidelity's and
isc's, accepts nothing larger; ``default_rng`` nothing negative), numpy's integers included.
"""

from __future__ import annotations

import numbers
from typing import Any

from likeness.errors import InvalidInputError

__all__ = ["check_seed"]


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as a Python int (``name``: the argument, for the message).

    Raises:
        InvalidInputError: not a whole number (a bool, a float) or outside [0, 2³² − 1].
    """
    if (not isinstance(seed, numbers.Integral) or isinstance(seed, bool)
            or not 0 <= int(seed) < 2**32):
        raise InvalidInputError(f"{name} must be a whole number from 0 to 4294967295, got "
                                f"{seed!r}")
    return int(seed)
