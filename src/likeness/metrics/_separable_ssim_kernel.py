"""A fused, parallel SSIM kernel for separable windows (gaussian or uniform), via numba.

Used by the batched torch metrics when no gradient is needed and the tensors live on the
CPU: one pass per output row filters the five moment images vertically, then
horizontally, and reduces the SSIM and contrast-structure maps on the fly, in float64.
Work is split over (image plane, band of rows) so that two cores stay busy even for a
single RGB image.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(inline="always", cache=True, nogil=True)
def _pixel(ux, uy, exx, eyy, exy, c1, c2, cov_norm):  # pragma: no cover
    """(SSIM, contrast-structure) of one window from its filtered moments."""
    var_x = cov_norm * (exx - ux * ux)
    var_y = cov_norm * (eyy - uy * uy)
    cov = cov_norm * (exy - ux * uy)
    cs = (2.0 * cov + c2) / (var_x + var_y + c2)
    return cs * (2.0 * ux * uy + c1) / (ux * ux + uy * uy + c1), cs


@njit(cache=True, nogil=True)
def _per_plane(partial, planes, items_per_plane):  # pragma: no cover
    """The work items' partial (SSIM, contrast-structure) sums added up per plane, in item
    order (the items of a plane are consecutive)."""
    out = np.zeros((planes, 2))
    for item in range(partial.shape[0]):
        out[item // items_per_plane, 0] += partial[item, 0]
        out[item // items_per_plane, 1] += partial[item, 1]
    return out


@njit(parallel=True, cache=True, nogil=True)
def valid_separable_ssim_sums(x, y, taps_h, taps_w, c1, c2, cov_norm):  # pragma: no cover
    """Sums of the SSIM and contrast-structure maps over full windows, per plane.

    Args:
        x, y: (P, H, W) contiguous float arrays (image planes).
        taps_h, taps_w: float64 1-D taps along H and W (length 1 leaves an axis unfiltered).
        c1, c2: (K1 R)², (K2 R)².
        cov_norm: NP / (NP - 1) for the sample covariance, 1 for the population one.

    Returns:
        (P, 2) float64 array: [sum of SSIM map, sum of contrast-structure map].
    """
    planes, height, width = x.shape
    kh = taps_h.shape[0]
    kw = taps_w.shape[0]
    out_h = height - kh + 1
    out_w = width - kw + 1
    chunks_per_plane = max(1, min(out_h, 32 // planes + 1))
    n_items = planes * chunks_per_plane
    partial = np.zeros((n_items, 2))
    for item in prange(n_items):
        plane = item // chunks_per_plane
        chunk = item % chunks_per_plane
        r0 = chunk * out_h // chunks_per_plane
        r1 = (chunk + 1) * out_h // chunks_per_plane
        vx = np.empty(width)
        vy = np.empty(width)
        vxx = np.empty(width)
        vyy = np.empty(width)
        vxy = np.empty(width)
        hx = np.empty(out_w)
        hy = np.empty(out_w)
        hxx = np.empty(out_w)
        hyy = np.empty(out_w)
        hxy = np.empty(out_w)
        sum_ssim = 0.0
        sum_cs = 0.0
        for i in range(r0, r1):
            vx[:] = 0.0
            vy[:] = 0.0
            vxx[:] = 0.0
            vyy[:] = 0.0
            vxy[:] = 0.0
            for t in range(kh):
                w = taps_h[t]
                for j in range(width):
                    a = np.float64(x[plane, i + t, j])
                    b = np.float64(y[plane, i + t, j])
                    vx[j] += w * a
                    vy[j] += w * b
                    vxx[j] += w * (a * a)
                    vyy[j] += w * (b * b)
                    vxy[j] += w * (a * b)
            hx[:] = 0.0
            hy[:] = 0.0
            hxx[:] = 0.0
            hyy[:] = 0.0
            hxy[:] = 0.0
            for t in range(kw):
                w = taps_w[t]
                for j in range(out_w):
                    hx[j] += w * vx[j + t]
                    hy[j] += w * vy[j + t]
                    hxx[j] += w * vxx[j + t]
                    hyy[j] += w * vyy[j + t]
                    hxy[j] += w * vxy[j + t]
            for j in range(out_w):
                ssim, cs = _pixel(hx[j], hy[j], hxx[j], hyy[j], hxy[j], c1, c2, cov_norm)
                sum_ssim += ssim
                sum_cs += cs
        partial[item, 0] = sum_ssim
        partial[item, 1] = sum_cs
    return _per_plane(partial, planes, chunks_per_plane)


@njit(parallel=True, cache=True, nogil=True)
def valid_separable_ssim_sums_3d(x, y, taps_t, taps_h, taps_w, c1, c2,
                                 cov_norm):  # pragma: no cover
    """``valid_separable_ssim_sums`` of volumes: (P, T, H, W) planes, the window spanning
    T too.  Each work item (a plane, an output depth, a band of rows) first filters the
    five moments along T for the rows it needs (the float64 sums of ``taps_t``-weighted
    values and products), then along H and W as the 2-D kernel does.

    Returns:
        (P, 2) float64 array: [sum of SSIM map, sum of contrast-structure map].
    """
    planes, depth, height, width = x.shape
    kt = taps_t.shape[0]
    kh = taps_h.shape[0]
    kw = taps_w.shape[0]
    out_t = depth - kt + 1
    out_h = height - kh + 1
    out_w = width - kw + 1
    slices = planes * out_t
    chunks = max(1, min(out_h, 32 // slices + 1))
    n_items = slices * chunks
    partial = np.zeros((n_items, 2))
    for item in prange(n_items):
        slab = item // chunks
        plane = slab // out_t
        d = slab % out_t
        chunk = item % chunks
        r0 = chunk * out_h // chunks
        r1 = (chunk + 1) * out_h // chunks
        rows = r1 - r0 + kh - 1
        moments = np.zeros((5, rows, width))
        for t in range(kt):
            w = taps_t[t]
            for r in range(rows):
                for j in range(width):
                    a = np.float64(x[plane, d + t, r0 + r, j])
                    b = np.float64(y[plane, d + t, r0 + r, j])
                    moments[0, r, j] += w * a
                    moments[1, r, j] += w * b
                    moments[2, r, j] += w * (a * a)
                    moments[3, r, j] += w * (b * b)
                    moments[4, r, j] += w * (a * b)
        vertical = np.empty((5, width))
        horizontal = np.empty((5, out_w))
        sum_ssim = 0.0
        sum_cs = 0.0
        for i in range(r1 - r0):
            vertical[:] = 0.0
            for s in range(kh):
                w = taps_h[s]
                for k in range(5):
                    for j in range(width):
                        vertical[k, j] += w * moments[k, i + s, j]
            horizontal[:] = 0.0
            for s in range(kw):
                w = taps_w[s]
                for k in range(5):
                    for j in range(out_w):
                        horizontal[k, j] += w * vertical[k, j + s]
            for j in range(out_w):
                ssim, cs = _pixel(horizontal[0, j], horizontal[1, j], horizontal[2, j],
                                  horizontal[3, j], horizontal[4, j], c1, c2, cov_norm)
                sum_ssim += ssim
                sum_cs += cs
        partial[item, 0] = sum_ssim
        partial[item, 1] = sum_cs
    return _per_plane(partial, planes, chunks * out_t)
