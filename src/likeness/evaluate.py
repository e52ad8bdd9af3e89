"""Compare image files: pair them, decode them, reconcile them, and compute metrics.

This is the local engine.  It decides, explicitly and on the record, everything that turns
two files into two comparable arrays: the data range from the bit depths, luma conversion,
resizing, alpha handling.  Each decision is returned with the numbers it produced.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from likeness.device import resolve_device
from likeness.errors import ImageMismatchError, ImageTooSmallError, LikenessError
from likeness.io import LoadedImage, load_image, to_luma
from likeness.metrics.skimage_compat import (
    mean_squared_error,
    peak_signal_noise_ratio,
    structural_similarity,
)

__all__ = [
    "METRICS",
    "FolderComparison",
    "MetricContext",
    "MetricSpec",
    "PairResult",
    "PreparedPair",
    "compare_files",
    "compare_folders",
    "compare_pair",
    "compute_metrics",
    "describe_failure",
    "device_for",
    "invalid_values",
    "parse_metric_names",
    "prepare_pair",
]

RESIZE_CHOICES = ("reference",)


@dataclass(frozen=True)
class PreparedPair:
    """Two arrays ready for a metric, and how they were made from the files."""

    reference: np.ndarray  # (H, W, C)
    test: np.ndarray
    data_range: float
    decisions: tuple[str, ...]


@dataclass
class MetricContext:
    """What network metrics need: a device, checkpoint overrides, networks built once."""

    device: str = "cpu"
    weights: dict[str, str] = field(default_factory=dict)
    networks: dict[str, Any] = field(default_factory=dict)

    failures: dict[str, LikenessError] = field(default_factory=dict)

    def lpips_network(self, net: str) -> Any:
        """The LPIPS network for ``net``, built once; a failed build is not retried per pair."""
        if net in self.failures:
            raise self.failures[net]
        if net not in self.networks:
            from likeness.nets.lpips import LPIPS, LPIPS_NETS

            backbone = LPIPS_NETS[net][0]
            try:
                network = LPIPS(net=net, backbone_weights=self.weights.get(backbone))
            except LikenessError as error:
                self.failures[net] = error
                raise
            self.networks[net] = network.to(self.device)
        return self.networks[net]


@dataclass(frozen=True)
class MetricSpec:
    """A per-pair metric: its canonical name, which direction is better, how to compute it."""

    name: str
    better: str  # "higher" or "lower"
    compute: Callable[[PreparedPair, MetricContext], float]
    description: str
    needs_rgb: bool = False
    kind: str = "pixel"  # "pixel", "network" (LPIPS: batched by the engine), "set", "style"
    commands: tuple[str, ...] = ("compare",)  # where it is offered: compare and/or style
    # when +inf is a true value (PSNR of identical images); any other non-finite value is
    # an error in its row
    infinite_when: str | None = None
    # values in units of the pair's data range (MSE: range²): a summary never mixes scales
    scale_dependent: bool = False


def _ssim(pair: PreparedPair, context: MetricContext) -> float:
    height, width = pair.reference.shape[:2]
    if min(height, width) < 7:
        raise ImageTooSmallError(f"images of {width}x{height} px are smaller than SSIM's 7x7 "
                                 "window; SSIM needs at least 7 px a side")
    return float(structural_similarity(pair.reference, pair.test, channel_axis=-1,
                                       data_range=pair.data_range))


def _psnr(pair: PreparedPair, context: MetricContext) -> float:
    return float(peak_signal_noise_ratio(pair.reference, pair.test, data_range=pair.data_range))


def _mse(pair: PreparedPair, context: MetricContext) -> float:
    return float(mean_squared_error(pair.reference, pair.test))


def _ms_ssim(pair: PreparedPair, context: MetricContext) -> float:
    import torch

    from likeness.metrics.ms_ssim import ms_ssim

    def as_batch(pixels: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(pixels.astype(np.float64)).permute(2, 0, 1)[None]

    return float(ms_ssim(as_batch(pair.reference), as_batch(pair.test),
                         data_range=pair.data_range)[0])


def _lpips(net: str) -> Callable[[PreparedPair, MetricContext], float]:
    def compute(pair: PreparedPair, context: MetricContext) -> float:
        import torch

        def as_unit_batch(pixels: np.ndarray) -> torch.Tensor:
            unit = torch.from_numpy(pixels.astype(np.float32) / np.float32(pair.data_range))
            batch = unit.permute(2, 0, 1)[None]
            return batch.expand(-1, 3, -1, -1) if batch.shape[1] == 1 else batch

        network = context.lpips_network(net)
        with torch.inference_mode():
            x = as_unit_batch(pair.reference).to(context.device)
            y = as_unit_batch(pair.test).to(context.device)
            return float(network(x, y, normalize=True).flatten()[0])

    return compute


def _style_metric(name: str) -> Callable[[PreparedPair, MetricContext], float]:
    def refuse(pair: PreparedPair, context: MetricContext) -> float:
        raise LikenessError(f"{name} is a style-transfer metric: use likeness style "
                            "(likeness.evaluate_style)")

    return refuse


def _set_metric(name: str) -> Callable[[PreparedPair, MetricContext], float]:
    def refuse(pair: PreparedPair, context: MetricContext) -> float:
        raise LikenessError(f"{name} compares sets of images, not one pair; compare folders "
                            f"(likeness.compare(REF, TEST, metrics=[{name!r}]))")

    return refuse


METRICS: dict[str, MetricSpec] = {
    "ssim": MetricSpec("ssim", "higher", _ssim,
                       "SSIM, scikit-image defaults (7x7 uniform window, sample covariance)",
                       commands=("compare", "style")),
    "psnr": MetricSpec("psnr", "higher", _psnr, "PSNR in dB (scikit-image)",
                       infinite_when="identical images (MSE 0) have PSNR +inf, as in "
                                     "scikit-image"),
    "mse": MetricSpec("mse", "lower", _mse, "mean squared error (scikit-image), in units of "
                      "the pair's data range squared", scale_dependent=True),
    "ms_ssim": MetricSpec("ms_ssim", "higher", _ms_ssim,
                          "MS-SSIM, pytorch-msssim defaults (5 scales, 11-tap gaussian)"),
    **{f"lpips_{net}": MetricSpec(f"lpips_{net}", "lower", _lpips(net),
                                  f"LPIPS v0.1, {backbone} backbone (lpips package)",
                                  needs_rgb=True, kind="network",
                                  commands=("compare", "style") if net == "alex"
                                  else ("compare",))
       for net, backbone in (("alex", "AlexNet"), ("vgg", "VGG16"), ("squeeze", "SqueezeNet 1.1"))},
    "fid": MetricSpec("fid", "lower", _set_metric("fid"),
                      "FID between the model's images and the references (pytorch-fid)",
                      kind="set", commands=("compare", "style")),
    "kid": MetricSpec("kid", "lower", _set_metric("kid"),
                      "KID between the model's images and the references (torch-fidelity)",
                      kind="set"),
    "ssim_gray": MetricSpec("ssim_gray", "higher", _style_metric("ssim_gray"),
                            "SSIM of ITU-R 601 luma, scikit-image defaults", kind="style",
                            commands=("style",)),
    "cfsd": MetricSpec("cfsd", "lower", _style_metric("cfsd"),
                       "CFSD (StyleID): KL of relu3_1 patch-similarity softmaxes, VGG19",
                       kind="style", commands=("style",)),
    "gram": MetricSpec("gram", "lower", _style_metric("gram"),
                       "Gram-matrix style loss over VGG19 relu1_1..relu5_1", kind="style",
                       commands=("style",)),
    "adain_style": MetricSpec("adain_style", "lower", _style_metric("adain_style"),
                              "AdaIN mean/std style loss over VGG19 relu1_1..relu5_1",
                              kind="style", commands=("style",)),
    "content_loss": MetricSpec("content_loss", "lower", _style_metric("content_loss"),
                               "content loss, MSE of VGG19 relu4_2 features", kind="style",
                               commands=("style",)),
    "fid_art": MetricSpec("fid_art", "lower", _set_metric("fid_art"),
                          "FID between the stylized and the style set, ArtFID's Inception",
                          kind="set", commands=("style",)),
    "art_fid": MetricSpec("art_fid", "lower", _set_metric("art_fid"),
                          "ArtFID = (1 + mean LPIPS) (1 + FID with ArtFID's Inception)",
                          kind="set", commands=("style",)),
}
# other spellings the command line and the API accept
METRIC_ALIASES = {"lpips": "lpips_alex"}


def parse_metric_names(names: str | Sequence[str], command: str = "compare") -> list[str]:
    """Canonical metric names from a comma-separated string or a list; hyphens accepted.

    Args:
        command: ``"compare"`` or ``"style"``: the metrics offered there.

    Raises:
        ValueError: an unknown metric, naming the known ones, or one of the other command.
    """
    if isinstance(names, str):
        names = [part for part in names.split(",")]
    canonical: list[str] = []
    for raw in names:
        name = raw.strip().lower().replace("-", "_")
        if not name:
            continue
        name = METRIC_ALIASES.get(name, name)
        offered = [m for m, spec in METRICS.items() if command in spec.commands]
        if name not in METRICS:
            known = ", ".join([*offered, *METRIC_ALIASES])
            raise ValueError(f"unknown metric {raw.strip()!r}; choose from {known}")
        if name not in offered:
            other = "likeness style" if command == "compare" else "likeness compare"
            raise ValueError(f"{name} is offered by {other}, not here; choose from "
                             f"{', '.join(offered)}")
        if name not in canonical:
            canonical.append(name)
    if not canonical:
        raise ValueError("no metric given; choose from " + ", ".join(
            m for m, spec in METRICS.items() if command in spec.commands))
    return canonical


def prepare_pair(reference: LoadedImage, test: LoadedImage, *, gray: bool = False,
                 resize: str | None = None) -> PreparedPair:
    """Reconcile two decoded images into arrays of one shape and one data range.

    Args:
        reference, test: the decoded files.
        gray: convert both to ITU-R 601 luma (as Pillow's ``convert("L")``).
        resize: None refuses images of different sizes; ``"reference"`` resizes the test
            image to the reference's size (OpenCV: area averaging when shrinking, Lanczos
            otherwise), and records it.

    Raises:
        ImageMismatchError: sizes differ without ``resize``, or channel counts differ
            without ``gray``.
    """
    if resize is not None and resize not in RESIZE_CHOICES:
        raise ValueError(f"resize must be None or one of {RESIZE_CHOICES}, got {resize!r}")
    decisions = [f"reference: {d}" for d in reference.decisions]
    decisions += [f"test: {d}" for d in test.decisions]
    ref_pixels, test_pixels = reference.pixels, test.pixels
    if gray:
        ref_pixels, test_pixels = to_luma(ref_pixels), to_luma(test_pixels)
        decisions.append("both converted to luma (ITU-R 601, as Pillow convert('L'))")
    elif reference.channels != test.channels:
        raise ImageMismatchError(
            f"{reference.path} has {reference.channels} channel(s) and {test.path} has "
            f"{test.channels}; pass gray=True to compare their luma"
        )
    if ref_pixels.shape[:2] != test_pixels.shape[:2]:
        if resize is None:
            raise ImageMismatchError(
                f"images differ in size: {reference.path} is {reference.width}x{reference.height}"
                f", {test.path} is {test.width}x{test.height} (width x height); pass "
                "resize='reference' to resize the test image"
            )
        test_pixels, how = _resize_to(test_pixels, ref_pixels.shape[:2])
        decisions.append(f"test resized from {test.width}x{test.height} to "
                         f"{reference.width}x{reference.height} ({how})")
    data_range: float
    if reference.bit_depth == test.bit_depth:
        data_range = float(reference.data_range)
    else:
        ref_pixels = ref_pixels / float(reference.data_range)
        test_pixels = test_pixels / float(test.data_range)
        data_range = 1.0
        decisions.append(f"mixed bit depths ({reference.bit_depth} and {test.bit_depth}): both "
                         "scaled to [0, 1], data range 1")
    return PreparedPair(ref_pixels, test_pixels, data_range, tuple(decisions))


def _resize_to(pixels: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    import cv2

    height, width = size
    shrinking = height <= pixels.shape[0] and width <= pixels.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4
    resized = cv2.resize(pixels, (width, height), interpolation=interpolation)
    if resized.ndim == 2:
        resized = resized[:, :, np.newaxis]
    return resized, "OpenCV area averaging" if shrinking else "OpenCV Lanczos-4"


@dataclass
class PairResult:
    """The metrics of one reference/test pair, or why some could not be computed."""

    reference: str
    test: str
    values: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    decisions: tuple[str, ...] = ()


def device_for(metrics: Sequence[str], device: str) -> str:
    """Where the networks of ``metrics`` run; without a network nothing is resolved, so a
    run of pixel metrics never imports torch to ask for CUDA."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if all(METRICS[m].kind == "pixel" for m in metrics):
        return "cpu"
    return resolve_device(device)


def compute_metrics(prepared: PreparedPair, metrics: Sequence[str], context: MetricContext
                    ) -> tuple[dict[str, float], list[str], tuple[str, ...]]:
    """Each metric's value, the errors of those that failed, and the decisions taken."""
    values: dict[str, float] = {}
    errors: list[str] = []
    decisions = prepared.decisions
    for name in metrics:
        spec = METRICS[name]
        if spec.needs_rgb and prepared.reference.shape[2] == 1:
            note = "gray replicated to RGB for LPIPS"
            decisions = decisions if note in decisions else (*decisions, note)
        try:
            values[name] = spec.compute(prepared, context)
        except Exception as error:  # noqa: BLE001 - any failure is this pair's error
            errors.append(f"{name}: {describe_failure(error)}")
    errors += [f"{name}: {message}" for name, message in invalid_values(values).items()]
    return values, errors, decisions


def describe_failure(error: Exception) -> str:
    """A failure as a row error: likeness's own message, or the exception's type and
    message for anything else (a metric must never end a run with a traceback)."""
    if isinstance(error, LikenessError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def invalid_values(values: dict[str, float]) -> dict[str, str]:
    """Remove every value that is not a number its metric can take (NaN; an infinity
    where the metric has none) and return why, metric by metric."""
    invalid = {}
    for name, value in list(values.items()):
        spec = METRICS.get(name)
        if math.isfinite(value) or (value == math.inf and spec is not None
                                    and spec.infinite_when is not None):
            continue
        del values[name]
        invalid[name] = (f"the value is {value}, not a finite number: the images or the "
                         "network's weights hold non-finite numbers (check the checkpoint)")
    return invalid


def compare_files(a: str | os.PathLike[str], b: str | os.PathLike[str], *,
                  metrics: str | Sequence[str] = ("ssim", "psnr"), gray: bool = False,
                  resize: str | None = None, alpha: str | None = None, device: str = "auto",
                  weights: dict[str, str] | None = None) -> dict[str, float]:
    """The metrics of one pair of image files, keyed by canonical metric name.

    ``a`` is the reference.  The data range follows the files' bit depths (8-bit: 255,
    16-bit: 65535, mixed: both scaled to [0, 1]).

    Raises:
        ImageLoadError, ImageMismatchError, ImageTooSmallError: see ``load_image`` and
            ``prepare_pair``; a metric the images are too small for.

    Example:
        >>> compare_files("ref.png", "out.png", metrics=["ssim", "psnr"])  # doctest: +SKIP
        {'ssim': 0.7329..., 'psnr': 21.75...}
    """
    names = parse_metric_names(metrics)
    prepared = prepare_pair(load_image(a, alpha=alpha), load_image(b, alpha=alpha),
                            gray=gray, resize=resize)
    context = MetricContext(device_for(names, device), dict(weights or {}))
    values = {name: METRICS[name].compute(prepared, context) for name in names}
    invalid = invalid_values(values)
    if invalid:
        raise LikenessError("; ".join(f"{name}: {why}" for name, why in invalid.items()))
    return values


def _evaluate_pair(reference_name: str, test_name: str,
                   load: Callable[[], tuple[LoadedImage, LoadedImage]], names: Sequence[str],
                   context: MetricContext, gray: bool, resize: str | None) -> PairResult:
    """One pair's row: values, and an error instead of an exception when anything fails."""
    row = PairResult(reference_name, test_name)
    try:
        reference, test = load()
        prepared = prepare_pair(reference, test, gray=gray, resize=resize)
        row.values, errors, row.decisions = compute_metrics(prepared, names, context)
        row.error = "; ".join(errors) or None
    except Exception as error:  # noqa: BLE001 - a row error, never a traceback
        row.error = describe_failure(error)
    return row


def compare_pair(reference: str | os.PathLike[str], test: str | os.PathLike[str], *,
                 metrics: str | Sequence[str] = ("ssim", "psnr"), gray: bool = False,
                 resize: str | None = None, alpha: str | None = None, device: str = "auto",
                 weights: dict[str, str] | None = None) -> PairResult:
    """Like ``compare_files``, but failures become the row's ``error`` instead of raising."""
    names = parse_metric_names(metrics)
    context = MetricContext(device_for(names, device), dict(weights or {}))
    return _evaluate_pair(Path(reference).name, Path(test).name,
                          lambda: (load_image(reference, alpha=alpha),
                                   load_image(test, alpha=alpha)),
                          names, context, gray, resize)


@dataclass
class FolderComparison:
    """Every pair's result, and the files that had no partner."""

    rows: list[PairResult]
    unmatched_reference: list[str]
    unmatched_test: list[str]

    @property
    def failures(self) -> int:
        return sum(1 for row in self.rows if row.error)


def compare_folders(reference_dir: str | os.PathLike[str], test_dir: str | os.PathLike[str], *,
                    metrics: str | Sequence[str] = ("ssim", "psnr"), gray: bool = False,
                    resize: str | None = None, alpha: str | None = None, workers: int = 4,
                    device: str = "auto", weights: dict[str, str] | None = None,
                    ) -> FolderComparison:
    """Compare every file of ``test_dir`` with its namesake in ``reference_dir``.

    One model, no results folder, no cache: ``likeness.compare`` does more (several
    models, set metrics, statistics, a resumable results folder).  Files are paired by
    relative path without extension; a pair that fails becomes a row with an ``error``.

    Raises:
        PairingError: a folder is missing or holds two files that differ only in extension.
    """
    from likeness.runner import compare

    results = compare(reference_dir, [test_dir], metrics=metrics, gray=gray, resize=resize,
                      alpha=alpha, workers=workers, device=device, weights=weights,
                      cache=False)
    rows = [PairResult(r.reference, r.test, r.values, r.error, r.notes) for r in results.rows]
    unmatched_reference, unmatched_test = next(iter(results.unmatched.values()), ([], []))
    return FolderComparison(rows, unmatched_reference, unmatched_test)
