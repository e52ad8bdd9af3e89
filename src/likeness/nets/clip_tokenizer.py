"""CLIP's tokenizer (Radford et al. 2021): byte-level BPE over the published merges file
(``data/clip/bpe_simple_vocab_16e6.txt.gz``, shipped with likeness: nothing is fetched).

The steps of OpenAI's ``clip.simple_tokenizer`` (also open_clip's): ``ftfy.fix_text``,
HTML entities unescaped (twice), whitespace collapsed, lower case — or, ``cleaning=
"huggingface"``, those of Hugging Face's ``CLIPTokenizer`` (NFC instead of ftfy and the
unescaping); split by CLIP's pattern (contractions, letter
runs, single digits, other symbol runs); each piece's UTF-8 bytes mapped to printable
characters and merged by rank; ``<|startoftext|>`` … ``<|endoftext|>`` around them, padded
with 0 to 77 tokens (Hugging Face pads with ``<|endoftext|>``: CLIP reads a text at its
first highest id, the first ``<|endoftext|>``, and its attention is causal, so the padding
changes nothing).  ``<|startoftext|>`` or ``<|endoftext|>`` written in a text is that token,
as in OpenAI's tokenizer and Hugging Face's (open_clip 3.3 splits it into characters).
What happens to a text longer than 77 tokens is the caller's choice (``too_long``).
"""

from __future__ import annotations

import gzip
import html
import unicodedata
from functools import cache, lru_cache
from importlib import resources

import regex

from likeness.errors import InvalidInputError

__all__ = ["CLEANING", "CONTEXT_LENGTH", "END", "START", "TOO_LONG", "clip_tokenize", "encode"]

CONTEXT_LENGTH = 77
MERGES = 49152 - 256 - 2  # the merges the published vocabulary uses
START, END = 49406, 49407  # <|startoftext|>, <|endoftext|>
_PATTERN = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|"""
                         r"""[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE)


@cache
def _byte_characters() -> dict[int, str]:
    """GPT-2's reversible map of the 256 byte values to printable characters."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    characters = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return {byte: chr(code) for byte, code in zip(printable, characters, strict=True)}


@cache
def _vocabulary() -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """(token → id, merge → rank), built as OpenAI's ``SimpleTokenizer`` builds them."""
    data = resources.files("likeness").joinpath("data/clip/bpe_simple_vocab_16e6.txt.gz")
    lines = gzip.decompress(data.read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:MERGES + 1]]
    singles = list(_byte_characters().values())
    tokens = singles + [s + "</w>" for s in singles] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return ({token: i for i, token in enumerate(tokens)},
            {(m[0], m[1]): rank for rank, m in enumerate(merges)})


@lru_cache(maxsize=65536)
def _merged(piece: str) -> tuple[str, ...]:
    """The BPE tokens of one piece (already mapped to printable characters)."""
    if piece in ("<|startoftext|>", "<|endoftext|>"):  # written in the text: the token
        return (piece,)
    ranks = _vocabulary()[1]
    word = [*piece[:-1], piece[-1] + "</w>"]
    while len(word) > 1:
        pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
        best = min(pairs, key=lambda pair: ranks.get(pair, float("inf")))
        if best not in ranks:
            break
        merged: list[str] = []
        i = 0
        while i < len(word):
            if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                merged.append(word[i] + word[i + 1])
                i += 2
            else:
                merged.append(word[i])
                i += 1
        word = merged
    return tuple(word)


def _clean(text: str, cleaning: str) -> str:
    if cleaning == "openai":
        import ftfy

        text = html.unescape(html.unescape(ftfy.fix_text(text)))
    else:  # Hugging Face's tokenizer: NFC, whitespace, lower case — entities stay
        text = unicodedata.normalize("NFC", text)
    return regex.sub(r"\s+", " ", text.strip()).strip().lower()


def encode(text: str, cleaning: str = "openai") -> list[int]:
    """The BPE token ids of ``text``, without the start and end tokens."""
    encoder = _vocabulary()[0]
    characters = _byte_characters()
    ids: list[int] = []
    for piece in _PATTERN.findall(_clean(text, cleaning)):
        mapped = "".join(characters[byte] for byte in piece.encode("utf-8"))
        ids.extend(encoder[token] for token in _merged(mapped))
    return ids


TOO_LONG = ("error", "truncate", "cut")
CLEANING = ("openai", "huggingface")


def clip_tokenize(texts: str | list[str], *, too_long: str = "error",
                  cleaning: str = "openai") -> list[list[int]]:
    """Each text's 77 token ids (start, BPE tokens, end, zeros).

    ``too_long`` says what happens to a text of more than 77 tokens: ``"error"``;
    ``"truncate"`` (its first 75 tokens and the end token, as ``clip.tokenize(...,
    truncate=True)`` and Hugging Face's ``truncation=True``); ``"cut"`` (its first 77
    tokens, no end token, as torchmetrics' ``CLIPScore`` cuts them — the text is then
    read at its highest token id, as CLIP reads every text).

    ``cleaning``: ``"openai"`` (ftfy, HTML entities unescaped: OpenAI's and open_clip's
    tokenizer, Hessel et al.'s CLIP-S) or ``"huggingface"`` (NFC only: Hugging Face's
    ``CLIPTokenizer``, so torchmetrics' CLIPScore; "&amp;" stays five characters).

    Raises:
        InvalidInputError: a text that is not a string, or too long with ``"error"``.
    """
    if too_long not in TOO_LONG or cleaning not in CLEANING:
        raise InvalidInputError(f"too_long must be one of {', '.join(TOO_LONG)} and cleaning "
                                f"one of {', '.join(CLEANING)}; got {too_long!r}, "
                                f"{cleaning!r}")
    texts = [texts] if isinstance(texts, str) else texts
    rows = []
    for text in texts:
        if not isinstance(text, str):
            raise InvalidInputError(f"a prompt must be text (str), got {type(text).__name__}")
        ids = [START, *encode(text, cleaning), END]
        if len(ids) > CONTEXT_LENGTH:
            if too_long == "error":
                raise InvalidInputError(
                    f"the prompt {text[:60]!r}… is {len(ids)} CLIP tokens, more than the "
                    f"{CONTEXT_LENGTH} CLIP reads; shorten it, or truncate it to its first "
                    f"{CONTEXT_LENGTH - 2} (too_long='truncate'; CLIP-T's hessel convention "
                    "truncates, its cosine convention refuses)")
            ids = ids[:CONTEXT_LENGTH] if too_long == "cut" else [*ids[:CONTEXT_LENGTH - 1],
                                                                  END]
        rows.append(ids + [0] * (CONTEXT_LENGTH - len(ids)))
    return rows
