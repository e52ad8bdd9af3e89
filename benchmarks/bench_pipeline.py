"""FID's feature pipeline on any machine, its network replaced by a stand-in device: how
close a run comes to what its decoding processes alone deliver (issue 33).

    .venv/bin/python benchmarks/bench_pipeline.py [--images 400] [--rate 2000] [--workers N]
                                                  [--rounds 3] [--root DIR]

On a GPU the network is fast and decoding bounds a run; what the run's own process does
besides (hashing every file, receiving decoded images, stacking batches, the cache, one
fork round a run) decides how close it comes to that bound.  Here the device is a stand-in
that takes ``len(batch) / rate`` seconds a batch on a timeline of its own, sleeping (the
GIL released, as a GPU's kernels), with the batch stacked as for a GPU (into a buffer
reused batch after batch, as torch's pinned memory is).  Files are decoded as a CUDA run
decodes them (the raw integers, in one process per core but one).

Printed, for two folders of 512² PNGs (``bench_cuda.make_folders``: smooth images with
grain, their distorted copies), each round in turn:

1. decoding alone: the same preparer over the same files through the same pool, images/s;
2. FID features of both folders through the stand-in, a fresh in-memory cache (every file
   hashed, decoded and stored), as ``likeness.fid`` runs them: images/s, the run's process's
   CPU time per image, and the ratio to 1.

Files written less than the cache's racy window ago are not yet settled (their decoders
hash them again); the script waits until they are, as folders made before an evaluation
are.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from _timing import stand_in_weights
from bench_cuda import make_folders
from likeness.evaluation.infra.cache import RACY_SECONDS, Cache
from likeness.evaluation.infra.pipeline import keeping_processes, ordered_map, usable_cores
from likeness.evaluation.sets.extractor import FeatureExtractor, FilePreparer
from likeness.evaluation.sets.features import set_features
from likeness.io.plain_png import load_kernel

BATCH = 64  # bench_cuda's FID batch


class StandInDevice(FeatureExtractor):
    """pytorch-fid's Inception settings, its network a stand-in device of ``rate`` images
    a second; files prepared as for CUDA (the decoded integers)."""

    def __init__(self, weights: Path, rate: float) -> None:
        super().__init__(weights=weights, device="cpu")
        self.rate, self.free_at = rate, 0.0
        self.buffer: np.ndarray | None = None

    def preparer(self, device: str) -> FilePreparer:
        return FilePreparer(self.kind, self.resize, self.alpha, raw=True)

    def launch(self, batch: list[Any]) -> Callable[[], np.ndarray]:
        count = len(batch)
        shape = (count, *batch[0].shape)
        if self.buffer is None or self.buffer.shape != shape:
            self.buffer = np.empty(shape, batch[0].dtype)
        np.stack(batch, out=self.buffer)
        start = max(time.perf_counter(), self.free_at)
        self.free_at = done = start + count / self.rate

        def read() -> np.ndarray:
            time.sleep(max(0.0, done - time.perf_counter()))
            return np.zeros((count, self.dims), np.float32)

        return read


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def decoding_alone(files: list[Path], workers: int) -> float:
    """Images/s of the raw preparer alone over ``files`` in ``workers`` processes."""
    prepare = FilePreparer("pt_inception", "pytorch-fid", None, raw=True)
    start = time.perf_counter()
    for _, _, error in ordered_map(prepare, ((path, None, None) for path in files),
                                   workers=workers, window=4 * workers + BATCH,
                                   processes=True):
        assert error is None, error
    return len(files) / (time.perf_counter() - start)


def through_stand_in(folders: tuple[Path, Path], extractor: StandInDevice,
                     workers: int) -> tuple[float, float]:
    """(images/s, the run's process's CPU ms an image) of both folders' features."""
    extractor.free_at = 0.0
    cache = Cache(None)
    start, used = time.perf_counter(), own_cpu_seconds()
    with keeping_processes():  # as likeness.fid
        count = sum(set_features(folder, extractor, cache, batch_size=BATCH,
                                 workers=workers, decoding="processes").count
                    for folder in folders)
    seconds, used = time.perf_counter() - start, own_cpu_seconds() - used
    return count / seconds, 1e3 * used / count


def wait_until_settled(folders: tuple[Path, Path]) -> None:
    newest = max(path.stat().st_ctime for folder in folders for path in folder.iterdir())
    wait = newest + RACY_SECONDS + 0.5 - time.time()
    if wait > 0:
        print(f"waiting {wait:.1f} s for the files to settle")
        time.sleep(wait)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=400, help="pairs of PNGs (2 images each)")
    parser.add_argument("--rate", type=float, default=2000.0,
                        help="the stand-in device's images/s (the H200's Inception: ~1,900)")
    parser.add_argument("--workers", type=int, default=max(1, usable_cores() - 1),
                        help="decoding processes (default: a CUDA run's, one per core but one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--root", help="a folder for the PNGs, kept for the next run")
    args = parser.parse_args()
    root = Path(args.root) if args.root else Path(tempfile.mkdtemp())
    folders = make_folders(root / "pairs", args.images)
    weights = root / "pt_inception.pth"
    if not weights.is_file():
        stand_in_weights().save_checkpoint("pt_inception", 1, weights)
    wait_until_settled(folders)
    load_kernel()  # forked decoders start with the PNG kernel loaded
    workers = args.workers
    extractor = StandInDevice(weights, args.rate)
    files = [path for folder in folders for path in sorted(folder.iterdir())]
    print(f"{len(files)} 512² PNGs in two folders, decoding processes: {workers}, "
          f"stand-in device at {args.rate:.0f} images/s, batches of {BATCH}")
    alone, run, ratios = [], [], []
    for round_number in range(1, args.rounds + 1):
        alone.append(decoding_alone(files, workers))
        rate, cpu = through_stand_in(folders, extractor, workers)
        run.append(rate)
        ratios.append(rate / alone[-1])
        print(f"  round {round_number}: decoding alone {alone[-1]:.0f} images/s; FID "
              f"features through the stand-in {rate:.0f} images/s ({ratios[-1]:.2f} of it), "
              f"the run's process {cpu:.2f} ms CPU an image")
    print(f"medians: decoding alone {statistics.median(alone):.0f}, through the stand-in "
          f"{statistics.median(run):.0f} images/s, ratio {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
