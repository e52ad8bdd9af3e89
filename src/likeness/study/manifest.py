"""A study manifest (``study.json``): the arguments it is made from checked, and read back
its design, the digest of its structure, and the checks that keep an edited manifest from
being served.

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
import os
from pathlib import Path
from typing import Any, cast

import numpy as np

from likeness.arguments import check_named_paths, check_paths, described
from likeness.errors import InvalidInputError, InvalidInputTypeError, LikenessError
from likeness.metrics.seeds import check_seed
from likeness.study.design import QUESTIONS, Design

__all__ = ["STRUCTURE_DIGEST", "check_manifest", "check_study_arguments", "manifest_design",
           "parse_question", "plain_json", "question_text", "sign_manifest",
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
    text = json.dumps([parts, questions], sort_keys=True, separators=(",", ":"),
                      default=plain_json)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plain_json(value: object) -> object:
    """``json.dumps``'s ``default`` for a manifest: numpy's numbers (a seed or a count
    given as ``np.int64``) as Python's."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


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


def check_study_arguments(*, folders: dict[str, object], models: object, questions: object,
                          title: object, instructions: object, consent: object, seed: object,
                          per_participant: object, repeats: object, attention_checks: object,
                          max_items: object, ranking: object, overwrite: object
                          ) -> list[tuple[str, str, str | None]]:
    """``create_study``'s arguments checked before any image is written: ``folders`` (its
    ``out_dir`` a path, the image folders paths or None) and ``models`` ({name: folder}) by
    kind; returns the questions parsed (``parse_question``; one may be given as a string).

    Raises:
        InvalidInputError: naming the argument (``InvalidInputTypeError`` for its kind).
    """
    check_paths(**folders, optional=tuple(name for name in folders if name != "out_dir"))
    check_named_paths("models", models, optional=False)
    paths = cast(dict[str, "str | os.PathLike[str] | None"], folders)
    inputs = {f"the {name} folder": folder for name, folder in paths.items()
              if name != "out_dir" and folder is not None}
    inputs.update({f"the folder of model {name!r}": folder for name, folder in
                   cast(dict[str, "str | os.PathLike[str]"], models).items()})
    out_dir = os.path.realpath(cast("str | os.PathLike[str]", paths["out_dir"]))
    for name, folder in inputs.items():
        real = os.path.realpath(folder)
        if out_dir == real or out_dir.startswith(real.rstrip(os.sep) + os.sep):
            raise InvalidInputError(
                f"out_dir ({folders['out_dir']}) lies in {name} ({folder}): the "
                "study's images, copies of every model's, would count as that folder's in "
                "later runs (FID of all of them); choose a folder outside the compared ones")
    questions = [questions] if isinstance(questions, str) else questions
    if not (isinstance(questions, (list, tuple))
            and all(isinstance(question, str) for question in questions)):
        raise InvalidInputTypeError(f"questions must be a question or a list of them (preset "
                                    f"ids or ID=QUESTION), got {described(questions)}")
    texts = {"title": (title, False), "instructions": (instructions, True),
             "consent": (consent, True)}
    for name, (value, optional) in texts.items():
        if not (isinstance(value, str) or (optional and value is None)):
            raise InvalidInputTypeError(f"{name} must be text{' or None' if optional else ''}, "
                                        f"got {described(value)}")
    check_seed(seed)
    counts = {"per_participant": (per_participant, 1), "repeats": (repeats, 0),
              "attention_checks": (attention_checks, 0), "max_items": (max_items, 1)}
    for name, (value, least) in counts.items():
        if value is None and name in ("per_participant", "max_items"):
            continue
        if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
            raise InvalidInputTypeError(f"{name} must be a whole number, got "
                                        f"{described(value)}")
        if value < least:
            raise InvalidInputError(f"{name} must be at least {least}, got {value}")
    for name, flag in (("ranking", ranking), ("overwrite", overwrite)):
        if not isinstance(flag, (bool, np.bool_)):
            raise InvalidInputTypeError(f"{name} must be True or False, got {described(flag)}")
    parsed = [parse_question(question) for question in questions]
    if len({key for key, _, _ in parsed}) != len(parsed):
        raise InvalidInputError("two questions share an id: give each its own")
    return parsed


def parse_question(text: str) -> tuple[str, str, str | None]:
    """(id, words, image shown above the outputs) of a preset id (``closer``, ``content``,
    ``style``, ``quality``) or of ``ID=QUESTION`` (shown with the reference)."""
    if text in QUESTIONS:
        words, shows = QUESTIONS[text]
        return text, words, shows
    key, equals, words = text.partition("=")
    key, words = key.strip(), words.strip()
    if not equals or not key or not words or not key.replace("-", "").replace("_", "").isalnum():
        raise LikenessError(f"question {text!r} is neither a preset ({', '.join(QUESTIONS)}) "
                            "nor ID=QUESTION (an id of letters, digits, - or _, then the "
                            "words participants read)")
    return key, words, "reference"


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


def question_text(manifest: dict[str, Any], question: str) -> str:
    """The words of question ``question`` (its id) as the study's pages ask it.

    Raises:
        LikenessError: the study asks no such question (naming those it asks).
    """
    texts = {q["id"]: q["text"] for q in manifest["questions"]}
    if question not in texts:
        raise LikenessError(f"this study asks no question {question!r}: {', '.join(texts)}")
    return texts[question]
