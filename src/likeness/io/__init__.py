"""Files in, arrays out: which files are images, faithful decoding, pairing and manifests.

One job per module: ``files`` (paths, special files, folder scans, a file's bytes read as
hashed; files written whole), ``integrity`` (the checks decoders skip, and what a file's
first bytes say it is), ``bit_depths`` (16-bit samples that fit in fewer bits), ``alpha``
(transparency), ``tiff`` (what a TIFF's header says of its samples), ``decode``
(``load_image``), ``decoders`` (what decoded values depend on beside the bytes: the cache's
key), ``luma`` (gray from colour), ``pairing`` (folders and manifests).
"""

from likeness.io.alpha import ALPHA_CHOICES
from likeness.io.bit_depths import EIGHT_BIT_VALUES_IN_16_BITS, narrow_values_note
from likeness.io.decode import (
    DEFAULT_MAX_PIXELS,
    LoadedImage,
    load_image,
)
from likeness.io.decoders import (
    DECODING_REVISION,
    decoder_facts,
    decoders_key,
    decoding_libraries,
    other_decoders,
)
from likeness.io.files import (
    IMAGE_EXTENSIONS,
    PILLOW_FORMATS,
    Digests,
    FileStamp,
    content_hash,
    describe_skipped,
    disk_is_full,
    escaped_path,
    escaped_text,
    file_stamp,
    find_images,
    new_file_beside,
    path_key,
    replace_file,
    replacing,
    resolved_paths,
    same_file_key,
    scan_folder,
    settled_stamps,
    split_skipped,
    stat_regular_file,
    unreadable,
)
from likeness.io.integrity import (
    GIT_LFS_POINTER,
    is_git_lfs_pointer,
    sniff_format,
    standing_in,
    verify_integrity,
)
from likeness.io.luma import to_luma
from likeness.io.pairing import (
    Pairing,
    differ_in_case_only,
    header_delimiter,
    more_fields_than_columns,
    name_key,
    pair_folders,
    pair_scanned,
    read_manifest,
    refuse_misspelt_columns,
    refuse_repeated_columns,
    text_of,
)

__all__ = [
    "ALPHA_CHOICES",
    "DECODING_REVISION",
    "DEFAULT_MAX_PIXELS",
    "EIGHT_BIT_VALUES_IN_16_BITS",
    "GIT_LFS_POINTER",
    "Digests",
    "FileStamp",
    "IMAGE_EXTENSIONS",
    "PILLOW_FORMATS",
    "LoadedImage",
    "Pairing",
    "content_hash",
    "decoder_facts",
    "decoders_key",
    "decoding_libraries",
    "describe_skipped",
    "differ_in_case_only",
    "file_stamp",
    "disk_is_full",
    "escaped_path",
    "escaped_text",
    "find_images",
    "header_delimiter",
    "is_git_lfs_pointer",
    "load_image",
    "more_fields_than_columns",
    "name_key",
    "narrow_values_note",
    "other_decoders",
    "pair_folders",
    "pair_scanned",
    "new_file_beside",
    "path_key",
    "read_manifest",
    "refuse_misspelt_columns",
    "refuse_repeated_columns",
    "resolved_paths",
    "replace_file",
    "replacing",
    "same_file_key",
    "scan_folder",
    "sniff_format",
    "settled_stamps",
    "split_skipped",
    "standing_in",
    "stat_regular_file",
    "text_of",
    "unreadable",
    "to_luma",
    "verify_integrity",
]
