"""JSON documents likeness wrote and reads back — a results folder's ``run.json``, a study's
manifest, handouts and exports — parsed, and refused past a depth none of them reaches:
Python's parser raises ``RecursionError`` past ~1,000 levels and its encoder (a record's
digest) sooner, which no reader took for a damaged file."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "json_document"]

MAX_DEPTH = 64  # levels of lists and objects; likeness's own documents nest fewer than 10


def json_document(text: str | bytes) -> Any:
    """The JSON document ``text``.

    Raises:
        ValueError: not JSON (``json.JSONDecodeError``), or nested deeper than
            ``MAX_DEPTH`` levels: a file edited or damaged, not one likeness wrote.
    """
    try:
        document = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested past Python's stack") from None
    pending = [(document, 1)]
    while pending:  # (iterative: a recursive walk would fail where the parser did not)
        value, depth = pending.pop()
        if isinstance(value, dict | list) and depth > MAX_DEPTH:
            raise ValueError(f"JSON nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            pending.extend((each, depth + 1) for each in value.values())
        elif isinstance(value, list):
            pending.extend((each, depth + 1) for each in value)
    return document
