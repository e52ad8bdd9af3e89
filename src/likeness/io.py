"""Decode image files into arrays that are exactly what the file holds, and pair files.

``load_image`` never guesses: a file it cannot decode faithfully raises
:class:`~likeness.errors.ImageLoadError` naming the file and the cause, and every decision
it takes on the user's behalf (alpha dropped, EXIF orientation applied, palette expanded,
CMYK converted) is listed in the result's ``decisions``.

Decoders: Pillow for everything it reads losslessly; OpenCV for PNG and TIFF files with
16-bit colour (or gray+alpha) samples, which Pillow silently truncates to 8 bits.
"""

from __future__ import annotations

import csv
import errno
import io as io_module
import os
import stat as stat_module
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from likeness.errors import ImageLoadError, PairingError

__all__ = [
    "IMAGE_EXTENSIONS",
    "LoadedImage",
    "Pairing",
    "find_images",
    "load_image",
    "pair_folders",
    "pair_scanned",
    "path_key",
    "read_manifest",
    "same_file_key",
    "scan_folder",
    "sniff_format",
    "stat_regular_file",
    "to_luma",
]

# What the loader reads (Pillow's names; JPEG includes multi-picture MPO files), and the
# extensions folder discovery picks up: the same list, so no readable file is skipped unseen.
PILLOW_FORMATS = ("PNG", "JPEG", "BMP", "DIB", "TIFF", "WEBP", "GIF", "TGA", "PPM")
IMAGE_EXTENSIONS = frozenset({".png", ".apng", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib",
                              ".tif", ".tiff", ".webp", ".gif", ".tga", ".ppm", ".pgm", ".pbm",
                              ".pnm"})
# Pillow's own decompression-bomb limit: a header claiming more pixels is refused unread.
DEFAULT_MAX_PIXELS = 178_956_970
ALPHA_CHOICES = ("white", "black", "drop")
_EXIF_ORIENTATION = 0x0112


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


_SPECIAL_FILES = ((stat_module.S_ISDIR, "a folder"), (stat_module.S_ISFIFO, "a FIFO (named pipe)"),
                  (stat_module.S_ISCHR, "a character device"),
                  (stat_module.S_ISBLK, "a block device"), (stat_module.S_ISSOCK, "a socket"))


def stat_regular_file(path: Path) -> os.stat_result:
    """The status of ``path`` (links followed) if it is a regular file; else an error that
    says what it is, before a single byte is read (a FIFO or ``/dev/zero`` would hang or
    never end).

    Raises:
        ImageLoadError: missing, a broken link, a link loop, a folder, FIFO, device, socket.
    """
    try:
        status = os.stat(path)
    except ValueError:  # a NUL byte in the name (from a CSV, say): no file has it
        raise ImageLoadError(f"{str(path)!r}: the path contains a NUL byte") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ImageLoadError(f"{path}: a symbolic link loop, not a file") from None
        if error.errno == errno.ENOENT and os.path.lexists(path):
            raise ImageLoadError(f"{path}: a broken symbolic link (to "
                                 f"{os.readlink(path)})") from None
        if error.errno == errno.ENOENT:
            raise ImageLoadError(f"{path}: no such file") from None
        raise ImageLoadError(f"{path}: cannot read the file ({error.strerror or error})"
                             ) from None
    for test, kind in _SPECIAL_FILES:
        if test(status.st_mode):
            raise ImageLoadError(f"{path}: {kind}, not a regular file; likeness reads "
                                 "only regular image files")
    return status


def load_image(path: str | os.PathLike[str], *, alpha: str | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
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
        max_pixels: refuse files whose header claims more pixels than this.

    Returns:
        A :class:`LoadedImage`.

    Raises:
        ImageLoadError: the file is missing, not a regular file, empty, corrupt (a decoder
            warning about corrupt data included), truncated, not an image, of an
            unsupported pixel type, absurdly large, or transparent without an ``alpha``
            choice.

    Example:
        >>> image = load_image("samples/reference/astronaut.png")  # doctest: +SKIP
        >>> image.pixels.shape, image.bit_depth
        ((256, 256, 3), 8)
    """
    path = Path(path)
    if alpha is not None and alpha not in ALPHA_CHOICES:
        raise ValueError(f"alpha must be one of {ALPHA_CHOICES} or None, got {alpha!r}")
    if stat_regular_file(path).st_size == 0:
        raise ImageLoadError(f"{path}: the file is empty")
    with open(path, "rb") as handle:
        head = handle.read(64)
    claimed = sniff_format(head)
    Image.init()  # every plugin registered, so that ``formats`` names only known ones
    try:
        # no warnings.catch_warnings here: it is process-wide, and decoding runs in threads
        with Image.open(path, formats=PILLOW_FORMATS) as image:
            return _decode(path, image, alpha, max_pixels)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageLoadError(f"{path}: the header claims an absurd size ({error})") from None
    except UnidentifiedImageError:
        if claimed is not None:
            raise ImageLoadError(f"{path}: corrupt or truncated {claimed} file (its header "
                                 "cannot be read)") from None
        raise ImageLoadError(f"{path}: not an image file likeness can read: its first bytes "
                             "are those of no supported format (supported: "
                             f"{', '.join(sorted(IMAGE_EXTENSIONS))})") from None
    except MemoryError:
        raise ImageLoadError(f"{path}: too large to decode in the memory available") from None
    except Exception as error:  # a decoder failing in any way: the file is not trustworthy
        kind = claimed or "image"
        raise ImageLoadError(f"{path}: corrupt or truncated {kind} file "
                             f"({type(error).__name__}: {error})") from None


# The first bytes of each supported format, so that a message can say what a file is.
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"),
          (b"GIF89a", "GIF"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"BM", "BMP"))


def sniff_format(head: bytes) -> str | None:
    """The format a file's first bytes claim (None when they claim none we read)."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if len(head) >= 2 and head[0:1] == b"P" and head[1:2] in b"123456":
        return "PBM/PGM/PPM"
    return None


def _decode(path: Path, image: Image.Image, alpha: str | None, max_pixels: int) -> LoadedImage:
    width, height = image.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise ImageLoadError(
            f"{path}: the header claims {width}x{height} pixels, more than the limit of "
            f"{max_pixels}; if the file is genuine, pass a larger max_pixels"
        )
    file_format = image.format or path.suffix.lstrip(".").upper()
    decisions: list[str] = []
    _verify_integrity(path, image)
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        decisions.append(f"first of {frames} frames used (animated or multi-page "
                         f"{file_format})")
    deep_channels = _deep_colour_channels(path, image)
    if deep_channels:
        pixels, mode = _decode_with_opencv(path, deep_channels), f"{image.mode};16"
    else:
        pixels, mode = _decode_with_pillow(path, image, decisions)
    key = image.info.get("transparency")
    if key is not None and (mode in ("L", "RGB", "I", "RGB;16") or mode.startswith("I;16")):
        pixels = _with_colour_key_alpha(pixels, key, decisions)
    # after decoding: Pillow's getexif() may decode the image itself, and a decoding error
    # must surface as such, not be taken for a broken EXIF block
    orientation = _exif_orientation(image, decisions)
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    had_alpha = pixels.shape[2] in (2, 4)
    if had_alpha:
        pixels = _resolve_alpha(path, pixels, alpha, decisions)
    if orientation is not None:
        pixels = _apply_orientation(pixels, orientation)
        decisions.append(f"EXIF orientation {orientation} applied")
    bit_depth = 16 if pixels.dtype == np.uint16 else 8
    return LoadedImage(path=path, pixels=np.ascontiguousarray(pixels), format=file_format,
                       mode=mode, bit_depth=bit_depth, had_alpha=had_alpha,
                       orientation=orientation, decisions=tuple(decisions))


def _verify_integrity(path: Path, image: Image.Image) -> None:
    """Checks the decoders skip: PNG chunk checksums (Pillow does not verify image-data
    chunks, so damaged bytes near the end decode to wrong pixels), JPEG entropy-coded
    data (libjpeg only *warns* about corrupt data, and Pillow discards its warnings), and
    the end of a GIF (Pillow decodes a GIF cut off after its last frame)."""
    if image.format == "PNG":
        _verify_png_chunks(path)
    elif image.format in ("JPEG", "MPO"):
        _verify_jpeg_data(path)
    elif image.format == "GIF":
        with open(path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b";":
                raise ImageLoadError(f"{path}: corrupt or truncated GIF file (it does not end "
                                     "with the GIF trailer)")


def _verify_png_chunks(path: Path) -> None:
    data = path.read_bytes()
    offset = 8
    while True:
        if offset + 12 > len(data):
            raise ImageLoadError(f"{path}: corrupt or truncated PNG file (it ends before "
                                 "its IEND chunk)")
        length = int.from_bytes(data[offset:offset + 4], "big")
        kind = data[offset + 4:offset + 8]
        end = offset + 8 + length
        if end + 4 > len(data):
            raise ImageLoadError(f"{path}: corrupt or truncated PNG file (chunk "
                                 f"{kind.decode('latin-1')!r} at byte {offset} is cut off)")
        stored = int.from_bytes(data[end:end + 4], "big")
        if zlib.crc32(data[offset + 4:end]) != stored:
            raise ImageLoadError(f"{path}: corrupt or truncated PNG file (chunk "
                                 f"{kind.decode('latin-1')!r} at byte {offset} fails its "
                                 "CRC check)")
        if kind == b"IEND":
            return
        offset = end + 4


def _verify_jpeg_data(path: Path) -> None:
    import simplejpeg

    data = path.read_bytes()
    try:
        colourspace = simplejpeg.decode_jpeg_header(data)[2]
        target = {"Gray": "GRAY", "CMYK": "CMYK", "YCCK": "CMYK"}.get(colourspace, "RGB")
        # scaled down 8x: every coefficient is still entropy-decoded (so every warning
        # about corrupt data is raised) while the inverse DCT costs almost nothing
        simplejpeg.decode_jpeg(data, colorspace=target, min_factor=8, strict=True)
    except ValueError as error:
        raise ImageLoadError(f"{path}: corrupt or truncated JPEG file (libjpeg-turbo: "
                             f"{error})") from None


def _exif_orientation(image: Image.Image, decisions: list[str]) -> int | None:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION)
    except Exception as error:  # a broken EXIF block must not hide the pixels
        decisions.append(f"EXIF block unreadable ({type(error).__name__}): orientation "
                         "unknown, pixels used as stored")
        return None
    return int(value) if value in (2, 3, 4, 5, 6, 7, 8) else None


def _deep_colour_channels(path: Path, image: Image.Image) -> int:
    """The channel count of a 16-bit colour (or gray+alpha) PNG, TIFF or PPM file, which
    Pillow cuts to 8 bits, read from its header (0 for every other file): channels follow
    the file's declared mode, never its content."""
    if image.format == "PNG":
        with open(path, "rb") as handle:
            header = handle.read(26)
        # IHDR: 8-byte signature, length, type, width, height, then bit depth and colour type
        bit_depth, colour_type = header[24], header[25]
        return {2: 3, 4: 2, 6: 4}.get(colour_type, 0) if bit_depth == 16 else 0
    if image.format == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(258)  # BitsPerSample
        samples = bits if isinstance(bits, tuple) else (bits,)
        deep = len(samples) > 1 and any(b is not None and b > 8 for b in samples)
        return len(samples) if deep else 0
    if image.format == "PPM":
        maxval = _pnm_maxval(path)
        if maxval not in (None, 255, 65535) and not (image.mode == "1" or maxval < 255):
            raise ImageLoadError(f"{path}: a PGM/PPM file with maxval {maxval} (neither 8- nor "
                                 "16-bit samples) is not supported; save it with maxval 255 "
                                 "or 65535")
        return 3 if maxval == 65535 and image.mode == "RGB" else 0
    return 0


def _pnm_maxval(path: Path) -> int | None:
    """The maxval of a binary or plain PGM/PPM header (None for bitmaps and PAM)."""
    with open(path, "rb") as handle:
        head = handle.read(512)
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


def _decode_with_opencv(path: Path, channels: int) -> np.ndarray:
    import cv2

    buffer = np.fromfile(path, dtype=np.uint8)
    pixels = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)  # keeps 16 bits; EXIF applied by us
    if pixels is None:
        raise ImageLoadError(f"{path}: corrupt or truncated image (OpenCV could not decode it)")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ImageLoadError(f"{path}: unsupported sample type {pixels.dtype}; "
                             "save the image as 8- or 16-bit integers")
    if pixels.ndim == 3:
        if pixels.shape[2] == 3:
            pixels = pixels[:, :, ::-1]
        elif pixels.shape[2] == 4:
            pixels = pixels[:, :, [2, 1, 0, 3]]
            if channels == 2:  # a gray+alpha file, which OpenCV expands to BGRA
                pixels = pixels[:, :, [0, 3]]
    return pixels


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
            raise ImageLoadError(f"{path}: 32-bit integer samples outside 0..65535 are not "
                                 "supported; save the image with 8 or 16 bits per sample")
        return pixels.astype(np.uint16), mode
    raise ImageLoadError(
        f"{path}: unsupported pixel mode {mode!r} (floating-point or exotic images); "
        "save the image as 8- or 16-bit gray or RGB"
    )


def _with_colour_key_alpha(pixels: np.ndarray, key: object,
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


def _resolve_alpha(path: Path, pixels: np.ndarray, alpha: str | None,
                   decisions: list[str]) -> np.ndarray:
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


def to_luma(pixels: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of an (H, W, 3) image, as Pillow's ``convert("L")`` computes it.

    Integer arithmetic (weights 19595, 38470, 7471 over 2**16, rounded), so 8-bit input gives
    exactly Pillow's values; 16-bit input uses the same weights at 16 bits.  One-channel
    input is returned unchanged.
    """
    if pixels.shape[2] == 1:
        return pixels
    if pixels.shape[2] != 3:
        raise ValueError(f"expected 1 or 3 channels, got {pixels.shape[2]}")
    rgb = pixels.astype(np.int64)
    luma = (rgb[:, :, 0] * 19595 + rgb[:, :, 1] * 38470 + rgb[:, :, 2] * 7471 + 0x8000) >> 16
    return luma.astype(pixels.dtype)[:, :, np.newaxis]


def scan_folder(folder: str | os.PathLike[str]) -> tuple[list[Path], list[Path]]:
    """The image files below ``folder`` (recursive, hidden files and folders skipped), and
    the other files found there, skipped because of their extension; both sorted."""
    folder = Path(folder)
    found: list[Path] = []
    skipped: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith("."):
                continue
            path = Path(root) / name
            (found if path.suffix.lower() in IMAGE_EXTENSIONS else skipped).append(path)
    return sorted(found), sorted(skipped)


def find_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Every image file below ``folder`` (recursive, hidden files skipped), sorted."""
    return scan_folder(folder)[0]


@dataclass(frozen=True)
class Pairing:
    """Reference/test file pairs and what could not be paired (paths relative to their folder)."""

    pairs: list[tuple[Path, Path]]
    unmatched_reference: list[Path]
    unmatched_test: list[Path]
    skipped_reference: list[Path] = field(default_factory=list)  # not image extensions
    skipped_test: list[Path] = field(default_factory=list)

    def relative(self, reference_dir: Path, test_dir: Path) -> list[tuple[str, str]]:
        return [(r.relative_to(reference_dir).as_posix(), t.relative_to(test_dir).as_posix())
                for r, t in self.pairs]


def _index_by_stem(folder: Path, files: Iterable[Path]) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for file in files:
        key = file.relative_to(folder).with_suffix("").as_posix()
        if key in index:
            raise PairingError(
                f"two files in {folder} share the name {key!r}: {index[key].name} and "
                f"{file.name}; pairing ignores extensions, so rename or remove one"
            )
        index[key] = file
    return index


def pair_folders(reference_dir: str | os.PathLike[str],
                 test_dir: str | os.PathLike[str]) -> Pairing:
    """Pair files of two folders by relative path without extension.

    ``ref/x/a.jpg`` pairs with ``out/x/a.png``.  Files without a partner are returned, never
    dropped silently.

    Raises:
        PairingError: a folder is missing, or two files of one folder differ only in extension.
    """
    reference_dir, test_dir = Path(reference_dir), Path(test_dir)
    for folder in (reference_dir, test_dir):
        if not folder.is_dir():
            raise PairingError(f"{folder}: no such folder")
    return pair_scanned(reference_dir, scan_folder(reference_dir), test_dir,
                        scan_folder(test_dir))


def pair_scanned(reference_dir: Path, reference_scan: tuple[list[Path], list[Path]],
                 test_dir: Path, test_scan: tuple[list[Path], list[Path]]) -> Pairing:
    """``pair_folders`` on folders already scanned (``scan_folder``): a reference folder
    shared by several models is walked once."""
    (reference_files, skipped_reference), (test_files, skipped_test) = reference_scan, test_scan
    references = _index_by_stem(reference_dir, reference_files)
    tests = _index_by_stem(test_dir, test_files)
    pairs = [(references[key], tests[key]) for key in sorted(references) if key in tests]
    return Pairing(
        pairs=pairs,
        unmatched_reference=[references[k] for k in sorted(references) if k not in tests],
        unmatched_test=[tests[k] for k in sorted(tests) if k not in references],
        skipped_reference=skipped_reference, skipped_test=skipped_test,
    )


def read_manifest(path: Path, required: Sequence[str], optional: Sequence[str] = (), *,
                  what: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of a UTF-8 CSV manifest (a byte-order mark accepted) as (line, record),
    each with every required column filled; values verbatim, spaces included.

    Raises:
        PairingError: unreadable, not UTF-8, missing columns, or a row with missing, empty
            or extra fields, naming the line.
    """
    try:
        stat_regular_file(path)  # a FIFO would block the read forever
        text = path.read_bytes().decode("utf-8-sig")
    except ImageLoadError as error:
        raise PairingError(f"cannot read the {what}: {error}") from None
    except OSError as error:
        raise PairingError(f"{path}: cannot read the {what} ({error.strerror or error})"
                           ) from None
    except UnicodeDecodeError as error:
        line = error.object[:error.start].count(b"\n") + 1
        raise PairingError(f"{path}, line {line}: the {what} is not UTF-8 text (byte "
                           f"0x{error.object[error.start]:02x}); save it as UTF-8") from None
    reader = csv.DictReader(io_module.StringIO(text, newline=""))
    try:
        columns = list(reader.fieldnames or [])
    except csv.Error as error:
        raise PairingError(f"{path}, line 1: not a readable CSV header ({error})") from None
    if not set(required) <= set(columns):
        wanted = " and ".join(repr(c) for c in required)
        raise PairingError(f"{path}: the {what} needs columns {wanted}"
                           + (f" (and optionally {', '.join(optional)})" if optional else "")
                           + f"; found {', '.join(repr(c) for c in columns) or 'none'}")
    rows = []
    records = iter(reader)
    while True:
        try:
            record = next(records)
        except StopIteration:
            break
        except csv.Error as error:  # a NUL byte, an unterminated quote, a huge field
            raise PairingError(f"{path}, line {reader.line_num}: not a readable CSV row "
                               f"({error})") from None
        line = reader.line_num
        if None in record:
            raise PairingError(f"{path}, line {line}: more fields than the header has "
                               "columns (quote paths that contain commas)")
        missing = [c for c in required if not record.get(c)]
        if missing:
            raise PairingError(f"{path}, line {line}: no {' or '.join(missing)} given")
        rows.append((line, {k: v for k, v in record.items() if v is not None}))
    return rows


def path_key(path: str | os.PathLike[str]) -> str:
    """A text key for a path that SQLite and UTF-8 files can hold: the path itself, or, for
    a name that is not valid UTF-8 (bytes a filesystem allows), its bytes in hex."""
    raw = os.fsencode(path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + raw.hex()


def same_file_key(path: Path) -> str:
    """What identifies a file however its path is spelt (``./a``, ``x/../a``, links)."""
    try:
        return os.path.realpath(path)
    except (ValueError, OSError):  # a NUL byte or a link loop: the spelling, normalised
        return os.path.normpath(os.path.abspath(path))
