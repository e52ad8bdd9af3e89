"""A study manifest (``study.json``) read back: its design, the digest of its structure,
and the checks that keep an edited manifest from being served.

The structure — the items, their images, the models, the design and what each question
shows — is signed when the study is created (``STRUCTURE_DIGEST``): answers are recorded
against it, so a change after creation (an output moved to another model, an item
removed) would file answers under what participants did not see, and is refused.  The
words participants read (title, instructions, consent, each question's wording) may be
edited; they only need to be text.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from likeness.errors import LikenessError
from likeness.study.design import Design

__all__ = ["STRUCTURE_DIGEST", "check_manifest", "manifest_design", "sign_manifest",
           "structure_digest"]

STRUCTURE_DIGEST = "structure_sha256"
_STRUCTURE = ("format", "format_version", "study_id", "kind", "role", "items", "degraded",
              "images", "models", "design")
_WORDS = ("title", "instructions", "consent")


def structure_digest(manifest: dict[str, Any]) -> str:
    """The SHA-256 of a manifest's structure as JSON reads it back (keys sorted): its
    ``_STRUCTURE`` parts, and each question's id and what it shows."""
    questions = [[question.get("id"), question.get("shows")]
                 for question in manifest.get("questions", [])]
    parts = {key: manifest.get(key) for key in _STRUCTURE}
    text = json.dumps([parts, questions], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sign_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with the digest of its structure (set in place, and returned)."""
    manifest[STRUCTURE_DIGEST] = structure_digest(manifest)
    return manifest


def check_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Refuse a manifest whose words are not text, or whose structure changed since the
    study was created (one created before studies were signed is not checked for that).

    Raises:
        LikenessError: naming the part, and what to do.
    """
    wrong = [key for key in _WORDS if not isinstance(manifest.get(key), str)]
    questions = manifest.get("questions")
    if not (isinstance(questions, list) and questions and all(
            isinstance(q, dict) and isinstance(q.get("id"), str)
            and isinstance(q.get("text"), str) for q in questions)):
        wrong.append("questions")
    if wrong:
        raise LikenessError(f"{path}: {', '.join(wrong)} must be text (the questions: a list "
                            "of {id, text, shows}); restore the file, or create the study "
                            "again")
    signed = manifest.get(STRUCTURE_DIGEST)
    if signed is not None and signed != structure_digest(manifest):
        raise LikenessError(f"{path}: the study's structure (items, images, models, design "
                            "or what a question shows) changed after it was created: answers "
                            "would be filed under trials participants did not see; restore "
                            "the file, or create the study again (the title, instructions, "
                            "consent and questions' wording may be edited)")


def manifest_design(manifest: dict[str, Any]) -> Design:
    """The design a manifest records (``Design`` checks the settings)."""
    settings = manifest["design"]
    return Design(tuple(q["id"] for q in manifest["questions"]),
                  tuple(item["id"] for item in manifest["items"]),
                  tuple(manifest["models"]), int(settings["seed"]),
                  settings["per_participant"], int(settings["repeats"]),
                  int(settings["attention_checks"]),
                  tuple((item, model) for item, model in settings["attention_pool"]),
                  bool(settings.get("ranking", False)))
