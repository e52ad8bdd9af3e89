"""A run's two kinds of options: what changes a value (``RunSettings``: the metrics and
every setting a metric's ``key_settings`` may name — the cache keys are made of them) and
how the run executes (``ExecutionOptions``: threads, batch sizes, strictness — never
part of a value or a key)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from likeness.arguments import described
from likeness.errors import InvalidInputError, InvalidInputTypeError
from likeness.evaluation.infra.pipeline import processes_share_images
from likeness.io import ALPHA_CHOICES
from likeness.metrics.seeds import check_seed

__all__ = ["DECODING_CHOICES", "ExecutionOptions", "RunSettings", "check_field_kinds"]

DECODING_CHOICES = ("auto", "threads", "processes")
# the settings a run takes from a closed list the catalog does not name (its conventions —
# ssim_convention, fid_resize, art_fid_mode, … — are checked by ``runs.single.
# check_conventions``)
_CHOICES: dict[str, tuple[str | None, ...]] = {
    "resize": (None, "reference"), "alpha": (None, *ALPHA_CHOICES),
    "decoding": DECODING_CHOICES}
_KIND_WORDS = {"bool": "True or False", "int": "a whole number", "str": "a string"}


def check_field_kinds(options: object) -> None:
    """Refuse a dataclass field whose value is not of its annotated kind (``bool``, ``int``,
    ``str``, each maybe ``| None``): ``gray="no"`` would be true, ``workers=1.5`` would
    fail deep inside the run.  numpy's booleans and integers are taken as Python's.

    Raises:
        InvalidInputTypeError: naming the argument, what it must be and what it got.
    """
    for field in fields(options):  # type: ignore[arg-type]
        annotation = str(field.type)
        kind = annotation.removesuffix(" | None")
        value = getattr(options, field.name)
        if kind not in _KIND_WORDS or (value is None and kind != annotation):
            continue
        if kind == "bool" and isinstance(value, np.bool_):
            value = bool(value)
        elif kind == "int" and isinstance(value, np.integer):
            value = int(value)
        wanted = {"bool": bool, "int": int, "str": str}[kind]
        if not isinstance(value, wanted) or (kind == "int" and isinstance(value, bool)):
            raise InvalidInputTypeError(
                f"{field.name} must be {_KIND_WORDS[kind]}"
                f"{' or None' if kind != annotation else ''}, got {described(value)}")
        object.__setattr__(options, field.name, value)  # numpy's scalar as Python's
        choices = _CHOICES.get(field.name)
        if choices is not None and value not in choices:
            raise InvalidInputError(f"{field.name} must be one of "
                                    f"{', '.join(map(repr, choices))}, got {value!r}")


@dataclass(frozen=True)
class RunSettings:
    """Everything that changes a value, and so the cache keys.

    Attributes:
        metrics: the run's metrics (canonical names).
        gray, resize, alpha: how an item's two images are reconciled.
        fid_resize: how images reach the FID Inception's 299×299.
        kid_subset_size, kid_subsets, kid_seed: KID's subsets.
        art_fid_mode: ``"plain"`` or ``"infinity"`` (FID∞).
        cfsd_max_pixels: the largest image CFSD's similarity matrix is built for.
        y_channel, crop_border, ssim_convention: the restoration conventions.
        convention: whose arithmetic the classical metrics follow: ``"piq"`` or
            ``"matlab"`` (their authors' code, where it departs from piq's).
        ms_ssim_convention: whose MS-SSIM: ``"pytorch-msssim"``, ``"piq"``,
            ``"torchmetrics"``, ``"matlab"`` (Wang's ``msssim.m``) or ``"matlab-wtd-sum"``
            (its method ``'wtd_sum'``).
        clip_t_convention: whose CLIP-T: ``"hessel"`` (CLIP-S), ``"torchmetrics"``
            (CLIPScore) or ``"cosine"`` (``likeness.metrics.clip_scores``).
    """

    metrics: tuple[str, ...]
    gray: bool = False
    resize: str | None = None
    alpha: str | None = None
    fid_resize: str = "pytorch-fid"
    kid_subset_size: int | None = 1000
    kid_subsets: int = 100
    kid_seed: int = 0
    art_fid_mode: str = "plain"
    cfsd_max_pixels: int = 1024 * 1024
    y_channel: bool = False  # restoration conventions (MetricSpec.restoration)
    crop_border: int = 0
    ssim_convention: str = "skimage"
    convention: str = "piq"
    ms_ssim_convention: str = "pytorch-msssim"
    clip_t_convention: str = "hessel"

    @property
    def gray_conversion(self) -> str:
        """How ``gray`` converts colour: as Pillow's ``convert("L")``, or as MATLAB's
        ``rgb2gray`` in the ``matlab`` convention (the authors' code is given gray images
        made by it)."""
        return "matlab" if self.convention == "matlab" else "pillow"

    def __post_init__(self) -> None:  # before anything is computed
        check_field_kinds(self)
        check_seed(self.kid_seed, "kid_seed")
        for name in ("kid_subsets", "kid_subset_size", "cfsd_max_pixels"):
            if (value := getattr(self, name)) is not None and value < 1:
                raise InvalidInputError(f"{name} must be at least 1, got {value}")

    def key(self, names: Sequence[str]) -> str:
        """The named settings as a cache-key fragment (``gray=matlab`` for MATLAB's gray
        conversion, so its values are never taken for Pillow's)."""
        return "/".join(f"{name}={self._key_value(name)}" for name in names)

    def _key_value(self, name: str) -> object:
        if name == "gray" and self.gray and self.gray_conversion != "pillow":
            return self.gray_conversion
        return getattr(self, name)


@dataclass(frozen=True)
class ExecutionOptions:
    """How a run executes: never part of a value or a cache key.

    Attributes:
        workers: decoding (and hashing) threads, or decoding processes (``decoders``,
            ``hashers``: a CUDA run decoding as ``auto`` says takes more).
        batch_size: images per network pass (an item's group is never split), and rows
            per cache commit.
        strict: stop at the first failure instead of recording it.
        decoding: ``"threads"``, ``"processes"`` or ``"auto"``: on a CUDA run (the CPU
            only decodes there, and decoding bounds it) one process per core but one,
            their images handed over through shared memory — or, where ``/dev/shm`` is
            missing or for fewer than two jobs a process, half the cores' threads (at
            least ``workers``) — else ``workers`` threads.  Threads decode with the GIL let
            go (Pillow's decoders, ``likeness.io.plain_png``'s), but each takes it between
            its C calls, and so does every kernel launch of the run's own thread.  On lent
            H200 machines (16 cores), decoding 512² PNGs alone: 15 threads 1,306 images/s,
            15 processes 1,889; ``compare`` ssim,psnr,lpips: 15 processes through shared
            memory 423 pairs/s, 8 threads 378, 15 threads 364 (another machine: 8 threads
            440, 15 threads 358).
    """

    workers: int = 4
    batch_size: int = 16
    strict: bool = False
    decoding: str = "auto"

    def __post_init__(self) -> None:
        check_field_kinds(self)
        for name in ("workers", "batch_size"):
            if (value := getattr(self, name)) < 1:
                raise InvalidInputError(f"{name} must be at least 1, got {value}")

    def hashers(self, device: str, cores: int) -> int:
        """Threads that hash a run's files for the cache before it decodes them: for a run
        that may take CUDA (``device`` ``"cuda"``, or ``"auto"`` — not resolved for this,
        so that a run whose values are all cached never loads torch) decoding as ``auto``
        says, one per core but one, as many as decode on CUDA (the device waits for them,
        and nothing else runs then; on the CPU, hashing too runs before decoding); else
        ``workers``."""
        if self.decoding == "auto" and device != "cpu" and cores > 2:
            return max(self.workers, cores - 1)
        return self.workers

    def decoders(self, device: str, cores: int, jobs: int) -> tuple[int, bool]:
        """(how many decoders, whether they are processes) for ``jobs`` decoding jobs of a
        run on ``device`` on a machine of ``cores`` usable cores (processes only for at
        least two jobs a process: starting them costs more than a few jobs gain)."""
        if self.decoding == "processes":
            return self.workers, jobs >= 2 * self.workers
        if self.decoding == "auto" and device.startswith("cuda"):
            if processes_share_images() and jobs >= 2 * (cores - 1) and cores > 2:
                return cores - 1, True
            return max(self.workers, cores // 2), False
        return self.workers, False
