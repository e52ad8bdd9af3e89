"""A fused, parallel SSIM kernel for the uniform (box) window, compiled with numba.

scikit-image filters the whole image with a reflect-padded box filter, builds the SSIM map
from five filtered images and crops a border of ``(win_size - 1) // 2`` before averaging.
The cropped region is exactly the set of windows that lie fully inside the image, so the
mean only needs the sums over those windows.  This kernel computes them with running sums
(one pass per row, no temporaries), exactly in integers for integer images, and reduces
the SSIM map on the fly.  Rows are split into chunks that run in parallel.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, nogil=True)
def valid_box_ssim_sums(x, y, channels, win, c1, c2, cov_norm, zero):  # pragma: no cover - compiled
    """Sum of the SSIM map over every window inside the image, per channel.

    Args:
        x, y: (H, W * channels) contiguous arrays, channels interleaved (an HWC image reshaped).
        channels: the number of interleaved channels.
        win: the odd window side.
        c1, c2: the stabilising constants (K1 * R)**2 and (K2 * R)**2.
        cov_norm: NP / (NP - 1) for the sample covariance, 1 for the population one.
        zero: a 1-element array whose dtype is the accumulator's (int64 for integer images,
            float64 otherwise).

    Returns:
        (rows of full windows, channels) float64 array: each row's sum of the SSIM map,
        added left to right (``exact_sums.box_ssim_row_sums`` adds them the same way).
    """
    height, row_len = x.shape
    width = row_len // channels
    out_h = height - win + 1
    out_w = width - win + 1
    n_win = win * win
    inv2 = 1.0 / (n_win * n_win)
    n_chunks = min(out_h, 32)
    rows = np.zeros((out_h, channels))
    z = zero[0]
    for chunk in prange(n_chunks):
        r0 = chunk * out_h // n_chunks
        r1 = (chunk + 1) * out_h // n_chunks
        sx = np.zeros(row_len, zero.dtype)
        sy = np.zeros(row_len, zero.dtype)
        sxx = np.zeros(row_len, zero.dtype)
        syy = np.zeros(row_len, zero.dtype)
        sxy = np.zeros(row_len, zero.dtype)
        for r in range(r0, r0 + win):
            for j in range(row_len):
                a = x[r, j] + z
                b = y[r, j] + z
                sx[j] += a
                sy[j] += b
                sxx[j] += a * a
                syy[j] += b * b
                sxy[j] += a * b
        for i in range(r0, r1):
            if i > r0:  # slide the column sums down one row
                for j in range(row_len):
                    a_in = x[i + win - 1, j] + z
                    b_in = y[i + win - 1, j] + z
                    a_out = x[i - 1, j] + z
                    b_out = y[i - 1, j] + z
                    sx[j] += a_in - a_out
                    sy[j] += b_in - b_out
                    sxx[j] += a_in * a_in - a_out * a_out
                    syy[j] += b_in * b_in - b_out * b_out
                    sxy[j] += a_in * b_in - a_out * b_out
            for c in range(channels):
                hx = z
                hy = z
                hxx = z
                hyy = z
                hxy = z
                for k in range(win):
                    j = k * channels + c
                    hx += sx[j]
                    hy += sy[j]
                    hxx += sxx[j]
                    hyy += syy[j]
                    hxy += sxy[j]
                acc = 0.0
                for col in range(out_w):
                    # means and (co)variances from exact window sums: NP*sum(x^2) - sum(x)^2
                    # is exact in integers, so no cancellation as in E[x^2] - E[x]^2 in floats
                    ux = hx / n_win
                    uy = hy / n_win
                    vx = cov_norm * ((n_win * hxx - hx * hx) * inv2)
                    vy = cov_norm * ((n_win * hyy - hy * hy) * inv2)
                    vxy = cov_norm * ((n_win * hxy - hx * hy) * inv2)
                    a1 = 2.0 * ux * uy + c1
                    a2 = 2.0 * vxy + c2
                    b1 = ux * ux + uy * uy + c1
                    b2 = vx + vy + c2
                    acc += (a1 * a2) / (b1 * b2)
                    if col + 1 < out_w:
                        j_in = (col + win) * channels + c
                        j_out = col * channels + c
                        hx += sx[j_in] - sx[j_out]
                        hy += sy[j_in] - sy[j_out]
                        hxx += sxx[j_in] - sxx[j_out]
                        hyy += syy[j_in] - syy[j_out]
                        hxy += sxy[j_in] - sxy[j_out]
                rows[i, c] = acc
    return rows
