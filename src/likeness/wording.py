"""Counts in the words a reader expects: "1 pair", "2 pairs", "1 file is", "3 files are" —
in methods paragraphs, summaries, notes and messages alike (never "pair(s)") — and the
words of a run's kind: a comparison's models and pairs, a style run's methods and
stylizations (``run_words``); and text shown with its control characters as escapes
(``printable``), whether a file's name or what a file says of itself (a profile's name)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["RunWords", "counted", "is_are", "listed", "printable", "run_words", "was_were"]


class RunWords(NamedTuple):
    """What the parts of a run are called, in every output of it (``run_words``)."""

    role: str  # what made the outputs: "model", a style run's "method"
    unit: str  # what one row measures: "pair", a style run's "stylization"
    reference: str  # the image the output is measured against: "reference", "content"
    test: str  # the output measured: "test", "stylized"

    @property
    def roles(self) -> str:
        return self.role + "s"

    @property
    def units(self) -> str:
        return self.unit + "s"

    @property
    def outputs(self) -> str:
        """The outputs of one model or method: "outputs", a style run's "stylizations"."""
        return "stylizations" if self.unit == "stylization" else "outputs"


_COMPARE_WORDS = RunWords(role="model", unit="pair", reference="reference", test="test")
_STYLE_WORDS = RunWords(role="method", unit="stylization", reference="content",
                        test="stylized")


def run_words(kind: object) -> RunWords:
    """The words of a run of ``kind`` (a run record's, a plan's: ``"style"`` or
    ``"compare"``; anything else, a comparison's)."""
    return _STYLE_WORDS if kind == "style" else _COMPARE_WORDS


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


# Control characters shown as escapes, never sent to the terminal: a file named
# "\x1b[2J…" would clear the screen, "a\nb.png" split a table row in two, a bidi override
# (U+202E) show a name backwards.  Rich strips only a few of them.  A name's bytes that are
# not UTF-8 arrive as lone surrogates (U+DC80-U+DCFF): escaped here as in the CSV tables,
# not by the stream after rich has measured them as one column (a table's rule then broke).
_ESCAPES = {**{code: f"\\x{code:02x}" for code in (*range(32), *range(127, 160))},
            **{ord(c): repr(c)[1:-1] for c in "\n\t\r"},
            **{code: f"\\u{code:04x}" for code in (0x200E, 0x200F, *range(0x202A, 0x202F),
                                                   *range(0x2066, 0x206A),
                                                   *range(0xD800, 0xE000))}}


def printable(text: str) -> str:
    """``text`` with its control characters as escapes (``\\n``, ``\\x1b``, ``\\u202e``)."""
    return text.translate(_ESCAPES)
