"""Set metrics over images in memory, batch by batch (FID, KID every few thousand steps of
training, without writing images to disk).

The state is each image's features, computed exactly as the folder route computes them
(``FeatureExtractor``: the same resize, the same network, the same float32 arithmetic), so
the values equal ``likeness.compare(..., metrics="fid,kid")`` over the same pixels; under
``torch.distributed`` the features of every rank are gathered (in rank order) before
``compute``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from likeness.errors import LikenessError
from likeness.evaluation.engine import EngineOptions
from likeness.evaluation.registry import METRICS, parse_metric_names
from likeness.evaluation.set_features import FeatureExtractor, ImageSet, load_statistics
from likeness.evaluation.tensors import as_array

__all__ = ["Accumulator"]


class Accumulator:
    """FID and KID of generated images against real ones, fed batch by batch.

    Args:
        metrics: set metrics offered by ``likeness compare`` (``"fid"``, ``"kid"``).
        weights: a ``pt_inception`` checkpoint path (None: the weights manager's).
        device: where the network runs: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        resize: ``"pytorch-fid"`` or ``"clean"``, as ``--fid-resize``.
        kid_subset_size, kid_subsets, kid_seed: as ``likeness.compare``.
        reference: a statistics file (``likeness fid A --save-stats A.npz``) standing for
            the real images (FID only: KID needs per-image features).

    Example:
        >>> acc = likeness.Accumulator(metrics=["fid", "kid"])  # doctest: +SKIP
        >>> acc.update(real_batch, real=True); acc.update(fake_batch, real=False)
        >>> acc.compute()  # {'fid': ..., 'kid': ...}; acc.stds: {'kid': ...}
    """

    def __init__(self, metrics: str | Sequence[str] = ("fid",), *,
                 weights: str | os.PathLike[str] | None = None, device: str = "auto",
                 resize: str = "pytorch-fid", kid_subset_size: int | None = 1000,
                 kid_subsets: int = 100, kid_seed: int = 0,
                 reference: str | os.PathLike[str] | None = None) -> None:
        names = parse_metric_names(metrics)
        others = [m for m in names if METRICS[m].kind != "set"
                  or METRICS[m].set_network != "pt_inception"]
        if others:
            raise ValueError(f"{', '.join(others)}: an Accumulator computes set metrics "
                             "(fid, kid); per-image metrics of tensors: "
                             "likeness.compare_tensors")
        self.metrics = names
        self.settings = EngineOptions(tuple(names), fid_resize=resize,
                                      kid_subset_size=kid_subset_size,
                                      kid_subsets=kid_subsets, kid_seed=kid_seed)
        self.extractor = FeatureExtractor(weights=weights, resize=resize, device=device)
        self.reference: ImageSet | None = None
        if reference is not None:
            if "kid" in names:
                raise ValueError("KID needs the real images' features, and a statistics file "
                                 "holds only their mean and covariance: update with real "
                                 "images instead of reference=")
            self.reference = load_statistics(reference, self.extractor.settings)
        self.stds: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        """Forget every image (the reference statistics stay)."""
        self._features: dict[bool, list[np.ndarray]] = {True: [], False: []}
        self.decisions: Counter[str] = Counter()
        self.stds = {}

    def count(self, real: bool) -> int:
        """How many real (or generated) images this process has added."""
        return sum(len(f) for f in self._features[real])

    def update(self, images: Any, *, real: bool) -> None:
        """Add a batch: (N, 3, H, W) or gray (N, 1, H, W), uint8 (or uint16), or floating
        point in [0, 1]; a torch tensor on any device or a NumPy array.

        Raises:
            ValueError: another shape or dtype, non-finite values, or values outside [0, 1].
        """
        batch = as_array(images, "images")
        if batch.shape[1] == 1:
            batch = np.repeat(batch, 3, axis=1)
            self.decisions["gray replicated to RGB"] += batch.shape[0]
        if batch.dtype == np.uint16:
            self.decisions["16-bit scaled to [0, 1] by 65535"] += batch.shape[0]
        if batch.dtype.kind == "f" and batch.size:
            if not np.isfinite(batch).all() or batch.min() < 0 or batch.max() > 1:
                raise ValueError("floating-point images must lie in [0, 1] (no NaN): scale "
                                 "them, or pass uint8 images")
        elif batch.dtype.kind != "f" and batch.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"images of dtype {batch.dtype} are not supported: pass uint8 or "
                             "floating-point images in [0, 1]")
        if batch.shape[0]:
            inputs = [self._network_input(np.moveaxis(image, 0, -1)) for image in batch]
            self._features[real].append(self.extractor.features(inputs))

    def _network_input(self, pixels: np.ndarray) -> Any:
        """One image as the folder route's network input (``fid_input``)."""
        import torch

        from likeness.nets.inception_features import clean_resize, fid_input

        if pixels.dtype.kind != "f":
            return fid_input(np.ascontiguousarray(pixels), self.extractor.resize)
        if self.extractor.resize == "clean":
            unit = np.ascontiguousarray(pixels, dtype=np.float32)
            return torch.from_numpy(clean_resize(unit * np.float32(255), 255.0)).permute(2, 0, 1)
        image = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)).permute(2, 0, 1)
        return fid_input_float(image)

    def features(self, real: bool) -> np.ndarray:
        """Every image's features, gathered from all ranks under ``torch.distributed``."""
        local = (np.concatenate(self._features[real]) if self._features[real]
                 else np.empty((0, self.extractor.dims), np.float32))
        return _gathered(local)

    def compute(self) -> dict[str, float]:
        """Each metric's value (KID: the mean over subsets; its std in ``self.stds``).

        Raises:
            LikenessError: too few images for a metric (FID needs 2 per set, KID a subset).
        """
        real = self.reference or ImageSet("real images", features=self.features(True))
        fake = ImageSet("generated images", features=self.features(False))
        values: dict[str, float] = {}
        for metric in self.metrics:
            set_value = METRICS[metric].set_value
            assert set_value is not None
            try:
                value, std = set_value(real, fake, self.settings)
            except ValueError as error:
                raise LikenessError(f"{metric}: {error}") from None
            values[metric] = float(value)
            if std is not None:
                self.stds[metric] = float(std)
        return values


def fid_input_float(image: Any) -> Any:
    """A float (3, H, W) image in [0, 1] resized to 299×299 as ``fid_input`` resizes."""
    import torch.nn.functional as F

    from likeness.nets.inception_features import FID_SIZE

    if tuple(image.shape[1:]) == (FID_SIZE, FID_SIZE):
        return image
    return F.interpolate(image[None], size=(FID_SIZE, FID_SIZE), mode="bilinear",
                         align_corners=False)[0]


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
