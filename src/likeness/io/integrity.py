"""Checks the decoders skip: PNG chunk checksums, JPEG entropy data, the GIF trailer, a
PNG's data that ends early, a JPEG of absurdly many scans (which would take minutes or
hours to decode: each scan is decoded over the whole image); and what a file's first
bytes claim — its format (and whether its name says another), a JPEG's sample precision,
or what a file that is no image likeness reads is (a HEIC photo, a PDF, a Git LFS
pointer, a web page)."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

from PIL import Image

from likeness.documents import open_file
from likeness.errors import ImageLoadError
from likeness.io.plain_png import PNG_SAMPLES, chunks, image_data, inflate

# scans a JPEG may hold: encoders write a few (libjpeg-turbo's progressive mode 10), and
# Red Hat's analysis of the pattern below finds it "hard to imagine any real-world
# application needing more than 100" (bug 1344214).  Each scan is entropy-decoded over
# the whole image, even one of a few bytes (an EOB run): on this repository's 2-core AMD
# EPYC, a flat 4096x4096 gray JPEG with 1,000 such scans (99 kB)
# took 17 s to verify and 12 s more to decode, with 10,000 (396 kB) 163 s and 101 s; by
# that rate 100 scans of Pillow's largest image (89 Mpx) take some 15 s.  libtiff stops a
# JPEG inside a TIFF at the same 100 scans (LIBTIFF_JPEG_MAX_ALLOWED_SCAN_NUMBER).
MOST_JPEG_SCANS = 100
# The first bytes of each supported format, so that a message can say what a file is.
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"),
          (b"GIF89a", "GIF"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
          (b"II+\x00", "TIFF"), (b"MM\x00+", "TIFF"), (b"BM", "BMP"))  # (+: BigTIFF)


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


# What a file that is no image likeness reads is, by its first bytes, and what to do
_FOREIGN = ((b"%PDF", "a PDF document: export its pages as PNG"),
            (b"8BPS", "a Photoshop document: export it as PNG"),
            (b"v/1\x01", "an OpenEXR image (floating point): convert it to 16-bit PNG or TIFF"),
            (b"\xff\x0a", "a JPEG XL image: convert it to PNG"),
            (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image: convert it to PNG"),
            (b"\x00\x00\x01\x00", "an icon (ICO): convert it to PNG"),
            (b"PK\x03\x04", "a zip archive: extract it"),
            (b"\x1f\x8b", "a gzip-compressed file: decompress it"),
            (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image: convert it to PNG"),
            (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream: convert it to PNG"),
            (b"II\xbc", "a JPEG XR image: convert it to PNG"),
            (b"qoif", "a QOI image: convert it to PNG"),
            (b"DDS ", "a DirectDraw Surface (DDS) texture: convert it to PNG"),
            (b"#?RADIANCE", "a Radiance HDR image (floating point): convert it to 16-bit PNG "
                            "or TIFF"),
            (b"#?RGBE", "a Radiance HDR image (floating point): convert it to 16-bit PNG or "
                        "TIFF"),
            (b"\x93NUMPY", "a NumPy array file (.npy): save the array as an image "
                           "(PIL.Image.fromarray(a).save('x.png')) or pass it to "
                           "likeness.compare_tensors"),
            (b"SIMPLE  =", "a FITS file: convert it to 16-bit PNG or TIFF"))
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
GIT_LFS_POINTER = ("a Git LFS pointer, not the file it stands for (a repository cloned "
                   "without its large files): fetch them with git lfs pull")


def is_git_lfs_pointer(head: bytes) -> bool:
    """Whether a file's first bytes are those of a Git LFS pointer, which stands in for any
    large file — an image, a checkpoint, a statistics file, a CSV — until it is fetched."""
    return head.startswith(b"version https://git-lfs")


WEB_PAGE = "an HTML page (a proxy's, firewall's or sign-in page), not the file"


def standing_in(path: str | os.PathLike[str]) -> str | None:
    """What the file at ``path`` is, where it stands in for the file expected — a Git LFS
    pointer, or the web page a download through a captive portal or a proxy's refusal
    saves — or None (also where it cannot be read: the caller's own error says why)."""
    try:
        with open_file(path) as file:  # (a FIFO would block the read for ever)
            head = file.read(256)
    except OSError:
        return None
    if is_git_lfs_pointer(head):
        return GIT_LFS_POINTER
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return WEB_PAGE if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) else None


_NAMED = {".png": "PNG", ".apng": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG",
          ".jfif": "JPEG", ".bmp": "BMP", ".dib": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
          ".webp": "WebP", ".gif": "GIF", ".ppm": "PBM/PGM/PPM", ".pgm": "PBM/PGM/PPM",
          ".pbm": "PBM/PGM/PPM", ".pnm": "PBM/PGM/PPM"}


def misnamed(path: Path, head: bytes) -> str | None:
    """The decision a file takes whose first bytes ``head`` are those of another format
    than its name says — a JPEG saved as ``.png`` is lossy whatever its name — or None."""
    named = _NAMED.get(path.suffix.lower())
    found = sniff_format(head)
    if named is None or found is None or found == named:
        return None
    return f"named {path.suffix} but holds {found} data: decoded as {found}"


def foreign_format(head: bytes) -> str | None:
    """What a file no decoder of likeness reads is, by its first bytes, and what to do with
    it (None when they are unknown)."""
    if is_git_lfs_pointer(head):
        return GIT_LFS_POINTER
    if head[4:8] == b"ftyp":
        if head[8:12] in _HEIF_BRANDS:
            kind = "an AVIF" if head[8:12] in (b"avif", b"avis") else "a HEIF/HEIC"
            return f"{kind} image (as phones save photos): convert it to PNG"
        return "an MP4/MOV video or other ISO media file: extract its frames as PNG"
    if head[128:132] == b"DICM":
        return "a DICOM file: export its pixels as 16-bit PNG or TIFF"
    for magic, what in _FOREIGN:
        if head.startswith(magic):
            return what
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:64].lower()
    if text.startswith((b"<svg", b"<?xml")) and b"<svg" in head.lower():
        return "an SVG drawing (vector graphics): render it to PNG at the size you compare"
    if text.startswith((b"<!doctype html", b"<html")):
        return "an HTML page (a download that returned a web page?), not an image"
    return None


_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
          (0, 1, 1, 2))  # each interlacing pass's first column and row, and its steps


def verify_integrity(path: Path, image: Image.Image, data: bytes) -> None:
    """Checks the decoders skip: PNG chunk checksums (Pillow does not verify image-data
    chunks, so damaged bytes near the end decode to wrong pixels), JPEG entropy-coded
    data (libjpeg only *warns* about corrupt data, and Pillow discards its warnings), and
    the end of a GIF (Pillow decodes a GIF cut off after its last frame)."""
    if image.format == "PNG":
        _verify_png_chunks(path, data)
    elif image.format in ("JPEG", "MPO"):
        _verify_jpeg_data(path, data)
    elif image.format == "GIF" and data[-1:] != b";":
        raise ImageLoadError(f"{path}: corrupt or truncated GIF file (it does not end with "
                             "the GIF trailer)")


def verify_png_image_data(path: Path, data: bytes) -> None:
    """Refuse a PNG whose image data inflates to fewer bytes than its header describes:
    Pillow and libpng decode such a stream without a word (when it ends on a whole row),
    the rows it lacks black.  A stream that does not inflate is left to the decoder's own
    error; data after the image's bytes is ignored, as the decoders do."""
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    depth, colour, _, _, interlace = data[24:29]
    channels = PNG_SAMPLES.get(colour)
    if channels is None or interlace > 1:
        return  # not a header Pillow opens: its own error
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    expected = 0
    for x0, y0, dx, dy in passes:
        columns, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns > 0 and rows > 0:
            expected += rows * (1 + -(-columns * channels * depth // 8))
    inflated = inflate(image_data(data)[0], expected)
    if inflated is not None and len(inflated) < expected:
        raise ImageLoadError(
            f"{path}: corrupt or truncated PNG file (its image data ends after "
            f"{len(inflated)} of the {expected} bytes its {width}x{height} header needs; "
            "decoders would show the rest as black)")


def _verify_png_chunks(path: Path, data: bytes) -> None:
    view = memoryview(data)  # checksums of slices without copying them (under the GIL)
    for kind, start, end in chunks(data):
        if start + 4 > len(data):
            break  # not even an empty chunk's checksum: no IEND
        if end + 4 > len(data):
            raise ImageLoadError(f"{path}: corrupt or truncated PNG file (chunk "
                                 f"{kind.decode('latin-1')!r} at byte {start - 8} is cut off)")
        stored = int.from_bytes(data[end:end + 4], "big")
        if zlib.crc32(view[start - 4:end]) != stored:
            raise ImageLoadError(f"{path}: corrupt or truncated PNG file (chunk "
                                 f"{kind.decode('latin-1')!r} at byte {start - 8} fails its "
                                 "CRC check)")
        if kind == b"IEND":
            return
    raise ImageLoadError(f"{path}: corrupt or truncated PNG file (it ends before its IEND "
                         "chunk)")


def _verify_jpeg_data(path: Path, data: bytes) -> None:
    import simplejpeg

    # (0xFF 0xDA cannot occur within entropy-coded data, where 0xFF is followed by 0x00 or
    # a restart marker: the C-speed count bounds the scans, and only a count beyond the
    # limit is confirmed by walking the markers, past metadata that may hold such bytes)
    if data.count(b"\xff\xda") > MOST_JPEG_SCANS and (
            scans := jpeg_scans(data)) > MOST_JPEG_SCANS:
        raise ImageLoadError(
            f"{path}: a JPEG of {scans} scans, more than the {MOST_JPEG_SCANS} likeness "
            "decodes (encoders write a few; each scan is decoded over the whole image, so "
            "such a file takes minutes or hours to decode, the pattern of a "
            "denial-of-service file): save the image again from its source")
    try:
        colourspace = simplejpeg.decode_jpeg_header(data)[2]
        target = {"Gray": "GRAY", "CMYK": "CMYK", "YCCK": "CMYK"}.get(colourspace, "RGB")
        # scaled down 8x: every coefficient is still entropy-decoded (so every warning
        # about corrupt data is raised) while the inverse DCT costs almost nothing
        simplejpeg.decode_jpeg(data, colorspace=target, min_factor=8, strict=True)
    except ValueError as error:
        raise ImageLoadError(f"{path}: corrupt or truncated JPEG file (libjpeg-turbo: "
                             f"{error})") from None


def jpeg_scans(data: bytes) -> int:
    """How many scans (SOS segments) libjpeg reads of the first image of the JPEG ``data``,
    up to its end (EOI): its segments skipped by their lengths, as libjpeg reads or skips
    them, and anything else searched past for the next marker, as libjpeg does (bytes
    between segments, entropy-coded data, fill bytes, restarts) — never stopping where
    libjpeg would go on."""
    offset, scans = 2, 0
    while (offset := _next_marker(data, offset)) != -1:
        marker = data[offset + 1]
        if marker == 0xD9:  # EOI
            break
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length follows
            offset += 2
            continue
        scans += marker == 0xDA
        offset += 2 + int.from_bytes(data[offset + 2:offset + 4], "big")
    return scans


def _next_marker(data: bytes, offset: int) -> int:
    """Where the next marker's 0xFF is from ``offset`` (past fill bytes, and past 0xFF 0x00,
    a stuffed byte of entropy-coded data), or -1."""
    while (offset := data.find(b"\xff", offset)) != -1:
        code = offset + 1
        while code < len(data) and data[code] == 0xFF:  # fill bytes
            code += 1
        if code >= len(data):
            return -1
        if data[code]:
            return code - 1
        offset = code + 1
    return -1


def jpeg_unread_frame(data: bytes) -> str | None:
    """What a JPEG whose frame Pillow does not open is — one of 12 or 16-bit samples, or a
    JPEG-LS image (SOF55) — and what to do; None otherwise or where no frame is found."""
    offset = 2
    while offset + 9 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker == 0xF7:  # SOF55
            return ("a JPEG-LS image, which Pillow (and the reference tools) do not read: "
                    "convert it to PNG")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOF0-SOF15
            precision = data[offset + 4]  # 8 or 12 bits; 2 to 16 when lossless
            if precision == 8 or not 2 <= precision <= 16:
                return None
            return (f"a JPEG of {precision}-bit samples, which Pillow (and the reference "
                    "tools) do not read: save it as 16-bit PNG or TIFF")
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length follows
            offset += 2
            continue
        offset += 2 + int.from_bytes(data[offset + 2:offset + 4], "big")
    return None
