"""One pair of files, or one folder against another, without a run folder or a cache.

The same computation as every run (``ItemComputer``): a pair's values here are the values
``likeness.compare`` gives for it.
"""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from likeness.arguments import check_argument_kinds, check_paths, described, outside_stacklevel
from likeness.errors import (
    DecisionWarning,
    InvalidInputError,
    InvalidInputTypeError,
    LikenessError,
)
from likeness.evaluation.catalog.defaults import CONVENTIONS
from likeness.evaluation.catalog.registry import (
    METRICS,
    describe_failure,
    device_for,
    parse_metric_names,
    settings_without_effect,
)
from likeness.evaluation.engines.built_networks import Networks
from likeness.evaluation.engines.compute import Decoded, ItemComputer
from likeness.evaluation.engines.local import hash_files, run_items
from likeness.evaluation.infra.cache import Cache
from likeness.evaluation.items.plan import Item, Plan, make_plan, model_names
from likeness.evaluation.items.prompts import attach_prompts
from likeness.evaluation.items.rows import PairRow
from likeness.evaluation.items.settings import ExecutionOptions, RunSettings
from likeness.io import LoadedImage, load_image
from likeness.metrics.caller_modes import as_defined

__all__ = ["SSIM_FILE_CONVENTIONS", "FolderComparison", "PairResult", "check_analysis_arguments",
           "check_conventions", "check_run_arguments",
           "checked_weights", "compare_files",
           "compare_folders", "compare_pair", "restoration_options", "with_prompts"]

# how SSIM of files is computed: scikit-image's defaults, Wang et al.'s gaussian window
# (scikit-image's gaussian options), pytorch-msssim's ssim, or BasicSR's calculate_ssim
SSIM_FILE_CONVENTIONS = CONVENTIONS["ssim_convention"]

PathLike = str | os.PathLike[str]


# compare_pair, compare_folders and compare_tensors return the runs' rows
PairResult = PairRow


def check_conventions(**chosen: object) -> None:
    """Refuse a value that is none of its setting's named conventions in the catalog
    (``CONVENTIONS``: ``ssim_convention``, ``fid_resize``, ``art_fid_mode``, …).

    Raises:
        InvalidInputError: naming the setting, its conventions and the value given.
    """
    for name, value in chosen.items():
        if value not in CONVENTIONS[name]:
            raise InvalidInputError(f"{name} must be one of "
                                    f"{', '.join(map(repr, CONVENTIONS[name]))}, got {value!r}")


def restoration_options(names: Sequence[str], *, gray: bool = False, resize: str | None = None,
                        alpha: str | None = None, y_channel: bool = False,
                        crop_border: int = 0, ssim_convention: str = "skimage",
                        convention: str = "piq", ms_ssim_convention: str = "pytorch-msssim",
                        clip_t_convention: str = "hessel", warn_unapplied: bool = True,
                        **others: object) -> RunSettings:
    """The settings of a comparison, with the restoration conventions checked; each
    setting given that changes none of its metrics is said with a ``DecisionWarning``
    (``warn_unapplied``; a run records them instead: ``settings_without_effect``).

    Raises:
        ValueError: ``y_channel`` with ``gray``, a negative ``crop_border``, or an unknown
            ``ssim_convention``, ``convention``, ``ms_ssim_convention`` or
            ``clip_t_convention``.
    """
    if y_channel and gray:
        raise InvalidInputError(
            "y_channel=True and gray=True convert colour in two different ways; "
            "choose one")
    if isinstance(crop_border, bool) or not isinstance(crop_border, int) or crop_border < 0:
        raise InvalidInputError(f"crop_border must be a whole number of pixels, 0 or more, got "
                                f"{crop_border!r}")
    check_conventions(ssim_convention=ssim_convention, convention=convention,
                      ms_ssim_convention=ms_ssim_convention,
                      clip_t_convention=clip_t_convention,
                      **{name: value for name, value in others.items() if name in CONVENTIONS})
    settings = RunSettings(tuple(names), gray=gray, resize=resize, alpha=alpha,
                           y_channel=y_channel, crop_border=crop_border,
                           ssim_convention=ssim_convention, convention=convention,
                           ms_ssim_convention=ms_ssim_convention,
                           clip_t_convention=clip_t_convention,
                           **others)  # type: ignore[arg-type]
    for unapplied in settings_without_effect(settings) if warn_unapplied else ():
        warnings.warn(unapplied, DecisionWarning, stacklevel=outside_stacklevel())
    return settings


def check_run_arguments(*, engine: str, address: str | None, out_dir: object,
                        cache: object, overwrite: object, source_prompt: object,
                        progress: object, weights: object) -> dict[str, PathLike]:
    """The arguments ``compare`` and ``evaluate_style`` share beyond their settings,
    checked before anything is read; returns ``weights`` as {checkpoint: path}
    (``checked_weights``).

    Raises:
        InvalidInputError: naming the argument, what it must be and what it got
            (``InvalidInputTypeError`` where it is of another type).
    """
    if engine not in ("local", "ray"):
        raise InvalidInputError(f"engine must be 'local' or 'ray', got {engine!r}")
    if address is not None and (engine != "ray" or not isinstance(address, str)):
        raise InvalidInputError(f"address is a Ray cluster's address (a string) for "
                                f"engine='ray', got {address!r} with engine={engine!r}")
    check_argument_kinds({
        "out_dir": (out_dir, "a path or None", (str, os.PathLike, type(None))),
        "cache": (cache, "True, False or a path", (bool, str, os.PathLike)),
        "overwrite": (overwrite, "True or False", (bool,)),
        "source_prompt": (source_prompt, "a string or None", (str, type(None)))}, progress)
    if isinstance(source_prompt, str) and not source_prompt.strip():
        raise InvalidInputError("source_prompt is empty: give the words, or None")
    checked = checked_weights(weights)
    if engine == "ray":
        from likeness.evaluation.engines.ray_engine import import_ray

        import_ray()  # fail early, in one line, when the extra is missing
    return checked


def check_analysis_arguments(*, resamples: object, confidence: object,
                             jod_zero: object = None, **paths: object) -> None:
    """A study analysis's arguments, checked before any file is read, as `likeness study
    analyze` bounds them: ``resamples`` 1 to 1,000,000, ``confidence`` in (0, 1),
    ``jod_zero`` a model's name or None; the first of ``paths`` (the file analysed) a
    path, each other a path or None.

    Raises:
        InvalidInputError: naming the argument (``InvalidInputTypeError`` for its kind).
    """
    check_paths(**paths, optional=tuple(paths)[1:])
    check_argument_kinds({
        "jod_zero": (jod_zero, "a string or None", (str, type(None))),
        "resamples": (resamples, "a whole number", (numbers.Integral,)),
        "confidence": (confidence, "a number", (numbers.Real,))})
    if isinstance(resamples, bool) or not 1 <= resamples <= 1_000_000:  # type: ignore[operator]
        raise InvalidInputError(f"resamples must be from 1 to 1,000,000, got {resamples!r}")
    if isinstance(confidence, bool) or not 0 < confidence < 1:  # type: ignore[operator]
        raise InvalidInputError(f"confidence must be in (0, 1), got {confidence!r}")


def checked_weights(weights: object) -> dict[str, PathLike]:
    """``weights`` ({checkpoint name: path}, or None) as a dict, each name one likeness
    knows (a misspelt name would otherwise run the default checkpoint without a word).

    Raises:
        InvalidInputError: an unknown name; ``InvalidInputTypeError``: not a mapping of
            paths.
    """
    from likeness.nets.weights import REGISTRY

    if not isinstance(weights, (Mapping, type(None))):
        raise InvalidInputTypeError(f"weights must be a mapping {{checkpoint name: path}} or "
                                    f"None, got {described(weights)}")
    checked: dict[str, PathLike] = {}
    for name, path in (weights or {}).items():
        if name not in REGISTRY:
            raise InvalidInputError(f"weights names {name!r}, a checkpoint likeness does not "
                                    f"know: use one of {', '.join(REGISTRY)}")
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidInputTypeError(f"weights[{name!r}] must be a path, got {described(path)}")
        checked[name] = path
    return checked


def with_prompts(plan: Plan, options: RunSettings, source_prompt: str | None = None) -> Plan:
    """``plan`` with each item's prompts that the run's metrics read (under its
    conventions) found (``likeness.evaluation.items.prompts``).

    Raises:
        PairingError: ``source_prompt`` beside a ``source_prompt`` column.
    """
    roles = {role for metric in options.metrics for role in METRICS[metric].prompts_in(options)}
    if not roles:
        return plan
    items = attach_prompts(plan.items, roles, source_prompt, first=plan.roles[0])
    return replace(plan, items=items)


def _computer(options: RunSettings, device: str, weights: dict[str, str] | None,
              raising: bool = False) -> ItemComputer:
    names = list(options.metrics)
    files = {name: str(path) for name, path in checked_weights(weights).items()}
    return ItemComputer(names, options, Networks(device_for(names, device), files),
                        raising=raising)


def _pair(reference: PathLike, test: PathLike, options: RunSettings,
          source_prompt: str | None) -> list[Item]:
    """The item of two files, with the prompts its metrics read (sidecar files)."""
    a, b = Path(reference), Path(test)
    plan = Plan(models=["test"], items=[Item("test", a, b, a.name, b.name)], sets={},
                set_names={})
    return with_prompts(plan, options, source_prompt).items


@as_defined
def compare_files(a: PathLike, b: PathLike, *, metrics: str | Sequence[str] = ("ssim", "psnr"),
                  gray: bool = False, resize: str | None = None, alpha: str | None = None,
                  device: str = "auto", weights: dict[str, str] | None = None,
                  y_channel: bool = False, crop_border: int = 0,
                  ssim_convention: str = "skimage", convention: str = "piq",
                  ms_ssim_convention: str = "pytorch-msssim", clip_t_convention: str = "hessel",
                  source_prompt: str | None = None) -> dict[str, float]:
    """The metrics of one pair of image files, keyed by canonical metric name.

    ``a`` is the reference.  The data range follows the files' bit depths (8-bit: 255,
    16-bit: 65535, mixed: both scaled to [0, 1]).  Restoration papers' conventions:
    ``y_channel`` (PSNR, SSIM, MSE, MS-SSIM on Y of ITU-R BT.601 YCbCr, BasicSR's float
    Y), ``crop_border`` (pixels cut from every edge) and ``ssim_convention="basicsr"``
    (BasicSR's ``calculate_ssim``: 11-tap gaussian, valid region); ``convention="matlab"``:
    the classical metrics as their authors' MATLAB code computes them, and ``gray`` as
    MATLAB's ``rgb2gray`` (default ``"piq"``); ``ms_ssim_convention``: MS-SSIM as
    ``"pytorch-msssim"`` (default), ``"piq"``, ``"torchmetrics"``, ``"matlab"``
    (``msssim.m``) or ``"matlab-wtd-sum"`` (its method ``'wtd_sum'``);
    ``clip_t_convention`` and ``source_prompt``: as ``likeness.compare`` (the prompt of
    ``b`` is the text file beside it, else beside ``a``).

    Each decision the files took (a palette expanded, 8-bit values in a 16-bit file, a
    file holding another format than its name says, mixed bit depths) is a
    ``DecisionWarning``: a dict of values has no notes to carry it (``compare`` keeps
    every note in its rows).

    Raises:
        ImageLoadError, ImageMismatchError, ImageTooSmallError: see ``load_image`` and
            ``prepare_pair``; a metric the images are too small for.
        LikenessError: any other failure of a metric (a non-finite value, missing weights).

    Example:
        >>> compare_files("samples/reference/coffee.png", "samples/jpeg/coffee.png",
        ...               metrics=["ssim", "psnr"])
        {'ssim': 0.73490..., 'psnr': 26.297...}
    """
    check_paths(a=a, b=b)
    names = parse_metric_names(metrics)
    options = restoration_options(names, gray=gray, resize=resize, alpha=alpha,
                                  y_channel=y_channel, crop_border=crop_border,
                                  ssim_convention=ssim_convention, convention=convention,
                                  ms_ssim_convention=ms_ssim_convention,
                                  clip_t_convention=clip_t_convention)
    reference, test = load_image(a, alpha=alpha), load_image(b, alpha=alpha)
    # the run's computation, each failure raised as it is (ImageTooSmallError, say)
    computer = _computer(options, device, weights, raising=True)
    outcome = computer.compute([(_pair(a, b, options, source_prompt),
                                 Decoded(reference, [test]))])[0]
    if outcome.errors:  # a network's failure, or a value that is not a number
        raise LikenessError("; ".join(f"{m}: {why}" for m, why in outcome.errors.items()))
    # a dict of values has no notes to carry what the files decided (the options' own
    # restatements — alpha=, gray=, resize=, crop_border= — are what the caller asked for)
    for decision, image in ((d, i) for i in (reference, test) for d in i.decisions):
        if "(alpha=" not in decision:
            warnings.warn(f"{image.path}: {decision}", DecisionWarning,
                          stacklevel=outside_stacklevel())
    if reference.bit_depth != test.bit_depth:
        warnings.warn(f"{a} vs {b}: mixed bit depths ({reference.bit_depth} and "
                      f"{test.bit_depth}): both scaled to [0, 1], data range 1",
                      DecisionWarning, stacklevel=outside_stacklevel())
    return {name: outcome.values[name] for name in names}


def compare_pair(reference: PathLike, test: PathLike, *,
                 metrics: str | Sequence[str] = ("ssim", "psnr"), gray: bool = False,
                 resize: str | None = None, alpha: str | None = None, device: str = "auto",
                 weights: dict[str, str] | None = None, y_channel: bool = False,
                 crop_border: int = 0, ssim_convention: str = "skimage",
                 convention: str = "piq", ms_ssim_convention: str = "pytorch-msssim",
                 clip_t_convention: str = "hessel", source_prompt: str | None = None
                 ) -> PairRow:
    """Like ``compare_files``, but failures become the row's ``error`` instead of raising."""
    names = parse_metric_names(metrics)
    options = restoration_options(names, gray=gray, resize=resize, alpha=alpha,
                                  y_channel=y_channel, crop_border=crop_border,
                                  ssim_convention=ssim_convention, convention=convention,
                                  ms_ssim_convention=ms_ssim_convention,
                                  clip_t_convention=clip_t_convention)
    row = PairRow("test", Path(reference).name, Path(test).name)
    try:
        images: list[LoadedImage | Exception] = []
        for path in (reference, test):
            try:
                images.append(load_image(path, alpha=alpha))
            except (LikenessError, OSError) as error:
                images.append(error)
        computer = _computer(options, device, weights)
        outcome = computer.compute([(_pair(reference, test, options, source_prompt),
                                     Decoded(images[0], [images[1]]))])[0]
    except Exception as error:  # noqa: BLE001 - a row error, never a traceback
        row.error = describe_failure(error)
        return row
    row.values, row.notes = outcome.values, outcome.notes
    errors = [f"{m}: {why}" for m, why in outcome.errors.items()]
    row.error = outcome.failure or "; ".join(errors) or None
    return row


@dataclass
class FolderComparison:
    """Every pair's result, and the files that had no partner."""

    rows: list[PairRow]
    unmatched_reference: list[str]
    unmatched_test: list[str]

    @property
    def failures(self) -> int:
        return sum(1 for row in self.rows if row.error)


@as_defined
def compare_folders(reference_dir: PathLike, test_dir: PathLike, *,
                    metrics: str | Sequence[str] = ("ssim", "psnr"), gray: bool = False,
                    resize: str | None = None, alpha: str | None = None, workers: int = 4,
                    device: str = "auto", weights: dict[str, str] | None = None,
                    y_channel: bool = False, crop_border: int = 0,
                    ssim_convention: str = "skimage", convention: str = "piq",
                    ms_ssim_convention: str = "pytorch-msssim",
                    clip_t_convention: str = "hessel",
                    source_prompt: str | None = None) -> FolderComparison:
    """Compare every file of ``test_dir`` with its namesake in ``reference_dir``.

    One model, no results folder, no cache: ``likeness.compare`` does more (several
    models, set metrics, statistics, a resumable results folder).  Files are paired by
    relative path without extension; a pair that fails becomes a row with an ``error``.

    Raises:
        PairingError: a folder is missing or holds two files that differ only in extension.
        ValueError: a set metric (FID, KID: use ``likeness.compare``).
    """
    check_paths(reference_dir=reference_dir, test_dir=test_dir)
    names = parse_metric_names(metrics)
    weight_files = {name: str(path) for name, path in checked_weights(weights).items()}
    sets = [m for m in names if METRICS[m].kind == "set"]
    if sets:
        raise InvalidInputError(
            f"{', '.join(sets)} compare{'s' if len(sets) == 1 else ''} sets of images; use "
            "likeness.compare(REF, TEST, metrics=...) for them")
    options = restoration_options(names, gray=gray, resize=resize, alpha=alpha,
                                  y_channel=y_channel, crop_border=crop_border,
                                  ssim_convention=ssim_convention, convention=convention,
                                  ms_ssim_convention=ms_ssim_convention,
                                  clip_t_convention=clip_t_convention)
    plan = with_prompts(make_plan(reference_dir, model_names([test_dir])), options,
                        source_prompt)
    store = Cache(None)
    try:
        paths = [path for item in plan.items for path in item.files]
        digests, unreadable = hash_files(paths, store, workers, by_content=False)
        networks = Networks(device_for(names, device), weight_files)
        rows = run_items(plan, digests, options, ExecutionOptions(workers=workers), networks,
                         store, unreadable=unreadable)
    finally:
        store.close()
    unmatched_reference, unmatched_test = next(iter(plan.unmatched.values()), ([], []))
    return FolderComparison(rows, unmatched_reference, unmatched_test)
