"""Inception-v3 pool3 features for FID and KID, as pytorch-fid computes them.

``InceptionFeatures`` takes (N, 3, H, W) images in [0, 1], resizes them to 299×299 by the
chosen convention, scales them to [-1, 1] and returns the (N, 2048) output of the final
average pool of pytorch-fid's FID Inception.

Resize conventions (``resize=``; recorded in every result):

- ``"pytorch-fid"`` (default): bilinear, ``align_corners=False``, inside the network on the
  float image, exactly as pytorch-fid's ``InceptionV3(resize_input=True)``.
- ``"clean"``: as clean-fid resizes: each channel, as 32-bit floats in [0, 255], resized by
  Pillow's bicubic filter (which antialiases when shrinking), clipped to [0, 255], never
  re-quantised.  The network is still pytorch-fid's, so values are comparable with
  pytorch-fid's statistics only in the resize step's difference, not with clean-fid's
  (which uses TensorFlow's graph via TorchScript).
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from likeness.errors import ImageTooSmallError, InvalidInputError
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.fid import FID_RESIZE_CONVENTIONS
from likeness.nets.inception import InceptionTrunk
from likeness.nets.inputs import network_batch, warn_if_outside
from likeness.nets.loading import load_matching_weights, load_state_dict
from likeness.nets.weights import ResolvedWeights, passing_weights_as, resolve

__all__ = ["ART_INCEPTION_SMALLEST_SIDE", "FID_RESIZE_CONVENTIONS", "FID_SIZE",
           "ArtInceptionFeatures", "InceptionFeatures", "check_art_inception_size",
           "clean_resize", "fid_input", "to_signed_range"]

FID_SIZE = 299
# ArtFID reads images at their own size: torchvision's Inception-v3 takes 75 px a side at
# least (its stride-2 layers leave nothing of 74; tested against torch)
ART_INCEPTION_SMALLEST_SIDE = 75
_FROM_EIGHT_BITS = "pass images.float() / 255 for 8-bit ones"


def _check_convention(resize: str) -> None:
    if resize not in FID_RESIZE_CONVENTIONS:
        raise InvalidInputError(
            f"unknown FID resize convention {resize!r}; "
            f"choose from {', '.join(FID_RESIZE_CONVENTIONS)}")


def clean_resize(pixels: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """clean-fid's resize of an (H, W, 3) image whose full scale is ``scale``.

    Returns:
        (299, 299, 3) float32 in [0, 1].
    """
    unit = 255.0 / scale
    channels = []
    for c in range(pixels.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(pixels[:, :, c], dtype=np.float32)
                                * np.float32(unit), mode="F")
        resized = plane.resize((FID_SIZE, FID_SIZE), resample=Image.Resampling.BICUBIC)
        channels.append(np.asarray(resized).clip(0, 255))
    return np.stack(channels, axis=2).astype(np.float32) / np.float32(255)


def fid_input(pixels: np.ndarray, resize: str = "pytorch-fid") -> Tensor:
    """One decoded RGB image (H, W, 3) uint8/uint16 as the network's (3, 299, 299) input in
    [0, 1], resized by ``resize``: the same values as resizing it inside the network.

    8-bit images are divided by 255 (as pytorch-fid's ``ToTensor``), 16-bit ones by 65535.
    """
    _check_convention(resize)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise InvalidInputError(f"expected an (H, W, 3) RGB image, got shape {pixels.shape}")
    scale = 65535.0 if pixels.dtype == np.uint16 else 255.0
    if resize == "clean":
        return torch.from_numpy(clean_resize(pixels, scale)).permute(2, 0, 1)
    image = torch.from_numpy(np.ascontiguousarray(pixels).astype(np.float32)).permute(2, 0, 1)
    image = image / scale
    if image.shape[1:] == (FID_SIZE, FID_SIZE):  # bilinear to the same size is the identity
        return image
    return F.interpolate(image[None], size=(FID_SIZE, FID_SIZE), mode="bilinear",
                         align_corners=False)[0]


def _loaded_trunk(variant: str, checkpoint: str, weights: str | os.PathLike[str] | None,
                  label: str) -> tuple[InceptionTrunk, ResolvedWeights]:
    """An Inception trunk with its checkpoint loaded (through the weights manager), frozen,
    in inference mode, with the folded fast route prepared."""
    trunk = InceptionTrunk(variant)
    with passing_weights_as("weights=PATH"):
        resolved = resolve(checkpoint, weights)
    load_matching_weights(trunk, load_state_dict(resolved.path), str(resolved.path), label)
    trunk.requires_grad_(False)
    trunk.eval()
    trunk.fold()
    return trunk, resolved


class InceptionFeatures(nn.Module):
    """pytorch-fid's Inception-v3 pool3 features: (N, 3, H, W) in [0, 1] → (N, 2048).

    Args:
        weights: a checkpoint path, loaded as given and recorded as user-supplied; None
            resolves ``pt_inception`` (pytorch-fid's published file) through the weights
            manager (cache, then a verified download).
        resize: ``"pytorch-fid"`` (default) or ``"clean"``; see the module documentation.

    Attributes:
        weights: the resolved checkpoint (path, SHA-256, source).

    Raises:
        WeightsError: the checkpoint is missing, fails verification or does not fit.

    Example:
        >>> features = InceptionFeatures()(images)  # doctest: +SKIP
        >>> features.shape                          # doctest: +SKIP
        torch.Size([8, 2048])
    """

    def __init__(self, weights: str | os.PathLike[str] | None = None,
                 resize: str = "pytorch-fid") -> None:
        super().__init__()
        _check_convention(resize)
        self.resize = resize
        self.trunk, self.weights = _loaded_trunk("fid", "pt_inception", weights,
                                                 "pytorch-fid's Inception-v3")
        self.requires_grad_(False)
        self.eval()

    @as_defined
    def forward(self, images: Tensor) -> Tensor:
        batch = network_batch(images, self.trunk, name="Inception", takes="images in [0, 1]",
                              convert=_FROM_EIGHT_BITS)
        if batch.numel():
            warn_if_outside((batch,), (0.0, 1.0), "Inception", _FROM_EIGHT_BITS,
                            "its features are")
        return self.features_of_resized(self.resize_batch(batch))

    def resize_batch(self, images: Tensor) -> Tensor:
        """Images in [0, 1] resized to 299×299 by this module's convention."""
        if self.resize == "clean":
            planes = images.detach().float().cpu().permute(0, 2, 3, 1).numpy()
            return torch.stack([torch.from_numpy(clean_resize(p * np.float32(255), 255.0))
                                for p in planes]).permute(0, 3, 1, 2).to(images.device)
        if images.shape[2:] == (FID_SIZE, FID_SIZE):  # bilinear to the same size: identity
            return images
        return F.interpolate(images, size=(FID_SIZE, FID_SIZE), mode="bilinear",
                             align_corners=False)

    def features_of_resized(self, images: Tensor) -> Tensor:
        """Features of images already at 299×299 in [0, 1] (what ``fid_input`` returns)."""
        return self.trunk(to_signed_range(images))


def to_signed_range(images: Tensor) -> Tensor:
    """``2 * images - 1`` (the same roundings) written once, into channels-last memory as the
    trunk reads it (without a gradient: two passes over one new tensor instead of two new
    tensors and a copy)."""
    if torch.is_grad_enabled() and images.requires_grad:
        return 2 * images - 1
    out = torch.empty_like(images, memory_format=torch.channels_last)
    return torch.mul(images, 2, out=out).sub_(1)


class ArtInceptionFeatures(nn.Module):
    """ArtFID's art-trained Inception-v3: (N, 3, H, W) in [0, 1] → (N, 2048).

    torchvision's standard Inception-v3 blocks, as ArtFID runs them: no resize (each image
    at its own size), no normalisation, the output of the final average pool.

    Args:
        weights: a checkpoint path, loaded as given; None resolves ``art_inception``
            through the weights manager.  Its ``fc1``, ``fc2`` and auxiliary heads are not
            used.
    """

    def __init__(self, weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.trunk, self.weights = _loaded_trunk("torchvision", "art_inception", weights,
                                                 "ArtFID's Inception-v3")
        self.requires_grad_(False)
        self.eval()

    @as_defined
    def forward(self, images: Tensor) -> Tensor:
        batch = network_batch(images, self.trunk, name="ArtFID's Inception",
                              takes="images in [0, 1]", convert=_FROM_EIGHT_BITS)
        if batch.numel():
            warn_if_outside((batch,), (0.0, 1.0), "ArtFID's Inception",
                            _FROM_EIGHT_BITS, "its features are")
        check_art_inception_size(*batch.shape[2:])
        return self.trunk(batch)


def check_art_inception_size(height: int, width: int) -> None:
    """Refuse an image ArtFID's Inception cannot read at its own size.

    Raises:
        ImageTooSmallError: a side under ``ART_INCEPTION_SMALLEST_SIDE`` pixels.
    """
    if min(height, width) < ART_INCEPTION_SMALLEST_SIDE:
        side = ART_INCEPTION_SMALLEST_SIDE
        raise ImageTooSmallError(f"ArtFID's Inception reads images at their own size and "
                                 f"needs at least {side}x{side} pixels, got {width}x{height}")
