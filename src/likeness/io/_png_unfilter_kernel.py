"""PNG's scanline filters undone, compiled with numba (``likeness.io.plain_png``)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def unfilter(data, height, stride, bpp):  # pragma: no cover - compiled
    """The (height, stride) bytes of an image from its inflated scanlines (a filter-type
    byte, then ``stride`` filtered bytes, per row; ``bpp``: bytes per pixel), or an empty
    array when a row names no filter type of the standard (0–4)."""
    out = np.empty((height, stride), dtype=np.uint8)
    zero = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        start = y * (stride + 1) + 1
        kind = data[start - 1]
        row = out[y]
        above = out[y - 1] if y > 0 else zero
        if kind == 0:
            for x in range(stride):
                row[x] = data[start + x]
        elif kind == 1:  # each channel its own chain, its left byte held in a register
            for c in range(bpp):
                left = np.int32(0)
                for x in range(c, stride, bpp):
                    left = (np.int32(data[start + x]) + left) & 255
                    row[x] = left
        elif kind == 2:
            for x in range(stride):
                row[x] = (np.int32(data[start + x]) + above[x]) & 255
        elif kind == 3:
            for c in range(bpp):
                left = np.int32(0)
                for x in range(c, stride, bpp):
                    left = (np.int32(data[start + x]) + ((left + np.int32(above[x])) >> 1)) & 255
                    row[x] = left
        elif kind == 4:
            if bpp == 3 or bpp == 4:
                _paeth_row_interleaved(row, above, data, start, stride, bpp)
            else:
                for c in range(bpp):
                    left = np.int32(0)
                    corner = np.int32(0)
                    for x in range(c, stride, bpp):
                        up = np.int32(above[x])
                        left = (np.int32(data[start + x]) + _paeth(left, up, corner)) & 255
                        row[x] = left
                        corner = up
        else:
            return np.empty((0, 0), dtype=np.uint8)
    return out


@njit(cache=True, nogil=True, inline="always")
def _paeth(left, up, corner):  # pragma: no cover - compiled
    """Paeth's predictor, with the standard's order of ties, without branches."""
    to_left = abs(up - corner)  # |estimate - left|, estimate = left + up - corner
    to_up = abs(left - corner)
    to_corner = abs(left + up - 2 * corner)
    second = up if to_up <= to_corner else corner
    return left if (to_left <= to_up) & (to_left <= to_corner) else second


@njit(cache=True, nogil=True)
def _paeth_row_interleaved(row, above, data, start, stride, bpp):  # pragma: no cover
    """A Paeth row of 3- or 4-byte pixels, the channels' chains interleaved (each
    channel's left byte depends on the one before it: one channel at a time would leave
    the processor waiting on each)."""
    l0 = l1 = l2 = l3 = np.int32(0)
    c0 = c1 = c2 = c3 = np.int32(0)
    for x in range(0, stride, bpp):
        u0 = np.int32(above[x])
        u1 = np.int32(above[x + 1])
        u2 = np.int32(above[x + 2])
        l0 = (np.int32(data[start + x]) + _paeth(l0, u0, c0)) & 255
        l1 = (np.int32(data[start + x + 1]) + _paeth(l1, u1, c1)) & 255
        l2 = (np.int32(data[start + x + 2]) + _paeth(l2, u2, c2)) & 255
        row[x] = l0
        row[x + 1] = l1
        row[x + 2] = l2
        c0, c1, c2 = u0, u1, u2
        if bpp == 4:
            u3 = np.int32(above[x + 3])
            l3 = (np.int32(data[start + x + 3]) + _paeth(l3, u3, c3)) & 255
            row[x + 3] = l3
            c3 = u3
