"""What a TIFF's header says of its samples, which its decoders do not always honour.

Pillow reads signed 8-bit samples as unsigned (-1 becomes 255) and 32-bit integers within
0-65535 as if 16-bit; OpenCV reads 16-bit colour in separate planes as interleaved; neither
inverts 16-bit MinIsWhite gray, which Pillow inverts at 8 bits; OpenCV fails on 16-bit
CMYK and reads an extra sample of unspecified meaning as alpha; and a layout Pillow cannot
open at all (floating point, 12 bits, 16-bit gray+alpha, Lab) would be called corrupt.  The
header decides instead: samples likeness cannot read as they are meant are refused saying
why, a MinIsWhite image is inverted at every depth, and each is said; an extra sample of
unspecified meaning is no alpha at any depth.  A file whose first page is a reduced-
resolution copy (a thumbnail) of the image on a later page is read from that page.

An EXIF block is a TIFF header and directory too: its orientation is applied where it is
one of EXIF's eight, and where it cannot be read — a broken block, a value none of the
eight, a tag whose data lies outside the block (Pillow skips it with a warning, which a
run does not show) — the image is read as stored and the decision says so, never taken
silently for upright."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, TiffImagePlugin

from likeness.errors import ImageLoadError

__all__ = ["JPEG_IN_TIFF", "MIN_IS_WHITE", "exif_orientation", "image_page",
           "lossy_compression", "min_is_white", "tiff_orientation",
           "tiff_tags", "uncommon_compression", "undecoded_tiff", "unopened_tiff",
           "unreadable_tiff_samples", "unspecified_extra_sample"]

_ORIENTATION, _PHOTOMETRIC, _BITS, _SAMPLES, _PLANAR, _EXTRA, _FORMAT = (
    274, 262, 258, 277, 284, 338, 339)
_SIZE, _DATA = (256, 257), (273, 324)  # width, height; strip offsets, tile offsets
_SAMPLE_FORMATS = {2: "signed integer", 3: "floating-point", 4: "untyped", 5: "complex integer",
                   6: "complex floating-point"}
_PHOTOMETRIC_NAMES = {3: "palette", 4: "transparency-mask", 5: "CMYK", 6: "YCbCr", 8: "CIELab",
                      9: "ICCLab", 10: "ITULab", 32844: "LogL", 32845: "LogLuv"}
_LAB = (8, 9, 10, 32844, 32845)  # colours likeness reads at no depth
_SAVE = "save the image with unsigned 8 or 16 bits per sample"
MIN_IS_WHITE = ("TIFF gray stored as MinIsWhite (0 is white): inverted, as it is displayed "
                "and as Pillow reads such 8-bit files")


def tiff_tags(data: bytes) -> Mapping[int, Any] | None:
    """The first image's tags of the TIFF ``data`` (None when its header cannot be read),
    read without a decoder: also of a layout Pillow cannot open."""
    try:
        tags = TiffImagePlugin.ImageFileDirectory_v2(data[:8])
        stream = io.BytesIO(data)
        stream.seek(tags.next)
        tags.load(stream)
    except Exception:  # noqa: BLE001 - any failure means a header that cannot be read
        return None
    # a header cut short reads as a few tags: one without an image's size and data is no
    # layout to describe
    whole = all(tag in tags for tag in _SIZE) and any(tag in tags for tag in _DATA)
    numbers = all(isinstance(each, int) for tag in (_BITS, _FORMAT, _SAMPLES, _EXTRA, _PLANAR)
                  for each in _tuple(tags.get(tag, 1)))  # (a damaged header holds others)
    return tags if whole and numbers else None


_NEW_SUBFILE_TYPE, _SUBFILE_TYPE, _SUB_IFDS = 254, 255, 330
# the struct formats of a SHORT, LONG and LONG8 value, which an entry holds in itself
_WHOLE_NUMBERS = {3: "H", 4: "I", 16: "Q"}
_REDUCED, _MASK = 0b001, 0b100  # NewSubfileType: a reduced-resolution copy; a mask
# Pillow walks a TIFF's pages in quadratic time (100,000 pages: 69 s): likeness walks them
# itself, and counts at most this many, reading as many directory entries at most
MOST_TIFF_PAGES, MOST_TIFF_ENTRIES = 100_000, 10_000_000
# the image is looked for among the first pages only: Pillow then seeks to it
IMAGE_WITHIN_PAGES = 1_000


def image_page(image: Any, path: Path, data: bytes) -> tuple[int, int, bool]:
    """Of a TIFF opened by Pillow from ``data``: the index of the page that holds its
    image — the first that is neither a reduced-resolution copy of another (a thumbnail, a
    pyramid's level: NewSubfileType bit 0, or the old SubfileType 2) nor a transparency
    mask (bit 2) — how many pages are such images (where none is, the page count: a lone
    reduced image is the image), and whether that count is complete (false past
    ``MOST_TIFF_PAGES`` pages or ``MOST_TIFF_ENTRIES`` directory entries: at least that
    many).  The image is left at that page.

    Raises:
        ImageLoadError: every page is a reduced copy of an image kept in a SubIFD, which
            the decoders do not read (a DNG's or a camera raw file's); none of the first
            ``IMAGE_WITHIN_PAGES`` pages is an image; or a page's directory lies outside
            the file.
    """
    images, pages, first, nested, complete = 0, 0, None, False, True
    entries_left = MOST_TIFF_ENTRIES
    for kind, old_kind, entries, sub_ifds in _directories(data, path):
        entries_left -= entries
        if pages == MOST_TIFF_PAGES or entries_left < 0:
            complete = False
            break
        nested = nested or sub_ifds
        if not (isinstance(kind, int) and kind & (_REDUCED | _MASK)) and old_kind != 2:
            first = pages if first is None else first
            images += 1
        pages += 1
        if first is None and pages == IMAGE_WITHIN_PAGES:
            raise ImageLoadError(f"{path}: none of the first {IMAGE_WITHIN_PAGES} pages of "
                                 "this TIFF is a full-resolution image (each is a "
                                 "reduced-resolution copy or a mask): save the image alone "
                                 "as PNG or TIFF")
    if first is None and nested:
        raise ImageLoadError(f"{path}: every page of this TIFF is a reduced-resolution copy "
                             "(a preview) of an image kept in a SubIFD, which Pillow and "
                             "OpenCV do not read (a DNG or camera raw file): convert the "
                             "image itself to 16-bit PNG or TIFF")
    page = first or 0
    image.seek(page)
    return page, images or pages, complete


def _directories(data: bytes, path: Path) -> Iterator[tuple[Any, Any, int, bool]]:
    """Each page's directory of the TIFF (or BigTIFF) ``data``, in order and each once (a
    chain that loops back ends there): its NewSubfileType and SubfileType values (None
    where absent, or not one number), how many entries it has, and whether it lists
    SubIFDs.

    Raises:
        ImageLoadError: a directory lies, wholly or in part, outside the file.
    """
    order = "<" if data[:2] == b"II" else ">"
    big = struct.unpack_from(order + "H", data, 2)[0] == 43
    count_format, entry_size, pointer = ("Q", 20, "Q") if big else ("H", 12, "I")
    value_at, number_format = (12, "Q") if big else (8, "I")
    offset = struct.unpack_from(order + pointer, data, 8 if big else 4)[0]
    seen: set[int] = set()
    while offset and offset not in seen:
        seen.add(offset)
        try:
            (count,) = struct.unpack_from(order + count_format, data, offset)
            start = offset + struct.calcsize(count_format)
            end = start + count * entry_size
            (offset,) = struct.unpack_from(order + pointer, data, end)
        except struct.error:
            raise ImageLoadError(f"{path}: corrupt or truncated TIFF file (the directory of "
                                 f"its page {len(seen)} lies outside the file)") from None
        tags = np.frombuffer(data, order + "u2", count * entry_size // 2, start)
        tags = tags[::entry_size // 2]
        values: dict[int, Any] = {}
        for index in np.flatnonzero((tags == _NEW_SUBFILE_TYPE) | (tags == _SUBFILE_TYPE)
                                    | (tags == _SUB_IFDS)):
            at = start + int(index) * entry_size
            kind, number = struct.unpack_from(order + "H" + number_format, data, at + 2)
            values[int(tags[index])] = (
                struct.unpack_from(order + _WHOLE_NUMBERS[kind], data, at + value_at)[0]
                if number == 1 and kind in _WHOLE_NUMBERS else None)
        yield (values.get(_NEW_SUBFILE_TYPE), values.get(_SUBFILE_TYPE), count,
               _SUB_IFDS in values)


_COMPRESSION = 259
_COMMON = (1, 2, 3, 4, 5, 7, 8, 32773, 32946)  # none, CCITT, LZW, JPEG, deflate, PackBits
_COMPRESSION_NAMES = {6: "old-style JPEG", 34712: "JPEG 2000", 34887: "LERC", 34892:
                      "lossy JPEG (DNG)", 34925: "LZMA", 50000: "Zstandard", 50001: "WebP",
                      50002: "JPEG XL", 34676: "SGILog", 34677: "SGILog24"}


JPEG_IN_TIFF = "TIFF compressed with JPEG: lossy, as a JPEG file is"


def lossy_compression(tags: Mapping[int, Any]) -> bool:
    """Whether a TIFF's pixels were compressed with JPEG (lossy, whatever TIFF suggests)."""
    return tags.get(_COMPRESSION) in (6, 7, 34892)


def uncommon_compression(tags: Mapping[int, Any]) -> str | None:
    """The name of a TIFF's compression where it is none of those every libtiff decodes
    (none, CCITT, LZW, JPEG, deflate, PackBits) — what a decoder's failure on the file
    then means — or None."""
    code = tags.get(_COMPRESSION, 1)
    if not isinstance(code, int) or code in _COMMON:
        return None
    return f"{_COMPRESSION_NAMES.get(code, 'an unusual method')} (Compression {code})"


def tiff_orientation(tags: Mapping[int, Any], data: bytes, page: int,
                     decisions: list[str]) -> int | None:
    """The orientation (2-8) a TIFF's own tag gives (``tags``, of its ``page``), which its
    decoders apply; one they cannot (none of the eight, its data outside the file: both
    read the pixels as stored) is said in ``decisions``."""
    listed = page == 0 and _has_orientation_entry(data)  # (the first page's directory)
    return _orientation(tags.get(_ORIENTATION), listed, "TIFF", "file", decisions)


def exif_orientation(image: Image.Image, decisions: list[str]) -> int | None:
    """The EXIF orientation (2-8) to apply to ``image``'s stored pixels, or None: upright
    (1), no orientation, or one that cannot be read — said in ``decisions``."""
    try:
        value = image.getexif().get(_ORIENTATION)
    except Exception as error:  # noqa: BLE001 - a broken EXIF block must not hide the pixels
        decisions.append(f"EXIF block unreadable ({type(error).__name__}): {_UNKNOWN}")
        return None
    listed = value is None and _has_orientation_entry(_exif_block(image.info))
    return _orientation(value, listed, "EXIF", "EXIF block", decisions)


_UNKNOWN = "orientation unknown, pixels used as stored"


def _orientation(value: Any, listed: bool, source: str, container: str,
                 decisions: list[str]) -> int | None:
    """An orientation as read (None: no tag, or one skipped: ``listed`` says whether the
    directory lists it): 2-8, or None — upright, or said in ``decisions``."""
    if value in (2, 3, 4, 5, 6, 7, 8):
        return int(value)
    if value is None and listed:
        decisions.append(f"{source} orientation tag unreadable (its data lies outside the "
                         f"{container}): {_UNKNOWN}")
    elif value is not None and value != 1:
        shown = value if isinstance(value, int | str) else type(value).__name__
        decisions.append(f"{source} orientation {shown!r} is none of {source}'s 8 "
                         f"orientations: {_UNKNOWN}")
    return None


def _exif_block(info: Mapping[Any, Any]) -> bytes:
    """The TIFF-structured EXIF block of an image's ``info`` (as Pillow's ``getexif``
    finds it: a JPEG's APP1, a PNG's eXIf chunk or its "Raw profile type exif" text, a
    WebP's EXIF chunk); empty where there is none."""
    block = info.get("exif")
    if block is None and isinstance(text := info.get("Raw profile type exif"), str):
        try:
            block = bytes.fromhex("".join(text.split("\n")[3:]))
        except ValueError:
            return b""
    if not isinstance(block, bytes):
        return b""
    return block[6:] if block.startswith(b"Exif\x00\x00") else block


def _has_orientation_entry(block: bytes) -> bool:
    """Whether the first directory of an EXIF ``block`` has an Orientation entry, read from
    its bytes alone (Pillow leaves out an entry whose data lies outside the block)."""
    if len(block) < 8 or block[:4] not in (b"II*\x00", b"MM\x00*"):
        return False
    order = "<" if block[:2] == b"II" else ">"
    (start,) = struct.unpack_from(order + "I", block, 4)
    if start + 2 > len(block):
        return False
    (entries,) = struct.unpack_from(order + "H", block, start)
    for entry in range(entries):
        at = start + 2 + 12 * entry
        if at + 12 > len(block):
            return False
        if struct.unpack_from(order + "H", block, at)[0] == _ORIENTATION:
            return True
    return False


_COMPRESSED = ("a TIFF compressed with {}, which {} could not decode (its libtiff may lack "
               "that codec, or the data is damaged): save it uncompressed, or with LZW or "
               "deflate")
_BIG_ENDIAN_BIGTIFF = ("a big-endian BigTIFF, which Pillow cannot open: save it as a classic "
                       "or little-endian TIFF, or as PNG")


def undecoded_tiff(data: bytes, decoder: str, tags: Mapping[int, Any] | None = None
                   ) -> str | None:
    """Why ``decoder`` ("Pillow", "OpenCV") failed on the TIFF ``data``, where its header
    (or ``tags``, of the page decoded) says: a big-endian BigTIFF (Pillow's warning made
    an error by the caller's filters, where it would not have opened the file), or a
    compression method its libtiff may lack; None where they say nothing."""
    if decoder == "Pillow" and data[:4] == b"MM\x00+":
        return _BIG_ENDIAN_BIGTIFF
    tags = tiff_tags(data) if tags is None else tags
    compression = uncommon_compression(tags) if tags else None
    return _COMPRESSED.format(compression, decoder) if compression else None


def unopened_tiff(data: bytes) -> str | None:
    """Why Pillow could not open the TIFF ``data``, by its header (None where the header
    cannot be read either): a big-endian BigTIFF, which Pillow takes for a classic TIFF
    (it looks for BigTIFF's 43 in the byte where little-endian files keep it), or samples
    of a layout it does not read (``unreadable_tiff_samples``)."""
    if data[:4] == b"MM\x00+":
        return _BIG_ENDIAN_BIGTIFF
    tags = tiff_tags(data)
    return None if tags is None else unreadable_tiff_samples(tags, opened=False)


def unreadable_tiff_samples(tags: Mapping[int, Any], *, opened: bool) -> str | None:
    """Why the samples of a TIFF with these tags cannot be read as the file means them
    (None when they can): signed, floating-point or other non-integer samples, more than
    16 bits, 16-bit colour in separate planes — and, where Pillow could not open the file
    (``opened`` False), whatever layout its header declares."""
    bits = _tuple(tags.get(_BITS, (1,)))
    formats = set(_tuple(tags.get(_FORMAT, (1,))))
    samples = int(tags.get(_SAMPLES, 1) or 1)
    depth = "/".join(map(str, sorted(set(bits))))
    if kinds := sorted(_SAMPLE_FORMATS.get(f, f"SampleFormat {f}") for f in formats - {1}):
        return (f"a TIFF of {depth}-bit {' and '.join(kinds)} samples, which likeness does "
                "not read (decoders show them as unsigned integers or not at all, and their "
                f"data range is not in the file): scale them to 0-255 or 0-65535 and {_SAVE}")
    if max(bits) > 16:
        return (f"a TIFF of {depth}-bit integer samples, which likeness does not read (it "
                "reads 8- and 16-bit images; a 32-bit file's data range is not 16 bits'): "
                f"scale them to 0-65535 and {_SAVE}")
    photometric = tags.get(_PHOTOMETRIC)
    if photometric in _LAB or (max(bits) > 8 and photometric in _PHOTOMETRIC_NAMES):
        depth_words = "" if photometric in _LAB else f"{depth}-bit "
        return (f"a TIFF of {depth_words}{_PHOTOMETRIC_NAMES[photometric]} colours "
                f"(photometric interpretation {photometric}), which likeness does not read"
                + ("" if photometric in _LAB else " at more than 8 bits")
                + ": convert it to RGB (16-bit RGB keeps its precision)")
    if max(bits) > 8 and samples > 1 and tags.get(_PLANAR, 1) == 2:
        return (f"a TIFF of {depth}-bit samples in separate colour planes (PlanarConfiguration "
                "2), which the decoders misread: save it with interleaved (contiguous) "
                "samples")
    if opened:
        return None
    extra = len(_tuple(tags.get(_EXTRA, ()))) if _EXTRA in tags else 0
    extra_words = f", {extra} of them extra" if extra else ""
    return (f"a TIFF of {samples} {depth}-bit sample{'s' * (samples > 1)} a pixel"
            f"{extra_words}, photometric interpretation {tags.get(_PHOTOMETRIC, '?')}: a "
            "layout Pillow cannot read (or a damaged header); save it as 8- or 16-bit gray or "
            "RGB (with or without alpha)")


def unspecified_extra_sample(tags: Mapping[int, Any]) -> bool:
    """Whether a TIFF's last sample is an extra one of unspecified meaning (ExtraSamples
    0): no alpha, which Pillow drops at 8 bits and OpenCV reads as alpha at 16."""
    extra = _tuple(tags.get(_EXTRA, ()))
    return bool(extra) and extra[-1] == 0


def min_is_white(tags: Mapping[int, Any]) -> bool:
    """Whether a TIFF stores gray with 0 as white (PhotometricInterpretation 0)."""
    return tags.get(_PHOTOMETRIC) == 0


def _tuple(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)
