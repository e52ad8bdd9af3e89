"""The values of decoded items: the code every engine runs (locally, or in a Ray actor).

A ``Group`` is the items that share one reference file.  ``decode_group`` decodes a
group's files (a thread locally, a CPU task on Ray); ``ItemComputer.compute`` turns
decoded groups into one ``ItemOutcome`` per item:

1. each item's pair is reconciled (``prepare_pair``: sizes, channels, bit depths, every
   decision recorded) and its pixel metrics computed;
2. for each network its metrics need, the images (and prompts) are encoded once each — a
   group's reference once for all of its items, a style image once per run — and each
   item's network values are the distances between what was kept of its images.

Any exception of a metric (Ctrl-C aside) becomes that item's error for that metric, never
the run's; it is cached only where likeness refused the item (``ItemOutcome.fail``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from likeness.errors import LikenessError
from likeness.evaluation.catalog.metric_spec import MetricSpec, tensors_shared
from likeness.evaluation.catalog.networks import NETWORKS
from likeness.evaluation.catalog.registry import METRICS, describe_failure, invalid_values
from likeness.evaluation.engines.built_networks import Networks
from likeness.evaluation.engines.network_values import NetworkStage, Pending
from likeness.evaluation.engines.on_device import Deferred, DeviceBatches, DeviceImages
from likeness.evaluation.infra.memory import available_bytes, memory_needed
from likeness.evaluation.items.plan import Item
from likeness.evaluation.items.prepare import (
    PreparedPair,
    prepare_pair,
    restoration_view,
    same_channels,
)
from likeness.evaluation.items.settings import RunSettings
from likeness.io import FileStamp, LoadedImage, content_hash, load_image, settled_stamps

__all__ = ["DecodeJob", "Decoded", "Group", "ItemComputer", "ItemOutcome", "check_memory",
           "decode_group", "network_notes", "run_job"]


@dataclass(frozen=True)
class Group:
    """The items (indices into the plan's items) that share one reference file."""

    reference: Path
    items: tuple[int, ...]


@dataclass
class Decoded:
    """A group's decoded files, or why each could not be decoded."""

    reference: LoadedImage | Exception
    tests: list[LoadedImage | Exception]

    def nbytes(self) -> int:  # the bytes its pixels take
        return sum(image.pixels.nbytes for image in (self.reference, *self.tests)
                   if isinstance(image, LoadedImage))


@dataclass
class ItemOutcome:
    """What computing one item gave.

    Attributes:
        values: metric → value.
        errors: metric → why it has no value (a property of the item: cached).
        uncached: the metrics of ``errors`` that are not the item's (too little memory
            now, a fault, a bug: ``fail``): not cached, so a later run computes them.
        failure: why the item as a whole failed (decoding, reconciling): not cached.
        notes: the decisions taken; ``data_range`` and ``channels``: as compared.
    """

    values: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    uncached: set[str] = field(default_factory=set)
    failure: str | None = None
    notes: tuple[str, ...] = ()
    data_range: float | None = None
    channels: int | None = None

    def fail(self, metric: str, error: BaseException) -> None:
        """``metric`` failed with ``error``: cached where likeness refused the item (a
        ``LikenessError``); a Ctrl-C behind it is raised (``describe_failure``)."""
        self.errors[metric] = describe_failure(error)
        if not isinstance(error, LikenessError):
            self.uncached.add(metric)


def decode_group(items: Sequence[Item], alpha: str | None,
                 digests: Mapping[Path, str] | None = None) -> Decoded:
    """Decode the shared reference of ``items`` and each item's test image; a file that
    cannot be decoded is returned as its error, and so is a file whose bytes are no longer
    those hashed (``digests``): its values would be cached under another file's hash."""
    return DecodeJob.of(items, alpha, digests or {})()


@dataclass(frozen=True)
class DecodeJob:
    """What decoding one group reads — its files, how alpha is handled, their hashes and
    settled stamps (``Digests``) — picklable, for a decoding process; calling it decodes
    them (``decode_group``)."""

    reference: Path
    tests: tuple[Path, ...]
    alpha: str | None
    digests: tuple[tuple[Path, str], ...]
    stamps: tuple[tuple[Path, FileStamp], ...] = ()

    @classmethod
    def of(cls, items: Sequence[Item], alpha: str | None,
           digests: Mapping[Path, str]) -> DecodeJob:
        files = (items[0].reference, *(item.test for item in items))
        settled = settled_stamps(digests)
        return cls(files[0], files[1:], alpha,
                   tuple((path, digests[path]) for path in files if path in digests),
                   tuple((path, settled[path]) for path in files if path in settled))

    def __call__(self) -> Decoded:
        digests, stamps = dict(self.digests), dict(self.stamps)

        def load(path: Path) -> LoadedImage | Exception:
            try:
                return load_image(path, alpha=self.alpha,
                                  expect_sha256=content_hash(digests.get(path)),
                                  hashed_stamp=stamps.get(path))
            except (LikenessError, OSError) as error:
                return error

        return Decoded(load(self.reference), [load(path) for path in self.tests])


def run_job(job: DecodeJob) -> Decoded:
    """``job()``: a module-level function, as a process pool needs."""
    return job()


def network_notes(channels: int | None, feature_metrics: Sequence[str]) -> tuple[str, ...]:
    """The decision a gray item's networks take: its channel replicated to RGB.  It follows
    from the item's channels and the run's metrics, so it is derived, never cached."""
    if channels != 1 or not feature_metrics:
        return ()
    labels = dict.fromkeys(_network_label(METRICS[m].network or "") for m in feature_metrics)
    return (f"gray replicated to RGB for {', '.join(labels)}",)


def _network_label(network: str) -> str:  # LPIPS, DISTS, VGG19, CLIP, DINO
    return NETWORKS[network].label.split()[0]


class ItemComputer:
    """Computes items' values with one set of networks (see the module documentation).

    Args:
        metrics: the item metrics to compute (set metrics are ignored).
        settings: the run's ``RunSettings``.
        batch_size: images per network pass (a network's ``max_batch`` may cap it).
        raising: raise a pair's or a pixel metric's failure as it is (its own exception
            type: ``compare_files``) instead of recording it in the outcome.
        networks: where networks are built and kept.
        roles: what the reference and the test are called in notes (``plan.roles``).
        pixel_device: where the pixel metrics with an ``on_device`` form are computed, in
            batches (``DeviceBatches``); None: on CUDA when the networks' device is CUDA,
            else pair by pair on the CPU.
    """

    def __init__(self, metrics: Sequence[str], settings: RunSettings, networks: Networks,
                 roles: tuple[str, str] = ("reference", "test"),
                 digests: Mapping[Path, str] | None = None, batch_size: int = 16,
                 raising: bool = False, pixel_device: str | None = None) -> None:
        self.settings, self.networks, self.roles = settings, networks, roles
        self.raising = raising
        item_metrics = [m for m in metrics if METRICS[m].kind != "set"]
        self.pixel_metrics = [m for m in item_metrics if METRICS[m].kind == "pixel"]
        self.feature_metrics = [m for m in item_metrics if METRICS[m].kind == "network"]
        if pixel_device is None and networks.device.startswith("cuda"):
            pixel_device = networks.device
        # on an accelerator a computation's images are copied there once, for the pixel
        # metrics and the networks both
        self.images = DeviceImages(networks.device) if networks.device != "cpu" else None
        self.device_batches = (DeviceBatches(pixel_device, settings, images=(
            self.images if pixel_device == networks.device else None))
            if pixel_device is not None else None)
        # the style images are checked against the run's hashes
        self.network_stage = NetworkStage(self.feature_metrics, settings, networks,
                                          batch_size, dict(digests or {}), self.images)

    @property
    def batches_groups(self) -> bool:
        """Whether several groups may be computed together: not when a network encodes one
        image at a time (VGG19), whose metrics keep large per-reference state (CFSD's
        content side can take hundreds of MB): then each group is computed alone."""
        return not any(NETWORKS[METRICS[m].network_in(self.settings) or ""].max_batch
                       for m in self.feature_metrics)

    def compute(self, work: Sequence[tuple[Sequence[Item], Decoded]]) -> list[ItemOutcome]:
        """One outcome per item of the given decoded groups, in order."""
        return self.launch(work)()

    def launch(self, work: Sequence[tuple[Sequence[Item], Decoded]]
               ) -> Callable[[], list[ItemOutcome]]:
        """``compute``, its device work queued: the function returned reads the values
        back and gives the outcomes, so that the caller can make the next batch ready while
        the device works (on the CPU everything is computed here)."""
        outcomes: list[ItemOutcome] = []
        pending: list[Pending] = []
        for number, (items, decoded) in enumerate(work):
            for item, test in zip(items, decoded.tests, strict=True):
                outcome, prepared = self._pixels(item, decoded.reference, test)
                outcomes.append(outcome)
                if prepared is not None and self.feature_metrics:
                    pending.append(Pending(outcome, item, prepared, number))
        return self._launch(outcomes, pending)

    def compute_prepared(self, pairs: Sequence[PreparedPair]) -> list[ItemOutcome]:
        """One outcome per pair already reconciled (arrays in memory: each pair its own
        reference); item metrics of the reference/test kind only."""
        outcomes: list[ItemOutcome] = []
        pending: list[Pending] = []
        for number, prepared in enumerate(pairs):
            outcome = ItemOutcome()
            self._pixel_values(outcome, prepared, None)
            outcomes.append(outcome)
            if self.feature_metrics:
                pending.append(Pending(outcome, None, prepared, number))
        return self._launch(outcomes, pending)()

    @property
    def batches_pixels(self) -> bool:
        """Whether pixel metrics are computed in batches on a device (then several groups
        are worth computing together)."""
        return self.device_batches is not None and any(
            METRICS[m].on_device is not None for m in self.pixel_metrics)

    def _launch(self, outcomes: list[ItemOutcome], pending: list[Pending]
                ) -> Callable[[], list[ItemOutcome]]:
        """Queue the deferred pixel metrics and the network values: every image copied to
        the device at once, the pixel metrics queued there first; the function returned
        reads them all back (one wait, not one per stage) and gives the outcomes."""
        batches = self.device_batches
        if self.images is not None:
            shared = (batches.arrays() if batches is not None
                      and batches.images is self.images else [])
            self.images.put([*shared, *(array for entry in pending for array in
                                        (entry.prepared.reference, entry.prepared.test))])
        try:
            pixels = batches.launch(self._on_cpu) if batches is not None else None
            networks = self.network_stage.compute(pending) if pending else None
        finally:
            if self.images is not None:  # what is queued keeps what it reads
                self.images.clear()

        def finish() -> list[ItemOutcome]:
            for collect in (networks, pixels):
                if collect is not None:
                    collect()
            for outcome in outcomes:
                outcome.errors.update(invalid_values(outcome.values))
            return outcomes

        return finish

    def _pixels(self, item: Item, reference: LoadedImage | Exception,
                test: LoadedImage | Exception) -> tuple[ItemOutcome, PreparedPair | None]:
        outcome, prepared, images = self.prepare(item, reference, test)
        if prepared is not None:
            self._pixel_values(outcome, prepared, images)
        return outcome, prepared

    def prepare(self, item: Item, reference: LoadedImage | Exception,
                test: LoadedImage | Exception
                ) -> tuple[ItemOutcome, PreparedPair | None,
                           tuple[LoadedImage, LoadedImage] | None]:
        """An item's images reconciled (gray, resize; style runs: channels), or its failure."""
        outcome = ItemOutcome()
        if isinstance(reference, Exception) or isinstance(test, Exception):
            outcome.failure = str(reference if isinstance(reference, Exception) else test)
            return outcome, None, None
        if self.roles != ("reference", "test"):
            reference, test = same_channels(reference, test)
        settings = self.settings
        try:
            prepared = prepare_pair(reference, test, gray=settings.gray, resize=settings.resize,
                                    gray_conversion=settings.gray_conversion)
        except Exception as error:  # noqa: BLE001 - any failure is this item's error
            if self.raising:
                raise
            outcome.failure = describe_failure(error)
            return outcome, None, (reference, test)
        return outcome, prepared, (reference, test)

    def view(self, metric: str, prepared: PreparedPair,
             images: tuple[LoadedImage, LoadedImage] | None,
             views: dict[str, PreparedPair | Exception]) -> PreparedPair:
        """The pixels pixel metric ``metric`` sees of a pair: its Y channel and cropped
        border (restoration conventions), or its luma; ``views`` keeps each view once.

        Raises:
            LikenessError: the view cannot be made (a border larger than the image).
        """
        settings, spec = self.settings, METRICS[metric]
        if spec.restoration and (settings.y_channel or settings.crop_border):
            if "restored" not in views:
                try:
                    views["restored"] = restoration_view(
                        prepared, y_channel=settings.y_channel, crop=settings.crop_border,
                        rounded_y=settings.ssim_convention == "matlab")
                except LikenessError as error:
                    views["restored"] = error
            restored = views["restored"]
            if isinstance(restored, Exception):
                raise restored
            return restored
        if spec.luma and not settings.gray:
            if images is None:
                raise LikenessError(f"{metric} needs the decoded files")
            if "luma" not in views:
                views["luma"] = prepare_pair(*images, gray=True, resize=settings.resize)
            luma = views["luma"]
            assert not isinstance(luma, Exception)  # prepare_pair raises, never stores one
            return luma
        return prepared

    def _pixel_values(self, outcome: ItemOutcome, prepared: PreparedPair,
                      images: tuple[LoadedImage, LoadedImage] | None) -> None:
        """The pixel metrics of one pair (``images``: the decoded files, for metrics on
        luma), its notes, data range and channels."""
        outcome.notes = self._role_notes(prepared.decisions)
        outcome.data_range = prepared.data_range
        outcome.channels = int(prepared.reference.shape[2])
        views: dict[str, PreparedPair | Exception] = {}
        with tensors_shared():
            for metric in self.pixel_metrics:
                self._pixel_value(metric, outcome, prepared, images, views)
        outcome.notes = (*outcome.notes, *network_notes(outcome.channels, self.feature_metrics))

    def _pixel_value(self, metric: str, outcome: ItemOutcome, prepared: PreparedPair,
                     images: tuple[LoadedImage, LoadedImage] | None,
                     views: dict[str, PreparedPair | Exception]) -> None:
        """One pixel metric of a pair, its failure the item's error for it."""
        spec = METRICS[metric]
        try:
            pair = self.view(metric, prepared, images, views)
            if pair is views.get("restored"):
                outcome.notes = self._role_notes(pair.decisions)
            assert spec.pixels is not None
            spec.check_domain(pair)
            if (self.device_batches is not None
                    and self.device_batches.defer(outcome, metric, pair)):
                return
            if why := check_memory(spec, pair, self.settings):
                if self.raising:
                    raise LikenessError(why)
                outcome.errors[metric] = why
                outcome.uncached.add(metric)
                return
            outcome.values[metric] = spec.pixels(pair, self.settings)
        except Exception as error:  # noqa: BLE001 - any failure is this item's error
            if self.raising:
                raise
            outcome.fail(metric, error)

    def _on_cpu(self, deferred: Deferred) -> None:
        """A deferred pixel metric computed on the CPU after all (its batch could not be),
        its failure the item's error for it."""
        spec = METRICS[deferred.metric]
        assert spec.pixels is not None
        try:
            deferred.outcome.values[deferred.metric] = spec.pixels(deferred.pair,
                                                                   self.settings)
        except Exception as error:  # noqa: BLE001 - any failure is this item's error
            if self.raising:
                raise
            deferred.outcome.fail(deferred.metric, error)

    def _role_notes(self, decisions: tuple[str, ...]) -> tuple[str, ...]:
        reference, test = self.roles
        if (reference, test) == ("reference", "test"):
            return decisions
        return tuple(n.replace("test", test, 1).replace("reference", reference, 1)
                     for n in decisions)


_WORTH_CHECKING = 256 * 2**20  # no smaller pair matters: the memory is not read for it


def check_memory(spec: MetricSpec, pair: PreparedPair, settings: RunSettings) -> str | None:
    """Why ``spec`` would take more memory for ``pair`` than is available now (see
    ``likeness.evaluation.infra.memory``), refused before the kernel kills the process
    instead; None where it fits."""
    height, width = pair.reference.shape[:2]
    need = spec.memory_per_pixel(settings) * height * width
    if need < _WORTH_CHECKING:
        return None
    return memory_needed(spec.plain_label, need, f"a pair of {width}x{height} images",
                         available_bytes())
