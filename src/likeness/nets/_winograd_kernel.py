"""Winograd's tile transforms, fused and parallel, compiled with numba (see nets/winograd.py).

Both kernels work on channels-last float32 arrays, so each pixel's channels are one
contiguous vector and every inner loop runs over channels (vectorised).  The input kernel
reads each n×n tile straight from the image (positions outside it are the convolution's
zero padding) and applies Bᵀ · d · B; the output kernel applies Aᵀ · M · A, adds the bias,
optionally clips at zero (a fused ReLU) and writes only the pixels inside the output.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, nogil=True)
def transform_input_tiles(x, pad, m, bt, tiles_h, tiles_w, first, out):  # pragma: no cover
    """out[a·n + b, t, :] = (Bᵀ d B)[a, b] for the n×n input tiles d numbered first + t.

    Args:
        x: (N, H, W, C) float32 image batch, channels last.
        pad: the convolution's zero padding on each side.
        m: output pixels per tile side (tiles start every m pixels).
        bt: (n, n) float32 Bᵀ.
        tiles_h, tiles_w: tiles per image along each side (numbered image by image, row by
            row).
        first: the first tile's number.
        out: (n·n, T, C) float32 for T tiles, written in full.
    """
    _, height, width, channels = x.shape
    n = bt.shape[0]
    per_image = tiles_h * tiles_w
    for local in prange(out.shape[1]):
        tile = first + local
        image = tile // per_image
        rest = tile - image * per_image
        top = (rest // tiles_w) * m - pad
        left = (rest % tiles_w) * m - pad
        rows = np.zeros((n, n, channels), np.float32)  # rows[a2, b] = Σ_a Bᵀ[a2, a] d[a, b]
        for a in range(n):
            y = top + a
            if y < 0 or y >= height:
                continue
            for b in range(n):
                col = left + b
                if col < 0 or col >= width:
                    continue
                pixel = x[image, y, col]
                for a2 in range(n):
                    coef = bt[a2, a]
                    if coef != 0:
                        target = rows[a2, b]
                        for c in range(channels):
                            target[c] += coef * pixel[c]
        for a2 in range(n):
            for b2 in range(n):
                target = out[a2 * n + b2, local]
                target[:] = 0
                for b in range(n):
                    coef = bt[b2, b]
                    if coef != 0:
                        source = rows[a2, b]
                        for c in range(channels):
                            target[c] += coef * source[c]


@njit(parallel=True, cache=True, nogil=True)
def transform_output_tiles(products, at, bias, relu, tiles_h, tiles_w, first,  # pragma: no cover
                           out):
    """out[image, y, x, :] = (Aᵀ M A)[i, j] + bias (clipped at 0 when ``relu``) for the
    tiles numbered first + t.

    Args:
        products: (n·n, T, C_out) float32, the per-position matrix products of T tiles.
        at: (m, n) float32 Aᵀ.
        bias: (C_out,) float32.
        relu: whether to clip the result at zero.
        out: (N, H_out, W_out, C_out) float32; only pixels inside it are written.
    """
    _, height, width, channels = out.shape
    m, n = at.shape
    per_image = tiles_h * tiles_w
    for local in prange(products.shape[1]):
        tile = first + local
        image = tile // per_image
        rest = tile - image * per_image
        top = (rest // tiles_w) * m
        left = (rest % tiles_w) * m
        rows = np.zeros((m, n, channels), np.float32)  # rows[i, b] = Σ_a Aᵀ[i, a] M[a, b]
        for a in range(n):
            for b in range(n):
                source = products[a * n + b, local]
                for i in range(m):
                    coef = at[i, a]
                    if coef != 0:
                        target = rows[i, b]
                        for c in range(channels):
                            target[c] += coef * source[c]
        for i in range(m):
            y = top + i
            if y >= height:
                break
            for j in range(m):
                col = left + j
                if col >= width:
                    break
                target = out[image, y, col]
                target[:] = bias
                for b in range(n):
                    coef = at[j, b]
                    if coef != 0:
                        source = rows[i, b]
                        for c in range(channels):
                            target[c] += coef * source[c]
                if relu:
                    for c in range(channels):
                        if target[c] < 0:
                            target[c] = 0
