"""Set metrics over images in memory, batch by batch (FID, KID, the Inception Score,
precision/recall, DINOv2's FD … every few thousand steps of training, without writing
images to disk).

The state is each image's features for each network the metrics need, computed exactly
as the folder route computes them (``FeatureExtractor``: the same resize, the same
network, the same float32 arithmetic), so the values equal ``likeness.compare(...,
metrics=...)`` over the same pixels; under ``torch.distributed`` the features of every
rank are gathered (in rank order) before ``compute``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from likeness.arguments import check_paths, described
from likeness.errors import InvalidInputError, InvalidInputTypeError, LikenessError
from likeness.evaluation.catalog.networks import NETWORKS
from likeness.evaluation.catalog.registry import METRICS, parse_metric_names
from likeness.evaluation.engines.set_runs import set_networks
from likeness.evaluation.items.settings import RunSettings
from likeness.evaluation.sets.features import (
    FeatureExtractor,
    ImageSet,
    load_statistics,
)
from likeness.evaluation.sets.statistics_file import read_statistics_file
from likeness.io import narrow_values_note
from likeness.metrics.caller_modes import as_defined
from likeness.runs.single import checked_weights
from likeness.runs.tensors import as_array

__all__ = ["Accumulator"]


class Accumulator:
    """Set metrics of generated images against real ones, fed batch by batch.

    Args:
        metrics: set metrics offered by ``likeness compare`` (``"fid"``, ``"kid"``,
            ``"inception_score"``, ``"precision"``, ``"fd_dinov2"``, …).
        weights: a ``pt_inception`` checkpoint path, or {checkpoint name: path} (e.g.
            ``{"pt_inception": ..., "dinov2_vitl14": ...}``); None: the weights manager's.
        device: where the network runs: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        resize: ``"pytorch-fid"`` or ``"clean"``, as ``--fid-resize``.
        kid_subset_size, kid_subsets, kid_seed: as ``likeness.compare``.
        reference: a statistics file (``likeness fid A --save-stats A.npz``) standing for
            the real images (FID only: KID needs per-image features).

    Example:
        Needs the Inception checkpoint, so it is not run as a doctest:

        >>> acc = likeness.Accumulator(metrics=["fid", "kid"])  # doctest: +SKIP
        >>> acc.update(real_batch, real=True)  # doctest: +SKIP
        >>> acc.update(fake_batch, real=False)  # doctest: +SKIP
        >>> acc.compute()  # {'fid': ..., 'kid': ...}; acc.stds: {'kid': ...}  # doctest: +SKIP
    """

    def __init__(self, metrics: str | Sequence[str] = ("fid",), *,
                 weights: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]]
                 | None = None, device: str = "auto",
                 resize: str = "pytorch-fid", kid_subset_size: int | None = 1000,
                 kid_subsets: int = 100, kid_seed: int = 0,
                 reference: str | os.PathLike[str] | None = None) -> None:
        check_paths(reference=reference, optional=("reference",))
        if isinstance(weights, Mapping):  # a misspelt name would run the default checkpoint
            weights = checked_weights(weights)
        names = parse_metric_names(metrics)
        others = [m for m in names if METRICS[m].kind != "set" or METRICS[m].needs]
        if others:
            raise InvalidInputError(
                f"{', '.join(others)}: an Accumulator computes the set metrics "
                "of likeness compare (fid, kid, inception_score, precision, "
                "fd_dinov2, ...); per-image metrics of tensors: "
                "likeness.compare_tensors")
        self.metrics = names
        self.settings = RunSettings(tuple(names), fid_resize=resize,
                                    kid_subset_size=kid_subset_size,
                                    kid_subsets=kid_subsets, kid_seed=kid_seed)
        if reference is not None:  # checked before a checkpoint is resolved (downloaded)
            per_image = [m for m in names if m != "fid"]
            if per_image:
                verb = "needs" if len(per_image) == 1 else "need"
                raise InvalidInputError(
                    f"{', '.join(per_image)} {verb} the real images' features, "
                    "and a statistics file holds only their mean and "
                    "covariance: update with real images instead of reference=")
            read_statistics_file(reference, definite=False)
        checkpoints = [NETWORKS[network].checkpoint for network in set_networks(names)]
        if weights is not None and not isinstance(weights, Mapping) and (
                "pt_inception" not in checkpoints):  # it would be ignored without a word
            raise InvalidInputError(
                f"weights as one path is a pt_inception checkpoint, which {', '.join(names)} "
                f"do{'es' if len(names) == 1 else ''} not use: pass "
                f"weights={{{checkpoints[0]!r}: path}}")
        self.extractors = {network: FeatureExtractor(
            weights=_weights_for(weights, NETWORKS[network].checkpoint), resize=resize,
            device=device, network=network) for network in set_networks(names)}
        self.extractor = next(iter(self.extractors.values()))
        self.reference: ImageSet | None = None
        if reference is not None:
            self.reference = load_statistics(reference, self.extractor.settings,
                                             self.extractor.dims)
        self.stds: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        """Forget every image (the reference statistics stay)."""
        self._features: dict[str, dict[bool, list[np.ndarray]]] = {
            network: {True: [], False: []} for network in self.extractors}
        self.decisions: Counter[str] = Counter()
        self.stds = {}

    def count(self, real: bool) -> int:
        """How many real (or generated) images this process has added."""
        _check_real(real)
        return sum(len(f) for f in next(iter(self._features.values()))[real])

    @as_defined
    def update(self, images: Any, *, real: bool) -> None:
        """Add a batch: (N, 3, H, W) or gray (N, 1, H, W), uint8 (or uint16), or floating
        point in [0, 1]; a torch tensor on any device or a NumPy array.

        Raises:
            ValueError: another shape or dtype, non-finite values, or values outside [0, 1].
        """
        _check_real(real)
        batch = as_array(images, "images")
        if batch.dtype.kind == "f" and batch.size:
            if not np.isfinite(batch).all() or batch.min() < 0 or batch.max() > 1:
                raise InvalidInputError(
                    "floating-point images must lie in [0, 1] (no NaN): scale "
                    "them, or pass uint8 images")
        elif batch.dtype.kind != "f" and batch.dtype not in (np.uint8, np.uint16):
            raise InvalidInputError(
                f"images of dtype {batch.dtype} are not supported: pass uint8 or "
                "floating-point images in [0, 1]")
        if not batch.shape[0]:
            return
        if not batch.shape[2] or not batch.shape[3]:
            raise InvalidInputError(f"images must have at least one pixel, got shape "
                                    f"{tuple(batch.shape)}")
        taken: list[set[str]] = [{note} if (note := narrow_values_note(image)) else set()
                                 for image in batch]
        for network, extractor in self.extractors.items():
            inputs = []
            for image, notes in zip(batch, taken, strict=True):
                # the folder route's preparation (network_input), on the image in memory
                network_in, decisions = extractor.input_of(np.moveaxis(image, 0, -1))
                inputs.append(network_in)
                notes.update(decisions)
            self._features[network][real].append(extractor.features(inputs))
        for notes in taken:
            self.decisions.update(notes)

    def features(self, real: bool, network: str | None = None) -> np.ndarray:
        """Every image's features from ``network`` (default: the first the metrics need),
        gathered from all ranks under ``torch.distributed``."""
        network = network or next(iter(self.extractors))
        parts = self._features[network][real]
        local = (np.concatenate(parts) if parts
                 else np.empty((0, self.extractors[network].dims), np.float32))
        return _gathered(local)

    @as_defined
    def compute(self) -> dict[str, float]:
        """Each metric's value (KID: the mean over subsets; its std in ``self.stds``).

        Raises:
            LikenessError: too few images for a metric (FID needs 2 per set, KID a subset).
        """
        reals = {network: self.reference or ImageSet("real images",
                                                     features=self.features(True, network))
                 for network in self.extractors}
        fakes = {network: ImageSet("generated images", features=self.features(False, network))
                 for network in self.extractors}
        values: dict[str, float] = {}
        for metric in self.metrics:
            spec = METRICS[metric]
            assert spec.set_value is not None
            assert spec.set_network is not None
            try:
                value, std = spec.set_value(reals[spec.set_network], fakes[spec.set_network],
                                            self.settings)
            except ValueError as error:
                raise LikenessError(f"{metric}: {error}") from None
            values[metric] = float(value)
            if std is not None:
                self.stds[metric] = float(std)
        return values


def _weights_for(weights: str | os.PathLike[str] | Mapping[str, Any] | None,
                 checkpoint: str) -> Any:
    """The user's file for ``checkpoint``: a single path is pt_inception's."""
    if isinstance(weights, Mapping):
        return weights.get(checkpoint)
    return weights if checkpoint == "pt_inception" else None


def _gathered(local: np.ndarray) -> np.ndarray:
    """``local`` from every rank, in rank order (itself when not distributed)."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch without distributed support
        return local
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local
    import torch

    device = "cuda" if dist.get_backend() == "nccl" else "cpu"  # NCCL gathers on GPUs
    count = torch.tensor([local.shape[0]], dtype=torch.int64, device=device)
    counts = [torch.zeros_like(count) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, count)
    largest = int(max(c.item() for c in counts))
    padded = torch.zeros((largest, local.shape[1]), dtype=torch.float32, device=device)
    padded[:local.shape[0]] = torch.from_numpy(local).to(device)
    parts = [torch.zeros_like(padded) for _ in counts]
    dist.all_gather(parts, padded)
    return np.concatenate([p[:int(c.item())].cpu().numpy()
                           for p, c in zip(parts, counts, strict=True)])


def _check_real(real: object) -> None:
    if not isinstance(real, bool):
        raise InvalidInputTypeError(f"real must be True (reference images) or False (the "
                                    f"model's), got {described(real)}")
