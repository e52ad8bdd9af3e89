"""The evaluation transforms of torchvision and Hugging Face that the encoders' reference
scripts use: the shorter side resized with Pillow's bicubic (the longer side truncated),
then the centred square crop; and the per-channel normalisation that follows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

from likeness.arguments import data_range_held_as, warn_of_unit_images
from likeness.errors import InvalidInputError, InvalidInputTypeError

__all__ = ["CROPS", "IMAGENET_MEAN", "IMAGENET_STD", "eight_bit_images", "eight_bit_images_of",
           "normalised_tensor", "resize_centre_crop", "stacked"]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

CROPS = ("openai", "huggingface")  # torchvision's CenterCrop, Hugging Face's center_crop


def resize_centre_crop(pixels: np.ndarray, resize: int, crop: int,
                       convention: str = "openai") -> np.ndarray:
    """(H, W, 3) uint8 → (crop, crop, 3) float32 in [0, 1]: the shorter side to ``resize``
    (torchvision's ``Resize(resize, BICUBIC)`` on a Pillow image: the longer side
    int(resize · long / short)), then the centred ``crop``×``crop`` window, placed at
    round((side − crop) / 2) (torchvision's ``CenterCrop``: ``openai``) or
    ⌊(side − crop) / 2⌋ (Hugging Face's image processors: ``huggingface``)."""
    if convention not in CROPS:
        raise InvalidInputError(f"preprocessing must be one of {', '.join(CROPS)}, got "
                                f"{convention!r}")
    height, width = pixels.shape[:2]
    if width <= height:
        new_width, new_height = resize, int(resize * height / width)
    else:
        new_width, new_height = int(resize * width / height), resize
    resized = np.asarray(Image.fromarray(np.ascontiguousarray(pixels)).resize(
        (new_width, new_height), Image.Resampling.BICUBIC))
    if convention == "openai":
        top, left = int(round((new_height - crop) / 2.0)), int(round((new_width - crop) / 2.0))
    else:
        top, left = (new_height - crop) // 2, (new_width - crop) // 2
    return resized[top:top + crop, left:left + crop].astype(np.float32) / np.float32(255)


def normalised_tensor(unit: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """(H, W, 3) float32 in [0, 1] → a (3, H, W) tensor, (x − mean) / std per channel, in
    float32 as torchvision's ``Normalize`` computes it."""
    return torch.from_numpy((unit - mean) / std).permute(2, 0, 1).contiguous()


def eight_bit_images(unit: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) images in [0, 1] as the (N, H, W, 3) uint8 arrays of the 8-bit files
    they are (the encoders' reference scripts read files with Pillow)."""
    eight_bit = (unit.clamp(0, 1) * 255).round().to(torch.uint8)
    return eight_bit.permute(0, 2, 3, 1).cpu().numpy()


def stacked(convert: Callable[[np.ndarray], torch.Tensor], pixels: np.ndarray,
            network: torch.nn.Module) -> torch.Tensor:
    """Each (H, W, 3) image of ``pixels`` through ``convert``, as one batch on the
    network's device."""
    device = next(network.parameters()).device
    return torch.stack([convert(image) for image in pixels]).to(device)


def _eight_bit_image(image: Any, data_range: float | None, name: str,
                     highest: list[float]) -> np.ndarray:
    """One image as ``eight_bit_images_of`` returns it; a floating image's largest value
    appended to ``highest``."""
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if isinstance(image, torch.Tensor):
        if array.ndim != 3 or array.shape[0] not in (1, 3):
            raise InvalidInputError(f"{name}: expected (3, H, W) or (N, 3, H, W) tensors, got "
                                    f"shape {tuple(image.shape)}")
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        raise InvalidInputError(f"{name}: expected (H, W, 3) images, got shape {array.shape}")
    if 0 in array.shape[:2]:
        raise InvalidInputError(f"{name}: an image of shape {array.shape} has no pixels")
    if array.dtype == np.uint8:
        pixels = array
    elif np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer):
        if data_range is None:
            raise InvalidInputError(f"{name}: {array.dtype} images need data_range (1.0 for "
                                    "[0, 1], 255 for [0, 255])")
        values = array.astype(np.float64)
        if (not np.isfinite(values).all() or values.min() < 0
                or values.max() > data_range_held_as(data_range, array.dtype)):
            raise InvalidInputError(f"{name}: values outside [0, {data_range}] (or not finite)")
        if array.dtype.kind == "f":
            highest.append(float(values.max()))
        pixels = np.round(values * (255.0 / data_range)).astype(np.uint8)
    else:
        raise InvalidInputTypeError(f"{name}: images of dtype {array.dtype} are not images")
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels


def eight_bit_images_of(images: Any, data_range: float | None,
                        name: str) -> list[np.ndarray]:
    """Images as the encoders' reference scripts read them: (H, W, 3) uint8 arrays —
    ``images`` one (H, W, 3) array or a list of them, or (3, H, W) / (N, 3, H, W) tensors;
    uint8 as given, other numbers in [0, ``data_range``] rounded to 8 bits, one channel
    repeated three times.

    Raises:
        InvalidInputError: no images, a shape that is not an image or has no pixels,
            numbers without ``data_range`` or outside it; ``InvalidInputTypeError`` for what
            is not an image at all.
    """
    highest: list[float] = []  # each floating image's largest value
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        found = [_eight_bit_image(image, data_range, name, highest) for image in images]
    elif isinstance(images, (torch.Tensor, np.ndarray)) and not (
            isinstance(images, np.ndarray) and images.ndim == 4):
        found = [_eight_bit_image(images, data_range, name, highest)]
    elif isinstance(images, (list, tuple, np.ndarray)):
        found = [_eight_bit_image(image, data_range, name, highest) for image in images]
    else:
        raise InvalidInputTypeError(f"{name}: expected images (a tensor, an array or a list "
                                    f"of them), got {type(images).__name__}")
    if not found:
        raise InvalidInputError(f"{name}: no images given; pass at least one")
    if highest and data_range is not None:  # [0, 1] images with 8-bit's range: said once
        warn_of_unit_images(max(highest), data_range)
    return found
