"""What a 16-bit image's samples say of its bit depth: values that fit in 8, 10 or 12 bits.

A 16-bit file (or uint16 array) keeps its data range of 65535, as its bit depth says and
as scikit-image and the reference tools take it.  When every sample fits in fewer bits —
8-bit values widened without scaling, or a camera's, scanner's or CT's 10- or 12-bit raw
data — SSIM is near 1 and PSNR some 24 to 48 dB too high, and FID compares near-black
images: each such image takes a decision that says so, wherever it comes from (a file,
``compare_tensors``, an ``Accumulator``)."""

from __future__ import annotations

import numpy as np

__all__ = ["EIGHT_BIT_VALUES_IN_16_BITS", "NARROW_BITS", "narrow_values_note"]

NARROW_BITS = (8, 10, 12)  # 14 bits would flag dark 16-bit photos (a quarter of the range)
EIGHT_BIT_VALUES_IN_16_BITS = ("16-bit image whose samples all lie in 0-255 (8-bit values in "
                               "16 bits?): data range 65535, as its bit depth says; if it "
                               "holds 8-bit values, store it as 8-bit")


def narrow_values_note(samples: np.ndarray) -> str | None:
    """The decision a 16-bit image takes whose ``samples`` (its colour or gray values,
    without alpha) all fit in 8, 10 or 12 bits; None for any other image."""
    if samples.dtype != np.uint16 or samples.size == 0:
        return None
    top = int(samples.max())
    bits = next((bits for bits in NARROW_BITS if top < 1 << bits), None)
    if bits is None:
        return None
    if bits == 8:
        return EIGHT_BIT_VALUES_IN_16_BITS
    return (f"16-bit image whose samples all lie in 0-{(1 << bits) - 1} ({bits}-bit values "
            f"in 16 bits?): data range 65535, as its bit depth says; if it holds {bits}-bit "
            f"values, scale them to 16 bits (× {65535 / ((1 << bits) - 1):.4g}) before "
            "comparing")
