"""Transparency: a PNG's transparent colour as an alpha channel, a TIFF's associated
(premultiplied) alpha divided out, and the user's choice for real transparency
(``alpha``: composite over white or black, or drop it) — refused without one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from likeness.errors import ImageLoadError

__all__ = ["ALPHA_CHOICES", "BMP_FOURTH_BYTE", "TGA_UNDECLARED_ALPHA", "associated_alpha",
           "bmp_fourth_bytes", "colour_key_alpha", "resolve_alpha", "tga_declares_no_alpha",
           "unpremultiplied"]

ALPHA_CHOICES = ("white", "black", "drop")
BMP_FOURTH_BYTE = ("32-bit BMP whose unused fourth byte varies, as alpha would: ignored, as "
                   "the BMP format and Pillow ignore it; if it is alpha, save the image as "
                   "PNG")
TGA_UNDECLARED_ALPHA = ("TGA whose header declares no alpha bits: its last sample, which "
                        "varies as alpha would (Pillow reads it as alpha), ignored, as the "
                        "header says; if it is alpha, save the image as PNG")


def colour_key_alpha(pixels: np.ndarray, key: object,
                           decisions: list[str]) -> np.ndarray:
    """A gray or RGB PNG whose tRNS chunk names one transparent colour: that colour becomes
    an alpha channel, so that the alpha policy applies (Pillow's arrays leave it out)."""
    if key is None or isinstance(key, bytes):
        return pixels
    colour = np.asarray(key if isinstance(key, tuple) else (key,), dtype=np.int64)
    planes = pixels if pixels.ndim == 3 else pixels[:, :, np.newaxis]
    if planes.shape[2] != colour.shape[0]:
        return pixels
    transparent = np.all(planes == colour, axis=2)
    if not transparent.any():
        return pixels  # the named colour does not occur: nothing is transparent
    full = np.iinfo(pixels.dtype).max
    alpha = np.where(transparent, 0, full).astype(pixels.dtype)[:, :, np.newaxis]
    decisions.append(f"transparent colour {tuple(int(c) for c in colour)} (PNG tRNS) read "
                     "as an alpha channel")
    return np.concatenate([planes, alpha], axis=2)


def resolve_alpha(path: Path, pixels: np.ndarray, alpha: str | None,
                  decisions: list[str]) -> np.ndarray:
    """The colours of ``pixels`` (alpha last) as ``alpha`` says: a fully opaque alpha
    dropped; otherwise composited over white or black, or dropped, or refused (None)."""
    colour, opacity = pixels[:, :, :-1], pixels[:, :, -1]
    full = np.iinfo(pixels.dtype).max
    if np.all(opacity == full):
        decisions.append("fully opaque alpha channel dropped")
        return colour
    if alpha is None:
        transparent = int(np.count_nonzero(opacity != full))
        raise ImageLoadError(
            f"{path}: the image has real transparency ({transparent} of {opacity.size} pixels "
            "are not opaque); choose how to handle it: alpha='white' or alpha='black' "
            "composites over that background, alpha='drop' ignores the alpha channel"
        )
    if alpha == "drop":
        decisions.append("alpha channel ignored (alpha='drop')")
        return colour
    background = full if alpha == "white" else 0
    weight = opacity[:, :, np.newaxis].astype(np.float64) / full
    blended = colour * weight + background * (1.0 - weight)
    decisions.append(f"transparent pixels composited over {alpha} (alpha='{alpha}')")
    return np.rint(blended).astype(pixels.dtype)


def associated_alpha(image: Image.Image, pixels: np.ndarray, decisions: list[str]) -> bool:
    """Whether a TIFF's alpha is associated (ExtraSamples 1: colours stored multiplied by
    it) and not fully opaque: its colours are divided by it, as Pillow does for 8 bits
    (OpenCV, which reads 16 bits, does not), and the decision says so."""
    extra = getattr(image, "tag_v2", {}).get(338)
    if 1 not in (extra if isinstance(extra, tuple) else (extra,)) or np.all(
            pixels[:, :, -1] == np.iinfo(pixels.dtype).max):
        return False
    decisions.append("associated (premultiplied) alpha: colours divided by alpha, as Pillow "
                     "reads such files")
    return True


def unpremultiplied(pixels: np.ndarray) -> np.ndarray:
    """16-bit colours stored multiplied by alpha, divided by it as Pillow divides 8-bit
    ones: floor(colour · 65535 / alpha), at most 65535; 0 where alpha is 0."""
    opacity = pixels[:, :, -1:].astype(np.int64)
    colour = pixels[:, :, :-1].astype(np.int64) * 65535 // np.maximum(opacity, 1)
    colour = np.where(opacity == 0, 0, np.minimum(colour, 65535))
    return np.concatenate([colour, opacity], axis=2).astype(np.uint16)


def bmp_fourth_bytes(tile: Any, size: tuple[int, int], data: bytes) -> bool:
    """Whether a 32-bit BMP (without bit masks: Pillow's raw ``BGRX`` ``tile``, read
    before decoding clears it) holds varying values in the fourth byte of its pixels,
    which the format leaves unused and Pillow drops — where Pillow itself writes an RGBA
    image's alpha."""
    try:
        offset, rawmode, stride = int(tile[2]), str(tile[3][0]), int(tile[3][1])
    except (TypeError, ValueError, IndexError):
        return False
    width, height = size
    if rawmode != "BGRX" or stride < 4 * width or offset + stride * height > len(data):
        return False
    rows = np.frombuffer(data, np.uint8, count=stride * height, offset=offset)
    fourth = rows.reshape(height, stride)[:, 3:4 * width:4]
    return bool(fourth.size) and bool(np.any(fourth != fourth.flat[0]))


def tga_declares_no_alpha(data: bytes) -> bool:
    """Whether a TGA's header declares no alpha bits (the image descriptor's low four bits,
    byte 17): Pillow reads the last sample of 32-bit colour, 16-bit colour (its top bit)
    and 16-bit gray as alpha whatever they say — where an X1R5G5B5 file's 0 bits make the
    whole image transparent."""
    return len(data) > 17 and data[17] & 0x0F == 0
