"""Style-transfer evaluation: content, style and stylized folders → one results folder.

Triplets: a stylized file names its content and its style, as ``C__S.ext`` (content stem,
two underscores, style stem), or as ``S/C.ext`` inside the stylized folder, or through a
manifest CSV (``content,style,stylized[,method]``, paths relative to the content, style
and stylized folders).  Anything unmatched is listed.  Several stylized folders (one per
method) are evaluated in one run, against the same contents and styles.

Per triplet (content C, style S, stylized X): ``lpips_alex`` (C vs X, ArtFID's content
term), ``ssim`` and ``ssim_gray`` (C vs X, scikit-image), ``cfsd`` and ``content_loss``
(C vs X, VGG19), ``gram`` and ``adain_style`` (S vs X, VGG19).  Per method: ``fid``
(pytorch-fid's Inception) and ``fid_art`` (ArtFID's Inception) between the stylized set
and the style set, and ``art_fid`` = (1 + mean LPIPS)·(1 + FID_art).

Every content and style image is decoded and encoded once (a content's LPIPS and VGG
features serve all of its styles; a style's Gram matrices and statistics all of its
contents); per-triplet values are cached by the three files' content hashes and every
setting, batch by batch, so a killed run resumes and a grown protocol costs only the new
triplets.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from likeness.allocator import keep_freed_memory
from likeness.cache import Cache
from likeness.device import resolve_device
from likeness.engine import (
    PairRow,
    SetRow,
    decode_notes,
    encode_notes,
    hash_files,
    unreadable_reason,
)
from likeness.errors import LikenessError, PairingError
from likeness.evaluate import (
    METRICS,
    MetricContext,
    describe_failure,
    invalid_values,
    prepare_pair,
)
from likeness.io import LoadedImage, find_images, load_image, read_manifest, same_file_key
from likeness.pipeline import ordered_map
from likeness.results import Results, StatsOptions, compare_models, summarize_rows

__all__ = ["DEFAULT_STYLE_METRICS", "Triplet", "evaluate_style", "find_triplets"]

# the usual column order of style-transfer papers
DEFAULT_STYLE_METRICS = ("art_fid", "fid_art", "fid", "lpips_alex", "cfsd", "gram",
                         "adain_style", "content_loss", "ssim", "ssim_gray")
CFSD_MAX_PIXELS = 1024 * 1024
_VGG_TAPS = (1, 6, 11, 20, 22, 29)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_VGG_METRICS = ("cfsd", "gram", "adain_style", "content_loss")
PathLike = str | os.PathLike[str]
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Triplet:
    method: str
    content: Path
    style: Path
    stylized: Path
    content_name: str
    style_name: str
    stylized_name: str


def _index(folder: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in find_images(folder):
        stem = path.relative_to(folder).with_suffix("").as_posix()
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
    candidates = []
    start = name.find("__")
    while start != -1:
        content, style = name[:start], name[start + 2:]
        if content in contents and style in styles:
            candidates.append((content, style))
        start = name.find("__", start + 1)
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        return f"ambiguous: {' or '.join(f'{c} + {s}' for c, s in candidates)}"
    return "names no known content and style (expected C__S.ext or S/C.ext)"


def find_triplets(content_dir: PathLike, style_dir: PathLike, methods: Mapping[str, PathLike],
                  manifest: PathLike | None = None,
                  ) -> tuple[list[Triplet], dict[str, list[str]]]:
    """The triplets of each method and, per method, the stylized files left unmatched.

    Raises:
        PairingError: a missing folder, a malformed manifest, or a manifest naming an
            unknown file or method.
    """
    content_root, style_root = Path(content_dir), Path(style_dir)
    for label, folder in (("content", content_root), ("style", style_root),
                          *((f"stylized ({m})", Path(f)) for m, f in methods.items())):
        if not folder.is_dir():
            raise PairingError(f"{folder}: the {label} folder does not exist")
    contents, styles = _index(content_root), _index(style_root)
    triplets: list[Triplet] = []
    unmatched: dict[str, list[str]] = {m: [] for m in methods}
    if manifest is not None:
        return _manifest_triplets(Path(manifest), content_root, style_root, methods), unmatched
    for method, method_folder in methods.items():
        root = Path(method_folder)
        for path in find_images(root):
            stem = path.relative_to(root).with_suffix("").as_posix()
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
    records = read_manifest(manifest, ("content", "style", "stylized"), ("method",),
                            what="manifest")
    default = next(iter(methods)) if len(methods) == 1 else None
    triplets = []
    seen: dict[tuple[str, ...], int] = {}
    for line, record in records:
        method = (record.get("method") or "").strip() or default
        if method is None or method not in methods:
            raise PairingError(f"{manifest}, line {line}: method {method!r} is not one of "
                               f"{', '.join(methods)} (add a method column, or give one method)")
        paths = (content_root / record["content"], style_root / record["style"],
                 Path(methods[method]) / record["stylized"])
        for path in paths:
            if not path.is_file():
                raise PairingError(f"{manifest}, line {line}: {path} does not exist")
        identity = (method, *(same_file_key(p) for p in paths))
        if identity in seen:
            raise PairingError(f"{manifest}, line {line}: the triplet of line {seen[identity]} "
                               f"again for method {method!r}; remove one (paths are compared "
                               "after resolving '.', '..' and links)")
        seen[identity] = line
        triplets.append(Triplet(method, *paths, record["content"], record["style"],
                                record["stylized"]))
    return triplets


class _Networks:
    """The networks a style run needs, each built once, on first use."""

    def __init__(self, device: str, weights: Mapping[str, str]) -> None:
        self.device, self.weights = device, weights
        self._built: dict[str, Any] = {}
        self.failed: dict[str, str] = {}

    def get(self, name: str) -> Any:
        if name in self.failed:
            raise LikenessError(self.failed[name])
        if name not in self._built:
            try:
                self._built[name] = self._build(name)
            except LikenessError as error:
                self.failed[name] = str(error)
                raise
        return self._built[name]

    def _build(self, name: str) -> Any:
        if name == "lpips":
            from likeness.nets.lpips import LPIPS

            return LPIPS(net="alex", backbone_weights=self.weights.get("alexnet")).to(
                self.device)
        import torch

        from likeness.nets.backbones import build_backbone
        from likeness.nets.lpips import load_backbone_weights
        from likeness.weights import load_state_dict, resolve

        resolved = resolve("vgg19", self.weights.get("vgg19"))
        network = build_backbone("vgg19")
        load_backbone_weights(network, load_state_dict(resolved.path), str(resolved.path))
        network.requires_grad_(False).eval().to(self.device)
        network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return network


def _same_channels(content: LoadedImage, stylized: LoadedImage
                   ) -> tuple[LoadedImage, LoadedImage]:
    """A gray content image with a colour stylization (or the reverse) is replicated to RGB,
    and the decision recorded: the style metrics compare colour images."""
    if content.channels == stylized.channels:
        return content, stylized

    def as_rgb(image: LoadedImage) -> LoadedImage:
        if image.channels != 1:
            return image
        return replace(image, pixels=np.repeat(image.pixels, 3, axis=2),
                       decisions=(*image.decisions, "gray replicated to RGB"))

    return as_rgb(content), as_rgb(stylized)


def _network_of(metric: str) -> str | None:
    """The network a per-triplet metric needs (its failure is not cached per triplet)."""
    return "lpips" if metric == "lpips_alex" else "vgg19" if metric in _VGG_METRICS else None


def _unit(pixels: np.ndarray, data_range: float) -> Any:
    import torch

    unit = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)
                            / np.float32(data_range)).permute(2, 0, 1)[None]
    return unit.expand(-1, 3, -1, -1) if unit.shape[1] == 1 else unit


class _StyleRunner:
    def __init__(self, triplets: list[Triplet], digests: dict[Path, str], metrics: list[str],
                 options: dict[str, Any], networks: _Networks, cache: Cache,
                 progress: Progress | None, unreadable: dict[Path, str]) -> None:
        self.triplets, self.digests, self.metrics = triplets, digests, metrics
        self.unreadable = unreadable  # why each file without a key failed
        self.options, self.networks, self.cache = options, networks, cache
        self.progress = progress
        self.per_triplet = [m for m in metrics if METRICS[m].kind != "set"]
        self.rows = [PairRow(t.method, t.content_name, t.stylized_name, style=t.style_name)
                     for t in triplets]
        settings = f"resize={options['resize']}/alpha={options['alpha']}"
        self.namespaces = {m: f"style/v1/{m}/{settings}/{self._weights_tag(m)}"
                           for m in self.per_triplet}
        self.notes_namespace = f"style/v3/notes/{settings}"
        self.style_cache: dict[Path, Any] = {}
        self.done = 0
        self.pending: list[tuple[int, dict[str, Any]]] = []

    def _weights_tag(self, metric: str) -> str:
        from likeness.weights import resolve

        name = "alexnet" if metric == "lpips_alex" else (
            "vgg19" if metric in _VGG_METRICS else None)
        if name is None:
            return "-"
        try:
            return resolve(name, self.networks.weights.get(name)).sha256
        except LikenessError as error:
            self.networks.failed["lpips" if name == "alexnet" else "vgg19"] = str(error)
            return "unavailable"

    def _key(self, triplet: Triplet) -> str | None:
        keys = [self.digests.get(p) for p in (triplet.content, triplet.style, triplet.stylized)]
        return None if None in keys else ":".join(keys)  # type: ignore[arg-type]

    def _advance(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress("triplets", self.done, len(self.rows))

    def _fail(self, index: int, message: str) -> None:
        row = self.rows[index]
        row.error = message if row.error is None else f"{row.error}; {message}"
        if self.options["strict"]:
            raise LikenessError(f"{row.model}: {row.test}: {message} (strict=True stops at the "
                                "first failure)")

    def run(self) -> list[PairRow]:
        if self.progress is not None:
            self.progress("triplets", 0, len(self.rows))
        keys = [self._key(t) for t in self.triplets]
        present = [k for k in keys if k is not None]
        stored = {m: self.cache.get_many(self.namespaces[m], present) for m in self.per_triplet}
        notes = self.cache.get_many(self.notes_namespace, present)
        groups: dict[Path, list[int]] = {}
        for index, (triplet, key) in enumerate(zip(self.triplets, keys, strict=True)):
            if key is not None and key in notes and all(key in stored[m]
                                                        for m in self.per_triplet):
                row = self.rows[index]
                row.cached = True
                row.notes, row.data_range, row.channels = decode_notes(notes[key])
                for metric in self.per_triplet:
                    outcome = json.loads(stored[metric][key])
                    if "v" in outcome:
                        row.values[metric] = float(outcome["v"])
                    else:
                        self._fail(index, f"{metric}: {outcome['e']}")
                for metric, message in invalid_values(row.values).items():
                    self._fail(index, f"{metric}: {message}")
                self._advance()
            elif key is None:
                self._fail(index, unreadable_reason(
                    [triplet.content, triplet.style, triplet.stylized], self.digests,
                    self.unreadable))
                self._advance()
            else:
                groups.setdefault(triplet.content, []).append(index)
        workers = self.options["workers"]
        for (_, indices), loaded, _error in ordered_map(self._load_group, list(groups.items()),
                                                         workers=workers, window=2 * workers):
            self._compute_group(indices, *loaded)  # type: ignore[misc]
            self._store()
        return self.rows

    def _load_group(self, group: tuple[Path, list[int]]) -> tuple[Any, list[Any]]:
        def load(path: Path) -> LoadedImage | Exception:
            try:
                return load_image(path, alpha=self.options["alpha"])
            except (LikenessError, OSError) as error:
                return error

        content, indices = group
        return load(content), [load(self.triplets[i].stylized) for i in indices]

    def _vgg(self, unit: Any) -> list[Any]:
        import torch

        network = self.networks.get("vgg19")
        mean = torch.tensor(_IMAGENET_MEAN, device=unit.device).view(1, 3, 1, 1)
        std = torch.tensor(_IMAGENET_STD, device=unit.device).view(1, 3, 1, 1)
        normalised = ((unit - mean) / std).contiguous(memory_format=torch.channels_last)
        return list(network.forward_taps(normalised, _VGG_TAPS))

    def _style_statistics(self, path: Path) -> Any:
        """(Gram matrices, AdaIN statistics) of a style image at relu1_1 … relu5_1."""
        from likeness.metrics.style import adain_statistics, gram_matrix

        if path not in self.style_cache:
            try:
                image = load_image(path, alpha=self.options["alpha"])
                unit = _unit(image.pixels, image.data_range).to(self.networks.device)
                taps = self._vgg(unit)
                layers = [taps[_VGG_TAPS.index(i)] for i in (1, 6, 11, 20, 29)]
                self.style_cache[path] = ([gram_matrix(f) for f in layers],
                                          [adain_statistics(f) for f in layers])
            except Exception as error:  # noqa: BLE001 - the style's triplets fail, not the run
                self.style_cache[path] = LikenessError(describe_failure(error))
        return self.style_cache[path]

    def _compute_group(self, indices: list[int], content: Any, stylized: list[Any]) -> None:
        import torch

        from likeness.metrics.lpips import lpips_from_normalized, unit_normalize
        from likeness.metrics.style import (
            CfsdContent,
            adain_style_loss_to,
            content_loss,
            gram_loss_to,
        )

        content_features: dict[tuple[int, ...], Any] = {}
        for index, image in zip(indices, stylized, strict=True):
            triplet, row = self.triplets[index], self.rows[index]
            errors: dict[str, str] = {}
            if isinstance(content, Exception) or isinstance(image, Exception):
                self._fail(index, str(content if isinstance(content, Exception) else image))
                self._advance()
                continue
            content_rgb, image = _same_channels(content, image)
            try:
                prepared = prepare_pair(content_rgb, image, resize=self.options["resize"])
            except LikenessError as error:
                self._fail(index, str(error))
                self._advance()
                continue
            row.notes = tuple(n.replace("test", "stylized", 1).replace("reference", "content", 1)
                              for n in prepared.decisions)
            row.data_range, row.channels = prepared.data_range, int(prepared.reference.shape[2])
            for metric in ("ssim", "ssim_gray"):
                if metric in self.per_triplet:
                    try:
                        pair = prepared if metric == "ssim" else prepare_pair(
                            content_rgb, image, gray=True, resize=self.options["resize"])
                        row.values[metric] = METRICS["ssim"].compute(pair, MetricContext())
                    except Exception as error:  # noqa: BLE001 - this triplet's error
                        errors[metric] = describe_failure(error)
            shape = prepared.reference.shape
            with torch.inference_mode():
                unit_content = _unit(prepared.reference, prepared.data_range).to(
                    self.networks.device)
                unit_stylized = _unit(prepared.test, prepared.data_range).to(
                    self.networks.device)
                if "lpips_alex" in self.per_triplet:
                    try:
                        network = self.networks.get("lpips")
                        key = ("lpips", *shape)
                        if key not in content_features:
                            content_features[key] = [unit_normalize(f) for f in
                                                     network.encode(unit_content * 2 - 1)]
                        stylized_lpips = [unit_normalize(f) for f in
                                          network.encode(unit_stylized * 2 - 1)]
                        row.values["lpips_alex"] = float(lpips_from_normalized(
                            content_features[key], stylized_lpips, list(network.heads)))
                    except Exception as error:  # noqa: BLE001 - this triplet's error
                        errors["lpips_alex"] = describe_failure(error)
                wanted_vgg = [m for m in _VGG_METRICS if m in self.per_triplet]
                if wanted_vgg:
                    try:
                        taps = self._vgg(unit_stylized)
                        key = ("vgg", *shape)
                        if key not in content_features:
                            content_taps = self._vgg(unit_content)
                            content_features[key] = (content_taps[_VGG_TAPS.index(11)],
                                                     content_taps[_VGG_TAPS.index(22)], None)
                        relu3_1, relu4_2, cfsd_content = content_features[key]
                        style_stats = self._style_statistics(triplet.style)
                        layers = [taps[_VGG_TAPS.index(i)] for i in (1, 6, 11, 20, 29)]
                        if "cfsd" in wanted_vgg:
                            pixels = shape[0] * shape[1]
                            if pixels > self.options["cfsd_max_pixels"]:
                                errors["cfsd"] = (
                                    f"CFSD compares every relu3_1 position with every other, so "
                                    f"its cost grows with (H·W)²; images of {shape[1]}x{shape[0]}"
                                    f" exceed the limit of {self.options['cfsd_max_pixels']} "
                                    "pixels: resize them, or raise cfsd_max_pixels")
                            else:
                                if cfsd_content is None:  # once per content image
                                    cfsd_content = CfsdContent(relu3_1)
                                    content_features[key] = (relu3_1, relu4_2, cfsd_content)
                                row.values["cfsd"] = cfsd_content.distance(
                                    taps[_VGG_TAPS.index(11)])
                        if "content_loss" in wanted_vgg:
                            row.values["content_loss"] = content_loss(
                                relu4_2, taps[_VGG_TAPS.index(22)])
                        if isinstance(style_stats, Exception):
                            for metric in ("gram", "adain_style"):
                                if metric in wanted_vgg:
                                    errors[metric] = f"{triplet.style_name}: {style_stats}"
                        else:
                            grams, statistics = style_stats
                            if "gram" in wanted_vgg:
                                row.values["gram"] = gram_loss_to(grams, layers)
                            if "adain_style" in wanted_vgg:
                                row.values["adain_style"] = adain_style_loss_to(statistics,
                                                                                layers)
                    except Exception as error:  # noqa: BLE001 - this triplet's error
                        for metric in wanted_vgg:
                            if metric not in row.values:
                                errors.setdefault(metric, describe_failure(error))
            errors.update(invalid_values(row.values))
            for metric, message in errors.items():
                self._fail(index, f"{metric}: {message}")
            self.pending.append((index, errors))
            self._advance()

    def _store(self) -> None:
        if not self.pending:
            return
        per_metric: dict[str, list[tuple[str, bytes]]] = {m: [] for m in self.per_triplet}
        notes = []
        for index, errors in self.pending:
            key = self._key(self.triplets[index])
            if key is None:
                continue
            row = self.rows[index]
            complete = True
            for metric in self.per_triplet:
                if metric in row.values:
                    per_metric[metric].append((key, json.dumps({"v": row.values[metric]})
                                               .encode()))
                elif metric in errors and _network_of(metric) not in self.networks.failed:
                    per_metric[metric].append((key, json.dumps({"e": errors[metric]})
                                               .encode()))
                else:
                    complete = False
            if complete:
                notes.append((key, encode_notes(row)))
        batches = {self.namespaces[m]: items for m, items in per_metric.items() if items}
        if notes:
            batches[self.notes_namespace] = notes
        self.cache.put_together(batches)  # a kill leaves a triplet's outcomes whole or absent
        self.pending.clear()


def _set_rows(triplets: list[Triplet], rows: list[PairRow], metrics: list[str],
              options: dict[str, Any], cache: Cache, weights: Mapping[str, str],
              progress: Progress | None) -> tuple[list[SetRow], dict[str, Any]]:
    from likeness.metrics.style import art_fid, fid_infinity
    from likeness.sets import FeatureExtractor, features_of_files, frechet_between

    wanted = [m for m in metrics if METRICS[m].kind == "set"]
    if not wanted:
        return [], {}
    methods = list(dict.fromkeys(t.method for t in triplets))
    names = {t.style: f"style/{t.style_name}" for t in triplets}
    names.update({t.stylized: f"{t.method}/{t.stylized_name}" for t in triplets})
    networks: dict[str, Any] = {}
    if "fid" in wanted:
        networks["fid"] = "pt_inception"
    if "fid_art" in wanted or "art_fid" in wanted:
        networks["fid_art"] = "art_inception"
    values: dict[tuple[str, str], SetRow] = {}
    settings: dict[str, Any] = {}
    for metric, network in networks.items():
        try:
            extractor = FeatureExtractor(weights=weights.get(network), device=options["device"],
                                         alpha=options["alpha"], network=network,
                                         resize=options["fid_resize"])
        except LikenessError as error:
            for method in methods:
                values[(method, metric)] = SetRow(method, metric, None, None, 0, 0, str(error))
            continue
        settings[network] = extractor.settings

        def report(label: str, network: str = network) -> Callable[[int, int], None] | None:
            if progress is None:
                return None
            return lambda done, total: progress(f"{network} {label}", done, total)

        style_files = list(dict.fromkeys(t.style for t in triplets))
        style_set = features_of_files(style_files, names, "style", extractor, cache,
                                      workers=options["workers"], progress=report("styles"))
        for method in methods:
            files = list(dict.fromkeys(t.stylized for t in triplets if t.method == method))
            stylized_set = features_of_files(files, names, method, extractor, cache,
                                             workers=options["workers"],
                                             progress=report(method))
            row = SetRow(method, metric, None, None, stylized_set.count, style_set.count)
            try:
                if metric == "fid_art" and options["art_fid_mode"] == "infinity":
                    assert stylized_set.features is not None
                    assert style_set.features is not None
                    row.value = fid_infinity(stylized_set.features, style_set.features)
                else:
                    row.value = frechet_between(stylized_set, style_set)
            except (LikenessError, ValueError) as error:
                row.error = str(error)
            errors = [*style_set.errors, *stylized_set.errors]
            if errors and row.error is None:
                row.notes = tuple(f"{name}: {reason} (left out)" for name, reason in errors)
            values[(method, metric)] = row
    rows_out = []
    for method in methods:
        for metric in wanted:
            if metric == "art_fid":
                art = values.get((method, "fid_art"))
                lpips_values = [r.values["lpips_alex"] for r in rows
                                if r.model == method and "lpips_alex" in r.values]
                row = SetRow(method, "art_fid", None, None, art.n if art else 0,
                             art.n_reference if art else 0)
                if art is None or art.value is None:
                    row.error = f"needs fid_art: {art.error if art else 'not computed'}"
                elif not lpips_values:
                    row.error = "needs lpips_alex values (content vs stylized)"
                else:
                    row.value = art_fid(float(np.mean(lpips_values)), art.value)
                rows_out.append(row)
            else:
                rows_out.append(values[(method, metric)])
    return rows_out, settings


def evaluate_style(content: PathLike, style: PathLike,
                   stylized: PathLike | Sequence[PathLike] | None = None, *,
                   methods: Mapping[str, PathLike] | None = None,
                   triplets: PathLike | None = None,
                   metrics: str | Sequence[str] = DEFAULT_STYLE_METRICS,
                   out_dir: PathLike | None = None, weights: Mapping[str, PathLike] | None = None,
                   device: str = "auto", resize: str | None = None, alpha: str | None = None,
                   art_fid_mode: str = "plain", fid_resize: str = "pytorch-fid",
                   workers: int = 4, cfsd_max_pixels: int = CFSD_MAX_PIXELS,
                   bootstrap: int = 2000, seed: int = 0, confidence: float = 0.95,
                   ci_method: str = "auto", strict: bool = False, overwrite: bool = False,
                   cache: bool | PathLike = True,
                   progress: Progress | None = None) -> Results:
    """Evaluate style-transfer outputs: per-triplet metrics, per-method set metrics,
    statistics, and (with ``out_dir``) the results folder.

    Args:
        content, style: folders of content and style images.
        stylized: a stylized folder or a list of them, one per method (named by folder).
        methods: more methods as {name: folder}.
        triplets: a manifest CSV (content, style, stylized[, method]).
        metrics: from ``DEFAULT_STYLE_METRICS`` (the default: all of them).
        art_fid_mode: ``"plain"`` (ArtFID's ``art_fid`` mode) or ``"infinity"`` (FID∞,
            only with at least 5,000 stylized images per method).
        cfsd_max_pixels: images larger than this are refused for CFSD (its cost grows
            with (H·W)²).
        Other arguments: as ``likeness.compare``.

    Raises:
        LikenessError: bad inputs, or any failure with ``strict``.
    """
    from likeness.evaluate import parse_metric_names
    from likeness.plan import model_names
    from likeness.runner import (
        _check_out_dir,
        _open_cache,
        _settings_json,
        _version,
        _versions,
        _write_json,
        recording_failure,
        value_record,
        warn_of_failures,
        write_results_folder,
        writing,
    )

    started = time.perf_counter()
    if art_fid_mode not in ("plain", "infinity"):
        raise ValueError(f"art_fid_mode must be 'plain' or 'infinity', got {art_fid_mode!r}")
    names = parse_metric_names(metrics, command="style")
    if "art_fid" in names and "lpips_alex" not in names:
        names.insert(names.index("art_fid") + 1, "lpips_alex")  # ArtFID's content term
    folders: list[PathLike] = ([] if stylized is None else [stylized]
                               if isinstance(stylized, (str, os.PathLike)) else list(stylized))
    method_folders: dict[str, Path] = dict(model_names(folders)) if folders else {}
    for name, method_folder in (methods or {}).items():
        if name in method_folders:
            raise LikenessError(f"method name {name!r} is given twice")
        method_folders[name] = Path(method_folder)
    if not method_folders:
        raise LikenessError("give at least one stylized folder (stylized=DIR or "
                            "methods={NAME: DIR})")
    found, unmatched = find_triplets(content, style, method_folders, triplets)
    if not found:
        raise LikenessError("no stylized file names a content and a style: name them C__S.ext "
                            "or S/C.ext, or give a manifest (triplets=CSV)")
    weight_files = {k: str(v) for k, v in (weights or {}).items()}
    stats = StatsOptions(bootstrap, seed, confidence, ci_method)
    settings = _settings_json({
        "content": str(Path(content).resolve()), "style": str(Path(style).resolve()),
        "models": {m: str(f.resolve()) for m, f in method_folders.items()},
        "triplets_csv": None if triplets is None else str(Path(triplets).resolve()),
        "metrics": names, "resize": resize, "alpha": alpha, "art_fid_mode": art_fid_mode,
        "fid_resize": fid_resize, "cfsd_max_pixels": cfsd_max_pixels,
        "statistics": {"resamples": bootstrap, "seed": seed, "confidence": confidence,
                       "method": ci_method},
        "weights": dict(sorted(weight_files.items())),
    })
    folder = None if out_dir is None else Path(out_dir)
    record: dict[str, Any] = {
        "likeness_version": _version("likeness"), "kind": "style", "status": "running",
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": settings, "statistics": settings["statistics"], "versions": _versions(),
        "arguments": {"device": device, "workers": workers, "strict": strict,
                      "overwrite": overwrite,
                      "cache": str(cache) if not isinstance(cache, bool) else cache}}
    if folder is not None:
        _check_out_dir(folder, settings, overwrite)
        with writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "run.json", record)
    options = {"resize": resize, "alpha": alpha, "workers": workers, "strict": strict,
               "device": device, "art_fid_mode": art_fid_mode, "fid_resize": fid_resize,
               "cfsd_max_pixels": cfsd_max_pixels}
    with recording_failure(folder, record):
        resolved_device = resolve_device(device)
        keep_freed_memory()
        store = _open_cache(cache, folder)
        try:
            paths = [p for t in found for p in (t.content, t.style, t.stylized)]
            digests, unreadable = hash_files(paths, store, workers)
            networks = _Networks(resolved_device, weight_files)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                rows = _StyleRunner(found, digests, names, options, networks, store,
                                    progress, unreadable).run()
                set_rows, set_settings = _set_rows(found, rows, names, options, store,
                                                   weight_files, progress)
        finally:
            store.close()
        method_list = list(method_folders)
        summary = summarize_rows(method_list, names, rows, set_rows, stats)
        comparisons = compare_models(method_list, names, rows, stats)
        record.update(_style_record(found, rows, set_rows, unmatched, unreadable, names,
                                    weight_files, set_settings, resolved_device, started))
        record.update(value_record(names, rows, summary))
        unique_warnings = {str(w.message): w.category for w in caught}
        record["warnings"] = list(unique_warnings)
        results = Results(method_list, names, rows, set_rows, summary, comparisons, record,
                          {m: ([], u) for m, u in unmatched.items()}, folder, kind="style")
        if folder is not None:
            write_results_folder(results, folder)
    warn_of_failures(results)
    for message, category in unique_warnings.items():
        warnings.warn(message, category, stacklevel=2)
    return results


def _style_record(triplets: list[Triplet], rows: list[PairRow], set_rows: list[SetRow],
                  unmatched: dict[str, list[str]], unreadable: dict[Path, str],
                  names: list[str], weights: Mapping[str, str], set_settings: dict[str, Any],
                  device: str, started: float) -> dict[str, Any]:
    from likeness.runner import file_errors
    from likeness.weights import resolve

    weight_record: dict[str, Any] = {}
    needed = (["alexnet"] if "lpips_alex" in names else []) + (
        ["vgg19"] if any(m in names for m in _VGG_METRICS) else [])
    for name in needed:
        try:
            resolved = resolve(name, weights.get(name))
            weight_record[name] = {"file": resolved.path.name, "path": str(resolved.path),
                                   "sha256": resolved.sha256, "source": resolved.source}
        except LikenessError as error:
            weight_record[name] = {"error": str(error)}
    for network, settings in set_settings.items():
        weight_record[network] = {"file": Path(settings["weights_file"]).name,
                                  "path": settings["weights_file"],
                                  "sha256": settings["weights_sha256"],
                                  "source": settings["weights_source"]}
    sizes: dict[str, int] = {}
    for row in rows:
        for note in row.notes:
            sizes[note] = sizes.get(note, 0) + 1
    methods = list(dict.fromkeys(t.method for t in triplets))
    protocol = {method: {
        "contents": len({t.content for t in triplets if t.method == method}),
        "styles": len({t.style for t in triplets if t.method == method}),
        "stylized": sum(1 for t in triplets if t.method == method),
        "failed": sum(1 for r in rows if r.model == method and r.error),
        "cached": sum(1 for r in rows if r.model == method and r.cached),
        "unmatched": len(unmatched.get(method, []))} for method in methods}
    image_sizes = sorted({f"{w}x{h}" for w, h in _sizes(triplets)})
    return {
        "status": "complete",
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(time.perf_counter() - started, 3), "device": device,
        "weights": weight_record, "conventions": {m: METRICS[m].description for m in names},
        "protocol": protocol, "counts": {m: {"pairs": p["stylized"]} for m, p in
                                         protocol.items()},
        "stylized_sizes": image_sizes, "unmatched": unmatched, "decisions": sizes,
        "file_errors": file_errors(unreadable),
        "set_errors": [{"model": r.model, "metric": r.metric, "error": r.error}
                       for r in set_rows if r.error],
        "networks": set_settings,
    }


def _sizes(triplets: list[Triplet], limit: int = 200) -> set[tuple[int, int]]:
    """The sizes of (up to ``limit``) stylized images, read from their headers."""
    from PIL import Image

    sizes = set()
    for triplet in triplets[:limit]:
        try:
            with Image.open(triplet.stylized) as image:
                sizes.add(image.size)
        except OSError:
            continue
    return sizes


