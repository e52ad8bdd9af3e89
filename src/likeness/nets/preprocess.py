"""The evaluation transforms of torchvision and Hugging Face that the encoders' reference
scripts use: the shorter side resized with Pillow's bicubic (the longer side truncated),
then the centred square crop; and the per-channel normalisation that follows."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from likeness.errors import InvalidInputError

__all__ = ["CROPS", "IMAGENET_MEAN", "IMAGENET_STD", "eight_bit_images", "normalised_tensor",
           "resize_centre_crop", "stacked"]

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
