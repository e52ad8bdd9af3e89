"""A study folder: made from the folders a run knows (``create_study``), read back
(``open_study``)::

    STUDY/study.json     the manifest: questions, models, items, design, decisions
    STUDY/images/        every image shown, as 8-bit PNG named by its content
    STUDY/admin-token    the admin page's token (readable by its owner only)
    STUDY/answers.sqlite the answers (written by ``likeness study serve``)
    STUDY/handouts.json  each time it was served or made an offline form (``handouts``)

Images are decoded as every run decodes them (orientation applied, corrupt files refused,
transparency only with an ``alpha`` choice) and written as 8-bit PNG — what the metrics
measured is what participants see; 16-bit images are rounded to 8 bits (browsers show 8),
recorded.  Image names are content hashes: no path of the user's disk reaches a browser.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from likeness._version import __version__
from likeness.arguments import check_paths
from likeness.documents import file_text, json_document
from likeness.errors import ImageLoadError, LikenessError, StorageError, write_advice
from likeness.evaluation.items.plan import make_plan
from likeness.evaluation.items.triplets import find_triplets
from likeness.io import describe_skipped, differ_in_case_only, replace_file
from likeness.io.files import escaped_text
from likeness.study.design import Design
from likeness.study.handouts import describe_handouts, handouts
from likeness.study.images import ImageWriter, degraded_copy, identical_outputs
from likeness.study.manifest import (
    check_manifest,
    check_study_arguments,
    manifest_design,
    parse_question,
    plain_json,
    question_text,
    sign_manifest,
)
from likeness.wording import counted, run_words

__all__ = ["ANSWERS_FILE", "Study", "create_study", "open_study", "parse_question"]

MANIFEST = "study.json"
ANSWERS_FILE = "answers.sqlite"
TOKEN_FILE = "admin-token"
FORMAT = "likeness-study"
ATTENTION_POOL = 6  # (item, model) pairs given a degraded copy for attention checks
PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Study:
    """A study folder read back: its manifest, design and images."""

    folder: Path
    manifest: dict[str, Any]
    design: Design

    @property
    def study_id(self) -> str:
        return str(self.manifest["study_id"])

    @cached_property
    def items_by_id(self) -> dict[str, dict[str, Any]]:
        return {item["id"]: item for item in self.manifest["items"]}

    @property
    def images(self) -> dict[str, Path]:
        """Every image a participant may be sent: name → file (nothing else is served)."""
        folder = self.folder / "images"
        return {name: folder / name for name in self.manifest["images"]}

    def question_text(self, question: str) -> str:
        return question_text(self.manifest, question)

    def admin_token(self) -> str:
        try:
            return file_text(self.folder / TOKEN_FILE, encoding="ascii").strip()
        except OSError as error:
            raise StorageError(f"cannot read {self.folder / TOKEN_FILE} ({error.strerror or error}"
                               "): it is written by `likeness study create`") from None


# items (name → model → output), their reference or content and their style images, and
# what pairing left out (decisions)
_Items = tuple[dict[str, dict[str, Path]], dict[str, Path], dict[str, Path], list[str]]


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names[:5]) + (", …" if len(names) > 5 else "")


def _compare_items(reference: PathLike, models: Mapping[str, PathLike]) -> _Items:
    plan = make_plan(reference, models)
    outputs: dict[str, dict[str, Path]] = {}
    references: dict[str, Path] = {}
    for item in plan.items:
        outputs.setdefault(item.reference_name, {})[item.model] = item.test
        references[item.reference_name] = item.reference
    left_out = [f"{model}: {counted(len(tests), 'output')} without a reference of the same name "
                f"left out ({_listed(tests)})" for model, (_, tests) in plan.unmatched.items()
                if tests]
    unpaired = sorted({name for references_left, _ in plan.unmatched.values()
                       for name in references_left} - set(outputs))
    if unpaired:
        left_out.append(f"{counted(len(unpaired), 'reference image')} without any model's output "
                        f"left out ({_listed(unpaired)})")
    left_out += [f"{source}: {counted(len(names), 'file')} skipped: {describe_skipped(names)}"
                 for source, names in plan.skipped.items()]
    left_out += [f"{model}: {sentence}" for model, unmatched in plan.unmatched.items()
                 for sentence in differ_in_case_only(*unmatched)]
    return outputs, references, {}, left_out


def _style_items(content: PathLike, style: PathLike, models: Mapping[str, PathLike]
                 ) -> _Items:
    skipped: dict[str, list[str]] = {}
    triplets, unmatched = find_triplets(content, style, models, skipped=skipped)
    outputs: dict[str, dict[str, Path]] = {}
    contents: dict[str, Path] = {}
    styles: dict[str, Path] = {}
    for triplet in triplets:
        item = f"{triplet.content_name} + {triplet.style_name}"
        outputs.setdefault(item, {})[triplet.method] = triplet.stylized
        contents[item], styles[item] = triplet.content, triplet.style
    left_out = [f"{model}: {counted(len(files), 'stylized file')} without a content and "
                f"style image left out ({_listed(files)})"
                for model, files in unmatched.items() if files]
    left_out += [f"{source}: {counted(len(names), 'file')} skipped: {describe_skipped(names)}"
                 for source, names in skipped.items()]
    return outputs, contents, styles, left_out


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise LikenessError(f"{out_dir} exists and is not a folder: choose a new study folder")
    entries = list(out_dir.iterdir())
    if not entries:
        return
    if (out_dir / ANSWERS_FILE).exists():
        raise LikenessError(f"{out_dir} holds a study with answers ({ANSWERS_FILE}): a new "
                            "study needs a new folder; nothing was changed")
    if handed_out := handouts(out_dir):
        raise LikenessError(f"{out_dir} holds a study handed out to participants "
                            f"({describe_handouts(handed_out)}): its answers belong to it; a "
                            "new study needs a new folder; nothing was changed")
    if not (out_dir / MANIFEST).is_file() or not overwrite:
        raise LikenessError(f"{out_dir} is not empty: choose a new folder"
                            + (" (overwrite replaces only a study folder without answers)"
                               if overwrite else ", or overwrite a study without answers"))
    for entry in entries:
        if entry.is_dir() and entry.name == "images":
            for image in entry.iterdir():
                image.unlink()
            entry.rmdir()
        elif entry.name in (MANIFEST, TOKEN_FILE):
            entry.unlink()


def create_study(out_dir: PathLike, models: Mapping[str, PathLike], *,
                 reference: PathLike | None = None, content: PathLike | None = None,
                 style: PathLike | None = None, questions: Sequence[str] = ("closer",),
                 title: str = "Which image is better?", instructions: str | None = None,
                 consent: str | None = None, seed: int = 0,
                 per_participant: int | None = None, repeats: int = 2,
                 attention_checks: int = 2, max_items: int | None = None,
                 ranking: bool = False, alpha: str | None = None,
                 overwrite: bool = False) -> Study:
    """Write a 2AFC study folder for ``models`` ({name: folder}): with ``reference`` (a
    compare study) or ``content`` and ``style`` (a style study, paired as ``likeness
    style`` pairs), ``questions`` (preset ids or ``ID=QUESTION``), the design's settings
    (``design.Design``; ``ranking``: participants order all the models of an item instead
    of choosing one of two) and the pages' texts.

    Raises:
        LikenessError: fewer than two models, no item every model has, a folder that is
            missing or not empty, an unreadable image, a bad question or setting.
    """
    parsed = check_study_arguments(
        folders={"out_dir": out_dir, "reference": reference, "content": content,
                 "style": style}, models=models, questions=questions, title=title,
        instructions=instructions, consent=consent, seed=seed,
        per_participant=per_participant, repeats=repeats, attention_checks=attention_checks,
        max_items=max_items, ranking=ranking, overwrite=overwrite)
    folder = Path(out_dir)
    if (reference is None) == (content is None and style is None):
        raise LikenessError("give reference (a compare study) or content and style "
                            "(a style study)")
    if len(models) < 2:
        raise LikenessError(f"a 2AFC study compares at least two models, got {len(models)}")
    if reference is not None:
        outputs, shown, styles, decisions = _compare_items(reference, models)
        kind = "compare"
    elif content is None or style is None:
        raise LikenessError("a style study needs both content and style folders")
    else:
        outputs, shown, styles, decisions = _style_items(content, style, models)
        kind = "style"
    complete = sorted(item for item, by_model in outputs.items() if len(by_model) == len(models))
    partial = sorted(set(outputs) - set(complete))
    if partial:
        decisions.append(f"{counted(len(partial), 'item')} left out: not every model has an output "
                         f"for them ({_listed(partial)})")
    if not complete:
        raise LikenessError("no item has an output of every model: check that the folders "
                            "pair (as `likeness compare` pairs them)"
                            + "".join(f"; {decision}" for decision in decisions))
    if max_items is not None and max_items < len(complete):
        chosen = np.random.default_rng([seed, 2]).choice(len(complete), max_items,
                                                         replace=False)
        decisions.append(f"{max_items} of the {len(complete)} items drawn at random "
                         f"(seed {seed})")
        complete = sorted(complete[i] for i in chosen)
    _check_out_dir(folder, overwrite)
    new_folder = not folder.exists()
    try:  # the whole study or nothing: a failure or Ctrl-C leaves no half-written folder
        (folder / "images").mkdir(parents=True, exist_ok=True)
        manifest = _write_images(folder, kind, complete, models, outputs, shown, styles,
                                 alpha, seed, attention_checks, decisions)
        manifest.update({
            "format": FORMAT, "format_version": 1, "study_id": secrets.token_hex(8),
            "likeness_version": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "kind": kind, "title": title,
            "instructions": instructions or _instructions(kind, ranking),
            "consent": consent or _CONSENT,
            "questions": [{"id": key, "text": words, "shows": shows}
                          for key, words, shows in parsed],
            "models": list(models),
            "sources": {"reference": _absolute(reference), "content": _absolute(content),
                        "style": _absolute(style),
                        "models": {name: _absolute(path) for name, path in models.items()}},
            "decisions": decisions,
            "design": {"seed": seed, "per_participant": per_participant, "repeats": repeats,
                       "attention_checks": attention_checks, "ranking": ranking,
                       "attention_pool": manifest.pop("attention_pool")}})
        manifest = escaped_text(manifest)  # names not UTF-8: as the results folders write them
        study = Study(folder, manifest, manifest_design(manifest))  # checks the settings
        text = json.dumps(sign_manifest(manifest), indent=2, ensure_ascii=False,
                          default=plain_json)
        replace_file(folder / MANIFEST, text + "\n")  # whole or not at all
        # readable by its owner only from the first byte (not written, then restricted)
        replace_file(folder / TOKEN_FILE, secrets.token_urlsafe(24) + "\n", mode=0o600)
    except BaseException as error:
        shutil.rmtree(folder / "images", ignore_errors=True)
        for name in (MANIFEST, TOKEN_FILE):
            (folder / name).unlink(missing_ok=True)
        if new_folder:
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(error, ImageLoadError):
            raise LikenessError(f"{error} (no study was written: fix or remove the "
                                "file)") from None
        if isinstance(error, OSError):
            raise StorageError(f"cannot write the study to {folder} ({error.strerror or error}"
                               f"); {write_advice(error)} — no study was written") from None
        raise
    return study


def _write_images(folder: Path, kind: str, items: list[str], models: Mapping[str, PathLike],
                  outputs: dict[str, dict[str, Path]], shown: dict[str, Path],
                  styles: dict[str, Path], alpha: str | None, seed: int,
                  attention_checks: int, decisions: list[str]) -> dict[str, Any]:
    writer = ImageWriter(folder / "images", alpha, decisions)
    records = []
    for item in items:
        records.append({"id": item, "reference": writer.file(shown[item]),
                        "style": writer.file(styles[item]) if item in styles else None,
                        "outputs": {m: writer.file(outputs[item][m]) for m in models}})
    decisions += identical_outputs(records)
    rng = np.random.default_rng([seed, 3])
    cells = [(item, model) for item in items for model in models]
    pool = [cells[i] for i in sorted(rng.choice(len(cells), min(ATTENTION_POOL, len(cells)),
                                                replace=False).tolist())]
    degraded = []
    if attention_checks:
        for number, (item, model) in enumerate(pool):
            pixels = writer.pixels(outputs[item][model])
            degraded.append({"item": item, "model": model,
                             "image": writer.write(degraded_copy(pixels, seed + number))})
    if writer.deep:
        decisions.append(f"{counted(writer.deep, '16-bit image')} shown rounded to 8 bits "
                         "(browsers show 8 bits per channel)")
    role = run_words(kind).reference
    return {"items": records, "degraded": degraded, "images": sorted(writer.written),
            "attention_pool": [list(cell) for cell in pool] if attention_checks else [],
            "role": role}


def _absolute(path: PathLike | None) -> str | None:
    return None if path is None else str(Path(path).resolve())


_CONSENT = ("This study is anonymous: no name, e-mail or address is asked or stored, only "
            "your answers and how long each took, under a random code. Taking part is "
            "voluntary; you may stop at any time by closing the page.")


def _instructions(kind: str, ranking: bool) -> str:
    shown = ("the content and style images above them" if kind == "style"
             else "the reference above them")
    task = ("Click the images in order, from the one that answers the question best to the "
            "one that answers it worst" if ranking else "Click the image that answers the "
            "question better (or press the left or right arrow key)")
    return (f"You will see {'several images' if ranking else 'two images side by side'} "
            f"and, for most questions, {shown}. {task}. There are no right or wrong "
            "answers, except for a few checks whose answer is obvious. If you cannot "
            "decide, choose the one you lean towards.")


def open_study(folder: PathLike) -> Study:
    """The study in ``folder`` (written by ``create_study``).

    Raises:
        LikenessError: no study there, or its manifest is not one likeness wrote.
    """
    check_paths(folder=folder)
    path = (folder := Path(folder)) / MANIFEST
    try:
        manifest = json_document(file_text(path))
    except FileNotFoundError:
        raise LikenessError(f"{folder} holds no study ({MANIFEST} is missing): create one "
                            "with `likeness study create`") from None
    except (OSError, ValueError) as error:  # (not UTF-8, not JSON, nested past use)
        why = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise LikenessError(f"{path} cannot be read as a study manifest ({why})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise LikenessError(f"{path} is not a likeness study manifest")
    check_manifest(path, manifest)
    try:
        return Study(folder, manifest, manifest_design(manifest))
    except (KeyError, TypeError, ValueError) as error:
        raise LikenessError(f"{path} is damaged ({type(error).__name__}: {error}); create "
                            "the study again") from None
