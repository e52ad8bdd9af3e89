"""Gray images from colour ones: ITU-R 601 luma as Pillow computes it, or MATLAB's
``rgb2gray`` (``--gray``, and the classical metrics that take gray images)."""

from __future__ import annotations

import numpy as np

from likeness.errors import InvalidInputError

__all__ = ["GRAY_CONVERSIONS", "to_luma"]

GRAY_CONVERSIONS = ("pillow", "matlab")
# MATLAB's rgb2gray weights: the first row of the inverse of its YIQ → RGB matrix
_MATLAB_GRAY = np.linalg.inv(np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647],
                                       [1.0, -1.106, 1.703]]))[0]


def to_luma(pixels: np.ndarray, conversion: str = "pillow") -> np.ndarray:
    """ITU-R 601 luma of an (H, W, 3) image, as Pillow's ``convert("L")`` computes it, or
    (``conversion="matlab"``) as MATLAB's ``rgb2gray``.

    Pillow: integer arithmetic (weights 19595, 38470, 7471 over 2**16, rounded), so 8-bit
    input gives exactly Pillow's values; 16-bit input uses the same weights at 16 bits.
    MATLAB: the first row of the inverse of its YIQ → RGB matrix (0.298936…, 0.587043…,
    0.114020…) in double, R + G + B in that order, rounded half away from zero to the
    image's integer type.  One-channel input is returned unchanged.
    """
    if conversion not in GRAY_CONVERSIONS:
        raise InvalidInputError(f"conversion must be one of {GRAY_CONVERSIONS}, got "
                                f"{conversion!r}")
    if pixels.shape[2] == 1:
        return pixels
    if pixels.shape[2] != 3:
        raise InvalidInputError(f"expected 1 or 3 channels, got {pixels.shape[2]}")
    if conversion == "matlab":
        channels = pixels.astype(np.float64)
        gray = (_MATLAB_GRAY[0] * channels[:, :, 0] + _MATLAB_GRAY[1] * channels[:, :, 1]
                + _MATLAB_GRAY[2] * channels[:, :, 2])
        if np.issubdtype(pixels.dtype, np.integer):
            gray = np.clip(np.floor(gray + 0.5), 0, np.iinfo(pixels.dtype).max)
        return gray.astype(pixels.dtype)[:, :, np.newaxis]
    rgb = pixels.astype(np.int64)
    luma = (rgb[:, :, 0] * 19595 + rgb[:, :, 1] * 38470 + rgb[:, :, 2] * 7471 + 0x8000) >> 16
    return luma.astype(pixels.dtype)[:, :, np.newaxis]
