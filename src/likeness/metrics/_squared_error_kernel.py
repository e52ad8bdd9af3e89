"""Exact sum of squared differences of two integer images, compiled with numba.

For integer images scikit-image's MSE averages exact integer squares in float64; while the
total stays below 2**53 every partial sum is exact, so ``total / n`` is bit-identical to
``np.mean(diff**2, dtype=np.float64)`` — in one parallel pass without float temporaries.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

EXACT_LIMIT = 2**53


@njit(parallel=True, cache=True, nogil=True)
def squared_error_sum(x, y):  # pragma: no cover - compiled
    """Σ (x − y)² over two flat integer arrays of one length, in int64."""
    n = x.shape[0]
    chunks = 64
    partial = np.zeros(chunks, dtype=np.int64)
    step = (n + chunks - 1) // chunks
    for chunk in prange(chunks):
        total = 0
        for i in range(chunk * step, min(n, (chunk + 1) * step)):
            d = np.int64(x[i]) - np.int64(y[i])
            total += d * d
        partial[chunk] = total
    return partial.sum()
