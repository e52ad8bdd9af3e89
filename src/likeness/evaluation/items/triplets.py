"""Style-transfer plans: content, style and stylized folders (or a manifest) → items.

Triplets: a stylized file names its content and its style, as ``C__S.ext`` (content stem,
two underscores, style stem), or as ``S/C.ext`` inside the stylized folder, or through a
manifest CSV (``content,style,stylized[,method][,prompt][,source_prompt]``, paths relative
to the content, style and stylized folders). Anything unmatched is listed. Several
stylized folders (one per method) are evaluated in one run, against the same contents and
styles.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from likeness.errors import LikenessError, PairingError
from likeness.evaluation.items.plan import (
    Item,
    Plan,
    check_distinct_folders,
    check_no_shared_files,
    refuse_set_names,
    table_prompts,
)
from likeness.evaluation.items.prompts import PROMPT_ROLES, Prompt, without_sidecars
from likeness.io import (
    describe_skipped,
    name_key,
    read_manifest,
    same_file_key,
    scan_folder,
    stat_regular_file,
)

__all__ = ["Triplet", "find_triplets", "style_plan"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Triplet:
    method: str
    content: Path
    style: Path
    stylized: Path
    content_name: str
    style_name: str
    stylized_name: str
    prompts: tuple[Prompt, ...] = ()  # the manifest's prompt columns


def _index(folder: Path, skipped: list[Path]) -> dict[str, Path]:
    """A folder's images by name key (``skipped`` extended by what its scan left out)."""
    images, left_out = scan_folder(folder)
    skipped += without_sidecars(left_out, images)
    index: dict[str, Path] = {}
    for path in images:
        stem = name_key(path, folder)
        if stem in index:
            raise PairingError(f"{folder}: {index[stem].name} and {path.name} differ only in "
                               "extension; keep one")
        index[stem] = path
    return index


def _match_name(stem: str, contents: Mapping[str, Path],
                styles: Mapping[str, Path]) -> tuple[str, str] | str:
    """(content stem, style stem), or why the stylized stem names no triplet."""
    if "/" in stem:
        style, _, content = stem.rpartition("/")
        if content in contents and style in styles:
            return content, style
    name = stem.rpartition("/")[2]
    candidates = _splits(name, contents, styles)
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        return f"ambiguous: {' or '.join(f'{c} + {s}' for c, s in candidates)}"
    folded_contents = {c.casefold(): c for c in contents}
    folded_styles = {s.casefold(): s for s in styles}
    folded = _splits(name.casefold(), folded_contents, folded_styles)
    if len(folded) == 1:  # Linux's names, and pairing, tell the cases apart
        content, style = folded_contents[folded[0][0]], folded_styles[folded[0][1]]
        return (f"names content {content} and style {style} but in other letter case, which "
                f"pairing tells apart: rename it {content}__{style} (keeping its extension)")
    return "names no known content and style (expected C__S.ext or S/C.ext)"


def _splits(name: str, contents: Mapping[str, object], styles: Mapping[str, object]
            ) -> list[tuple[str, str]]:
    """Each (content, style) of the known ones that ``name`` is, split at a ``__``."""
    found = []
    start = name.find("__")
    while start != -1:
        if name[:start] in contents and name[start + 2:] in styles:
            found.append((name[:start], name[start + 2:]))
        start = name.find("__", start + 1)
    return found


def find_triplets(content_dir: PathLike, style_dir: PathLike, methods: Mapping[str, PathLike],
                  manifest: PathLike | None = None, *,
                  skipped: dict[str, list[str]] | None = None,
                  ) -> tuple[list[Triplet], dict[str, list[str]]]:
    """The triplets of each method and, per method, the stylized files left unmatched.

    ``skipped``, when given, is filled with what the folders' scans left out (hidden, or
    not in an image format likeness reads; relative to each folder) under ``"content
    folder"``, ``"style folder"`` and each method's name — without a manifest (one names
    its files).

    Raises:
        PairingError: a missing folder, a malformed manifest, or a manifest naming an
            unknown file or method.
    """
    content_root, style_root = Path(content_dir), Path(style_dir)
    for label, folder in (("content", content_root), ("style", style_root),
                          *((f"stylized ({m})", Path(f)) for m, f in methods.items())):
        if not folder.is_dir():
            raise PairingError(f"{folder}: the {label} folder does not exist")
    left_out: dict[str, list[Path]] = {"content folder": [], "style folder": []}
    contents = _index(content_root, left_out["content folder"])
    styles = _index(style_root, left_out["style folder"])
    for label, folder, index in (("content", content_root, contents),
                                 ("style", style_root, styles)):
        if not index:  # else: "no stylized file names a content and a style", file by file
            skipped_names = [p.relative_to(folder).as_posix() for p in left_out[f"{label} folder"]]
            raise PairingError(f"{folder}: the {label} folder holds no image likeness reads"
                               + (f"; skipped: {describe_skipped(skipped_names)}"
                                  if skipped_names else ""))
    if manifest is None:
        check_distinct_folders(methods, "method", {"content": content_root, "style": style_root})
    triplets: list[Triplet] = []
    unmatched: dict[str, list[str]] = {m: [] for m in methods}
    if manifest is not None:
        return _manifest_triplets(Path(manifest), content_root, style_root, methods), unmatched
    stylized: dict[str, list[Path]] = {}
    for method, method_dir in methods.items():
        stylized[method], others = scan_folder(method_dir)
        left_out[method] = without_sidecars(others, stylized[method])
    if skipped is not None:
        roots = {"content folder": content_root, "style folder": style_root,
                 **{method: Path(method_dir) for method, method_dir in methods.items()}}
        skipped.update({role: [path.relative_to(roots[role]).as_posix() for path in paths]
                        for role, paths in left_out.items() if paths})
    # (content and style images may be the same: some protocols draw both from one pool)
    check_no_shared_files({"the content and style images": [*contents.values(),
                                                              *styles.values()],
                           **{f"method {m!r}": files for m, files in stylized.items()}})
    for method, method_folder in methods.items():
        root = Path(method_folder)
        for path in stylized[method]:
            stem = name_key(path, root)
            matched = _match_name(stem, contents, styles)
            if isinstance(matched, str):
                unmatched[method].append(f"{path.relative_to(root).as_posix()} ({matched})")
                continue
            content, style = matched
            triplets.append(Triplet(method, contents[content], styles[style], path,
                                    contents[content].relative_to(content_root).as_posix(),
                                    styles[style].relative_to(style_root).as_posix(),
                                    path.relative_to(root).as_posix()))
    return triplets, unmatched


def _manifest_triplets(manifest: Path, content_root: Path, style_root: Path,
                       methods: Mapping[str, PathLike]) -> list[Triplet]:
    records = read_manifest(manifest, ("content", "style", "stylized"),
                            ("method", *PROMPT_ROLES), what="manifest")
    default = next(iter(methods)) if len(methods) == 1 else None
    triplets = []
    seen: dict[tuple[str, ...], int] = {}
    folders: dict[str, str] = {}  # real paths, each folder's resolved once
    for line, record in records:
        method = (record.get("method") or "").strip() or default
        if method is None or method not in methods:
            raise PairingError(f"{manifest}, line {line}: method {method!r} is not one of "
                               f"{', '.join(methods)} (add a method column, or give one method)")
        paths = (content_root / record["content"], style_root / record["style"],
                 Path(methods[method]) / record["stylized"])
        for path in paths:
            try:
                stat_regular_file(path)  # says what it is: missing, a FIFO, a link loop
            except LikenessError as error:
                raise PairingError(f"{manifest}, line {line}: {error}") from None
        identity = (method, *(same_file_key(p, folders) for p in paths))
        if identity[3] in identity[1:3]:
            raise PairingError(f"{manifest}, line {line}: the stylized image is the "
                               f"{'content' if identity[3] == identity[1] else 'style'} "
                               f"image itself ({record['stylized']}); name the method's output")
        if identity in seen:
            raise PairingError(f"{manifest}, line {line}: the triplet of line {seen[identity]} "
                               f"again for method {method!r}; remove one (paths are compared "
                               "after resolving '.', '..' and links)")
        seen[identity] = line
        triplets.append(Triplet(method, *paths, record["content"], record["style"],
                                record["stylized"],
                                table_prompts(record, f"{manifest}, line {line}")))
    return triplets


def style_plan(triplets: list[Triplet], methods: list[str],
               unmatched: Mapping[str, list[str]]) -> Plan:
    """The plan of a style run: one item per triplet (reference = content); sets: the
    style images and each method's stylized images (FID of each method against styles)."""
    refuse_set_names(methods, "method", "style")
    items = [Item(t.method, t.content, t.stylized, t.content_name, t.stylized_name,
                  style=t.style, style_name=t.style_name, prompts=t.prompts)
             for t in triplets]
    sets: dict[str, list[Path]] = {"style": list(dict.fromkeys(t.style for t in triplets))}
    names = {t.style: f"style/{t.style_name}" for t in triplets}
    for method in methods:
        sets[method] = list(dict.fromkeys(t.stylized for t in triplets if t.method == method))
    names.update({t.stylized: f"{t.method}/{t.stylized_name}" for t in triplets})
    return Plan(models=list(methods), items=items, sets=sets, set_names=names, kind="style",
                set_pairs=[(m, m, "style") for m in methods],
                unmatched={m: ([], list(u)) for m, u in unmatched.items()})
