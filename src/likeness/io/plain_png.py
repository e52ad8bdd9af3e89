"""A fast decoder for the plain PNGs that make up most image folders, bit-identical to
Pillow's.

A plain PNG is 8-bit gray, gray+alpha, RGB or RGBA, not interlaced: its pixels are its
inflated scanlines with the row filters undone, which is all a decoder does.  Pillow
inflates with zlib and unfilters in C through Python-level chunk reads (~7 ms for a
512² RGB image here); ``decode_plain_png`` inflates with Intel's ISA-L (``isal``, 3–4×
zlib's speed; zlib where it is missing) and unfilters with a numba kernel, ~2.5× faster
in all — what lets decoding processes keep a GPU fed (issue 33).

It is only ever a shortcut: anything it does not expect — another bit depth or colour
type, interlacing, animation, inflated data of the wrong length, an unknown filter type,
any chunk after the image data but its end (Pillow reads those only while decoding) —
returns None, and
Pillow decodes the file (with its own errors, as before).  The file's chunk checksums
have been verified before (``likeness.io.integrity``).  numba is loaded for it only where
loading pays: once numba is loaded anyway, after ``COMPILED_AFTER`` images in the
process, or with ``LIKENESS_COMPILED=1`` (``=0``: never); a one-image ``load_image``
never loads it.
"""

from __future__ import annotations

import sys
import types
import zlib
from collections.abc import Iterator

import numpy as np

from likeness.switches import switch

__all__ = ["COMPILED_AFTER", "PNG_SAMPLES", "animation_frames", "chunks",
           "decode_plain_png", "image_data", "inflate", "load_kernel"]

COMPILED_AFTER = 8  # images a process decodes with Pillow before loading the kernel
PNG_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type → samples per pixel
_LATE_METADATA = (b"eXIf", b"tEXt", b"zTXt", b"iTXt")
_decoded = 0


def _use_kernel() -> bool:
    global _decoded
    _decoded += 1
    choice = switch("LIKENESS_COMPILED")
    if choice is not None:
        return choice
    return "numba" in sys.modules or _decoded > COMPILED_AFTER


def load_kernel() -> None:
    """Load (compile, the first time) the unfiltering kernel now: before decoding
    processes are forked, so that each starts with it instead of loading it itself."""
    if switch("LIKENESS_COMPILED") is False:
        return
    from likeness.io._png_unfilter_kernel import unfilter

    unfilter(np.zeros(2, np.uint8), 1, 1, 1)


def decode_plain_png(data: bytes) -> np.ndarray | None:
    """The pixels (H, W) or (H, W, C) uint8 of a plain PNG file's bytes, as Pillow decodes
    them; None for any other PNG (see the module documentation)."""
    if len(data) < 33 or data[12:16] != b"IHDR" or not _use_kernel():
        return None
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    depth, colour, compression, filtering, interlace = data[24:29]
    channels = PNG_SAMPLES.get(colour)
    if (depth != 8 or channels is None or colour == 3 or compression or filtering or interlace
            or width == 0 or height == 0):
        return None
    compressed, other = image_data(data)
    if other:
        return None
    stride = width * channels
    expected = height * (stride + 1)
    inflated = inflate(compressed, expected)
    if inflated is None or len(inflated) != expected:
        return None  # a broken stream: Pillow reports it in its own words
    from likeness.io._png_unfilter_kernel import unfilter

    pixels = unfilter(np.frombuffer(inflated, np.uint8), height, stride, channels)
    if pixels.size == 0:
        return None
    return pixels.reshape(height, width) if channels == 1 else pixels.reshape(
        height, width, channels)


def image_data(data: bytes) -> tuple[bytes, bool]:
    """A PNG's image data as Pillow reads it — its first run of consecutive IDAT chunks'
    contents, concatenated (the checksums were verified already) — and whether anything
    else makes the file not plain: an animation, or any chunk but IEND after the data.
    Pillow reads those chunks only while decoding (EXIF, text: the caller would decode
    twice) and refuses a malformed one there (a short pHYs); IDAT chunks after another
    chunk are not image data."""
    parts = []
    view = memoryview(data)  # one copy (the join), not two: copies hold the GIL
    ended = other = False
    for kind, start, end in chunks(data):
        if kind == b"IEND":
            break
        if kind == b"IDAT" and not ended:
            parts.append(view[start:end])
        else:  # an animated PNG's first frame may not be its IDAT: Pillow's to read
            ended = bool(parts)
            other = other or ended or kind == b"acTL"
    return b"".join(parts), other


def animation_frames(data: bytes) -> int:
    """How many frames an animated PNG holds, counted as Pillow reads them — one a frame
    control (fcTL) chunk, and its IDAT image besides where no fcTL precedes it (a default
    image outside the animation) — not as its acTL chunk claims (Pillow's ``n_frames``:
    2,147,483,647 for a file of one)."""
    frames, default_image = 0, None
    for kind, _, _ in chunks(data):
        if kind == b"IEND":
            break
        if kind == b"IDAT" and default_image is None:
            default_image = frames == 0
        frames += kind == b"fcTL"
    return frames + bool(default_image)


def chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """Each chunk of a PNG in turn, as its type and where its contents start and end (its
    checksum follows), while a whole chunk header remains: the contents of the last may
    be cut off, for the caller to find."""
    offset = 8
    while offset + 8 <= len(data):
        start = offset + 8
        end = start + int.from_bytes(data[offset:offset + 4], "big")
        yield data[offset + 4:start], start, end
        offset = end + 4


def inflate(compressed: bytes, expected: int) -> bytes | None:
    """The zlib stream inflated (ISA-L's inflate where installed), at most ``expected`` + 1
    bytes (a longer stream is not the image its header describes); None when either library
    finds it broken (ISA-L's errors are not zlib's)."""
    inflater: types.ModuleType = zlib
    try:
        from isal import isal_zlib

        inflater = isal_zlib
    except ImportError:  # pragma: no cover - isal is a dependency; zlib is its stand-in
        pass
    try:
        return inflater.decompressobj().decompress(compressed, expected + 1)
    except (inflater.error, zlib.error, ValueError, OSError):
        return None
