"""Per-image features of image sets (FID, KID, ArtFID), cached by content hash.

A set is a folder, searched recursively, or a statistics file (``.npz`` with ``mu`` and
``sigma``, pytorch-fid's format).  Each file is hashed; features already in the cache under
that hash (and the network, weights hash, resize convention and decoding options) are
reused; the rest are decoded in a thread pool (on CUDA, one thread per core), resized as the
convention says (pytorch-fid's bilinear resize on CUDA: on the device), run through the
network in batches, and stored per batch, so a folder that grows by ten images costs ten
images and a killed run keeps what it computed.

Decisions taken on the user's behalf are counted and recorded: gray images replicated to
RGB, 16-bit images scaled by 65535, transparent images composited as ``alpha=`` says.
A file that cannot be decoded is listed as an error and left out of the set.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from likeness.errors import LikenessError
from likeness.evaluation.infra.cache import Cache
from likeness.evaluation.infra.cached_values import decoded
from likeness.evaluation.infra.device import resolve_device
from likeness.evaluation.infra.memory import decoding_budget
from likeness.evaluation.infra.pipeline import ordered_map, usable_cores
from likeness.evaluation.infra.write_behind import write_behind
from likeness.evaluation.items.image_set import ImageSet
from likeness.evaluation.items.settings import ExecutionOptions
from likeness.evaluation.sets.extractor import FeatureExtractor
from likeness.evaluation.sets.statistics_file import read_statistics_file
from likeness.io import (
    content_hash,
    describe_skipped,
    replacing,
    scan_folder,
    unreadable,
)
from likeness.io.plain_png import load_kernel
from likeness.metrics.fid import warn_if_singular

__all__ = [
    "SAME_CONTENT_TWICE",
    "SET_BATCH_SIZE",
    "FeatureExtractor",
    "ImageSet",
    "feature_batches",
    "features_of_files",
    "load_set",
    "load_statistics",
    "save_statistics",
    "set_features",
]

ProgressCallback = Callable[[int, int], None]
# a file whose bytes another file of the set has: kept, as pytorch-fid keeps every file
SAME_CONTENT_TWICE = ("the same content as another file of the set, counted each time (as "
                      "pytorch-fid counts files)")
_STATS_SUFFIXES = (".npz",)
SET_BATCH_SIZE = 32  # images per network pass for set features, on every engine


def set_features(folder: str | os.PathLike[str], extractor: FeatureExtractor, cache: Cache, *,
                 batch_size: int = 32, workers: int = 4,
                 progress: ProgressCallback | None = None, decoding: str = "auto",
                 scan: tuple[list[Path], list[Path]] | None = None) -> ImageSet:
    """Features of every image under ``folder`` (recursively), cached by content hash
    (``decoding``: as ``features_of_files``; ``scan``: the folder's ``scan_folder``, when
    the caller has already scanned it).  The set lists what the scan left out (hidden, or
    not in an image format likeness reads) as ``skipped``.

    Raises:
        LikenessError: the folder does not exist or holds no images (``source_scan``).
    """
    root = Path(folder)
    files, skipped = scan if scan is not None else _folder_scan(root)
    skipped_names = [path.relative_to(root).as_posix() for path in skipped]
    names = {path: path.relative_to(root).as_posix() for path in files}
    image_set = features_of_files(files, names, str(root), extractor, cache,
                                  batch_size=batch_size, workers=workers, progress=progress,
                                  decoding=decoding)
    image_set.skipped = skipped_names
    return image_set


def features_of_files(files: Sequence[Path], names: dict[Path, str], source: str,
                      extractor: FeatureExtractor, cache: Cache, *, batch_size: int = 32,
                      workers: int = 4, progress: ProgressCallback | None = None,
                      decoding: str = "auto") -> ImageSet:
    """Features of the given files (``names``: how each is listed), cached by content hash
    (``decoding``: ``ExecutionOptions.decoding``: on CUDA, files are decoded in processes)."""
    result = ImageSet(source=source, settings=extractor.settings)
    execution = ExecutionOptions(workers=workers, decoding=decoding)
    # as the device asked for (not resolved: a fully cached run never loads torch; a device
    # asked for but missing is refused below, when something is to be decoded)
    digests, failures = cache.digest_files(
        list(files), workers=execution.hashers(extractor.requested_device, usable_cores()))
    result.errors += [(names[path], unreadable(path, error))
                      for path, error in failures.items()]
    namespace = extractor.namespace
    known = _whole_features(cache.get_many(namespace, list(digests.values())),
                            extractor.published_dims)
    decisions_namespace = extractor.decisions_namespace
    known_decisions = cache.get_many(decisions_namespace, list(known))
    # a feature without its decisions is computed again
    notes_of: dict[str, list[str]] = decoded(known_decisions, _decisions, "the images' "
                                              "decisions")
    known = {key: row for key, row in known.items() if key in notes_of}
    result.cached = sum(1 for path in digests if digests[path] in known)
    batches = feature_batches(list(files), digests, set(known), batch_size)
    order = [path for batch_paths in batches for path in batch_paths]
    last = {end - 1 for end in itertools.accumulate(len(b) for b in batches)}
    done, total = result.cached, len(digests)
    if progress is not None:
        progress(done, total)

    computed: dict[str, np.ndarray] = {}
    failed: dict[str, str] = {}
    batch: list[Any] = []
    batch_keys: list[str] = []

    # one batch on the device while the next is made ready (a killed run loses at most
    # those two)
    in_flight: list[tuple[list[str], Callable[[], np.ndarray]]] = []

    def flush() -> None:
        read = extractor.launch(batch)
        keys = list(batch_keys)
        batch.clear()
        batch_keys.clear()
        finish()
        in_flight.append((keys, read))

    def finish() -> None:
        nonlocal done
        while in_flight:
            keys, read = in_flight.pop()
            pairs = list(zip(keys, read(), strict=True))
            # a batch's features and decisions in one transaction, committed off the
            # critical path (``write_behind``)
            writes.put_together({
                namespace: [(key, np.ascontiguousarray(row, np.float32).tobytes())
                            for key, row in pairs],
                decisions_namespace: [(key, json.dumps(notes_of[key]).encode())
                                      for key in keys]})
            computed.update(pairs)
            done += len(keys)
            if progress is not None:
                progress(done, total)

    device = resolve_device(extractor.requested_device) if order else "cpu"
    decoders, processes = execution.decoders(device, usable_cores(), len(order))
    if processes:
        load_kernel()  # forked decoders start with the PNG kernel loaded
    jobs = ((path, content_hash(digests[path]), digests.settled.get(path)) for path in order)
    results = ordered_map(extractor.preparer(device), jobs, workers=decoders,
                          window=4 * decoders + batch_size, catch=(LikenessError, OSError),
                          processes=processes, weigh=lambda prepared: prepared[0].nbytes,
                          budget=decoding_budget())
    # the pool shut down even when interrupted, after it every write committed
    with write_behind(cache) as writes, contextlib.closing(results):
        for position, ((path, *_), prepared, error) in enumerate(results):
            digest = digests[path]
            if error is not None:
                failed[digest] = str(error)
            else:
                tensor, notes = prepared  # type: ignore[misc]
                notes_of[digest] = list(notes)
                batch.append(tensor)
                batch_keys.append(digest)
            if position in last and batch:  # the batches every engine forms
                flush()
        finish()
    result.errors += [(names[path], failed[digests[path]]) for path in dict.fromkeys(files)
                      if digests.get(path) in failed]

    decisions: Counter[str] = Counter()
    rows, contents = [], set()
    for path in files:
        found = digests.get(path)
        row = None if found is None else known.get(found, computed.get(found))
        if found is None or row is None:  # failed to hash or to decode
            continue
        rows.append(row)
        result.files.append(names[path])
        result.contents.append(found)
        decisions.update(notes_of.get(found, []))
        if found in contents:
            decisions[SAME_CONTENT_TWICE] += 1
        contents.add(found)
    result.features = (np.stack(rows).astype(np.float32) if rows
                       else np.empty((0, extractor.dims), np.float32))
    result.decisions = dict(decisions)
    return result


def _whole_features(stored: Mapping[str, bytes], dims: int | None) -> dict[str, np.ndarray]:
    """Cached feature vectors (float32); one of another length than ``dims`` (the
    published checkpoint's) — or, where that is unknown, than most of them share (one
    network writes one length; no length is trusted on a tie) — is a damaged entry, left
    out with a ``CacheWarning``."""
    if dims is not None:
        length = 4 * dims
    else:
        ranked = Counter(len(value) for value in stored.values()).most_common(2)
        length = (ranked[0][0] if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1])
                  else 0)

    def row(value: bytes) -> np.ndarray:
        if len(value) != length or not length:
            raise ValueError("a feature vector of another length")
        return np.frombuffer(value, np.float32)

    return decoded(stored, row, "features")


def _decisions(value: bytes) -> list[str]:
    notes = json.loads(value)
    if not (isinstance(notes, list) and all(isinstance(note, str) for note in notes)):
        raise ValueError("not an image's cached decisions")
    return notes


def feature_batches(files: Sequence[Path], digests: Mapping[Path, str], known: set[str],
                    batch_size: int) -> list[list[Path]]:
    """The files whose features must be computed, in the batches every engine forms: one
    file per content not in ``known``, in file order, ``batch_size`` per batch (a file that
    fails to decode leaves its batch one smaller).  The same batches on every engine give
    the same features, bit for bit: a network's output can depend on its batch's size."""
    todo: dict[str, Path] = {}
    for path in files:
        digest = digests.get(path)
        if digest is not None and digest not in known and digest not in todo:
            todo[digest] = path
    paths = list(todo.values())
    return [paths[i:i + batch_size] for i in range(0, len(paths), batch_size)]


def save_statistics(image_set: ImageSet, path: str | os.PathLike[str]) -> Path:
    """Write the set's ``mu`` and ``sigma`` in pytorch-fid's ``.npz`` format.

    The file also holds ``count`` and ``likeness_settings`` (JSON: network, weights hash,
    resize convention), which pytorch-fid ignores and likeness checks when it reads the file.
    """
    target = Path(path)
    if target.suffix != ".npz":
        raise LikenessError(f"{target}: statistics files end in .npz (pytorch-fid's format)")
    mean, covariance = image_set.statistics()
    settings = {**image_set.settings, "count": image_set.count}
    target.parent.mkdir(parents=True, exist_ok=True)
    with replacing(target) as handle:  # whole or as it was: a killed run leaves no stub
        np.savez(handle, mu=mean, sigma=covariance, count=np.int64(image_set.count),
                 likeness_settings=np.array(json.dumps(settings)))
    return target


def load_statistics(path: str | os.PathLike[str], expected: dict[str, Any] | None = None,
                    dims: int | None = None) -> ImageSet:
    """Read an ``.npz`` statistics file (pytorch-fid's, or one likeness wrote), validated
    by ``read_statistics_file`` (``dims``: the run's feature length).

    Raises:
        LikenessError: the file is not a valid statistics file, or it records network
            settings that differ from ``expected`` (another weights file or resize
            convention).
    """
    source = Path(path)
    mu, sigma, extra = read_statistics_file(source, dims)
    image_set = ImageSet(source=str(source))
    if "likeness_settings" in extra:
        recorded = extra["likeness_settings"]
        for key in ("network", "weights_sha256", "resize"):
            if (expected is not None and key in recorded
                    and recorded.get(key) != expected.get(key)):
                raise LikenessError(
                    f"{source} was computed with {key}={recorded.get(key)!r} but this run "
                    f"uses {expected.get(key)!r}; recompute it with the same settings")
        image_set.settings = recorded
    elif expected is not None and expected.get("network") != "pytorch-fid Inception-v3 pool3":
        raise LikenessError(f"{source} records no encoder, so it holds pytorch-fid's Inception "
                            f"statistics; this run uses {expected.get('network')}: recompute "
                            "it with the same encoder")
    else:
        image_set.settings = {"count": extra.get("count", 0),
                              "note": "statistics file without recorded settings (pytorch-fid "
                                      "format): assumed to use pytorch-fid's network and resize"}
    count = int(image_set.settings.get("count", 0) or 0)
    if count:  # pytorch-fid's files do not say how many images they summarise
        warn_if_singular(count, mu.shape[0], str(source))
    image_set._statistics = (mu, sigma)
    return image_set


def source_scan(source: str | os.PathLike[str]) -> tuple[list[Path], list[Path]] | None:
    """What can be known of a set before its encoder is built (its checkpoint resolved, and
    perhaps downloaded): a folder's ``scan_folder``, or None for a statistics file, read
    (``read_statistics_file``: its feature length, and the eigenvalues, are checked when
    the set is loaded).

    Raises:
        LikenessError: the source is missing, neither a folder nor a statistics file, a
            folder without images, or a statistics file that is not one.
    """
    path = Path(source)
    if path.suffix.lower() in _STATS_SUFFIXES and path.is_file():
        read_statistics_file(path, definite=False)
        return None
    return _folder_scan(path)


def _folder_scan(folder: Path) -> tuple[list[Path], list[Path]]:
    if not folder.is_dir():
        what = "not a folder" if os.path.lexists(folder) else "no such folder or file"
        raise LikenessError(f"{folder}: {what} (pass a folder of images or an .npz "
                            "statistics file)")
    files, skipped = scan_folder(folder)
    if not files:
        skipped_names = [file.relative_to(folder).as_posix() for file in skipped]
        raise LikenessError(f"{folder}: no images found (searched recursively)"
                            + (f"; skipped: {describe_skipped(skipped_names)}"
                               if skipped_names else ""))
    return files, skipped


def load_set(source: str | os.PathLike[str], extractor: FeatureExtractor, cache: Cache, *,
             batch_size: int = 32, workers: int = 4,
             progress: ProgressCallback | None = None, decoding: str = "auto",
             scan: tuple[list[Path], list[Path]] | None = None) -> ImageSet:
    """A folder's features (``scan``: its ``scan_folder``, if already scanned), or a
    statistics file's mean and covariance."""
    path = Path(source)
    if path.suffix.lower() in _STATS_SUFFIXES and path.is_file():
        return load_statistics(path, extractor.settings, extractor.dims)
    return set_features(path, extractor, cache, batch_size=batch_size, workers=workers,
                        progress=progress, decoding=decoding, scan=scan)
