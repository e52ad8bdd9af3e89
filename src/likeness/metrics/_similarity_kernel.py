"""Similarity maps of the gradient and wavelet metrics, fused, via numba.

``gradient_similarity`` (GMSD, MS-GMSD, SR-SIM, FSIM, VSI): for each pixel of two gray
images, the Prewitt or Scharr gradient of each (zero padding), its magnitude, and their
similarity ``(2ab − α ab + c) / (a² + b² − α ab + c)`` — what
``_image_maps.gradient_magnitude`` and ``similarity`` compute in some thirty passes over
image-sized arrays, in one.  ``haar_similarity_maps`` (HaarPSI): from the Haar responses,
each orientation's mean similarity of the first two scales' magnitudes and its weight,
the third scale's larger magnitude.  Each value takes torch's operations in torch's order
(the differences across and down, their three-tap sums, ``/ 3`` or ``/ 16``, the squares
summed, the products left to right, the two scales' sum then ``/ 2``; no fused
multiply-adds: numba does not contract them without ``fastmath``).  The gradients' square
roots are correctly rounded (torch's float64 square root on AVX-512 CPUs is not: the two
differ in the last bit, ~1e-16 relative); the Haar maps take no root: bit for bit torch's.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(inline="always")
def _pixel(image, row, column):  # pragma: no cover - compiled
    """The image's value, 0 outside it (the zero padding)."""
    if 0 <= row < image.shape[0] and 0 <= column < image.shape[1]:
        return image[row, column]
    return 0.0


@njit(inline="always")
def _combine(across_above, across, across_below, down_left, down, down_right, scharr
             ):  # pragma: no cover - compiled
    """The magnitude from the differences across (rows above, at, below) and down
    (columns left, at, right), summed in ``gradient_magnitude``'s order."""
    if scharr:
        gradient_x = (3.0 * across_above + 10.0 * across + 3.0 * across_below) / 16.0
        gradient_y = (3.0 * down_left + 10.0 * down + 3.0 * down_right) / 16.0
    else:
        gradient_x = (across_above + across + across_below) / 3.0
        gradient_y = (down_left + down + down_right) / 3.0
    return math.sqrt(gradient_x * gradient_x + gradient_y * gradient_y)


@njit(inline="always")
def _border_magnitude(image, row, column, scharr):  # pragma: no cover - compiled
    """The magnitude at (row, column) next to the border: the padding's zeros read."""
    return _combine(
        _pixel(image, row - 1, column + 1) - _pixel(image, row - 1, column - 1),
        _pixel(image, row, column + 1) - _pixel(image, row, column - 1),
        _pixel(image, row + 1, column + 1) - _pixel(image, row + 1, column - 1),
        _pixel(image, row + 1, column - 1) - _pixel(image, row - 1, column - 1),
        _pixel(image, row + 1, column) - _pixel(image, row - 1, column),
        _pixel(image, row + 1, column + 1) - _pixel(image, row - 1, column + 1), scharr)


@njit(inline="always")
def _inner_magnitude(above, at, below, column, scharr):  # pragma: no cover - compiled
    """The magnitude at ``column`` of the row ``at`` inside the image (rows 1-D)."""
    return _combine(above[column + 1] - above[column - 1], at[column + 1] - at[column - 1],
                    below[column + 1] - below[column - 1],
                    below[column - 1] - above[column - 1], below[column] - above[column],
                    below[column + 1] - above[column + 1], scharr)


@njit(inline="always")
def similar(a, b, constant, alpha):  # pragma: no cover - compiled
    """``similarity``'s value: its products and sums left to right, as torch takes them."""
    return (2.0 * a * b - alpha * a * b + constant) / (a * a + b * b - alpha * a * b + constant)


@njit(parallel=True, cache=True, nogil=True)
def gradient_similarity(x, y, scharr, constant, alpha):  # pragma: no cover - compiled
    """The similarity map (N, H, W) of the gradient magnitudes of ``x`` and ``y``, (N, H, W)
    float64 arrays."""
    n, height, width = x.shape
    similarity = np.empty((n, height, width))
    for job in prange(n * height):
        item = job // height
        row = job % height
        x_image, y_image, out = x[item], y[item], similarity[item, row]
        inside = 0 < row < height - 1 and width > 2
        if inside:
            x_above, x_at, x_below = x_image[row - 1], x_image[row], x_image[row + 1]
            y_above, y_at, y_below = y_image[row - 1], y_image[row], y_image[row + 1]
            for column in range(1, width - 1):
                out[column] = similar(
                    _inner_magnitude(x_above, x_at, x_below, column, scharr),
                    _inner_magnitude(y_above, y_at, y_below, column, scharr), constant, alpha)
        # the first and last column of an inner row; every column of the first and last
        step = max(width - 1, 1) if inside else 1
        for column in range(0, width, step):
            out[column] = similar(_border_magnitude(x_image, row, column, scharr),
                                   _border_magnitude(y_image, row, column, scharr),
                                   constant, alpha)
    return similarity


@njit(parallel=True, cache=True, nogil=True)
def haar_similarity_maps(x, y, constant):  # pragma: no cover - compiled
    """(maps, weights), each (N, 2, H, W), of HaarPSI's Haar responses ``x`` and ``y``,
    (N, 6, H, W) float64 arrays (horizontal, vertical at scales 1, 2, 3): per orientation,
    (similarity of |scale 1| + similarity of |scale 2|) / 2 with ``constant``, and
    max(|x|, |y|) at scale 3."""
    n, _, height, width = x.shape
    maps = np.empty((n, 2, height, width))
    weights = np.empty((n, 2, height, width))
    for job in prange(n * height):
        item = job // height
        row = job % height
        for orientation in range(2):
            first_x, first_y = x[item, orientation, row], y[item, orientation, row]
            second_x, second_y = x[item, orientation + 2, row], y[item, orientation + 2, row]
            third_x, third_y = x[item, orientation + 4, row], y[item, orientation + 4, row]
            out_map, out_weight = maps[item, orientation, row], weights[item, orientation, row]
            for column in range(width):
                out_map[column] = (similar(abs(first_x[column]), abs(first_y[column]),
                                           constant, 0.0)
                                   + similar(abs(second_x[column]), abs(second_y[column]),
                                             constant, 0.0)) / 2
                weight_x, weight_y = abs(third_x[column]), abs(third_y[column])
                out_weight[column] = weight_x if weight_x >= weight_y else weight_y
    return maps, weights
