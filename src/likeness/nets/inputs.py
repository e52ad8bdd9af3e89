"""The one check of what a network module's ``forward`` takes: a batch of floating-point
images, on the network's device, each refusal an ``InvalidInputError`` that says what to
pass instead of the error torch would raise from deep inside a layer.

What is accepted, what is converted:
- a torch tensor of shape (N, 3, H, W), every side at least a pixel (N may be 0: no
  features), on the device of the network's parameters (not a meta tensor);
- floating-point values, computed in the network's precision (float64, 16- and 8-bit
  floats cast to it, as ``InceptionFeatures`` and ``LPIPS`` always did); integer and
  boolean images are refused (their scale is not the network's: 8-bit values are not
  [0, 1]), and so are sparse, oneDNN-blocked and quantized tensors (``dense_values``);
- where the network has a fixed input size (a ViT's position embeddings), exactly that size,
  or (DINOv2) a square whose side is a whole number of patches.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor, nn

from likeness.arguments import layout_hint, user_stacklevel
from likeness.errors import InvalidInputError, InvalidInputTypeError
from likeness.metrics.tensor_checks import dense_values

__all__ = ["RANGE_SLACK", "network_batch", "warn_if_outside"]


def network_batch(images: object, network: nn.Module, *, name: str, takes: str, convert: str,
                  side: int | None = None, patch: int | None = None) -> Tensor:
    """``images`` checked (module docs) and returned in the network's precision.

    Args:
        name: the network's name, for messages ("DINO", "CLIP's image tower").
        takes: what the network takes, for messages ("images in [0, 1]", "images prepared
            by dino_input").
        convert: how to make such images from 8-bit ones, for the message refusing integers.
        side: the only height and width the network takes (with ``takes`` naming the
            function that prepares them).
        patch: the height and width must be equal and a multiple of it.

    Raises:
        InvalidInputTypeError: not a tensor, or integer or boolean images.
        InvalidInputError: another shape or size, an empty side, a meta tensor, or images
            on another device than the network.
    """
    if not isinstance(images, Tensor):
        raise InvalidInputTypeError(f"{name} takes a torch tensor of {takes}, got "
                                    f"{type(images).__name__}")
    images = dense_values(images, "images")
    shape = tuple(images.shape)
    if images.ndim != 4 or shape[1] != 3 or 0 in shape[2:]:
        raise InvalidInputError(f"{name} takes an (N, 3, H, W) batch of {takes}, at least a "
                                f"pixel each, got shape {shape}{layout_hint(shape, 'images')}")
    if not images.is_floating_point():
        raise InvalidInputTypeError(f"{name} takes floating-point {takes}, got "
                                    f"{images.dtype}; {convert}")
    if images.device.type == "meta":
        raise InvalidInputError("the images are meta tensors: they hold no values to encode")
    height, width = shape[2:]
    if side is not None and (height, width) != (side, side):
        raise InvalidInputError(f"{name} takes {side}×{side} inputs ({takes}), got "
                                f"{height}×{width}")
    if patch is not None and (height != width or height % patch):
        raise InvalidInputError(f"{name} takes square inputs whose side is a multiple of "
                                f"{patch} ({takes}), got {height}×{width}")
    parameter = next(network.parameters())
    if images.device != parameter.device:
        raise InvalidInputError(f"the images are on {images.device} and {name} on "
                                f"{parameter.device}; move one of them (network.to(images."
                                "device), or images.to(...))")
    return images.to(parameter.dtype)


# how far outside its range a network's input may stray unwarned (resampling overshoot)
RANGE_SLACK = 1e-3


def warn_if_outside(batches: tuple[Tensor, ...], bounds: tuple[float, float], name: str,
                    hint: str, gives: str = "its outputs are") -> None:
    """A warning where the images a network takes (a loss, a feature extractor: they are
    used as given) hold NaN or infinity, or values outside ``bounds`` by more than
    ``RANGE_SLACK`` — [0, 255] images given for [0, 1] ones, which the network sees as a
    glare."""
    low, high = bounds
    with torch.no_grad():  # each extreme NaN where the batch holds one
        extremes = [float(value) for batch in batches if batch.numel()
                    for value in torch.aminmax(batch)]
    if not extremes:
        return
    seen_low, seen_high = min(extremes), max(extremes)
    if all(math.isfinite(value) for value in extremes) and (
            low - RANGE_SLACK <= seen_low and seen_high <= high + RANGE_SLACK):
        return
    level = user_stacklevel()  # the user's line (None: a run's own call)
    if level is None:
        return
    if not all(math.isfinite(value) for value in extremes):
        warnings.warn(f"{name} got NaN or infinite inputs, so {gives} NaN; check "
                      "the images (a division by zero, an overflow in float16)", UserWarning,
                      stacklevel=level)
    else:
        warnings.warn(f"{name} expects inputs in [{low:g}, {high:g}] but got values in "
                      f"[{seen_low:.4g}, {seen_high:.4g}]; {hint}", UserWarning,
                      stacklevel=level)
