"""Counts in the words a reader expects: "1 pair", "2 pairs", "1 file is", "3 files are" —
in methods paragraphs, summaries, notes and messages alike (never "pair(s)")."""

from __future__ import annotations

__all__ = ["counted", "is_are", "listed", "was_were"]


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun`` as a paper writes them: "1 pair", "2 pairs" (``plural`` for a
    noun that does not take an "s": "1 key", "2 keys" need none; "1 copy", "2 copies" do)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def is_are(count: int) -> str:
    """The verb that agrees with ``count`` things: "is" for one, "are" otherwise."""
    return "is" if count == 1 else "are"


def was_were(count: int) -> str:
    """The past tense that agrees with ``count`` things: "was" for one, "were" otherwise."""
    return "was" if count == 1 else "were"


def listed(names: list[str]) -> str:
    """Names as a sentence lists them: "PSNR", "PSNR and SSIM", "FID, KID and IS"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
