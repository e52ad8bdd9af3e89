"""The networks of one run, each built once on first use; a network that failed to build
(missing or corrupt weights, any error of its builder) is remembered, not retried for
every image."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from likeness.errors import LikenessError, describe_failure
from likeness.evaluation.catalog.networks import NETWORKS
from likeness.evaluation.infra.device import full_float32

__all__ = ["RUN_WEIGHTS_ARGUMENT", "Networks"]


# how a run (compare, style, compare_files, compare_tensors) is given checkpoint files
RUN_WEIGHTS_ARGUMENT = "weights={'NAME': PATH}"


class Networks:
    """The networks of one run on one device, each built once; a network that failed to
    build (missing weights, say) is not retried for every image.

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``: resolved (torch imported to look for
            CUDA) when a network is built or ``device`` is first read — a run whose values
            all come from the cache never loads torch.
        weights: {checkpoint name: path} supplied by the user.
    """

    def __init__(self, device: str = "cpu", weights: Mapping[str, str] | None = None) -> None:
        self.requested_device = device
        self._device: str | None = None  # resolved when first read: nothing computed before
        self.weights = dict(weights or {})
        self.failed: dict[str, str] = {}
        self._built: dict[str, Any] = {}
        self._hashes: dict[str, str] = {}

    @property
    def device(self) -> str:
        """The device the networks run on (resolved now if it was not yet)."""
        if self._device is None:
            from likeness.evaluation.infra.device import resolve_device

            self._device = resolve_device(self.requested_device)
        return self._device

    @property
    def resolved_device(self) -> str | None:
        """``device`` if anything has asked for it — a computation of the run, whatever the
        device — else None (nothing was computed)."""
        return self._device

    def get(self, name: str) -> Any:
        """The built network ``name`` (a key of ``NETWORKS``).

        Raises:
            LikenessError: its weights are missing or unusable (remembered).
        """
        if name in self.failed:
            raise LikenessError(self.failed[name])
        if name not in self._built:
            spec = NETWORKS[name]
            from likeness.nets.weights import passing_weights_as

            try:
                weights: Any = self.weights.get(spec.checkpoint)
                if spec.also:
                    weights = {c: self.weights.get(c) for c in spec.checkpoints}
                with passing_weights_as(RUN_WEIGHTS_ARGUMENT):
                    self._built[name] = spec.build(weights, self.device)
            except Exception as error:  # noqa: BLE001 - any failure to build: remembered
                self.failed[name] = describe_failure(error)
                raise LikenessError(self.failed[name]) from error
        return self._built[name]

    def weights_hash(self, name: str) -> str:
        """The SHA-256 of the checkpoint ``name`` would load (part of the cache keys; of
        each, joined by ``+``, for a network of several), or ``"unavailable"`` when one
        cannot be resolved (then ``failed`` says why)."""
        if name not in self._hashes:
            from likeness.nets.weights import passing_weights_as, resolve

            try:
                with passing_weights_as(RUN_WEIGHTS_ARGUMENT):
                    self._hashes[name] = "+".join(
                        resolve(checkpoint, self.weights.get(checkpoint)).sha256
                        for checkpoint in NETWORKS[name].checkpoints)
            except LikenessError as error:
                self.failed[name] = str(error)
                self._hashes[name] = "unavailable"
        return self._hashes[name]

    def encode(self, name: str, unit: Any) -> list[Any]:
        """Layer outputs of ``unit`` ((N, 3, H, W) in [0, 1]) through network ``name``."""
        import torch

        encode = NETWORKS[name].encode
        if encode is None:
            raise LikenessError(f"{name} gives one feature vector per image (a set network), "
                                "not layer outputs")
        network = self.get(name)
        with full_float32(), torch.inference_mode():
            return encode(network, unit.to(self.device))

    def encode_texts(self, name: str, prompts: list[str], too_long: str,
                     cleaning: str) -> Any:
        """(N, D) unit embeddings of ``prompts`` through text network ``name``."""
        import torch

        encode = NETWORKS[name].encode_texts
        if encode is None:
            raise LikenessError(f"{name} encodes images, not prompts")
        network = self.get(name)
        with full_float32(), torch.inference_mode():
            return encode(network, prompts, too_long, cleaning)
