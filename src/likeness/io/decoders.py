"""What an image's decoded values depend on beside its file's bytes: the libraries that
decode it and likeness's own decoding rules, as one key for the cache.

A JPEG decoded by another libjpeg, a colour converted by another Pillow, a 16-bit TIFF read
by another OpenCV, or a file an earlier likeness read where this one refuses it (a PNG whose
image data ends early) may give other values.  Every cached value computed from pixels is
stored under ``decoders_key()``, so an environment with other decoders, sharing the cache
folder, or a likeness with other rules computes them again instead of being served them.

The decoders' own messages on stderr (OpenCV's and Pillow's logs, libtiff's warnings),
which name no file, the command line keeps off the terminal: ``quiet_decoders``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
import re
from pathlib import Path

__all__ = ["DECODING_REVISION", "decoder_facts", "decoders_key", "decoders_quiet",
           "decoding_libraries", "other_decoders", "quiet_decoders"]

# bumped whenever a file decodes to other values, takes other decisions or is newly refused
DECODING_REVISION = 4


@functools.cache
def decoding_libraries() -> dict[str, str]:
    """The versions of the codecs Pillow decodes lossy files with, as run.json records
    them: libjpeg-turbo (or, where Pillow was built with another libjpeg, "libjpeg" and its
    version), libwebp and libtiff; and littlecms, through which an ICC profile's colours
    are judged (``profiles.profile_decision``) ("none" for one Pillow was built without)."""
    from PIL import features

    turbo = features.version("libjpeg_turbo")
    jpeg = {"libjpeg-turbo": turbo} if turbo else {"libjpeg": features.version("jpg") or "none"}
    return {**jpeg, "libwebp": features.version("webp") or "none",
            "libtiff": features.version("libtiff") or "none",
            "littlecms": features.version("littlecms2") or "none"}


@functools.cache
def decoder_facts() -> dict[str, str]:
    """What decoded values depend on beside the bytes: likeness's ``DECODING_REVISION``,
    Pillow's version and its codecs' (``decoding_libraries``), and OpenCV's (it reads
    16-bit colour PNGs and TIFFs and resizes)."""
    import PIL

    return {"likeness decoding revision": str(DECODING_REVISION), "Pillow": PIL.__version__,
            "OpenCV": _opencv_version(), **decoding_libraries()}


def decoders_key() -> str:
    """A short hash of ``decoder_facts``: part of every cache namespace of values computed
    from pixels."""
    text = json.dumps(decoder_facts(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def other_decoders(facts: dict[str, str], theirs: str = "there", ours: str = "here"
                   ) -> str | None:
    """How ``facts`` (another process's ``decoder_facts``) differ from this process's, in
    words ("Pillow 12.0.0 there, 13.0.0 here"), or None where they are the same."""
    return "; ".join(f"{name} {facts.get(name, 'none')} {theirs}, {value} {ours}"
                     for name, value in decoder_facts().items()
                     if facts.get(name) != value) or None


def _opencv_version() -> str:
    """OpenCV's version, read from its package without importing it (a third of a second):
    the wheels' ``cv2/version.py``; else, for a build without one, ``cv2.__version__``."""
    spec = importlib.util.find_spec("cv2")
    if spec is None:
        return "none"
    for folder in spec.submodule_search_locations or ():
        try:
            text = (Path(folder) / "version.py").read_text(encoding="utf-8")
        except OSError:
            continue
        found = re.search(r"""opencv_version\s*=\s*["']([^"']+)""", text)
        if found:
            return found.group(1)
    import cv2

    return str(cv2.__version__)


_quiet = False  # (forked processes inherit it)


def quiet_decoders() -> None:
    """Keep the decoders' own messages off stderr, in this process and in the decoding
    processes it starts (``decoders_quiet`` tells them): OpenCV's log ("[ERROR:0@0.02]
    global grfmt_tiff.cpp …"; ``OPENCV_LOG_LEVEL``, read when cv2 is imported: a user's
    own setting is kept), Pillow's ("More samples per pixel than can be decoded: 10825",
    through Python's last-resort handler: it logs only before it raises) and libtiff's
    warnings and errors ("ZIPDecode: Decoding error at scanline 0, incorrect data
    check.").  None names the file.  For the command line, which says each file that fails
    itself, once, in its row; the Python interface leaves them as the libraries make
    them."""
    global _quiet
    if _quiet:
        return
    _quiet = True
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    logging.getLogger("PIL").addHandler(logging.NullHandler())
    _silence_libtiff()


def decoders_quiet() -> bool:
    """Whether this process keeps the decoders' messages off stderr (``quiet_decoders``)."""
    return _quiet


def _silence_libtiff() -> None:
    """No warning or error handler for the libtiff Pillow decodes TIFFs with: it reports
    nothing (its callers still fail).  Nothing where Pillow's libtiff cannot be reached (a
    Pillow built without it; a loader that does not look a module's dependencies up
    through it)."""
    import ctypes

    from PIL import _imaging

    try:
        imaging = ctypes.CDLL(_imaging.__file__)
        setters = imaging.TIFFSetErrorHandler, imaging.TIFFSetWarningHandler
    except (OSError, AttributeError):
        return
    for setter in setters:
        setter.restype, setter.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
        setter(None)
