"""What a file says its colours mean.  likeness compares pixel values as the file stores
them — as every reference implementation reads them (scikit-image, lpips, pytorch-fid,
piq) — and applies no colour space; an image whose file says its values mean other colours
than sRGB has that decision recorded, naming what it says: an embedded ICC profile (Display
P3, Adobe RGB, a printer's gray), a PNG's cICP, gAMA or cHRM chunk (HDR, linear values,
wide primaries), a BMP's colour space (an embedded or linked profile, calibrated
endpoints) or a camera's EXIF marking Adobe RGB without a profile.

Which declaration decides follows each format's own precedence: a PNG's cICP over its
ICC profile, over its sRGB chunk, over gAMA and cHRM (PNG, third edition, 11.3.2)."""

from __future__ import annotations

import functools
import io
import os
import struct
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from likeness.wording import printable

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["NAMED_SRGB", "SAME_AS_SRGB", "colour_decisions", "declared_colours",
           "profile_decision"]

_LONGEST_NAME = 80  # characters of a profile's name kept in a decision
_NOT_APPLIED = ("not applied (pixel values read as stored, as the reference implementations "
                "read them)")
_UNREADABLE = "ICC profile unreadable, not applied (pixel values read as stored)"
_UNREAD_WITHOUT_LITTLECMS = ("ICC profile not read (this Pillow was built without littlecms), "
                             "not applied (pixel values read as stored)")


# An ICC profile is judged by what it does, not by its name: its colours are taken into
# sRGB (littlecms, relative colorimetric, as a colour-managed viewer shows them) and
# compared with the same values read as sRGB.  Within SAME_AS_SRGB levels of 255 it is
# sRGB whatever it is called (Facebook's "c2", a 26-point curve); a profile that calls
# itself sRGB is given NAMED_SRGB (a pure 2.2 gamma, a lookup-table profile), no more (a
# linear-light "Linear sRGB": 73 levels; gamma 1.8: 19; BT.709's curve: 16).
SAME_AS_SRGB, NAMED_SRGB = 2, 12
_TEST_LEVELS = 9  # a cube of 9³ colours, and the gray ramp of every level
_MODES = {"RGB ": "RGB", "GRAY": "L"}  # the profiles' colour spaces judged, as Pillow's modes


def profile_decision(profile: bytes) -> str | None:
    """The decision to record for an image carrying ``profile``: None for a profile that
    shows colours as sRGB does (what the values mean already), else that this profile,
    named, was not applied, and how far from sRGB's it puts colours."""
    return _decision(bytes(profile))


@functools.lru_cache(maxsize=64)  # a folder of one camera's photos carries one profile
def _decision(profile: bytes) -> str | None:
    try:
        from PIL import ImageCms
    except ImportError:  # a Pillow built without littlecms (its wheels all have it)
        return _UNREAD_WITHOUT_LITTLECMS
    try:
        opened = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        name = opened.profile.profile_description
        space = opened.profile.xcolor_space  # (not ASCII in a damaged header: refused)
    except Exception:  # noqa: BLE001 - littlecms refuses a damaged profile in several ways
        return _UNREADABLE
    name = printable(" ".join(str(name or "").split()))[:_LONGEST_NAME] or "without a name"
    called_srgb = "srgb" in name.lower()
    distance = _levels_from_srgb(opened, _MODES[space]) if space in _MODES else None
    if distance is None:  # a CMYK or Lab profile, or one littlecms takes nowhere
        if called_srgb and space == "RGB ":
            return None
        return f"ICC profile '{name}' {_NOT_APPLIED}"
    if distance <= SAME_AS_SRGB or (called_srgb and distance <= NAMED_SRGB):
        return None
    return f"ICC profile '{name}' (colours up to {distance}/255 from sRGB's) {_NOT_APPLIED}"


def _levels_from_srgb(opened: Any, mode: str) -> int | None:
    """The most levels of 255 by which ``opened`` (an RGB or gray profile: ``mode``) puts a
    test colour from where sRGB puts the same values (a gray level: from sRGB's gray of
    that level); None for one littlecms builds no transform from (a device link, an
    abstract profile)."""
    from PIL import Image, ImageCms

    try:
        transform = ImageCms.buildTransform(
            opened, ImageCms.createProfile("sRGB"), mode, "RGB",
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            flags=ImageCms.Flags.NOOPTIMIZE)  # (for ~1,000 colours: a fifth of the time)
    except Exception:  # noqa: BLE001 - PyCMSError, or a profile class it cannot use
        return None
    colours = _test_colours() if mode == "RGB" else _test_colours()[:, -256:, :1]  # gray ramp
    given = Image.fromarray(colours if mode == "RGB" else colours[..., 0])
    shown = np.asarray(ImageCms.applyTransform(given, transform))
    return int(np.abs(shown.astype(np.int16) - colours).max())  # (gray: each channel)


@functools.cache
def _test_colours() -> np.ndarray:
    levels = np.linspace(0, 255, _TEST_LEVELS).round().astype(np.uint8)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    return np.concatenate([cube, ramp])[None]


def colour_decisions(image: Image.Image, data: bytes) -> list[str]:
    """The decisions an image opened by Pillow (``image``, not yet decoded; ``data``: its
    file's bytes) takes for what its file says its colours mean: none where it says sRGB
    or nothing."""
    return declared_colours(image, io.BytesIO(data))


def declared_colours(image: Image.Image, file: IO[bytes]) -> list[str]:
    """``colour_decisions`` of an image opened from ``file`` (read from its header: a
    PNG's chunks before its image data, a BMP's header and embedded profile)."""
    if image.format == "PNG" and (cicp := _png_cicp(file)) is not None:
        return [note] if (note := _cicp_decision(cicp)) else []
    if "icc_profile" in image.info:  # Pillow's None: a PNG profile that did not decompress
        profile = image.info["icc_profile"]
        if not isinstance(profile, bytes) or not profile:
            return [_UNREADABLE]
        return [note] if (note := profile_decision(profile)) else []
    if image.format == "PNG":
        return [] if "srgb" in image.info else _png_gamma_and_primaries(image.info)
    if image.format == "BMP":
        return [note] if (note := _bmp_colour_space(file)) else []
    if isinstance(exif := image.info.get("exif"), bytes) and _exif_adobe_rgb(exif):
        return [f"EXIF colour space Adobe RGB (a camera's, without a profile) {_NOT_APPLIED}"]
    return []


# -- PNG ----------------------------------------------------------------------------------

_PRIMARIES = {1: "BT.709/sRGB", 4: "BT.470 M", 5: "BT.601 625", 6: "BT.601 525",
              9: "BT.2020", 10: "CIE XYZ", 11: "DCI-P3", 12: "Display P3"}
_TRANSFERS = {1: "BT.709", 4: "gamma 2.2", 5: "gamma 2.8", 6: "BT.601", 8: "linear",
              13: "sRGB", 14: "BT.2020", 15: "BT.2020", 16: "PQ (HDR)", 18: "HLG (HDR)"}


def _png_cicp(file: IO[bytes]) -> bytes | None:
    """The four bytes of a PNG's cICP chunk (primaries, transfer, matrix, full range),
    which comes before its image data, or None."""
    file.seek(8)
    while True:  # each step moves at least 12 bytes on: the file's end ends it
        header = file.read(8)
        if len(header) < 8:
            return None
        length, kind = struct.unpack(">I4s", header)
        if kind in (b"IDAT", b"IEND"):
            return None
        if kind == b"cICP":
            data = file.read(4) if length == 4 else b""  # (a hostile length: not read)
            return data if len(data) == 4 else None
        file.seek(length + 4, os.SEEK_CUR)  # the data and its CRC


def _cicp_decision(cicp: bytes) -> str | None:
    primaries, transfer, _, full_range = cicp
    if (primaries, transfer, full_range) == (1, 13, 1):
        return None
    said = [f"{_PRIMARIES.get(primaries, f'code {primaries}')} primaries",
            f"{_TRANSFERS.get(transfer, f'code {transfer}')} transfer"]
    if not full_range:
        said.append("narrow (video) range")
    return f"PNG colour space (cICP: {', '.join(said)}) {_NOT_APPLIED}"


_SRGB_GAMMA, _SAME_GAMMA = 1 / 2.2, 0.005  # the gAMA sRGB images' encoders write (45455)
# white, red, green, blue (x, y) of each colour space a cHRM chunk may name
_NAMED_PRIMARIES = {
    "sRGB": (0.3127, 0.329, 0.64, 0.33, 0.30, 0.60, 0.15, 0.06),
    "Adobe RGB": (0.3127, 0.329, 0.64, 0.33, 0.21, 0.71, 0.15, 0.06),
    "Display P3": (0.3127, 0.329, 0.68, 0.32, 0.265, 0.69, 0.15, 0.06),
    "BT.2020": (0.3127, 0.329, 0.708, 0.292, 0.17, 0.797, 0.131, 0.046),
}
_SAME_POINT = 0.005  # chromaticity coordinates as writers round them


def _png_gamma_and_primaries(info: Mapping[Any, Any]) -> list[str]:
    decisions = []
    gamma = info.get("gamma")
    if isinstance(gamma, float) and gamma > 0 and abs(gamma - _SRGB_GAMMA) > _SAME_GAMMA:
        kind = "linear values; " if gamma == 1 else ""
        decisions.append(f"PNG gamma {gamma:.5g} (gAMA chunk: {kind}sRGB's is 0.45455) "
                         f"{_NOT_APPLIED}")
    points = info.get("chromaticity")
    if isinstance(points, tuple) and len(points) == 8 and any(points):
        named = next((name for name, known in _NAMED_PRIMARIES.items()
                      if all(abs(a - b) <= _SAME_POINT
                             for a, b in zip(points, known, strict=True))), None)
        if named != "sRGB":
            white, red, green, blue = (f"({x:.4g}, {y:.4g})" for x, y in zip(
                points[::2], points[1::2], strict=True))
            what = named or f"white {white}, red {red}, green {green}, blue {blue}"
            decisions.append(f"PNG primaries of {what} (cHRM chunk), not sRGB's, "
                             f"{_NOT_APPLIED}")
    return decisions


# -- BMP ----------------------------------------------------------------------------------

_FILE_HEADER = 14  # BITMAPFILEHEADER; the BITMAPV4HEADER / BITMAPV5HEADER follow
_SRGB_TYPES = (b"BGRs", b" niW")  # LCS_sRGB, LCS_WINDOWS_COLOR_SPACE (little-endian)


def _bmp_colour_space(file: IO[bytes]) -> str | None:
    """What a BMP's V4 or V5 header says of its colours (``bV5CSType``)."""
    file.seek(0)
    header = file.read(_FILE_HEADER + 124)
    if len(header) < _FILE_HEADER + 108 or struct.unpack_from("<I", header, 14)[0] not in (
            108, 124):
        return None  # an earlier header: no colour space
    kind = header[70:74]
    if kind in _SRGB_TYPES:
        return None
    if kind == b"\0\0\0\0":  # LCS_CALIBRATED_RGB: endpoints and gammas, all zero if unset
        if not any(header[74:122]):
            return None
        return ("BMP calibrated RGB colour space (its header's endpoints and gamma) "
                f"{_NOT_APPLIED}")
    if kind in (b"DEBM", b"KNIL") and len(header) == _FILE_HEADER + 124:
        offset, size = struct.unpack_from("<II", header, _FILE_HEADER + 112)
        end = file.seek(0, os.SEEK_END)
        file.seek(_FILE_HEADER + offset)
        profile = file.read(size) if _FILE_HEADER + offset + size <= end else b""
        if kind == b"DEBM":  # PROFILE_EMBEDDED
            return profile_decision(profile) if size and len(profile) == size else _UNREADABLE
        name = printable(profile.split(b"\0")[0].decode("cp1252", "replace"))[:_LONGEST_NAME]
        return f"BMP linked colour profile '{name}' {_NOT_APPLIED}"
    return f"BMP colour space type {kind[::-1]!r} unknown, {_NOT_APPLIED}"


# -- EXIF ---------------------------------------------------------------------------------

_EXIF_IFD, _INTEROP_IFD, _COLOR_SPACE, _INTEROP_INDEX = 0x8769, 0xA005, 0xA001, 0x0001
_UNCALIBRATED, _ADOBE_RGB = 0xFFFF, 2  # (2: written by some cameras, outside the standard)
# the IFD entry ColorSpace = 2 (a SHORT), little- and big-endian
_ADOBE_RGB_ENTRIES = (b"\x01\xa0\x03\x00\x01\x00\x00\x00\x02\x00",
                      b"\xa0\x01\x00\x03\x00\x00\x00\x01\x00\x02")


def _exif_adobe_rgb(block: bytes) -> bool:
    """Whether an EXIF block marks its image Adobe RGB as cameras do without a profile:
    colour space uncalibrated with the interoperability index R03 (DCF's option file)."""
    if b"R03" not in block and not any(entry in block for entry in _ADOBE_RGB_ENTRIES):
        return False  # (most blocks: no second parse of EXIF beside the orientation's)
    from PIL import Image

    try:
        exif = Image.Exif()
        exif.load(block)
        space = exif.get_ifd(_EXIF_IFD).get(_COLOR_SPACE)
        index = exif.get_ifd(_INTEROP_IFD).get(_INTEROP_INDEX)
    except Exception:  # noqa: BLE001 - a broken EXIF block is said where orientation is read
        return False
    if isinstance(index, bytes):
        index = index.decode("latin-1")
    return space == _ADOBE_RGB or (space == _UNCALIBRATED and isinstance(index, str)
                                   and index.strip("\0 ") == "R03")
