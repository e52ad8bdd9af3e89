"""A set network on a device: a file (or an image in memory) into the network's input
and a batch of inputs into features, with everything the features depend on (network,
weights hash, resize convention, decoding options) — the cache namespace of a set's
per-image features.  What each network is, builds and takes comes from its record
(``likeness.evaluation.catalog.networks``)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from likeness.errors import InvalidInputError
from likeness.evaluation.catalog.networks import (
    GRAY_TO_RGB,
    NETWORKS,
    SIXTEEN_BIT_SCALED,
    network_input,
    set_network_names,
)
from likeness.evaluation.infra.device import full_float32, resolve_device, stacked_on_device
from likeness.evaluation.infra.graphs import GraphedCalls
from likeness.evaluation.infra.memory import available_bytes, fitting
from likeness.io import FileStamp, decoders_key, load_image
from likeness.metrics.fid import FID_RESIZE_CONVENTIONS
from likeness.nets.weights import REGISTRY, ResolvedWeights, resolve

__all__ = ["FeatureExtractor", "FilePreparer"]


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
        self._graphed: GraphedCalls | None = None  # made with the network (``features``)

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
                f"alpha={s['alpha']}{revision}/decoders={decoders_key()}")

    @property
    def published_dims(self) -> int | None:
        """The length every feature of these weights has, where they are the published
        checkpoint (by its published hash): ``spec.dims``; None for another file (a ViT-B
        CLIP gives 768 values, say) or a checkpoint published without a hash."""
        checkpoint = REGISTRY[self.spec.checkpoint]
        published = bool(checkpoint.sha256 or checkpoint.sha256_prefix)
        return self.dims if published and checkpoint.matches(self.weights.sha256) else None

    @property
    def decisions_namespace(self) -> str:
        """Where each image's decisions are cached beside its features: keyed, as they
        are, by the decoders (``io.decoders_key``); which decisions a file takes is versioned
        by ``io.DECODING_REVISION`` (v2–v7 were versioned here, and earlier versions'
        decisions reused where still whole: they were taken by unknown decoders)."""
        return self.namespace + "/decisions/v7"

    def input_of(self, pixels: np.ndarray) -> tuple[Any, tuple[str, ...]]:
        """One decoded image (H, W, C), from a file or from memory, as the network's input,
        and the decisions taken (``network_input``)."""
        return network_input(self.kind, pixels, self.resize)

    def preparer(self, device: str) -> FilePreparer:
        """What decodes a file into this network's input (``prepare``), picklable for a
        decoding process.  For pytorch-fid's Inception on CUDA it keeps the decoded
        integers (a quarter of the bytes): ``features`` scales and resizes them on the
        device."""
        raw = (device.startswith("cuda") and self.kind == "pt_inception"
               and self.resize == "pytorch-fid")
        return FilePreparer(self.kind, self.resize, self.alpha, raw)

    def prepare(self, path: Path, expect_sha256: str | None = None
                ) -> tuple[Any, tuple[str, ...]]:
        """Decode one file into the network's input (3, H, W) — resized to 299×299 for
        ``pt_inception`` — and the decisions taken (``expect_sha256``: the hash the file's
        features are cached under; other bytes are refused)."""
        import torch

        network_in, decisions = self.preparer("cpu")((path, expect_sha256, None))
        return torch.from_numpy(network_in), decisions

    def features(self, batch: list[Any]) -> np.ndarray:
        """Features of a batch; images of different sizes run in groups of one size."""
        return self.launch(batch)()

    def launch(self, batch: list[Any]) -> Callable[[], np.ndarray]:
        """Queue a batch's features on the device; the function returned reads them back
        (``features``), so that the next batch can be made ready while the device works
        (on the CPU they are computed here)."""
        import torch

        assert self.spec.features is not None
        network = self.network
        if self._graphed is None and self.kind == "pt_inception":
            # on CUDA, FID's Inception replayed as CUDA graphs (one launch a batch, not
            # ~250 that each wait for the GIL while threads decode); on this network only,
            # the one whose graph was checked against its eager passes there
            self._graphed = GraphedCalls(functools.partial(self.spec.features, network))
        tensors = [torch.from_numpy(x) if isinstance(x, np.ndarray) else x for x in batch]
        groups: dict[tuple[Any, ...], list[int]] = {}
        for index, tensor in enumerate(tensors):
            groups.setdefault((tuple(tensor.shape), str(tensor.dtype)), []).append(index)
        queued = []
        # a network of images at their own size: passes within half the memory available
        budget = (available_bytes(self.device or "cpu") if self.spec.bytes_per_pixel
                  else None)
        with full_float32(), torch.inference_mode():
            for (shape, _), same in groups.items():
                step = fitting(self.spec.bytes_per_pixel * shape[-2] * shape[-1],
                               budget and budget // 2, len(same))
                for start in range(0, len(same), step):
                    indices = same[start:start + step]
                    inputs = _on_device([tensors[i] for i in indices], self.device or "cpu")
                    values = (self._graphed(inputs) if self._graphed is not None
                              else self.spec.features(network, inputs))
                    queued.append((indices, values.float()))

        count = len(tensors)

        def read() -> np.ndarray:
            if not queued:
                return np.empty((0, self.dims), np.float32)
            # the width the checkpoint gives (a ViT-B file: 768)
            out = np.empty((count, queued[0][1].shape[1]), np.float32)
            for indices, values in queued:
                out[indices] = values.cpu().numpy()
            return out

        return read


@dataclass(frozen=True)
class FilePreparer:
    """Decodes a file into a set network's input, as an array (a decoding process returns
    it through shared memory: torch would share a tensor's memory between processes
    instead), and the decisions taken; ``raw``: the decoded integers as they are, (H, W, 3)
    (RGB; 16-bit as int32), which ``_on_device`` turns into pytorch-fid's input on the
    device (channels first there: a copy that cost the decoder 0.21 ms of a 2.6 ms 512²
    PNG here)."""

    kind: str
    resize: str
    alpha: str | None
    raw: bool = False

    def __call__(self, job: tuple[Path, str | None, FileStamp | None]
                 ) -> tuple[np.ndarray, tuple[str, ...]]:
        path, expect_sha256, hashed_stamp = job  # as ``load_image`` takes them
        image = load_image(path, alpha=self.alpha, expect_sha256=expect_sha256,
                           hashed_stamp=hashed_stamp)
        if not self.raw:
            network_in, decisions = network_input(self.kind, image.pixels, self.resize)
            return np.asarray(network_in), (*image.decisions, *decisions)
        pixels, taken = image.pixels, list(image.decisions)
        if pixels.shape[2] == 1:
            pixels = np.repeat(pixels, 3, axis=2)
            taken.append(GRAY_TO_RGB)
        if pixels.dtype == np.uint16:
            pixels = pixels.astype(np.int32)
            taken.append(SIXTEEN_BIT_SCALED)
        return np.ascontiguousarray(pixels), tuple(taken)


def _on_device(inputs: list[Any], device: str) -> Any:
    """A batch of one shape on ``device``: decoded integers (``FilePreparer.raw``, (H, W, 3))
    become pytorch-fid's input there — channels first, divided by their range (8-bit: 255,
    16-bit: 65535), bilinear to 299×299 — the others travel as they are."""
    import torch

    if device == "cpu" or inputs[0].dtype.is_floating_point:
        moved = torch.stack(inputs)
        if moved.dtype.is_floating_point:
            return moved.to(device)
    else:
        moved = stacked_on_device([tensor.numpy() for tensor in inputs], device)
    moved = moved.permute(0, 3, 1, 2).contiguous()  # the layout the resize had before
    from likeness.metrics.exact_sums import true_divide
    from likeness.nets.inception_features import FID_SIZE

    scale = 255.0 if moved.dtype == torch.uint8 else 65535.0
    unit = true_divide(moved.to(torch.float32), scale)
    if tuple(unit.shape[2:]) == (FID_SIZE, FID_SIZE):
        return unit
    return torch.nn.functional.interpolate(unit, size=(FID_SIZE, FID_SIZE), mode="bilinear",
                                           align_corners=False)
