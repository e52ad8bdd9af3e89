"""Decode image files into arrays that are exactly what the file holds.

``load_image`` never guesses: a file it cannot decode faithfully raises
:class:`~likeness.errors.ImageLoadError` naming the file and the cause, and every decision
it takes on the user's behalf (alpha dropped, EXIF orientation applied, palette expanded,
CMYK converted) is listed in the result's ``decisions``.  Decoders: Pillow for everything
it reads losslessly; OpenCV for PNG and TIFF files with 16-bit colour (or gray+alpha)
samples, which Pillow silently truncates to 8 bits."""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from likeness.arguments import check_paths
from likeness.errors import (
    ImageLoadError,
    InvalidInputError,
    LikenessError,
    raise_interruption,
)
from likeness.io.alpha import (
    ALPHA_CHOICES,
    BMP_FOURTH_BYTE,
    TGA_UNDECLARED_ALPHA,
    associated_alpha,
    bmp_fourth_bytes,
    colour_key_alpha,
    resolve_alpha,
    tga_declares_no_alpha,
    unpremultiplied,
)
from likeness.io.bit_depths import (
    decode_with_opencv,
    deep_colour_channels,
    narrow_values_note,
    pnm_maxval,
)
from likeness.io.files import (
    IMAGE_EXTENSIONS,
    PILLOW_FORMATS,
    FileStamp,
    read_as_hashed,
    stat_regular_file,
)
from likeness.io.integrity import (
    foreign_format,
    jpeg_unread_frame,
    misnamed,
    sniff_format,
    verify_integrity,
    verify_png_image_data,
)
from likeness.io.plain_png import animation_frames, decode_plain_png
from likeness.io.profiles import colour_decisions
from likeness.io.tiff import (
    JPEG_IN_TIFF,
    MIN_IS_WHITE,
    exif_orientation,
    image_page,
    lossy_compression,
    min_is_white,
    tiff_orientation,
    undecoded_tiff,
    unopened_tiff,
    unreadable_tiff_samples,
    unspecified_extra_sample,
)

# Pillow's own decompression-bomb limit (2 × Image.MAX_IMAGE_PIXELS): a header claiming
# more pixels is refused unread, saying what to do (the command line has no max_pixels)
DEFAULT_MAX_PIXELS = 178_956_970
_GENUINE = (" (a guard against decompression bombs, as in the reference tools, which "
            "decode with Pillow too); if the file is genuine, tile or downscale it")


@dataclass(frozen=True)
class LoadedImage:
    """The pixels of one file and what the file was.

    Attributes:
        path: the file.
        pixels: (H, W, C) array, uint8 or uint16; C is 1 (gray) or 3 (RGB) after alpha
            handling.
        format: the container format as Pillow names it ("PNG", "JPEG", ...).
        mode: the file's original pixel mode (Pillow's name, e.g. "RGB", "P", "I;16", or
            "RGB;16" for 16-bit colour).
        bit_depth: 8 or 16, the bits per sample of ``pixels``.
        had_alpha: whether the file carried an alpha channel.
        orientation: the EXIF orientation (2-8) that was applied, or None.
        decisions: what was done on the user's behalf, in words.
    """

    path: Path
    pixels: np.ndarray
    format: str
    mode: str
    bit_depth: int
    had_alpha: bool = False
    orientation: int | None = None
    decisions: tuple[str, ...] = field(default=())

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])

    @property
    def data_range(self) -> int:
        """255 for 8-bit images, 65535 for 16-bit ones."""
        return 2**self.bit_depth - 1


def load_image(path: str | os.PathLike[str], *, alpha: str | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS,
               expect_sha256: str | None = None,
               hashed_stamp: FileStamp | None = None) -> LoadedImage:
    """Decode an image file into an (H, W, C) uint8/uint16 array, faithfully.

    PNG (1-16 bit, gray, gray+alpha, RGB, RGBA, palette; chunk checksums verified), JPEG
    (EXIF orientation applied, CMYK converted, entropy-coded data verified), BMP, TIFF,
    WebP, GIF, TGA and PBM/PGM/PPM.  16-bit files keep 16 bits.  Of an animation or a
    multi-page file the first frame is used, and the decision recorded.

    Args:
        path: the file.
        alpha: what to do with real transparency: ``"white"`` or ``"black"`` composites over
            that background, ``"drop"`` ignores the alpha channel.  None (default) refuses
            an image that is not fully opaque.  A fully opaque alpha channel is always dropped.
        max_pixels: refuse files whose header claims more pixels than this (Pillow
            refuses more than 2 × ``PIL.Image.MAX_IMAGE_PIXELS`` whatever this says).
        expect_sha256: the SHA-256 the file had when it was hashed: bytes that differ now
            (the file was rewritten since) are refused, so that a value is never stored
            under the hash of other bytes.
        hashed_stamp: the file's stamp when it was hashed, where settled (``Digests``):
            bytes read while the file keeps that stamp are not hashed again.

    Returns:
        A :class:`LoadedImage`.

    Raises:
        ImageLoadError: the file is missing, not a regular file, empty, corrupt,
            truncated, not an image, of an unsupported pixel type, absurdly large, or
            transparent without an ``alpha`` choice; or its decoder warned and the
            caller's warning filters make warnings errors (``python -W error``): the
            message names the warning to let through.

    Example:
        >>> image = load_image("samples/reference/astronaut.png")  # from the clone's root
        >>> image.pixels.shape, image.bit_depth
        ((256, 256, 3), 8)
    """
    check_paths(path=path)
    path = Path(path)
    if alpha is not None and alpha not in ALPHA_CHOICES:
        raise InvalidInputError(f"alpha must be one of {ALPHA_CHOICES} or None, got {alpha!r}")
    if stat_regular_file(path).st_size == 0:
        raise ImageLoadError(f"{path}: the file is empty")
    data = read_as_hashed(path, expect_sha256, hashed_stamp)
    claimed = sniff_format(data[:64])
    Image.init()  # every plugin registered, so that ``formats`` names only known ones
    try:
        # no warnings.catch_warnings here: it is process-wide, and decoding runs in threads
        with Image.open(io.BytesIO(data), formats=PILLOW_FORMATS) as image:
            return _decode(path, image, alpha, max_pixels, data)
    except LikenessError:  # ImageLoadError, or a switch set to a word it does not take
        raise
    except Image.DecompressionBombError as error:
        # "Image size (N pixels) exceeds limit of L pixels, could be decompression bomb …"
        sizes = re.findall(r"(\d+) pixels", str(error))
        claims = f"{sizes[0]} pixels, more than Pillow's limit of {sizes[1]}" if len(
            sizes) == 2 else f"an absurd size ({error})"
        raise ImageLoadError(f"{path}: the header claims {claims}{_GENUINE}") from None
    except UnidentifiedImageError:
        if claimed == "TIFF" and (why := unopened_tiff(data)) is not None:
            raise ImageLoadError(f"{path}: {why}") from None
        if claimed == "JPEG" and (frame := jpeg_unread_frame(data)):
            raise ImageLoadError(f"{path}: {frame}") from None
        if claimed is not None:
            raise ImageLoadError(f"{path}: corrupt or truncated {claimed} file (its header "
                                 "cannot be read)") from None
        if foreign := foreign_format(data[:512]):
            raise ImageLoadError(f"{path}: {foreign}") from None
        raise ImageLoadError(f"{path}: not an image file likeness can read: its first bytes "
                             "are those of no supported format (supported: "
                             f"{', '.join(sorted(IMAGE_EXTENSIONS))})") from None
    except MemoryError:
        raise ImageLoadError(f"{path}: too large to decode in the memory available") from None
    except Exception as error:  # a decoder failing in any way: the file is not trustworthy
        raise_interruption(error)
        if claimed == "TIFF" and (why := undecoded_tiff(data, "Pillow")):
            raise ImageLoadError(f"{path}: {why}") from None
        if "MAX_TEXT_" in str(error):  # Pillow's limits on a PNG's metadata, not its pixels
            raise ImageLoadError(f"{path}: its text or colour-profile chunks decompress past "
                                 "the limits Pillow sets against decompression bombs "
                                 "(PngImagePlugin.MAX_TEXT_CHUNK, MAX_TEXT_MEMORY): save the "
                                 "image again without that metadata") from None
        if isinstance(error, Warning) and not re.search(r"corrupt|truncat", str(error), re.I):
            # made an error by the caller's filters (python -W error, pytest's
            # filterwarnings = error): a warning (a tag skipped, a large image), not a
            # verdict on the file — one that says the data is damaged is one
            module, name = type(error).__module__, type(error).__qualname__
            category = name if module == "builtins" else f"{module}.{name}"
            large = isinstance(error, Image.DecompressionBombWarning)
            raise ImageLoadError(f"{path}: {error} (a warning of its decoder's, an error in "
                                 f"this process by its warning filters): let {category} "
                                 "through" + (", or raise PIL.Image.MAX_IMAGE_PIXELS" if large
                                              else " to read the file as a run reads it")
                                 ) from None
        kind = claimed or "image"
        raise ImageLoadError(f"{path}: corrupt or truncated {kind} file "
                             f"({type(error).__name__}: {error})") from None


def _decode(path: Path, image: Image.Image, alpha: str | None, max_pixels: int,
            data: bytes) -> LoadedImage:
    page, frames, counted_all = (
        image_page(image, path, data) if image.format == "TIFF"
        else (0, animation_frames(data), True)
        if image.format == "PNG" and getattr(image, "is_animated", False)
        else (0, getattr(image, "n_frames", 1), True))
    width, height = image.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise ImageLoadError(
            f"{path}: the header claims {width}x{height} pixels, more than the limit of "
            f"{max_pixels}{_GENUINE}"
        )
    file_format = image.format or path.suffix.lstrip(".").upper()
    decisions: list[str] = []
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        # Pillow's warning names no file; a run ignores it (``recording_warnings``)
        decisions.append(f"{width}x{height} pixels decoded, more than Pillow's "
                         f"decompression-bomb warning limit of {Image.MAX_IMAGE_PIXELS:,} "
                         f"(refused beyond {min(max_pixels, 2 * Image.MAX_IMAGE_PIXELS):,})")
    verify_integrity(path, image, data)
    if other := misnamed(path, data[:64]):
        decisions.append(other)
    tags = getattr(image, "tag_v2", {}) if image.format == "TIFF" else {}
    if tags and (refusal := unreadable_tiff_samples(tags, opened=True)):
        raise ImageLoadError(f"{path}: {refusal}")
    if tags and lossy_compression(tags):
        decisions.append(JPEG_IN_TIFF)
    if page:
        decisions.append(f"page {page + 1} of the TIFF read: page 1 is a reduced-resolution "
                         "copy of it (a thumbnail)")
    if frames > 1:
        decisions.append(f"first of {'' if counted_all else 'more than '}{frames} frames "
                         f"used (animated or multi-page {file_format})")
    decisions += colour_decisions(image, data)
    tiles = getattr(image, "tile", None)  # (decoding clears them)
    bmp_tile = tiles[0] if image.format == "BMP" and tiles else None
    deep_channels = deep_colour_channels(path, image, data)
    if image.format == "PPM" and (maxval := pnm_maxval(data) or 255) < 255:
        decisions.append(f"PGM/PPM samples of maxval {maxval} scaled to 0-255 (by Pillow, "
                         f"× {255 / maxval:.4g}): data range 255")
    # a TIFF's decoders (Pillow's, OpenCV's) turn it upright themselves: read before they do
    turned_by_decoder = tiff_orientation(tags, data, page, decisions) if tags else None
    plain = None  # Pillow's pixels of a plain PNG, decoded faster (``decode_plain_png``)
    if file_format == "PNG" and image.mode in ("L", "LA", "RGB", "RGBA") and not deep_channels:
        plain = decode_plain_png(data)
    if file_format == "PNG" and plain is None:
        verify_png_image_data(path, data)  # the decoders would fill missing rows with black
    if deep_channels:
        try:
            pixels = decode_with_opencv(path, deep_channels, data, page)
        except ImageLoadError:
            if tags and (why := undecoded_tiff(data, "OpenCV", tags)):
                raise ImageLoadError(f"{path}: {why}") from None
            raise
        mode = f"{image.mode};16"
    elif plain is not None:
        pixels, mode = plain, image.mode
    else:
        pixels, mode = _decode_with_pillow(path, image, decisions)
    if min_is_white(tags):  # Pillow inverts gray of 8 bits or fewer, not of 16
        pixels = ~pixels if pixels.dtype == np.uint16 else pixels
        decisions.append(MIN_IS_WHITE)
    if bmp_tile is not None and bmp_fourth_bytes(bmp_tile, image.size, data):
        decisions.append(BMP_FOURTH_BYTE)
    key = image.info.get("transparency")
    if key is not None and (mode in ("L", "RGB", "I", "RGB;16") or mode.startswith("I;16")):
        pixels = colour_key_alpha(pixels, key, decisions)
    # after decoding: Pillow's getexif() may decode the image itself, and a decoding error
    # must surface as such, not be taken for a broken EXIF block
    # (a PNG decoded by decode_plain_png has no EXIF after its pixels, and Pillow's
    # getexif() would decode it again to look there)
    orientation = (None if (plain is not None and "exif" not in image.info
                            and "Raw profile type exif" not in image.info)
                   or image.format == "TIFF" else exif_orientation(image, decisions))
    pixels = pixels[:, :, np.newaxis] if pixels.ndim == 2 else pixels
    if deep_channels and pixels.shape[2] in (2, 4) and unspecified_extra_sample(tags):
        pixels = pixels[:, :, :-1]  # no alpha, as Pillow reads such a file at 8 bits
    if image.format == "TGA" and pixels.shape[2] in (2, 4) and tga_declares_no_alpha(data):
        if np.any(pixels[:, :, -1] != pixels[0, 0, -1]):  # (a constant one is padding)
            decisions.append(TGA_UNDECLARED_ALPHA)
        pixels = pixels[:, :, :-1]
    had_alpha = pixels.shape[2] in (2, 4)
    if had_alpha and image.format == "TIFF" and associated_alpha(image, pixels, decisions):
        pixels = unpremultiplied(pixels) if pixels.dtype == np.uint16 else pixels
    if narrow := narrow_values_note(pixels[:, :, :pixels.shape[2] - had_alpha]):
        decisions.append(narrow)
    if had_alpha:
        pixels = resolve_alpha(path, pixels, alpha, decisions)
    if orientation is not None:
        pixels = _apply_orientation(pixels, orientation)
    orientation = orientation or turned_by_decoder  # (a TIFF's decoder turned it itself)
    if orientation is not None:
        decisions.append(f"EXIF orientation {orientation} applied")
    bit_depth = 16 if pixels.dtype == np.uint16 else 8
    return LoadedImage(path=path, pixels=np.ascontiguousarray(pixels), format=file_format,
                       mode=mode, bit_depth=bit_depth, had_alpha=had_alpha,
                       orientation=orientation, decisions=tuple(decisions))


def _decode_with_pillow(path: Path, image: Image.Image,
                        decisions: list[str]) -> tuple[np.ndarray, str]:
    mode = image.mode
    image.load()  # decode now: truncation and corruption raise here
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.array(image), mode
    if mode == "1":
        decisions.append("1-bit image expanded to 8-bit gray (0 and 255)")
        return np.array(image.convert("L")), mode
    if mode in ("P", "PA"):
        _check_palette_indices(path, image)
        has_alpha = mode == "PA" or "transparency" in image.info
        converted = image.convert("RGBA" if has_alpha else "RGB")
        decisions.append("palette expanded to RGB")
        return np.array(converted), mode
    if mode in ("RGBX", "RGBa", "La", "YCbCr", "CMYK"):
        target = {"RGBX": "RGB", "RGBa": "RGBA", "La": "LA", "YCbCr": "RGB", "CMYK": "RGB"}[mode]
        if mode in ("CMYK", "YCbCr"):
            decisions.append(f"{mode} converted to RGB (Pillow)")
        return np.array(image.convert(target)), mode
    if mode.startswith("I;16"):
        return np.array(image).astype(np.uint16), mode
    if mode == "I":
        pixels = np.array(image)
        if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
            raise ImageLoadError(f"{path}: integer samples from {pixels.min()} to "
                                 f"{pixels.max()} (signed or 32-bit) are not supported: only "
                                 "0..65535; save the image with unsigned 8 or 16 bits per "
                                 "sample")
        return pixels.astype(np.uint16), mode
    raise ImageLoadError(
        f"{path}: unsupported pixel mode {mode!r} (floating-point or exotic images); "
        "save the image as 8- or 16-bit gray or RGB"
    )


def _check_palette_indices(path: Path, image: Image.Image) -> None:
    """Refuse a palette image whose pixels use an index beyond its palette: a colour the
    file does not define (the PNG and GIF specifications call it an error), which every
    decoder shows as black."""
    entries = len(image.getpalette() or []) // 3
    indices = np.asarray(image)
    top = int(indices[..., 0].max() if indices.ndim == 3 else indices.max()) if indices.size else 0
    if top >= entries:
        raise ImageLoadError(f"{path}: its pixels use palette index {top}, beyond its palette "
                             f"of {entries} colour{'s' * (entries != 1)}: their colour is not "
                             "defined (decoders show black); save the image again from its "
                             "source")


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn the stored pixels upright as EXIF orientation 2-8 says (as Pillow's exif_transpose)."""
    transposed = pixels.transpose(1, 0, 2)
    return {
        2: pixels[:, ::-1],
        3: pixels[::-1, ::-1],
        4: pixels[::-1, :],
        5: transposed,
        6: np.rot90(pixels, k=-1),
        7: transposed[::-1, ::-1],
        8: np.rot90(pixels, k=1),
    }[orientation]
