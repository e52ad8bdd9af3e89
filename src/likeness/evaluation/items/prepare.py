"""Turn two decoded images into two comparable arrays, every decision on the record.

The data range follows the bit depths, luma conversion and resizing happen only when
asked for, and each decision is returned with the arrays it produced.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from likeness.errors import ImageMismatchError, InvalidInputError
from likeness.io import LoadedImage, to_luma
from likeness.wording import counted

__all__ = ["RESIZE_CHOICES", "PreparedPair", "prepare_pair", "restoration_view", "same_channels",
           "unit_tensor", "units_there"]

RESIZE_CHOICES = ("reference",)


@dataclass(frozen=True)
class PreparedPair:
    """Two arrays ready for a metric, and how they were made from the files."""

    reference: np.ndarray  # (H, W, C)
    test: np.ndarray
    data_range: float
    decisions: tuple[str, ...]


def prepare_pair(reference: LoadedImage, test: LoadedImage, *, gray: bool = False,
                 resize: str | None = None, gray_conversion: str = "pillow") -> PreparedPair:
    """Reconcile two decoded images into arrays of one shape and one data range.

    Args:
        reference, test: the decoded files.
        gray: convert both to ITU-R 601 luma: as Pillow's ``convert("L")``, or as MATLAB's
            ``rgb2gray`` with ``gray_conversion="matlab"``.
        resize: None refuses images of different sizes; ``"reference"`` resizes the test
            image to the reference's size (OpenCV: area averaging when shrinking, Lanczos
            otherwise), and records it.

    Raises:
        ImageMismatchError: sizes differ without ``resize``, or channel counts differ
            without ``gray``.
    """
    if resize is not None and resize not in RESIZE_CHOICES:
        raise InvalidInputError(f"resize must be None or one of {RESIZE_CHOICES}, got {resize!r}")
    decisions = [f"reference: {d}" for d in reference.decisions]
    decisions += [f"test: {d}" for d in test.decisions]
    ref_pixels, test_pixels = reference.pixels, test.pixels
    if gray:
        ref_pixels = to_luma(ref_pixels, gray_conversion)
        test_pixels = to_luma(test_pixels, gray_conversion)
        decisions.append("both converted to luma (ITU-R 601, as Pillow convert('L'))"
                         if gray_conversion == "pillow" else
                         "both converted to luma as MATLAB's rgb2gray (0.298936 R + 0.587043 "
                         "G + 0.114021 B, rounded)")
    elif reference.channels != test.channels:
        raise ImageMismatchError(
            f"{reference.path} has {counted(reference.channels, 'channel')} and {test.path} "
            f"has {test.channels}; pass gray=True to compare their luma"
        )
    if ref_pixels.shape[:2] != test_pixels.shape[:2]:
        turned = ref_pixels.shape[:2] == test_pixels.shape[1::-1]
        if resize is None:
            raise ImageMismatchError(
                f"images differ in size: {reference.path} is {reference.width}x{reference.height}"
                f", {test.path} is {test.width}x{test.height} (width x height"
                + ("; its sides swapped: is one turned, or its EXIF orientation lost?"
                   if turned else "") + "); pass resize='reference' to resize the test image"
            )
        test_pixels, how = _resize_to(test_pixels, ref_pixels.shape[:2])
        ratios = (test.width / test.height, reference.width / reference.height)
        stretched = (f", its aspect ratio changed from {ratios[0]:.3g} to {ratios[1]:.3g}"
                     if abs(ratios[0] / ratios[1] - 1) > 0.01 else "")
        decisions.append(f"test resized from {test.width}x{test.height} to "
                         f"{reference.width}x{reference.height} ({how}{stretched})")
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



def same_channels(reference: LoadedImage, test: LoadedImage
                  ) -> tuple[LoadedImage, LoadedImage]:
    """A gray image beside a colour one is replicated to RGB, and the decision recorded
    (style runs: the style metrics compare colour images)."""
    if reference.channels == test.channels:
        return reference, test

    def as_rgb(image: LoadedImage) -> LoadedImage:
        if image.channels != 1:
            return image
        return replace(image, pixels=np.repeat(image.pixels, 3, axis=2),
                       decisions=(*image.decisions, "gray replicated to RGB"))

    return as_rgb(reference), as_rgb(test)


def unit_tensor(pixels: np.ndarray, data_range: float, device: str = "cpu",
                moved: Any = None) -> Any:
    """(3, H, W) float32 in [0, 1] for a network, on ``device``; one channel is replicated
    (RGB).  On an accelerator the integers travel as they are (a quarter of the bytes) and
    are converted there (``units_there``); ``moved``: the (H, W, C) integers already there
    (``DeviceImages``)."""
    import torch

    if device == "cpu":
        unit = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)
                                / np.float32(data_range)).permute(2, 0, 1)
        return unit.expand(3, -1, -1).contiguous() if unit.shape[0] == 1 else unit
    if moved is None:
        host = np.ascontiguousarray(pixels)
        if host.dtype == np.uint16:  # torch computes little on uint16
            host = host.astype(np.int32)
        moved = torch.from_numpy(host).to(device)
    return units_there(moved[None], data_range)[0]


def units_there(moved: Any, data_range: float) -> Any:
    """(N, 3, H, W) float32 in [0, 1], contiguous, of (N, H, W, C) integers on a device,
    with the CPU's roundings: float32, then one exact division (by a divisor made there: a
    copy of one from the host would wait for the device); one channel replicated."""
    import torch

    divisor = torch.full((), float(np.float32(data_range)), dtype=torch.float32,
                         device=moved.device)
    unit = torch.div(moved.to(torch.float32), divisor).permute(0, 3, 1, 2)
    return (unit.expand(-1, 3, -1, -1) if unit.shape[1] == 1 else unit).contiguous()


def restoration_view(pair: PreparedPair, *, y_channel: bool, crop: int,
                     rounded_y: bool = False) -> PreparedPair:
    """The pair as restoration papers compare it: the Y channel of ITU-R BT.601 YCbCr
    (BasicSR's float convention, or MATLAB's ``rgb2ycbcr`` rounded to integers with
    ``rounded_y``) and/or ``crop`` pixels cut from every edge, recorded.

    Raises:
        LikenessError: Y of an image that is not 8-bit, or a border that leaves nothing.
    """
    from likeness.errors import LikenessError
    from likeness.metrics.restoration import basicsr_y, crop_border, matlab_y

    if not y_channel and crop == 0:
        return pair
    reference, test, decisions = pair.reference, pair.test, list(pair.decisions)
    height, width = reference.shape[:2]
    if crop < 0 or 2 * crop >= min(height, width):
        raise LikenessError(f"crop_border={crop} leaves nothing of images of {width}x{height} "
                            "px; pass a smaller crop_border")
    if crop:
        reference, test = crop_border(reference, crop), crop_border(test, crop)
        decisions.append(f"{crop}-px border cropped (crop_border={crop})")
    if y_channel:
        if pair.data_range != 255 or reference.dtype != np.uint8:
            these = (f"floating-point images (data range {pair.data_range:g})"
                     if reference.dtype.kind == "f" else "16-bit (or of two bit depths)")
            raise LikenessError("the Y channel (BasicSR's and MATLAB's conventions) is defined "
                                f"for 8-bit images; these are {these}")
        if reference.shape[2] == 3 and rounded_y:
            reference, test = matlab_y(reference), matlab_y(test)
            decisions.append("Y channel of ITU-R BT.601 YCbCr, rounded to integers "
                             "(MATLAB's rgb2ycbcr)")
        elif reference.shape[2] == 3:
            reference, test = basicsr_y(reference), basicsr_y(test)
            decisions.append("Y channel of ITU-R BT.601 YCbCr, not rounded (BasicSR)")
        else:
            reference, test = reference.astype(np.float64), test.astype(np.float64)
            decisions.append("gray image: its values are the Y channel (as BasicSR)")
    return PreparedPair(reference, test, pair.data_range, tuple(decisions))
