"""The set metrics' feature networks on a device: decoding a file into a network's input
and a batch of inputs into features, with everything the features depend on (network,
weights hash, resize convention, decoding options) — the cache namespace of a set's
per-image features."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from likeness.errors import InvalidInputError
from likeness.evaluation.infra.allocator import keep_freed_memory
from likeness.evaluation.infra.device import resolve_device
from likeness.io import load_image
from likeness.metrics.fid import FID_RESIZE_CONVENTIONS
from likeness.nets.weights import ResolvedWeights, resolve

__all__ = ["ART_NATIVE", "CLIP_RESIZE", "DINOV2_RESIZE", "ISC_RESIZE",
           "SET_NETWORK_CHECKPOINTS", "FeatureExtractor"]

ART_NATIVE = "native"  # ArtFID's Inception takes each image at its own size
ISC_RESIZE = "tf1-bilinear"  # torch-fidelity's resize for the Inception Score
# each set network and the checkpoint file its weights come from
SET_NETWORK_CHECKPOINTS = {"pt_inception": "pt_inception", "art_inception": "art_inception",
                           "isc_inception": "pt_inception", "dinov2_vitl14": "dinov2_vitl14",
                           "clip_vit_l14_336": "clip_vit_l14_336"}
DINOV2_RESIZE = "pillow-bicubic-224"  # dgm-eval's preprocessing for DINOv2
CLIP_RESIZE = "square-crop-pillow-bicubic-336"  # CMMD's preprocessing for CLIP
_EIGHT_BIT = ("isc_inception", "dinov2_vitl14", "clip_vit_l14_336")  # networks fed uint8


class FeatureExtractor:
    """An Inception feature network on a device, with what its features depend on.

    Args:
        weights: checkpoint path (None: the weights manager's file for ``network``).
        resize: ``"pytorch-fid"`` or ``"clean"`` for ``pt_inception``; ArtFID's network
            always takes images at their own size, the Inception Score's resizes as
            torch-fidelity does.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        alpha: how transparent images are flattened (see ``load_image``).
        network: ``"pt_inception"`` (pytorch-fid's FID Inception: pool features),
            ``"art_inception"`` (ArtFID's art-trained Inception), ``"isc_inception"``
            (torch-fidelity's Inception Score logits, from the ``pt_inception`` file) or
            ``"dinov2_vitl14"`` (DINOv2 ViT-L/14's CLS token, dgm-eval's preprocessing) or
            ``"clip_vit_l14_336"`` (CLIP's normalised image embedding, CMMD's).
    """

    def __init__(self, weights: str | os.PathLike[str] | None = None,
                 resize: str = "pytorch-fid", device: str = "auto",
                 alpha: str | None = None, network: str = "pt_inception") -> None:
        if network not in SET_NETWORK_CHECKPOINTS:
            raise InvalidInputError(
                f"network must be one of {', '.join(SET_NETWORK_CHECKPOINTS)}, "
                f"got {network!r}")
        if network == "art_inception":
            resize = ART_NATIVE
        elif network == "isc_inception":
            resize = ISC_RESIZE
        elif network == "dinov2_vitl14":
            resize = DINOV2_RESIZE
        elif network == "clip_vit_l14_336":
            resize = CLIP_RESIZE
        elif resize not in FID_RESIZE_CONVENTIONS:
            raise InvalidInputError(
                f"unknown FID resize convention {resize!r}; "
                f"choose from {', '.join(FID_RESIZE_CONVENTIONS)}")
        if device not in ("auto", "cpu", "cuda"):
            raise InvalidInputError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
        self.requested_device = device
        self.kind = network
        # resolved (and verified) now; the network itself is built only when an image is
        # not in the cache, so a fully cached run never loads torch
        self.weights: ResolvedWeights = resolve(SET_NETWORK_CHECKPOINTS[network], weights)
        self.resize, self.alpha = resize, alpha
        self.dims = {"isc_inception": 1008, "dinov2_vitl14": 1024,
                     "clip_vit_l14_336": 768}.get(network, 2048)
        self._network: Any = None
        self.device: str | None = None  # chosen when the network is built

    @property
    def network(self) -> Any:
        if self._network is None:
            from likeness.nets.clip import ClipImageEncoder
            from likeness.nets.dinov2 import DinoV2
            from likeness.nets.inception_features import ArtInceptionFeatures, InceptionFeatures
            from likeness.nets.inception_logits import InceptionLogits

            self.device = resolve_device(self.requested_device)
            keep_freed_memory()  # see likeness.evaluation.infra.allocator
            network: Any
            if self.kind == "art_inception":
                network = ArtInceptionFeatures(weights=self.weights.path)
            elif self.kind == "isc_inception":
                network = InceptionLogits(weights=self.weights.path)
            elif self.kind == "dinov2_vitl14":
                network = DinoV2(weights=self.weights.path)
            elif self.kind == "clip_vit_l14_336":
                network = ClipImageEncoder(weights=self.weights.path)
            else:
                network = InceptionFeatures(weights=self.weights.path, resize=self.resize)
            self._network = network.to(self.device)
        return self._network

    @property
    def settings(self) -> dict[str, Any]:
        """What the features depend on; recorded with every result and statistics file."""
        weights = self.weights
        name = {"art_inception": "ArtFID art-trained Inception-v3 pool3",
                "isc_inception": "torch-fidelity Inception-v3 logits_unbiased",
                "dinov2_vitl14": "DINOv2 ViT-L/14 CLS token (torch.hub model)",
                "clip_vit_l14_336": "CLIP ViT-L/14-336 normalised image embedding"}.get(
                    self.kind, "pytorch-fid Inception-v3 pool3")
        return {"network": name, "weights": weights.name,
                "weights_sha256": weights.sha256, "weights_source": weights.source,
                "weights_file": str(weights.path),
                "resize": self.resize, "alpha": self.alpha}

    @property
    def namespace(self) -> str:
        s = self.settings
        return (f"{self.kind}-features/v1/{s['weights_sha256']}/{s['resize']}/"
                f"alpha={s['alpha']}")

    def prepare(self, path: Path, expect_sha256: str | None = None
                ) -> tuple[Any, tuple[str, ...]]:
        """Decode one file into the network's input (3, H, W) in [0, 1] — resized to
        299×299 for ``pt_inception`` — and the decisions taken (``expect_sha256``: the
        hash the file's features are cached under; other bytes are refused)."""
        import torch

        from likeness.nets.inception_features import fid_input

        image = load_image(path, alpha=self.alpha, expect_sha256=expect_sha256)
        pixels, decisions = image.pixels, list(image.decisions)
        if pixels.shape[2] == 1:
            pixels = np.repeat(pixels, 3, axis=2)
            decisions.append("gray replicated to RGB")
        if self.kind in _EIGHT_BIT:
            from likeness.nets.clip import clip_input
            from likeness.nets.dinov2 import dinov2_input
            from likeness.nets.inception_logits import isc_input

            if pixels.dtype == np.uint16:  # uint8 images, as Pillow reads 16-bit files
                pixels = (pixels >> 8).astype(np.uint8)
                decisions.append("16-bit reduced to its high byte, as Pillow reads it "
                                 "(the uint8 input of torch-fidelity, dgm-eval and CMMD)")
            convert = {"isc_inception": isc_input, "dinov2_vitl14": dinov2_input,
                       "clip_vit_l14_336": clip_input}[self.kind]
            return convert(pixels), tuple(decisions)
        if image.bit_depth == 16:
            decisions.append("16-bit scaled to [0, 1] by 65535")
        if self.kind == "art_inception":
            scale = np.float32(65535.0 if pixels.dtype == np.uint16 else 255.0)
            unit = np.ascontiguousarray(pixels).astype(np.float32) / scale
            return torch.from_numpy(unit).permute(2, 0, 1), tuple(decisions)
        return fid_input(pixels, self.resize), tuple(decisions)

    def features(self, batch: list[Any]) -> np.ndarray:
        """Features of a batch; images of different sizes run in groups of one size."""
        import torch

        network = self.network
        out: np.ndarray | None = None
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, tensor in enumerate(batch):
            groups.setdefault(tuple(tensor.shape), []).append(index)
        with torch.inference_mode():
            for indices in groups.values():
                inputs = torch.stack([batch[i] for i in indices]).to(self.device)
                if self.kind == "pt_inception":
                    values = network.features_of_resized(inputs)
                else:
                    values = network(inputs)
                if out is None:  # the width the checkpoint gives (a ViT-B file: 768)
                    out = np.empty((len(batch), values.shape[1]), np.float32)
                out[indices] = values.float().cpu().numpy()
        return out if out is not None else np.empty((0, self.dims), np.float32)
