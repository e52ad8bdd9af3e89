"""Files in, arrays out: which files are images, faithful decoding, pairing and manifests.

One job per module: ``files`` (paths, special files, folder scans), ``integrity`` (the
checks decoders skip), ``decode`` (``load_image``), ``pairing`` (folders and manifests).
"""

from likeness.io.decode import ALPHA_CHOICES, DEFAULT_MAX_PIXELS, LoadedImage, load_image, to_luma
from likeness.io.files import (
    IMAGE_EXTENSIONS,
    PILLOW_FORMATS,
    content_hash,
    find_images,
    path_key,
    replace_file,
    same_file_key,
    scan_folder,
    stat_regular_file,
)
from likeness.io.integrity import sniff_format, verify_integrity
from likeness.io.pairing import Pairing, pair_folders, pair_scanned, read_manifest

__all__ = [
    "ALPHA_CHOICES",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "PILLOW_FORMATS",
    "LoadedImage",
    "Pairing",
    "content_hash",
    "find_images",
    "load_image",
    "pair_folders",
    "pair_scanned",
    "path_key",
    "read_manifest",
    "replace_file",
    "same_file_key",
    "scan_folder",
    "sniff_format",
    "stat_regular_file",
    "to_luma",
    "verify_integrity",
]
