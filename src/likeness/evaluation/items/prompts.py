"""The prompts of a plan's items, for the metrics that read text (CLIP-T, the directional
similarity): where each is found, and why an item has none.

An item has up to two prompts:

- ``prompt``: what its test (stylized) image should show — the ``prompt`` column of the
  pairs CSV or style manifest; else the sidecar text file beside the test image
  (``a.png`` → ``a.txt``); else the sidecar beside its reference (content) image, the
  layout of text-to-image benchmarks whose captions sit beside the references (recorded in
  the item's notes);
- ``source_prompt``: what its reference shows (the directional similarity's source) — the
  ``source_prompt`` column; else ``source_prompt=TEXT``, one for every item; else the
  sidecar beside the reference.

A prompt is UTF-8 text (a byte-order mark accepted), stripped of the white space around
it.  A sidecar that is missing everywhere, empty, not UTF-8, larger than 64 KiB or not a
regular file makes the item's text metrics an error naming the file, never the run's.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from likeness.errors import LikenessError, PairingError

__all__ = ["PROMPT_ROLES", "Prompt", "attach_prompts", "prompt_key", "table_prompt",
           "without_sidecars"]

PROMPT_ROLES = ("prompt", "source_prompt")
MAX_PROMPT_BYTES = 64 * 1024
SIDECAR_SUFFIX = ".txt"


@dataclass(frozen=True)
class Prompt:
    """One prompt of an item, or why it has none.

    Attributes:
        role: ``"prompt"`` or ``"source_prompt"``.
        text: the prompt (None when ``error`` says why there is none).
        origin: where it was read: ``"pairs.csv, line 3"``, a sidecar's path, or
            ``"source_prompt=TEXT"``.
        from_reference: read from the sidecar of the item's reference (content) image for
            want of one beside the test image: a decision the item's notes record.
    """

    role: str
    text: str | None
    origin: str
    error: str | None = None
    from_reference: bool = False


def table_prompt(role: str, value: str, where: str) -> Prompt:
    """A prompt from a CSV cell (``where``: the file and line)."""
    text = value.strip()
    if not text:
        return Prompt(role, None, where, f"{where}: the {role} is empty")
    return Prompt(role, text, where)


def _sidecar(image: Path) -> Prompt | None:
    """The prompt in the text file beside ``image``, None when there is none."""
    from likeness.io import stat_regular_file, text_of

    path = image.with_suffix(SIDECAR_SUFFIX)
    if not os.path.lexists(path):
        return None
    try:
        size = stat_regular_file(path).st_size  # a FIFO would block the read forever
        if size > MAX_PROMPT_BYTES:
            raise LikenessError(f"{path}: a prompt file of {size} bytes; prompts are short "
                                f"texts (at most {MAX_PROMPT_BYTES} bytes)")
        text = text_of(path.read_bytes()).strip()
    except UnicodeDecodeError as error:
        return Prompt("prompt", None, str(path), f"{path}: the prompt is not UTF-8 text "
                      f"(byte 0x{error.object[error.start]:02x}); save it as UTF-8")
    except LikenessError as error:
        return Prompt("prompt", None, str(path), str(error))
    except OSError as error:
        return Prompt("prompt", None, str(path),
                      f"{path}: cannot read the prompt ({error.strerror or error})")
    if not text:
        return Prompt("prompt", None, str(path), f"{path}: the prompt file is empty")
    return Prompt("prompt", text, str(path))


def _found(role: str, test: Path | None, reference: Path, test_name: str,
           source_prompt: str | None, first: str) -> Prompt:
    """An item's prompt of ``role`` from its files (or ``source_prompt``)."""
    if role == "source_prompt" and source_prompt is not None:
        return table_prompt(role, source_prompt, "source_prompt=TEXT")
    own = _sidecar(test) if role == "prompt" and test is not None else None
    if own is not None:
        return replace(own, role=role)
    shared = _sidecar(reference)
    if shared is not None:
        return replace(shared, role=role, from_reference=role == "prompt")
    if role == "prompt":
        where = (f"a sidecar {Path(test_name).with_suffix(SIDECAR_SUFFIX).name} beside it "
                 f"(or beside its {first} image)")
        how = "a prompt column in the pairs CSV or style manifest, or " + where
    else:
        how = (f"a source_prompt column, source_prompt=TEXT, or a sidecar "
               f"{reference.with_suffix(SIDECAR_SUFFIX).name} beside its {first} image")
    return Prompt(role, None, "", f"{test_name}: no {role.replace('_', ' ')}; give {how}")


def attach_prompts(items: Iterable[Any], roles: Iterable[str],
                   source_prompt: str | None = None, first: str = "reference") -> list[Any]:
    """``items`` (``Item``) with each prompt of ``roles`` that a table did not give,
    found beside its files (see the module documentation); ``first``: what an item's
    reference is called (``"content"`` in a style run).

    Raises:
        PairingError: ``source_prompt`` given beside a ``source_prompt`` column.
    """
    items, wanted = list(items), [r for r in PROMPT_ROLES if r in set(roles)]
    if source_prompt is not None and any(i.prompt("source_prompt") for i in items):
        raise PairingError("source_prompt=TEXT was given and the table has a "
                           "source_prompt column: keep one")
    sidecars: dict[tuple[str, Path | None, Path], Prompt] = {}
    attached = []
    for item in items:
        prompts = dict((p.role, p) for p in item.prompts)
        for role in wanted:
            if role in prompts:
                continue
            key = (role, item.test if role == "prompt" else None, item.reference)
            if key not in sidecars:  # a reference's sidecar is read once for its items
                sidecars[key] = _found(role, key[1], item.reference, item.test_name,
                                       source_prompt, first)
            prompts[role] = sidecars[key]
        attached.append(replace(item, prompts=tuple(prompts[r] for r in PROMPT_ROLES
                                                    if r in prompts)))
    return attached


def without_sidecars(skipped: Iterable[Path], images: Iterable[Path]) -> list[Path]:
    """The files of ``skipped`` that are not the prompt file of one of ``images`` (the
    images' stems are gathered only when a skipped file may be one: a third of planning a
    folder of 1,000 images went to them)."""
    skipped = list(skipped)
    if not any(path.suffix == SIDECAR_SUFFIX for path in skipped):
        return skipped
    stems = {image.with_suffix("") for image in images}
    return [path for path in skipped
            if path.suffix != SIDECAR_SUFFIX or path.with_suffix("") not in stems]


def prompt_key(texts: Mapping[str, str]) -> str:
    """A cache-key fragment of an item's prompts (role → text)."""
    digest = hashlib.sha256()
    for role in sorted(texts):
        digest.update(f"{role}\0{texts[role]}\0".encode())
    return digest.hexdigest()[:32]
