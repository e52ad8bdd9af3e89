"""Per-image metrics of images already in memory (a validation batch in a training loop),
with the same computation, conventions and decisions as files (``ItemComputer``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from likeness.arguments import (
    check_data_range,
    data_range_held_as,
    layout_hint,
    warn_of_unit_images,
)
from likeness.errors import InvalidInputError
from likeness.evaluation.catalog.registry import METRICS, device_for, parse_metric_names
from likeness.evaluation.engines.built_networks import Networks
from likeness.evaluation.engines.compute import ItemComputer
from likeness.evaluation.items.prepare import PreparedPair
from likeness.evaluation.items.rows import PairRow
from likeness.io import narrow_values_note
from likeness.metrics.caller_modes import as_defined
from likeness.runs.single import checked_weights, restoration_options

__all__ = ["as_array", "compare_tensors"]

_INTEGER_RANGES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def as_array(images: Any, name: str) -> np.ndarray:
    """An (N, C, H, W) torch tensor or NumPy array as a NumPy array (on the CPU).

    Raises:
        ValueError: another shape, or a channel count other than 1 or 3.
    """
    given_numpy = not hasattr(images, "detach")
    if not given_numpy:  # a torch tensor, on any device
        import torch

        from likeness.metrics.tensor_checks import dense_values

        if images.device.type == "meta":
            raise InvalidInputError(f"{name}: meta tensors hold no values to compare")
        images = dense_values(images.detach(), name).cpu()
        if images.dtype == torch.bfloat16:  # NumPy has no bfloat16: its values, exactly
            images = images.float()
        images = images.numpy()
    array = np.asarray(images)
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise InvalidInputError(
            f"{name} must be (N, C, H, W) with C = 1 or 3, got shape "
            f"{tuple(array.shape)}{layout_hint(tuple(array.shape), name, numpy=given_numpy)}")
    return array


def _data_range(dtype: np.dtype, data_range: float | None) -> float:
    if data_range is not None:  # a number, finite and positive, whatever the dtype
        data_range = check_data_range(data_range)
    if dtype in _INTEGER_RANGES:
        implied = _INTEGER_RANGES[dtype]
        if data_range is not None and data_range != implied:
            raise InvalidInputError(
                f"{dtype} images have data range {implied:g}; pass "
                f"data_range={implied:g} or leave it out")
        return implied
    if dtype.kind != "f":
        raise InvalidInputError(
            f"images of dtype {dtype} are not supported: pass uint8, uint16 or "
            "floating-point images")
    if data_range is None:
        raise InvalidInputError(
            "floating-point images need their data range: pass data_range=1.0 "
            "for images in [0, 1] (likeness never guesses it)")
    return data_range


def _problem(image: np.ndarray, data_range: float) -> str | None:
    """Why an image's values cannot be compared (non-finite, outside [0, range])."""
    if image.size == 0:
        return "the image is empty (0 pixels)"
    if image.dtype.kind != "f":
        return None
    if not np.isfinite(image).all():
        return "the image holds non-finite values (NaN or infinity)"
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > data_range_held_as(data_range, image.dtype):
        return (f"values from {low:g} to {high:g} lie outside [0, {data_range:g}] "
                f"(data_range={data_range:g}); scale the images or pass their data range")
    return None


@as_defined
def compare_tensors(reference: Any, test: Any, *,
                    metrics: str | Sequence[str] = ("ssim", "psnr"),
                    data_range: float | None = None, device: str = "auto",
                    weights: dict[str, str] | None = None, y_channel: bool = False,
                    crop_border: int = 0, ssim_convention: str = "skimage",
                    convention: str = "piq", ms_ssim_convention: str = "pytorch-msssim"
                    ) -> list[PairRow]:
    """Per-image metrics of two batches of images in memory, image i against image i.

    The same computation as ``compare_files`` on the same pixels (pixel metrics bit for
    bit; network metrics to float32 rounding, since a batch is encoded together and a
    convolution's rounding can depend on the batch size): uint8 and uint16 images
    have data range 255 and 65535; floating-point images need ``data_range`` (values
    outside [0, data_range], NaN or infinity make that image's row an error).  Gray
    images (C = 1) are compared as gray, and replicated to RGB for LPIPS (recorded).

    Args:
        reference, test: (N, C, H, W) torch tensors (any device) or NumPy arrays, of one
            shape and dtype.
        metrics: per-pair metrics (set metrics take an ``Accumulator``).
        y_channel, crop_border, ssim_convention, convention, ms_ssim_convention: as
            ``compare_files`` (Y needs uint8).

    Returns:
        One ``PairRow`` per image (named by its index): values, error, decisions.

    Raises:
        ValueError: shapes or dtypes differ, a float batch without ``data_range``, an
            unknown metric, a set metric or a metric of prompts.

    Example:
        >>> import likeness, torch
        >>> target = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> rows = likeness.compare_tensors(target * 0.9, target, metrics="ssim,psnr",
        ...                                 data_range=1.0)
        >>> round(rows[0].values["psnr"], 1), round(rows[1].values["psnr"], 1)
        (24.8, 24.8)
    """
    names = parse_metric_names(metrics)
    files = {name: str(path) for name, path in checked_weights(weights).items()}
    sets = [m for m in names if METRICS[m].kind == "set"]
    if sets:
        raise InvalidInputError(
            f"{', '.join(sets)} compare{'s' if len(sets) == 1 else ''} sets of images: use "
            "likeness.Accumulator(metrics=...) for tensors")
    texts = [m for m in names if (use := METRICS[m].features) is not None and use.prompts]
    if texts:
        raise InvalidInputError(
            f"{', '.join(texts)} read each image's prompt: use likeness.clip_score or "
            "likeness.clip_directional_similarity for tensors and prompts")
    x, y = as_array(reference, "reference"), as_array(test, "test")
    if x.shape != y.shape or x.dtype != y.dtype:
        raise InvalidInputError(
            f"reference and test differ: {tuple(x.shape)} {x.dtype} and "
            f"{tuple(y.shape)} {y.dtype}; pass batches of one shape and dtype")
    scale = _data_range(x.dtype, data_range)
    decisions = () if x.dtype in _INTEGER_RANGES else (f"data range {scale:g} as given",)
    rows = [PairRow("tensors", str(i), str(i)) for i in range(x.shape[0])]
    pairs, indices = [], []
    highest = -np.inf
    for i in range(x.shape[0]):
        a, b = np.moveaxis(x[i], 0, -1), np.moveaxis(y[i], 0, -1)
        problem = _problem(a, scale) or _problem(b, scale)
        if problem is not None:
            rows[i].error = problem
            continue
        if a.dtype.kind == "f":
            a, b = a.astype(np.float64), b.astype(np.float64)
            highest = max(highest, float(a.max()), float(b.max()))
        sixteen = [f"{role}: {note}" for role, image in (("reference", a), ("test", b))
                   if (note := narrow_values_note(image))]
        pairs.append(PreparedPair(np.ascontiguousarray(a), np.ascontiguousarray(b), scale,
                                  (*decisions, *sixteen)))
        indices.append(i)
    warn_of_unit_images(highest, scale)
    options = restoration_options(names, y_channel=y_channel, crop_border=crop_border,
                                  ssim_convention=ssim_convention, convention=convention,
                                  ms_ssim_convention=ms_ssim_convention)
    computer = ItemComputer(names, options, Networks(device_for(names, device), files))
    for i, outcome in zip(indices, computer.compute_prepared(pairs), strict=True):
        row = rows[i]
        row.values, row.notes = outcome.values, outcome.notes
        row.error = "; ".join(f"{m}: {why}" for m, why in outcome.errors.items()) or None
    return rows
