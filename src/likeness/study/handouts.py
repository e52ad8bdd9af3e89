"""Where a study's answers may be besides its folder: each time the study is handed out to
participants — served (answers in its ``answers.sqlite`` or a PostgreSQL database), or
made into an offline form (answers in the files participants send back) — is recorded in
``handouts.json`` in the study folder.  A study handed out is never replaced
(``create_study(overwrite=True)``): the answers name its study id and are read against its
manifest; and the export can say where served answers are.
"""

from __future__ import annotations

import datetime as _dt
import json
from contextlib import suppress
from pathlib import Path
from typing import Any

from likeness.documents import file_text, json_document
from likeness.io import replace_file

__all__ = ["HANDOUTS_FILE", "OFFLINE", "SERVED", "describe_handouts", "handouts", "record_handout",
           "served_with", "unread_answers"]

HANDOUTS_FILE = "handouts.json"
SERVED, OFFLINE = "served", "offline form"


def handouts(folder: Path) -> list[dict[str, Any]]:
    """The handouts recorded in ``folder`` (none if it has no record); a record that cannot
    be read counts as one handout of unknown kind, so that it still protects the study."""
    path = folder / HANDOUTS_FILE
    if not path.exists() and not path.is_symlink():
        return []
    try:
        entries = json_document(file_text(path))["handouts"]
        if isinstance(entries, list) and all(isinstance(e, dict) for e in entries):
            return entries
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return [{"how": "unknown", "where": f"its record {path} cannot be read"}]


def record_handout(folder: Path, how: str, where: str | None = None) -> None:
    """Record that the study in ``folder`` was handed out ``how`` (``SERVED`` with answers
    in the database ``where``, None for its own ``answers.sqlite``, or as an ``OFFLINE``
    form), once per kind and place.  Best effort: a folder this user cannot write is one
    they cannot replace either."""
    entries = handouts(folder)
    if any(e.get("how") == how and e.get("where") == where for e in entries):
        return
    entries.append({"how": how, "where": where,
                    "first": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")})
    with suppress(OSError):
        replace_file(folder / HANDOUTS_FILE, json.dumps({"handouts": entries}, indent=1) + "\n")


def describe_handouts(entries: list[dict[str, Any]]) -> str:
    """The handouts in words: "served with answers in db.example.org/study; made into an
    offline form, whose answers come back as files"."""
    words = []
    for entry in entries:
        how, where = entry.get("how"), entry.get("where")
        if how == SERVED:
            words.append(f"served with answers in {where or 'its answers.sqlite'}")
        elif how == OFFLINE:
            words.append("made into an offline form, whose answers come back as files")
        else:
            words.append(str(where))
    return "; ".join(dict.fromkeys(words))


def served_with(folder: Path) -> list[str | None]:
    """The databases the study was served with (None: its own ``answers.sqlite``)."""
    return list(dict.fromkeys(e.get("where") for e in handouts(folder)
                              if e.get("how") == SERVED))


def unread_answers(folder: Path, reading: str | None) -> str | None:
    """Where the study was served with answers that a read of ``reading`` (a database's
    ``where``, None for the folder's own file) leaves out, and which option of ``likeness
    study export`` reads them (in the command line's words: its export calls this); None
    if nothing is left out."""
    unread = [where for where in served_with(folder) if where != reading]
    if not unread:
        return None
    places = ", ".join(where or "its answers.sqlite" for where in unread)
    advice = ("pass --database with the URL it was served with" if any(unread)
              else "leave out --database to read its answers.sqlite")
    return f"it was served with answers in {places}: {advice}"
