"""The Inception-v3 logits of torch-fidelity's Inception Score: its input pipeline exactly
(uint8 images, TensorFlow 1.x's bilinear resize to 299×299 in float32 — not pytorch-fid's
``F.interpolate``, which differs by up to 0.18 per input value — then (x − 128) / 128), the
FID Inception (``pt_inception``, the same file as torch-fidelity's
``weights-inception-2015-12-05-6726825d.pth``) and the final layer's weights without its
bias (``logits_unbiased``): (N, 1008)."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor, nn

from likeness.nets.inception import InceptionTrunk
from likeness.nets.loading import load_matching_weights, load_state_dict
from likeness.nets.weights import ResolvedWeights, passing_weights_as, resolve

__all__ = ["ISC_SIZE", "InceptionLogits", "tf1_bilinear_resize"]

ISC_SIZE = 299


def tf1_bilinear_resize(image: Tensor, size: int = ISC_SIZE) -> Tensor:
    """(…, C, H, W) float32 resized as TensorFlow 1.x's ``resize_bilinear``
    (``align_corners=False``): source position = output index × (in / out), truncated,
    the next pixel clamped at the edge, interpolated in float32 (torch-fidelity's
    ``interpolate_bilinear_2d_like_tensorflow1x``)."""
    height, width = image.shape[-2:]

    def axis(length: int) -> tuple[Tensor, Tensor, Tensor]:
        position = (torch.arange(0, size, 1, dtype=image.dtype, device=image.device)
                    * torch.tensor(length / size, dtype=torch.float32))
        low = position.long()
        high = (low + 1).clamp_max(length - 1)
        return low, high, position - low.float()

    y_low, y_high, dy = axis(height)
    x_low, x_high, dx = axis(width)
    top, bottom = image[..., y_low, :], image[..., y_high, :]
    top_left, top_right = top[..., x_low], top[..., x_high]
    bottom_left, bottom_right = bottom[..., x_low], bottom[..., x_high]
    upper = top_left + (top_right - top_left) * dx.view(1, size)
    lower = bottom_left + (bottom_right - bottom_left) * dx.view(1, size)
    return upper + (lower - upper) * dy.view(size, 1)


class InceptionLogits(nn.Module):
    """torch-fidelity's ``logits_unbiased`` of images already resized by
    ``tf1_bilinear_resize`` (float32 in [0, 255], (N, 3, 299, 299)) → (N, 1008).

    Raises:
        WeightsError: the checkpoint is missing, fails verification or does not fit.
    """

    fc_weight: Tensor

    def __init__(self, weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.trunk = InceptionTrunk("fid")
        with passing_weights_as("weights=PATH"):
            self.weights: ResolvedWeights = resolve("pt_inception", weights)
        state = load_state_dict(self.weights.path)
        load_matching_weights(self.trunk, state, str(self.weights.path),
                              "torch-fidelity's Inception-v3")
        self.register_buffer("fc_weight", state["fc.weight"].float().clone())
        self.requires_grad_(False)
        self.eval()
        self.trunk.fold()

    def forward(self, resized: Tensor) -> Tensor:
        return self.trunk((resized - 128) / 128) @ self.fc_weight.T


def isc_input(pixels: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 → (3, 299, 299) float32 in [0, 255], as torch-fidelity feeds it."""
    image = torch.from_numpy(np.array(pixels, dtype=np.float32)).permute(2, 0, 1)
    return tf1_bilinear_resize(image)
