"""The LAION aesthetic predictor v2 (Schuhmann, ``improved-aesthetic-predictor``) in plain
torch: an image's CLIP ViT-L/14 embedding, L2-normalised, through the MLP head of
``sac+logos+ava1-l14-linearMSE.pth`` (keys ``layers.{0,2,4,6,7}.{weight,bias}``: Linear
768→1024, Dropout, Linear 1024→128, Dropout, Linear 128→64, Dropout, Linear 64→16,
Linear 16→1; the dropouts are inactive at inference), as ``simple_inference.py``
computes it.  The score is a rating on the AVA scale, about 1 to 10.

Images: ``aesthetic_input`` — OpenAI's CLIP preprocessing, as ``clip.load("ViT-L/14")``
gives it to the predictor (the shorter side to 224, Pillow bicubic, the centred crop,
CLIP's mean and std).  The CLIP tower is the Hugging Face file
``openai/clip-vit-large-patch14`` (checkpoint ``clip_vit_l14``), the same network as
OpenAI's ``ViT-L-14.pt``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from likeness.errors import WeightsError
from likeness.metrics.caller_modes import as_defined
from likeness.nets.clip import ClipModel, clip_preprocess
from likeness.nets.loading import load_matching_weights, load_state_dict
from likeness.nets.preprocess import eight_bit_images_of, stacked
from likeness.nets.weights import ResolvedWeights, passing_weights_as, resolve

__all__ = ["AestheticPredictor", "aesthetic_input", "aesthetic_score", "aesthetic_scores"]

_LINEAR_LAYERS = (0, 2, 4, 6, 7)  # the Sequential's Linear modules; 1, 3, 5: Dropout


def _head(state: dict[str, Tensor], source: str) -> nn.Sequential:
    """The predictor's MLP with the checkpoint's widths."""
    try:
        shapes = [tuple(state[f"layers.{i}.weight"].shape) for i in _LINEAR_LAYERS]
    except KeyError as missing:
        raise WeightsError(f"{source} is not the LAION aesthetic predictor's head: it has "
                           f"no {missing} entry (expected sac+logos+ava1-l14-linearMSE.pth's "
                           "layers.0 … layers.7)") from None
    modules: list[nn.Module] = []
    for position, (outputs, inputs) in zip(_LINEAR_LAYERS, shapes, strict=True):
        while len(modules) < position:
            modules.append(nn.Dropout(0.0))
        modules.append(nn.Linear(inputs, outputs))
    return nn.Sequential(*modules)


class AestheticPredictor(nn.Module):
    """Aesthetic scores of normalised (N, 3, 224, 224) images (``aesthetic_input``): (N,).

    Args:
        weights: the head's checkpoint, loaded as given; None resolves
            ``laion_aesthetic`` through the weights manager.
        clip_weights: CLIP ViT-L/14's checkpoint; None resolves ``clip_vit_l14``.

    Raises:
        WeightsError: a checkpoint is missing, fails verification or does not fit (the
            head must take CLIP's embedding width).
    """

    def __init__(self, weights: str | os.PathLike[str] | None = None,
                 clip_weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        with passing_weights_as("weights=PATH"):
            self.weights: ResolvedWeights = resolve("laion_aesthetic", weights)
        source = str(self.weights.path)
        state = load_state_dict(self.weights.path)
        self.layers = _head(state, source)
        load_matching_weights(self, state, source, "the LAION aesthetic predictor's MLP")
        with passing_weights_as("clip_weights=PATH"):  # not CLIP's own weights=PATH
            self.clip = ClipModel("vit-l14", clip_weights, text=False)
        width = self.clip.visual_projection.weight.shape[0]
        if self.layers[0].in_features != width:
            raise WeightsError(f"{source}: the head takes {self.layers[0].in_features}-wide "
                               f"embeddings, CLIP ViT-L/14's are {width}-wide")
        self.requires_grad_(False)
        self.eval()

    @as_defined
    def forward(self, images: Tensor) -> Tensor:
        embedding = self.clip.encode_images(images)  # unit length: simple_inference's normalized()
        return self.layers(embedding)[:, 0]


def aesthetic_input(pixels: np.ndarray, size: int = 224) -> Tensor:
    """(H, W, 3) uint8 → (3, size, size) float32: OpenAI's CLIP preprocessing."""
    return clip_preprocess(pixels, size, "openai")


def aesthetic_scores(network: AestheticPredictor, pixels: Any) -> Tensor:
    """(N, 1) aesthetic scores of (N, H, W, 3) uint8 images (or a list of (H, W, 3))."""
    size = network.clip.image_size
    return network(stacked(lambda image: aesthetic_input(image, size), pixels,
                           network))[:, None]


@as_defined
def aesthetic_score(images: Any, *, model: AestheticPredictor | None = None,
                    weights: str | os.PathLike[str] | None = None,
                    clip_weights: str | os.PathLike[str] | None = None,
                    data_range: float | None = None) -> Tensor:
    """The LAION aesthetic predictor's score of each image, an (N,) float64 tensor.
    Images as ``clip_score`` takes them; ``model``: an ``AestheticPredictor`` built once,
    else one is built from ``weights`` and ``clip_weights``.

    Raises:
        InvalidInputError: bad images.
        WeightsError: a checkpoint is missing (with what to do) or does not fit.
    """
    pixels = eight_bit_images_of(images, data_range, "images")
    network = model if model is not None else AestheticPredictor(weights, clip_weights)
    with torch.no_grad():
        return aesthetic_scores(network, pixels)[:, 0].double()
