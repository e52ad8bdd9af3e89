"""``likeness.fid`` and ``likeness.kid_folders``: two folders (or statistics files) → one
distance, through the set engine's cached per-image features.  ``likeness fid`` and
``likeness kid`` call them and only print what they return."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from likeness.arguments import check_argument_kinds, check_path_list, check_paths
from likeness.errors import InvalidInputError, LikenessError
from likeness.evaluation.catalog.networks import NETWORKS
from likeness.evaluation.catalog.registry import FID_ENCODERS, METRICS
from likeness.evaluation.infra.cache import Cache
from likeness.evaluation.infra.pipeline import keeping_processes
from likeness.evaluation.items.image_set import ImageSet, frechet_between, shared_with
from likeness.evaluation.items.plan import check_distinct_folders, check_no_shared_files
from likeness.evaluation.items.settings import ExecutionOptions
from likeness.evaluation.sets.features import (
    FeatureExtractor,
    load_set,
    load_statistics,
    save_statistics,
    source_scan,
)
from likeness.io import ALPHA_CHOICES, same_file_key
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.kid import check_kid_sizes, kid, kid_has_spread
from likeness.results.frames import set_result_html
from likeness.runs.folder import open_cache, output_path, versions, write_json, writing
from likeness.wording import counted

__all__ = ["FidResult", "KidResult", "checkpoint_of", "fid", "kid_folders", "write_set_record"]

CacheOption = bool | str | os.PathLike[str] | Cache | None
PathLike = str | os.PathLike[str]
_STATS_SUFFIXES = (".npz",)


def _sets_record(sets: Sequence[ImageSet]) -> list[dict[str, Any]]:
    return [{"source": s.source, "count": s.count, "cached": s.cached,
             "decisions": s.decisions, "errors": [{"file": f, "reason": r} for f, r in s.errors],
             "skipped": s.skipped}
            for s in sets]


@dataclass
class FidResult:
    """A Fréchet distance between two sets (None when one set was only summarised into
    a statistics file), with the sets (files, errors, decisions) and the settings.

    Attributes:
        metric: the registry's name of the distance: ``"fid"`` (Inception),
            ``"fd_dinov2"`` or ``"fd_clip"``.
        saved: the statistics files written (``save_stats=``), one per set.
        execution: how the features were computed (``_execution``): the device (None when
            every feature came from the cache), the arguments and the versions.
    """

    value: float | None
    sets: tuple[ImageSet, ...]
    settings: dict[str, Any]
    metric: str = "fid"
    saved: tuple[Path, ...] = ()
    execution: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How the command line prints the value's name: ``FID``, ``FD_DINOV2``, …"""
        return self.metric.upper()

    def record(self) -> dict[str, Any]:
        """What ``likeness fid --out`` writes: the value, the settings and the sets."""
        return {self.metric: self.value, "settings": self.settings,
                "sets": _sets_record(self.sets), **self.execution}

    def _repr_html_(self) -> str:
        value = float("nan") if self.value is None else self.value
        return set_result_html(self.metric, value, None, self.sets, self.settings)


@dataclass
class KidResult:
    """KID (mean and std over subsets) between two sets, with the sets and the settings."""

    mean: float
    std: float
    sets: tuple[ImageSet, ImageSet]
    settings: dict[str, Any]
    metric: str = "kid"
    execution: dict[str, Any] = field(default_factory=dict)  # as ``FidResult``'s

    @property
    def spread(self) -> float | None:
        """``std`` where it is a spread over several subsets; None from one (the whole sets,
        or one subset: its std of 0 says nothing of the value's uncertainty)."""
        return self.std if kid_has_spread(self.settings.get("kid_subset_size"),
                                          self.settings.get("kid_subsets", 1)) else None

    def record(self) -> dict[str, Any]:
        """What ``likeness kid --out`` writes (``kid_std``: null from one subset)."""
        return {self.metric: self.mean, f"{self.metric}_std": self.spread,
                "settings": self.settings, "sets": _sets_record(self.sets), **self.execution}

    def _repr_html_(self) -> str:
        return set_result_html(self.metric, self.mean, self.spread, self.sets, self.settings)


def write_set_record(path: PathLike, record: dict[str, Any], resumes: bool = False) -> Path:
    """Write a ``record()`` as JSON (replacing the file in one step); ``resumes``: the
    sets' features are in a cache.

    Raises:
        StorageError: the file cannot be written.
    """
    target = output_path(path, "out", ".json")
    with writing(target, resumes):
        target.parent.mkdir(parents=True, exist_ok=True)
    write_json(target, record, resumes)
    return target


def _load_sets(sources: Sequence[PathLike], metric: str, *, weights: PathLike | None,
               resize: str, device: str, alpha: str | None, batch_size: int, workers: int,
               decoding: str, cache: CacheOption,
               progress: Callable[[str, int, int], None] | None,
               check_sizes: Callable[[list[int]], None] | None = None
               ) -> tuple[FeatureExtractor, list[ImageSet]]:
    """The extractor of ``metric`` (its checkpoint hashed through the cache, which
    remembers it from run to run) and each source's set.  The arguments, the folders
    (``source_scan``; ``check_sizes`` given how many images each holds) and the statistics
    files are checked before the checkpoint is resolved: a missing folder is not said after
    a download."""
    from likeness.nets.weights_scope import hashing_by, reporting_downloads

    ExecutionOptions(workers=workers, batch_size=batch_size, decoding=decoding)  # checks them
    check_argument_kinds({
        "weights": (weights, "a path or None", (str, os.PathLike, type(None))),
        "cache": (cache, "True, False, None, a path or a Cache",
                  (bool, str, os.PathLike, Cache, type(None))),
        "alpha": (alpha, "None or one of 'white', 'black', 'drop'", (str, type(None)))},
        progress)
    if alpha is not None and alpha not in ALPHA_CHOICES:
        raise InvalidInputError(f"alpha must be None or one of "
                                f"{', '.join(map(repr, ALPHA_CHOICES))}, got {alpha!r}")

    if weights is not None and not Path(weights).expanduser().is_file():
        _extractor(metric, weights, resize, device, alpha)  # says what the path is instead
    scanned = {Path(source): source_scan(source) for source in sources}  # each walked once
    folders = [Path(source) for source in sources if scanned[Path(source)] is not None]
    apart = False
    if len(folders) == 2:  # the same folder twice is a set with itself; nested ones not
        check_distinct_folders({"B": folders[1]}, "", {"A": folders[0]}, same_allowed=True)
        apart = same_file_key(folders[0]) != same_file_key(folders[1])
        if apart:
            scan_a, scan_b = scanned[folders[0]], scanned[folders[1]]
            assert scan_a is not None
            assert scan_b is not None
            check_no_shared_files({"A": scan_a[0], "B": scan_b[0]})
    if check_sizes is not None:  # in the sources' order, a folder given twice twice
        check_sizes([len(scan[0]) for source in sources
                     if (scan := scanned[Path(source)]) is not None])
    if isinstance(cache, Cache):
        store, owned = cache, False
    else:
        store, owned = open_cache(False if cache is None else cache, None), True
    try:
        with hashing_by(store.digest), reporting_downloads(progress):
            extractor = _extractor(metric, weights, resize, device, alpha)
        sets = []
        with keeping_processes():  # the sets' decoding processes forked once
            for source in sources:
                report = None if progress is None else (
                    lambda done, total, label=str(source): progress(label, done, total))
                sets.append(load_set(source, extractor, store, batch_size=batch_size,
                                     workers=workers, decoding=decoding, progress=report,
                                     scan=scanned.get(Path(source))))
        if apart:  # two folders apart: B holding A's images compares A with itself there
            sets[1].decisions.update(shared_with(sets[1], sets[0], str(sources[0])))
    finally:
        if owned:
            store.close()
    return extractor, sets


def _execution(extractor: FeatureExtractor, **arguments: Any) -> dict[str, Any]:
    """What a set record says of how its features were computed, beside the settings they
    depend on: the device (None: every feature came from the cache), the arguments that
    chose how (device, decoding, workers, batch size) and the versions."""
    return {"device": extractor.device, "arguments": arguments, "versions": versions()}


def _extractor(metric: str, weights: PathLike | None, resize: str, device: str,
               alpha: str | None) -> FeatureExtractor:
    from likeness.nets.weights import passing_weights_as

    network = METRICS[metric].set_network
    assert network is not None
    with passing_weights_as("weights=PATH"):
        return FeatureExtractor(weights=weights, resize=resize, device=device, alpha=alpha,
                                network=network)


@as_defined
def fid(a: PathLike, b: PathLike | None = None, *, encoder: str = "inception",
        save_stats: PathLike | Sequence[PathLike] | None = None,
        weights: PathLike | None = None, resize: str = "pytorch-fid", device: str = "auto",
        alpha: str | None = None, batch_size: int = 32, workers: int = 4,
        decoding: str = "auto", cache: CacheOption = True,
        progress: Callable[[str, int, int], None] | None = None) -> FidResult:
    """FID between two folders (recursive) or ``.npz`` statistics files, as pytorch-fid.

    Args:
        a, b: folders of images, or statistics files (``mu``, ``sigma``); with ``b``
            None, ``save_stats`` writes ``a``'s statistics and no distance is computed.
        encoder: ``"inception"`` (pytorch-fid's, FID), ``"dinov2"`` (DINOv2 ViT-L/14:
            ``fd_dinov2``) or ``"clip"`` (CLIP ViT-L/14-336: ``fd_clip``); statistics files
            record it, and one of another encoder is refused.
        save_stats: a path for ``a``'s statistics (pytorch-fid's ``.npz``), or a path for
            each set, in order.
        weights: the encoder's checkpoint path (None: the weights manager).
        resize: ``"pytorch-fid"`` (bilinear in the network) or ``"clean"`` (clean-fid's);
            the other encoders resize as their reference implementations.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        alpha: how transparent images are flattened (``"white"``, ``"black"``, ``"drop"``).
        batch_size: images per network pass.
        workers, decoding: how files are decoded, as ``likeness.compare``'s (on the CPU,
            pytorch-fid's resize made in a decoding process rounds by one thread's share
            of the image: features within ~2e-7 of those decoded in threads).
        cache: True (the user cache), False (none), a database path, or a ``Cache``.
        progress: called with (set, images done, images in set), and with
            (``"download FILE"``, bytes done, bytes in all or 0) while the checkpoint
            downloads.

    Raises:
        LikenessError: a folder is missing or empty, a set has fewer than 2 images, or a
            statistics file does not fit this run's settings.

    Example:
        >>> likeness.fid("real/", "generated/").value  # doctest: +SKIP
        12.3...
    """
    if not isinstance(encoder, str) or encoder not in FID_ENCODERS:
        raise InvalidInputError(f"encoder must be one of {', '.join(map(repr, FID_ENCODERS))}, "
                                f"got {encoder!r}")
    check_paths(a=a, b=b, optional=("b",))
    check_path_list("save_stats", save_stats)
    targets = ([] if save_stats is None else [save_stats]
               if isinstance(save_stats, str | os.PathLike) else list(save_stats))
    sources = [a] if b is None else [a, b]
    if b is None and not targets:
        raise InvalidInputError("give two sets to compare (a and b), or one set and "
                                "save_stats=PATH to write its statistics")
    if len(targets) > len(sources):
        raise InvalidInputError(f"save_stats names {counted(len(targets), 'file')} for "
                                f"{counted(len(sources), 'set')}")
    _check_targets([Path(target) for target in targets], [Path(source) for source in sources])
    metric = FID_ENCODERS[encoder]
    if weights is None and not targets and all(
            Path(source).suffix.lower() in _STATS_SUFFIXES for source in sources):
        return _between_statistics_files(sources, metric, resize, alpha)
    extractor, sets = _load_sets(sources, metric, weights=weights, resize=resize,
                                 device=device, alpha=alpha, batch_size=batch_size,
                                 workers=workers, decoding=decoding,
                                 cache=cache, progress=progress)
    saved = tuple(_saved(image_set, Path(target), resumes=cache is not False)
                  for image_set, target in zip(sets, targets, strict=False))
    value = frechet_between(sets[0], sets[1]) if len(sets) == 2 else None
    return FidResult(value, tuple(sets), extractor.settings, metric, saved, _execution(
        extractor, device=device, decoding=decoding, workers=workers, batch_size=batch_size))


def _between_statistics_files(sources: Sequence[PathLike], metric: str, resize: str,
                              alpha: str | None) -> FidResult:
    """The distance of two statistics files without their encoder's checkpoint (nothing is
    encoded: pytorch-fid loads its network even so, and asks for its weights): the files'
    recorded settings checked against each other and against the encoder asked for.

    Raises:
        LikenessError: a file of another encoder, feature length or resize convention than
            the other, or than the encoder asked for.
    """
    spec = NETWORKS[METRICS[metric].set_network or ""]
    sets = [load_statistics(source, dims=spec.dims) for source in sources]
    # a file without settings is pytorch-fid's: its Inception, its resize
    plain = {"network": NETWORKS["pt_inception"].label, "resize": "pytorch-fid"}
    recorded = [s.settings if "network" in s.settings else {**plain, **s.settings}
                for s in sets]
    for source, settings in zip(sources, recorded, strict=True):
        if settings["network"] != spec.label:
            raise LikenessError(f"{source} holds {settings['network']} statistics; this "
                                f"distance asks for {spec.label}: recompute it with that "
                                "encoder")
        if spec.resize is None and settings.get("resize") != resize:
            raise LikenessError(f"{source} was computed with resize={settings.get('resize')!r}"
                                f" but this run uses {resize!r}; recompute it with the same "
                                "settings")
    for key in ("weights_sha256", "alpha"):
        if all(key in r for r in recorded) and recorded[0][key] != recorded[1][key]:
            raise LikenessError(f"{sources[0]} and {sources[1]} were computed with other "
                                f"{key.removesuffix('_sha256')} ({recorded[0][key]!r} and "
                                f"{recorded[1][key]!r}); recompute one with the other's")
    settings = {k: v for k, v in recorded[0].items() if k not in ("count", "note")}
    return FidResult(frechet_between(sets[0], sets[1]), tuple(sets),
                     {**settings, "alpha": settings.get("alpha", alpha)}, metric, (),
                     {"device": None, "arguments": {"device": None}, "versions": versions()})


def _check_targets(targets: list[Path], sources: list[Path]) -> None:
    """Refuse statistics files that would replace one another (one set's lost, though both
    were said written) or an input (a set's own statistics file, or the other set's).

    Raises:
        InvalidInputError: naming the file.
    """
    seen: dict[str, Path] = {}
    inputs = {os.path.realpath(source): source for source in sources}
    for target in targets:
        real = os.path.realpath(target)
        if real in seen:
            raise InvalidInputError(f"save_stats names {seen[real]} and {target}, one file: "
                                    "each set's statistics need a file of their own")
        if real in inputs:
            raise InvalidInputError(f"save_stats {target} is the input {inputs[real]}: its "
                                    "statistics would replace it; choose another file")
        seen[real] = target


def _saved(image_set: ImageSet, target: Path, resumes: bool) -> Path:
    with writing(target, resumes):  # a full disk, a read-only folder: one message naming it
        return save_statistics(image_set, target)


@as_defined
def kid_folders(a: PathLike, b: PathLike, *, subset_size: int | None = 1000,
                subsets: int = 100, seed: int = 0, weights: PathLike | None = None,
                resize: str = "pytorch-fid", device: str = "auto", alpha: str | None = None,
                batch_size: int = 32, workers: int = 4, decoding: str = "auto",
                cache: CacheOption = True,
                progress: Callable[[str, int, int], None] | None = None) -> KidResult:
    """KID between two folders of images (see ``likeness.kid`` and ``fid``).

    Raises:
        LikenessError: a source is a statistics file (KID needs per-image features), or a
            set is smaller than ``subset_size``.
    """
    check_paths(a=a, b=b)
    for source in (a, b):
        if Path(source).suffix.lower() in _STATS_SUFFIXES:
            raise LikenessError(f"{source}: KID needs per-image features, and a statistics "
                                f"file holds only their mean and covariance; pass the folder "
                                f"(its features are cached, so this is fast)")
    extractor, (set_a, set_b) = _load_sets(
        [a, b], "kid", weights=weights, resize=resize, device=device, alpha=alpha,
        batch_size=batch_size, workers=workers, decoding=decoding,
        cache=cache, progress=progress, check_sizes=lambda sizes: check_kid_sizes(
            *sizes, subset_size=subset_size, subsets=subsets))
    assert set_a.features is not None
    assert set_b.features is not None
    try:
        mean, std = kid(set_a.features, set_b.features, subset_size=subset_size,
                        subsets=subsets, seed=seed)
    except ValueError as error:
        raise LikenessError(str(error)) from None
    settings = {**extractor.settings, "kid_subset_size": subset_size, "kid_subsets": subsets,
                "kid_seed": seed}
    return KidResult(mean, std, (set_a, set_b), settings, execution=_execution(
        extractor, device=device, decoding=decoding, workers=workers, batch_size=batch_size))


def checkpoint_of(encoder: str) -> str:
    """The checkpoint name ``encoder``'s weights are registered under."""
    network = METRICS[FID_ENCODERS[encoder]].set_network
    assert network is not None
    return NETWORKS[network].checkpoint
