"""What a 16-bit image's samples say of its bit depth: values that fit in 8, 10 or 12 bits.

A 16-bit file (or uint16 array) keeps its data range of 65535, as its bit depth says and
as scikit-image and the reference tools take it.  When every sample fits in fewer bits —
8-bit values widened without scaling, or a camera's, scanner's or CT's 10- or 12-bit raw
data — SSIM is near 1 and PSNR some 24 to 48 dB too high, and FID compares near-black
images: each such image takes a decision that says so, wherever it comes from (a file,
``compare_tensors``, an ``Accumulator``).

Which files hold 16-bit colour, which Pillow cuts to 8 bits, is read from their headers
(``deep_colour_channels``, ``pnm_maxval``); OpenCV decodes them (``decode_with_opencv``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from likeness.errors import ImageLoadError
from likeness.io.integrity import sniff_format

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["EIGHT_BIT_VALUES_IN_16_BITS", "NARROW_BITS", "decode_with_opencv",
           "deep_colour_channels", "narrow_values_note", "pnm_maxval"]

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


def deep_colour_channels(path: Path, image: Image.Image, data: bytes) -> int:
    """The channel count of a 16-bit colour (or gray+alpha) PNG, TIFF or PPM file, which
    Pillow cuts to 8 bits, read from its header (0 for every other file): channels follow
    the file's declared mode, never its content."""
    if image.format == "PNG":
        # IHDR: 8-byte signature, length, type, width, height, then bit depth and colour type
        bit_depth, colour_type = data[24], data[25]
        return {2: 3, 4: 2, 6: 4}.get(colour_type, 0) if bit_depth == 16 else 0
    if image.format == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(258)  # BitsPerSample
        samples = bits if isinstance(bits, tuple) else (bits,)
        deep = len(samples) > 1 and any(b is not None and b > 8 for b in samples)
        return len(samples) if deep else 0
    if image.format == "PPM":
        maxval = pnm_maxval(data)
        if maxval not in (None, 255, 65535) and not (image.mode == "1" or maxval < 255):
            raise ImageLoadError(f"{path}: a PGM/PPM file with maxval {maxval} (neither 8- nor "
                                 "16-bit samples) is not supported; save it with maxval 255 "
                                 "or 65535")
        return 3 if maxval == 65535 and image.mode == "RGB" else 0
    return 0


def pnm_maxval(data: bytes) -> int | None:
    """The maxval of a binary or plain PGM/PPM header (None for bitmaps and PAM)."""
    head = data[:512]
    if head[1:2] not in b"2356":
        return None
    fields: list[bytes] = []
    for line in head[2:].split(b"\n"):
        fields += line.split(b"#", 1)[0].split()
        if len(fields) >= 3:
            break
    try:
        return int(fields[2])
    except (IndexError, ValueError):
        return None


def decode_with_opencv(path: Path, channels: int, data: bytes, page: int) -> np.ndarray:
    """The 16-bit samples of a file of ``channels`` (``deep_colour_channels``), as RGB(A)
    or gray+alpha, from its page ``page`` (a TIFF's image after a thumbnail).

    Raises:
        ImageLoadError: OpenCV cannot decode the file, or reads it otherwise than stored.
    """
    import cv2

    buffer = np.frombuffer(data, dtype=np.uint8)
    # keeps 16 bits; a PNG's EXIF orientation is applied by us (OpenCV turns a TIFF upright
    # whatever the flags: ``tiff_orientation``)
    flags = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
    if page:  # (``tiff.image_page``)
        ok, pages = cv2.imdecodemulti(buffer, flags, None, (page, page + 1))
        pixels = pages[0] if ok and len(pages) == 1 else None
    else:
        pixels = cv2.imdecode(buffer, flags)
    if pixels is None:
        raise ImageLoadError(f"{path}: corrupt or truncated {sniff_format(data[:64]) or 'image'} "
                             "file (OpenCV could not decode it)")
    found = pixels.shape[2] if pixels.ndim == 3 else 1
    if pixels.dtype != np.uint16 or found != (4 if channels == 2 else channels):
        # (only files of 16-bit samples come here: OpenCV reads some layouts otherwise)
        raise ImageLoadError(f"{path}: OpenCV reads this file of {channels} 16-bit samples a "
                             f"pixel as {found} {pixels.dtype} samples, not as it is stored; "
                             "save it as 16-bit RGB or RGBA with interleaved samples")
    if pixels.ndim == 3:
        if pixels.shape[2] == 3:
            pixels = pixels[:, :, ::-1]
        elif pixels.shape[2] == 4:
            pixels = pixels[:, :, [2, 1, 0, 3]]
            if channels == 2:  # a gray+alpha file, which OpenCV expands to BGRA
                pixels = pixels[:, :, [0, 3]]
    return pixels
