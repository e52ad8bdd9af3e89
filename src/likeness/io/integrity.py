"""Checks the decoders skip: PNG chunk checksums, JPEG entropy data, the GIF trailer;
and what a file's first bytes claim."""

from __future__ import annotations

import zlib
from pathlib import Path

from PIL import Image

from likeness.errors import ImageLoadError

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


def _verify_png_chunks(path: Path, data: bytes) -> None:
    view = memoryview(data)  # checksums of slices without copying them (under the GIL)
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
        if zlib.crc32(view[offset + 4:end]) != stored:
            raise ImageLoadError(f"{path}: corrupt or truncated PNG file (chunk "
                                 f"{kind.decode('latin-1')!r} at byte {offset} fails its "
                                 "CRC check)")
        if kind == b"IEND":
            return
        offset = end + 4


def _verify_jpeg_data(path: Path, data: bytes) -> None:
    import simplejpeg

    try:
        colourspace = simplejpeg.decode_jpeg_header(data)[2]
        target = {"Gray": "GRAY", "CMYK": "CMYK", "YCCK": "CMYK"}.get(colourspace, "RGB")
        # scaled down 8x: every coefficient is still entropy-decoded (so every warning
        # about corrupt data is raised) while the inverse DCT costs almost nothing
        simplejpeg.decode_jpeg(data, colorspace=target, min_factor=8, strict=True)
    except ValueError as error:
        raise ImageLoadError(f"{path}: corrupt or truncated JPEG file (libjpeg-turbo: "
                             f"{error})") from None


