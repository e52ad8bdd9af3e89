"""Winograd's tile transforms, fused and parallel, compiled with numba (see nets/winograd.py).

Both kernels work on channels-last float32 arrays and on whole rows of tiles (one row per
parallel iteration).  Along the image's height a row of tiles shares its input lines, so
that half of each transform runs over whole lines (width × channels contiguous values, the
longest vectors there are); along the width it runs tile by tile over each pixel's
channels.  The input kernel reads the lines straight from the image (lines and columns
outside it are the convolution's zero padding) and applies Bᵀ_h · d · B_w; the output
kernel applies Aᵀ_h · M · A_w, adds the bias, optionally clips at zero (a fused ReLU) and
writes only the pixels inside the output.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Indices are unsigned in the inner loops: numba then skips its negative-index wrap-around,
# which otherwise keeps LLVM from vectorising them (measured 5× slower).
_index = np.uint64


@njit(cache=True, nogil=True, inline="always")
def _add_pixels(target, target_at, target_step, source, source_at, source_step,  # pragma: no cover
                count, size, coef):
    """target[target_at + k·target_step + c] += coef · source[source_at + k·source_step + c]
    for k < count and c < size (unsigned offsets: a vectorised inner loop)."""
    for _ in range(count):
        for c in range(size):
            target[target_at + c] += coef * source[source_at + c]
        target_at += target_step
        source_at += source_step


@njit(parallel=True, cache=True, nogil=True)
def transform_input_tiles(x, pad_h, pad_w, m_h, m_w, bt_h, bt_w,  # pragma: no cover
                          tiles_h, tiles_w, first_row, out):
    """out[a·n_w + b, t, :] = (Bᵀ_h d B_w)[a, b] for the n_h×n_w input tiles d of the tile
    rows first_row, first_row + 1, … (t counts their tiles row by row).

    Args:
        x: (N, H, W, C) float32 image batch, channels last, C-contiguous.
        pad_h, pad_w: the convolution's zero padding on each side, along height and width.
        m_h, m_w: output pixels per tile along each side (tiles start every m pixels).
        bt_h, bt_w: (n_h, n_h) and (n_w, n_w) float32 Bᵀ along each side.
        tiles_h, tiles_w: tiles per image along each side (tile rows numbered image by
            image).
        first_row: the first tile row's number.
        out: (n_h·n_w, rows·tiles_w, C) float32, written in full.
    """
    _, height, width, channels = x.shape
    n_h, n_w = bt_h.shape[0], bt_w.shape[0]
    span = (tiles_w * m_w + n_w - m_w) * channels  # the padded line's length (≥ W + 2 pad_w)
    line = _index(width * channels)
    step, size = _index(m_w * channels), _index(channels)
    for local in prange(out.shape[1] // tiles_w):
        row = first_row + local
        image = row // tiles_h
        top = (row - image * tiles_h) * m_h - pad_h
        mixed = np.zeros((n_h, span), np.float32)  # mixed[a2] = Σ_a Bᵀ_h[a2, a] line(top + a)
        for a in range(n_h):
            y = top + a
            if y < 0 or y >= height:
                continue
            source = x[image, y].reshape(width * channels)
            for a2 in range(n_h):
                coef = bt_h[a2, a]
                if coef != 0:
                    target = mixed[a2, pad_w * channels:pad_w * channels + width * channels]
                    for k in range(line):
                        target[k] += coef * source[k]
        for a2 in range(n_h):
            source = mixed[a2]
            for b2 in range(n_w):
                target = out[a2 * n_w + b2, local * tiles_w:(local + 1) * tiles_w].reshape(
                    tiles_w * channels)
                target[:] = 0
                for b in range(n_w):
                    coef = bt_w[b2, b]
                    if coef != 0:
                        _add_pixels(target, _index(0), size, source, _index(b * channels),
                                    step, tiles_w, size, coef)


@njit(parallel=True, cache=True, nogil=True)
def transform_output_tiles(products, at_h, at_w, bias, relu, tiles_h, tiles_w,  # pragma: no cover
                           first_row, out):
    """out[image, y, x, :] = (Aᵀ_h M A_w)[i, j] + bias (clipped at 0 when ``relu``) for the
    tiles of the tile rows first_row, first_row + 1, ….

    Args:
        products: (n_h·n_w, rows·tiles_w, C_out) float32, the per-position matrix products.
        at_h, at_w: (m_h, n_h) and (m_w, n_w) float32 Aᵀ along each side.
        bias: (C_out,) float32.
        relu: whether to clip the result at zero.
        out: (N, H_out, W_out, C_out) float32, C-contiguous; only pixels inside it are
            written.
    """
    _, height, width, channels = out.shape
    m_h, n_h = at_h.shape
    m_w, n_w = at_w.shape
    line = _index(width * channels)
    step, size = _index(m_w * channels), _index(channels)
    for local in prange(products.shape[1] // tiles_w):
        row = first_row + local
        image = row // tiles_h
        top = (row - image * tiles_h) * m_h
        mixed = np.zeros((n_h, tiles_w * m_w * channels), np.float32)  # M A_w, line by line
        for a in range(n_h):
            target = mixed[a]
            for b in range(n_w):
                source = products[a * n_w + b, local * tiles_w:(local + 1) * tiles_w].reshape(
                    tiles_w * channels)
                for j in range(m_w):
                    coef = at_w[j, b]
                    if coef != 0:
                        _add_pixels(target, _index(j * channels), step, source, _index(0),
                                    size, tiles_w, size, coef)
        for i in range(m_h):
            y = top + i
            if y >= height:
                break
            target = out[image, y].reshape(width * channels)
            for pixel in range(width):
                target[pixel * channels:(pixel + 1) * channels] = bias
            for a in range(n_h):
                coef = at_h[i, a]
                if coef != 0:
                    source = mixed[a]
                    for k in range(line):
                        target[k] += coef * source[k]
            if relu:
                for k in range(line):
                    if target[k] < 0:
                        target[k] = 0
