"""What a comparison run will do: which models, which (reference, test) pairs, which sets.

Models are the test folders (named by their folder name, or ``--model NAME=DIR``). Pairs
come from the folders (relative path without extension, as ``pair_folders``) or from a
pairs CSV with columns ``reference,test[,model][,prompt][,source_prompt]``; relative paths
in the CSV are resolved against the CSV file's own folder. Set metrics (FID, KID) use
every image of the reference folder and of each model's folder (or, with a CSV, the
distinct files it names), so a generative model whose outputs pair with nothing still gets
its FID.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from likeness.errors import PairingError
from likeness.evaluation.items.prompts import (
    PROMPT_ROLES,
    Prompt,
    table_prompt,
    without_sidecars,
)
from likeness.io import (
    escaped_path,
    escaped_text,
    pair_scanned,
    read_manifest,
    resolved_paths,
    same_file_key,
    scan_folder,
)
from likeness.wording import run_words

__all__ = ["Item", "Plan", "check_distinct_folders", "item_paths", "make_plan", "model_names",
           "refuse_set_names", "table_prompts"]


@dataclass(frozen=True)
class Item:
    """One item of a plan: a test image of one model (or method) and the images it is
    measured against — its reference (a style run's content) and, in a style run, its
    style image — and its prompts, for the metrics that read text
    (``likeness.evaluation.items.prompts``)."""

    model: str
    reference: Path
    test: Path
    reference_name: str  # as shown and written: relative to its folder
    test_name: str
    style: Path | None = None
    style_name: str | None = None
    prompts: tuple[Prompt, ...] = ()

    def prompt(self, role: str) -> Prompt | None:
        """Its prompt of ``role`` (``"prompt"``, ``"source_prompt"``), if it has one."""
        return next((p for p in self.prompts if p.role == role), None)

    @property
    def files(self) -> tuple[Path, ...]:
        """The item's files, in the order of its cache key."""
        if self.style is None:
            return (self.reference, self.test)
        return (self.reference, self.style, self.test)


@dataclass
class Plan:
    """What a run evaluates: items (per-item metrics) and sets (set metrics).

    Attributes:
        kind: ``"compare"`` or ``"style"`` (what the roles are called in notes).
        sets: set name → files; each model has a set, beside ``"reference"`` (compare) or
            ``"style"`` (style).
        set_pairs: (model, first set, second set) for each model's set metrics.
    """

    models: list[str]
    items: list[Item]
    sets: dict[str, list[Path]]
    set_names: dict[Path, str]  # display names of set files
    kind: str = "compare"
    set_pairs: list[tuple[str, str, str]] = field(default_factory=list)
    unmatched: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # model -> folder or CSV
    # files found in the folders but skipped for their extension: source -> names
    skipped: dict[str, list[str]] = field(default_factory=dict)

    @property
    def roles(self) -> tuple[str, str]:
        """What the reference and the test image are called in notes."""
        words = run_words(self.kind)
        return words.reference, words.test


_SET_NAMES = ("reference", "style")  # the runs' own sets (``refuse_set_names``)


def model_names(tests: Sequence[str | os.PathLike[str]]) -> dict[str, Path]:
    """Name each test folder by its folder name; equal names, and the names of the runs'
    own sets (a folder called ``reference``), get their parent prepended."""
    folders = [Path(t) for t in tests]
    names: dict[str, Path] = {}
    for folder in folders:
        parts = folder.resolve().parts
        depth = 1
        name = parts[-1]
        while name in names or name in _SET_NAMES or sum(
                1 for f in folders if f.resolve().parts[-depth:] == parts[-depth:]) > 1:
            depth += 1
            if depth > len(parts):
                raise PairingError(f"two test folders are the same folder: {folder}")
            name = "/".join(parts[-depth:])
        names[name] = folder
    return names


def check_distinct_folders(folders: Mapping[str, str | os.PathLike[str]], role: str = "model",
                           roots: Mapping[str, str | os.PathLike[str]] | None = None, *,
                           same_allowed: bool = False) -> None:
    """Refuse folders that overlap: one folder given for two models, a model's folder inside
    another's, and a model's folder that is one of ``roots`` ({"reference": folder}, or the
    content and style folders), inside one, or holding one.  Folders are searched
    recursively, so an overlap makes one's files count as the other's (a reference set
    holding the model's outputs, a model compared with itself), while every value looks
    fine.  Paths are compared however spelt (``./a``, ``x/../a``, links); ``role``: what
    the folders are called (empty: the names alone, as ``A`` and ``B``); ``same_allowed``:
    one folder twice passes (an FID of a set with itself, a sanity check), only nesting is
    refused.

    Raises:
        PairingError: naming the folders that overlap.
    """
    def inside(inner: str, outer: str) -> bool:
        return Path(outer) in Path(inner).parents

    # (what the folder is called, the folder as given, what it is, its real path)
    placed = [(root if not role else f"the {root} folder", folder, root,
               same_file_key(Path(folder))) for root, folder in (roots or {}).items()]
    for name, folder in folders.items():
        key = same_file_key(Path(folder))
        this = name if not role else f"the folder of {role} {name!r}"
        for other, other_folder, what, other_key in placed:
            if key == other_key and not same_allowed:
                itself = (": every pair would compare a file with itself"
                          if what == "reference" else "")
                raise PairingError(f"{this} ({folder}) is {other} too{itself}; give each "
                                   f"{role or 'set'} its own folder, apart from the others")
            if inside(key, other_key):
                inner, outer = (this, folder), (other, other_folder)
            elif inside(other_key, key):
                inner, outer = (other, other_folder), (this, folder)
            else:
                continue
            raise PairingError(f"{inner[0]} ({inner[1]}) is inside {outer[0]} ({outer[1]}), "
                               "which is searched recursively: its files would count twice; "
                               "give folders side by side")
        placed.append((this, folder, role, key))


def check_no_shared_files(sets: Mapping[str, Sequence[Path]]) -> None:
    """Refuse a file that two sets reach (``sets``: each set's files by what it is called:
    "the reference set", "model 'x'"): a link inside one folder to a file, or a folder,
    of another's.  The folders themselves are apart (``check_distinct_folders``), yet the
    file would count in both — a reference set holding a model's output, a pair comparing
    a file with itself — while every value looks fine.

    Raises:
        PairingError: naming the file both ways, and its real path.
    """
    owner: dict[str, tuple[str, Path]] = {}
    for name, files in sets.items():
        for path, real in resolved_paths(files).items():
            other, other_path = owner.setdefault(real, (name, path))
            if other != name:
                raise PairingError(
                    f"{other_path} ({other}) and {path} ({name}) are one file, {real}, "
                    "reached through a link: it would count in both; remove the link (or "
                    "copy the file, if both are meant to hold it)")


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _plan_folders(reference: Path, models: Mapping[str, Path], need_pairs: bool,
                  need_sets: bool) -> Plan:
    if not reference.is_dir():
        raise PairingError(f"{reference}: the reference must be a folder (or give pairs=CSV)")
    plan = Plan(models=list(models), items=[], sets={}, set_names={})
    reference_scan = scan_folder(reference)  # each folder is walked once
    model_files: dict[str, list[Path]] = {}
    for name, folder in models.items():
        if not folder.is_dir():
            raise PairingError(f"{folder}: the test folder of model {name!r} does not exist")
        plan.sources[name] = str(folder)
        files, skipped = scan_folder(folder)
        model_files[name] = files
        if need_pairs:
            pairing = pair_scanned(reference, reference_scan, folder, (files, skipped))
            for (ref, test), (ref_name, test_name) in zip(
                    pairing.pairs, pairing.relative(reference, folder), strict=True):
                plan.items.append(Item(name, ref, test, ref_name, test_name))
            plan.unmatched[name] = (
                [_relative(p, reference) for p in pairing.unmatched_reference],
                [_relative(p, folder) for p in pairing.unmatched_test])
        _note_skipped(plan, name, folder, (files, skipped))
        if need_sets:
            plan.sets[name] = files
            plan.set_names.update((f, _relative(f, folder)) for f in files)
    files, _ = reference_scan
    check_no_shared_files({"the reference set": files, **{
        f"model {name!r}": scanned for name, scanned in model_files.items()}})
    _note_skipped(plan, "reference", reference, reference_scan)
    if need_sets:
        plan.sets["reference"] = files
        plan.set_names.update((f, _relative(f, reference)) for f in files)
    return plan


def _note_skipped(plan: Plan, source: str, folder: Path,
                  scanned: tuple[list[Path], list[Path]]) -> None:
    """Record the files skipped for their extension, but the images' prompt files."""
    images, skipped = scanned
    if listed := without_sidecars(skipped, images):
        plan.skipped[source] = [_relative(p, folder) for p in listed]


def _plan_csv(pairs_csv: Path, reference: Path | None, models: Mapping[str, Path]) -> Plan:
    base = pairs_csv.resolve().parent
    records = read_manifest(pairs_csv, ("reference", "test"), ("model", *PROMPT_ROLES),
                            what="pairs CSV")
    plan = Plan(models=[], items=[], sets={"reference": []}, set_names={})
    default_model = next(iter(models), "test")
    seen: dict[tuple[str, str, str], int] = {}
    folders: dict[str, str] = {}  # real paths, each folder's resolved once
    for line, record in records:
        model = (record.get("model") or "").strip() or default_model
        # paths verbatim: "a.png " and "a.png" are different files
        reference_name, test_name = record["reference"], record["test"]
        ref, test = base / reference_name, base / test_name
        identity = (model, same_file_key(ref, folders), same_file_key(test, folders))
        if identity[1] == identity[2]:
            raise PairingError(f"{pairs_csv}, line {line}: the reference and the test are the "
                               f"same file ({reference_name}, {test_name}): the pair would "
                               "compare it with itself; name the model's output as the test")
        if identity in seen:
            raise PairingError(f"{pairs_csv}, line {line}: the pair of line {seen[identity]} "
                               f"again for model {model!r} ({reference_name}, {test_name}); "
                               "remove one (paths are compared after resolving '.', '..' "
                               "and links)")
        seen[identity] = line
        if model not in plan.models:
            plan.models.append(model)
            plan.sets[model] = []
            plan.sources[model] = str(pairs_csv)
        plan.items.append(Item(model, ref, test, reference_name, test_name,
                               prompts=table_prompts(record, f"{pairs_csv}, line {line}")))
        if ref not in plan.sets["reference"]:
            plan.sets["reference"].append(ref)
        if test not in plan.sets[model]:
            plan.sets[model].append(test)
        plan.set_names[ref], plan.set_names[test] = reference_name, test_name
    if not plan.items:
        raise PairingError(f"{pairs_csv}: the pairs CSV lists no pair")
    del reference
    return plan


def table_prompts(record: Mapping[str, str | None], where: str) -> tuple[Prompt, ...]:
    """The prompts a row of a pairs CSV or style manifest gives (its prompt columns)."""
    return tuple(table_prompt(role, record[role] or "", where) for role in PROMPT_ROLES
                 if role in record and record[role] is not None)


def make_plan(reference: str | os.PathLike[str] | None,
              tests: Mapping[str, str | os.PathLike[str]], *,
              pairs_csv: str | os.PathLike[str] | None = None, need_pairs: bool = True,
              need_sets: bool = False) -> Plan:
    """The run's models, pairs and sets.

    Raises:
        PairingError: a missing folder, a malformed pairs CSV, or ambiguous file names.
    """
    models = {name: Path(folder) for name, folder in tests.items()}
    if pairs_csv is not None:
        plan = _plan_csv(Path(pairs_csv), None if reference is None else Path(reference),
                         models)
    elif reference is None:
        raise PairingError("give a reference folder, or a pairs CSV (pairs=CSV)")
    elif not models:
        raise PairingError("give at least one test folder (or models={NAME: DIR})")
    else:
        check_distinct_folders(models, roots={"reference": reference})
        plan = _plan_folders(Path(reference), models, need_pairs, need_sets)
    refuse_set_names(plan.models, "model", "reference")
    plan.set_pairs = [(model, "reference", model) for model in plan.models]
    return plan


def item_paths(settings: Mapping[str, Any], kind: str, model: str, reference: str,
               test: str) -> tuple[Path, Path]:
    """The files of a run's pair as its record's ``settings`` plan them (its ``kind``: a
    style run's content plays the reference), from the names its tables write (escaped
    where not UTF-8): the inverse of ``make_plan``'s names."""
    if settings.get("pairs_csv"):
        base = Path(settings["pairs_csv"]).parent
        return escaped_path(base, reference), escaped_path(base, test)
    first = settings["content"] if kind == "style" else settings["reference"]
    folders = settings["models"]  # under the models' own names; the tables escape them
    named = {escaped_text(name): path for name, path in folders.items()}
    return (escaped_path(Path(first), reference),
            escaped_path(Path(folders[model] if model in folders else named[model]), test))


def refuse_set_names(models: Sequence[str], role: str, taken: str) -> None:
    """Refuse a model named as the run's own set (``taken``: the reference images, or a
    style run's style images): its images and that set would be one set, and a set
    metric of it the set against itself (FID 0).  Refuse a blank name too (``models={"":
    DIR}``): its rows of the tables would name nothing.

    Raises:
        PairingError: saying to choose another name.
    """
    if (blank := next((name for name in models if not str(name).strip()), None)) is not None:
        raise PairingError(f"a {role} cannot be called {blank!r}: its rows of the tables "
                           f"would name no {role}; give it a name")
    if taken in models:
        raise PairingError(f"a {role} cannot be called {taken!r}: that is the name of the "
                           f"{taken} images' set (FID, KID and the other set metrics compare "
                           f"each {role} with it); give that {role} another name")
