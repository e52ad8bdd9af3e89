"""A set network on a device: a file (or an image in memory) into the network's input
and a batch of inputs into features, with everything the features depend on (network,
weights hash, resize convention, decoding options) — the cache namespace of a set's
per-image features.  What each network is, builds and takes comes from its record
(``likeness.evaluation.catalog.networks``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from likeness.errors import InvalidInputError
from likeness.evaluation.catalog.networks import NETWORKS, network_input, set_network_names
from likeness.evaluation.infra.device import resolve_device
from likeness.io import load_image
from likeness.metrics.fid import FID_RESIZE_CONVENTIONS
from likeness.nets.weights import ResolvedWeights, resolve

__all__ = ["FeatureExtractor"]


class FeatureExtractor:
    """A set network on a device, with what its features depend on.

    Args:
        weights: checkpoint path (None: the weights manager's file for ``network``).
        resize: ``"pytorch-fid"`` or ``"clean"`` for the networks that take the run's
            convention (``pt_inception``); the others always resize as their reference
            implementation does (their record's ``resize``).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        alpha: how transparent images are flattened (see ``load_image``).
        network: a set network of ``NETWORKS``: ``"pt_inception"`` (pytorch-fid's FID
            Inception: pool features), ``"art_inception"`` (ArtFID's art-trained
            Inception), ``"isc_inception"`` (torch-fidelity's Inception Score logits, from
            the ``pt_inception`` file), ``"dinov2_vitl14"`` (DINOv2 ViT-L/14's CLS token,
            dgm-eval's preprocessing) or ``"clip_vit_l14_336"`` (CLIP's normalised image
            embedding, CMMD's).
    """

    def __init__(self, weights: str | os.PathLike[str] | None = None,
                 resize: str = "pytorch-fid", device: str = "auto",
                 alpha: str | None = None, network: str = "pt_inception") -> None:
        if network not in set_network_names():
            raise InvalidInputError(
                f"network must be one of {', '.join(set_network_names())}, got {network!r}")
        self.spec = NETWORKS[network]
        if self.spec.resize is not None:
            resize = self.spec.resize
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
        self.weights: ResolvedWeights = resolve(self.spec.checkpoint, weights)
        self.resize, self.alpha = resize, alpha
        self.dims = self.spec.dims
        self._network: Any = None
        self.device: str | None = None  # chosen when the network is built

    @property
    def network(self) -> Any:
        if self._network is None:
            self.device = resolve_device(self.requested_device)
            self._network = self.spec.build(self.weights.path, self.device)
        return self._network

    @property
    def settings(self) -> dict[str, Any]:
        """What the features depend on; recorded with every result and statistics file."""
        weights = self.weights
        return {"network": self.spec.label, "weights": weights.name,
                "weights_sha256": weights.sha256, "weights_source": weights.source,
                "weights_file": str(weights.path),
                "resize": self.resize, "alpha": self.alpha}

    @property
    def namespace(self) -> str:
        s = self.settings
        revision = f"/revision={self.spec.revision}" if self.spec.revision > 1 else ""
        return (f"{self.kind}-features/v1/{s['weights_sha256']}/{s['resize']}/"
                f"alpha={s['alpha']}{revision}")

    def input_of(self, pixels: np.ndarray) -> tuple[Any, tuple[str, ...]]:
        """One decoded image (H, W, C), from a file or from memory, as the network's input,
        and the decisions taken (``network_input``)."""
        return network_input(self.kind, pixels, self.resize)

    def prepare(self, path: Path, expect_sha256: str | None = None
                ) -> tuple[Any, tuple[str, ...]]:
        """Decode one file into the network's input (3, H, W) — resized to 299×299 for
        ``pt_inception`` — and the decisions taken (``expect_sha256``: the hash the file's
        features are cached under; other bytes are refused)."""
        image = load_image(path, alpha=self.alpha, expect_sha256=expect_sha256)
        network_in, decisions = self.input_of(image.pixels)
        return network_in, (*image.decisions, *decisions)

    def features(self, batch: list[Any]) -> np.ndarray:
        """Features of a batch; images of different sizes run in groups of one size."""
        import torch

        assert self.spec.features is not None
        network = self.network
        out: np.ndarray | None = None
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, tensor in enumerate(batch):
            groups.setdefault(tuple(tensor.shape), []).append(index)
        with torch.inference_mode():
            for indices in groups.values():
                inputs = torch.stack([batch[i] for i in indices]).to(self.device)
                values = self.spec.features(network, inputs)
                if out is None:  # the width the checkpoint gives (a ViT-B file: 768)
                    out = np.empty((len(batch), values.shape[1]), np.float32)
                out[indices] = values.float().cpu().numpy()
        return out if out is not None else np.empty((0, self.dims), np.float32)
