"""Embedded colour (ICC) profiles.  likeness compares pixel values as the file stores them —
as every reference implementation reads them (scikit-image, lpips, pytorch-fid, piq) — and
applies no profile; an image whose profile says its values mean other colours than sRGB
(Display P3, Adobe RGB, a printer's gray) has that decision recorded, the profile named."""

from __future__ import annotations

import functools
import io
import os

__all__ = ["foreign_profile", "profile_decision"]

_LONGEST_NAME = 80  # characters of a profile's name kept in a decision


def profile_decision(profile: bytes) -> str | None:
    """The decision to record for an image carrying ``profile``: None for an sRGB profile
    (what the values mean already), else that this profile, named, was not applied."""
    return _decision(bytes(profile))


@functools.lru_cache(maxsize=64)  # a folder of one camera's photos carries one profile
def _decision(profile: bytes) -> str | None:
    from PIL import ImageCms

    try:
        name = ImageCms.ImageCmsProfile(io.BytesIO(profile)).profile.profile_description
    except Exception:  # noqa: BLE001 - littlecms refuses a damaged profile in several ways
        return "ICC profile unreadable, not applied (pixel values read as stored)"
    name = " ".join(str(name or "").split())[:_LONGEST_NAME] or "without a name"
    if "srgb" in name.lower():
        return None
    return (f"ICC profile '{name}' not applied (pixel values read as stored, as the "
            "reference implementations read them)")


def foreign_profile(path: str | os.PathLike[str]) -> bool:
    """Whether the image file at ``path`` carries a profile other than sRGB, read from its
    header alone (what a cache written before likeness recorded profiles cannot serve);
    a file whose header cannot be read counts as one (its cached rows are not reused)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            profile = image.info.get("icc_profile")
    except Exception:  # noqa: BLE001 - any file Pillow cannot open: computed again
        return True
    if not isinstance(profile, bytes):
        return False
    return _decision(profile) is not None
