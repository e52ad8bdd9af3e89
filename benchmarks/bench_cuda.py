"""likeness on a CUDA GPU: values against the CPU's, and the whole job's speed against the
reference tools' own way on the same machine (issue 33).

    python benchmarks/bench_cuda.py                 (on a machine with a CUDA GPU)
    python benchmarks/bench_cuda.py --device cpu --pairs 24 --quick    (a dry run)
    python benchmarks/bench_cuda.py --device cpu --only decoding --pairs 400 --root DIR
                                     (decoding alone, 3 rounds: any machine)

1. every pixel metric with an ``on_device`` form, under each convention, on the device
   against the CPU (largest relative difference; MSE must be equal bit for bit);
2. each network's CPU and device values and its throughput (stand-in weights);
3. ``compare`` (ssim, psnr, lpips) over folders of 512² PNGs in pairs/s — decoding in
   threads (the default) and in processes, no cache and a fresh one — against lpips in a
   DataLoader loop
   (PSNR and SSIM by torchmetrics on the GPU: a usual script), and the rooflines: decoding
   alone (processes) and the device work alone (tensors already there); what the cores
   decode in 1 and N threads and N processes; where a run waits for the device (torch's
   synchronisation debug mode);
4. FID features from the same PNG folders in images/s (fresh cache) against pytorch-fid's
   ``get_activations`` and torch-fidelity's feature extraction (their own loaders).

The PNGs are made here: smooth images (32×32 noise upsampled bicubically, plus ±3 grain —
about 420 kB each, slower to decode than noise) and their distorted copies.  The
reference tools come as wheels (lpips with ``pnet_rand=True``; pytorch-fid and
torch-fidelity load the stand-in FID Inception); missing ones are reported and skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from _timing import stand_in_weights
from likeness import LPIPS, InceptionFeatures, compare
from likeness.evaluation.infra.device import full_float32, resolve_device

rng = np.random.default_rng(0)


def say(text: str) -> None:
    print(text, flush=True)


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def images(count: int, side: int) -> torch.Tensor:
    return torch.from_numpy(rng.uniform(0, 1, (count, 3, side, side)).astype(np.float32))


def per_second(function: Callable[[], Any], count: int, device: str, repeats: int = 5
               ) -> float:
    """Items a second of ``function`` (one warm-up call, then ``repeats`` synchronised)."""
    function()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    synchronize(device)
    return count * repeats / (time.perf_counter() - start)


# 1. pixel metrics ------------------------------------------------------------------------

CONVENTIONS: list[dict[str, str]] = [
    {}, {"convention": "matlab"}, {"ssim_convention": "wang2004"},
    {"ssim_convention": "pytorch-msssim"}, {"ssim_convention": "torchmetrics"},
    {"ms_ssim_convention": "piq"}, {"ms_ssim_convention": "torchmetrics"},
    {"ms_ssim_convention": "matlab-wtd-sum"},
]


def test_pairs(quick: bool) -> list[Any]:
    from likeness.evaluation.items.prepare import PreparedPair

    folder = Path(__file__).resolve().parents[1] / "tests" / "data" / "matlab_pairs"
    pairs = []
    for image in ("I04", "I19")[: 1 if quick else 2]:
        reference = np.asarray(Image.open(folder / f"tid2013_{image}_reference.png"))
        distorted = np.asarray(Image.open(folder / f"tid2013_{image}_distorted.png"))
        for top, left, height, width in ((0, 0, 192, 256), (37, 11, 191, 253)):
            crop = (slice(top, top + height), slice(left, left + width))
            pairs.append(PreparedPair(reference[crop], distorted[crop], 255.0, ()))
        gray = PreparedPair(reference[:200, :240].mean(2, keepdims=True).astype(np.uint8),
                            distorted[:200, :240].mean(2, keepdims=True).astype(np.uint8),
                            255.0, ())
        pairs.append(gray)
    wide = (reference.astype(np.uint16) * 257)[:160, :200]
    pairs.append(PreparedPair(wide, (distorted.astype(np.uint16) * 257)[:160, :200],
                              65535.0, ()))
    return pairs


def pixel_metrics(device: str, quick: bool) -> None:
    from likeness.evaluation.catalog.registry import METRICS
    from likeness.evaluation.engines.on_device import DeviceBatches
    from likeness.evaluation.items.settings import RunSettings

    class Outcome:
        def __init__(self) -> None:
            self.values: dict[str, float] = {}
            self.errors: dict[str, str] = {}

    metrics = [m for m, spec in METRICS.items() if spec.on_device is not None]
    pairs = test_pairs(quick)
    worst: dict[str, float] = {}
    kept_on_cpu: set[str] = set()
    unequal: list[str] = []
    start = time.perf_counter()
    for conventions in CONVENTIONS[: 2 if quick else None]:
        settings = RunSettings(metrics=tuple(metrics), **conventions)  # type: ignore[arg-type]
        outcomes = [Outcome() for _ in pairs]
        batches = DeviceBatches(device, settings)
        for outcome, pair in zip(outcomes, pairs, strict=True):
            for metric in metrics:
                batches.defer(outcome, metric, pair)

        def on_cpu(deferred: Any, settings: RunSettings = settings) -> None:
            kept_on_cpu.add(deferred.metric)
            try:
                deferred.outcome.values[deferred.metric] = METRICS[deferred.metric].pixels(
                    deferred.pair, settings)
            except Exception as error:  # noqa: BLE001
                deferred.outcome.errors[deferred.metric] = str(error)

        batches.compute(on_cpu)
        for outcome, pair in zip(outcomes, pairs, strict=True):
            for metric in metrics:
                try:
                    want = METRICS[metric].pixels(pair, settings)  # type: ignore[misc]
                except Exception:  # noqa: BLE001 - the device must fail it too
                    want = None
                got = outcome.values.get(metric)
                if (want is None) != (got is None):
                    unequal.append(f"{metric} {conventions}: cpu {want}, device {got}")
                    continue
                if want is None or got is None or want == got:
                    worst.setdefault(metric, 0.0)
                    continue
                if metric == "mse":
                    unequal.append(f"mse {conventions}: {got!r} != {want!r}")
                scale = max(abs(want), 1e-300)
                worst[metric] = max(worst.get(metric, 0.0), abs(got - want) / scale)
    say(f"pixel metrics on {device} against the CPU ({len(pairs)} pairs x "
        f"{len(CONVENTIONS[: 2 if quick else None])} settings, "
        f"{time.perf_counter() - start:.1f} s): largest relative difference")
    say("  " + ", ".join(f"{m} {w:.1e}" for m, w in worst.items()))
    say(f"  computed on the CPU for some settings or pairs: {sorted(kept_on_cpu)}")
    say(f"  disagreements: {unequal or 'none'}")


# 2. networks -----------------------------------------------------------------------------

def networks(weights: dict[str, str], device: str, quick: bool) -> None:
    side = 256 if quick else 512
    count = 4 if quick else 64
    for net in ("alex",) if quick else ("alex", "vgg", "squeeze"):
        metric = LPIPS(net=net, backbone_weights=weights[{"alex": "alexnet", "vgg": "vgg16",
                                                          "squeeze": "squeezenet1_1"}[net]])
        x, y = images(4, 128), images(4, 128)
        cpu = metric(x, y, normalize=True).flatten()
        moved = metric.to(device)
        there = moved(x.to(device), y.to(device), normalize=True).flatten().cpu()
        big_x, big_y = images(count, side).to(device), images(count, side).to(device)
        rate = per_second(lambda m=moved, a=big_x, b=big_y: m(a, b, normalize=True), count,
                          device)
        say(f"lpips_{net}: max |cpu - {device}| {float((cpu - there).abs().max()):.1e}; "
            f"{side}² pairs/s {rate:.0f}")
    inception = InceptionFeatures(weights=weights["pt_inception"])
    x = images(4, 299)
    cpu_features = inception(x)
    moved_inception = inception.to(device)
    there = moved_inception(x.to(device)).cpu()
    batch = images(count * 2, 299).to(device)
    relative = float((cpu_features - there).abs().max() / cpu_features.abs().max())
    say(f"fid inception: max |cpu - {device}| / max |feature| {relative:.1e}; 299² "
        f"images/s {per_second(lambda: moved_inception(batch), count * 2, device):.0f}")


# 3. the whole job ------------------------------------------------------------------------

def _write_pair(job: tuple[int, str]) -> None:
    index, root = job
    if all((Path(root) / side / f"{index:05d}.png").is_file() for side in ("ref", "out")):
        return  # written by an earlier run (--root): the same bytes
    generator = np.random.default_rng(index)
    small = generator.uniform(0, 255, (32, 32, 3)).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(small).resize((512, 512), Image.Resampling.BICUBIC))
    reference = np.clip(smooth.astype(np.int16) + generator.integers(-3, 4, smooth.shape),
                        0, 255).astype(np.uint8)
    distorted = np.clip(reference.astype(np.int16) + generator.integers(-12, 13,
                                                                        smooth.shape),
                        0, 255).astype(np.uint8)
    Image.fromarray(reference).save(Path(root) / "ref" / f"{index:05d}.png")
    Image.fromarray(distorted).save(Path(root) / "out" / f"{index:05d}.png")


def make_folders(root: Path, count: int) -> tuple[Path, Path]:
    for folder in ("ref", "out"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_write_pair, [(i, str(root)) for i in range(count)], chunksize=16))
    return root / "ref", root / "out"


def likeness_compare(reference: Path, test: Path, weights: dict[str, str], device: str,
                     count: int, **options: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = compare(reference, test, metrics="ssim,psnr,lpips", device=device,
                     weights={"alexnet": weights["alexnet"]}, **options)
    seconds = time.perf_counter() - start
    failed = [row for row in result.rows if row.error]
    if failed:
        say(f"  {len(failed)} rows failed, e.g. {failed[0].error}")
    return count / seconds, result


def profile_compare(reference: Path, test: Path, weights: dict[str, str], device: str,
                    count: int) -> None:
    """Where the run's thread spends a run of ``count`` pairs (``profiled``)."""
    import shutil

    part = reference.parent / "profiled"
    for folder, source in (("ref", reference), ("out", test)):
        (part / folder).mkdir(parents=True, exist_ok=True)
        for path in sorted(source.iterdir())[:count]:
            shutil.copy(path, part / folder / path.name)
    profiled(lambda: likeness_compare(part / "ref", part / "out", weights, device, count,
                                      cache=False, batch_size=64), "compare")


def profiled(function: Callable[[], Any], label: str, every: float = 0.001) -> None:
    """Run ``function`` while a thread samples the run's (main) thread's stack every
    ``every`` seconds: where its wall time goes, waits included (cProfile on Python 3.12
    counts every thread's time together, so its own-times are not the main thread's).
    Prints the functions the samples were in (own) and under (cumulative); the whole
    tables go to $OUT/profile-<label>.txt when OUT is set."""
    import collections
    import threading

    main = threading.get_ident()
    own: collections.Counter[str] = collections.Counter()
    under: collections.Counter[str] = collections.Counter()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every):
            frame = sys._current_frames().get(main)
            names = []
            while frame is not None:
                code = frame.f_code
                names.append(f"{Path(code.co_filename).name}:{code.co_firstlineno}"
                             f"({code.co_name})")
                frame = frame.f_back
            if names:
                own[names[0]] += 1
                under.update(set(names))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        function()
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - start
    total = max(1, sum(own.values()))
    tables = []
    for title, counts in (("own", own), ("cumulative", under)):
        rows = [f"    {100 * n / total:5.1f}%  {name}" for name, n in counts.most_common(40)]
        tables.append(f"  {title}:\n" + "\n".join(rows))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], f"profile-{label}.txt").write_text("\n".join(tables))
    say(f"  the run's thread during one {label} run ({seconds:.2f} s, {total} samples); "
        f"own, top 12:")
    for line in tables[0].splitlines()[1:13]:
        say(line)
    say("  cumulative, top 12:")
    for line in tables[1].splitlines()[1:13]:
        say(line)


def rooflines(reference: Path, test: Path, weights: dict[str, str], device: str,
              count: int) -> None:
    """Decoding alone, in processes (what the CPU can feed), and the device work alone on
    tensors already there (what the GPU can take)."""
    from likeness.metrics.psnr import psnr
    from likeness.metrics.ssim import ssim

    decoding_alone(reference, test, count)
    metric = LPIPS(net="alex", backbone_weights=weights["alexnet"]).to(device)
    batch = 64
    x = (images(batch, 512) * 255).round().to(device)
    y = (images(batch, 512) * 255).round().to(device)

    def device_work() -> None:
        with torch.inference_mode():
            ssim(x.double(), y.double(), data_range=255.0)
            psnr(x.double(), y.double(), data_range=255.0)
            metric(x / 255, y / 255, normalize=True)

    say(f"  roofline, device work alone (ssim+psnr in float64, lpips; batches of {batch}): "
        f"{per_second(device_work, batch, device):.0f} pairs/s")


def decoding_alone(reference: Path, test: Path, count: int, rounds: int = 1) -> None:
    """Pairs/s of decoding alone in processes and in threads (one per core but one, the
    window of a CUDA run's ``compare`` at batch 64), and what the run's process spends a
    pair receiving them (``--only decoding``: on any machine)."""
    from likeness.evaluation.engines.compute import DecodeJob, run_job
    from likeness.evaluation.infra.pipeline import ordered_map, usable_cores
    from likeness.evaluation.items.plan import Item
    from likeness.io.plain_png import load_kernel

    load_kernel()
    files = sorted(reference.iterdir())
    jobs = [DecodeJob.of([Item("m", path, test / path.name, path.name, path.name)], None, {})
            for path in files[:count]]
    workers = max(1, usable_cores() - 1)
    for processes in (True, False) * rounds:
        start, used = time.perf_counter(), _own_cpu_seconds()
        for _ in ordered_map(run_job, jobs, workers=workers, window=2 * workers + 64,
                             processes=processes):
            pass
        seconds, used = time.perf_counter() - start, _own_cpu_seconds() - used
        say(f"  roofline, decoding alone ({workers} {'processes' if processes else 'threads'}):"
            f" {len(jobs) / seconds:.0f} pairs/s; the run's process "
            f"{1e3 * used / len(jobs):.2f} ms CPU a pair")


def _own_cpu_seconds() -> float:
    """CPU time of this process's threads (user and system), not of its children."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_and_hashing() -> str:
    """The CPU's model, whether it has SHA instructions, and SHA-256's speed on one core
    (every file a run has not seen settled is hashed, once, by it)."""
    import hashlib

    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    data = os.urandom(64 << 20)
    start = time.perf_counter()
    hashlib.sha256(data).digest()
    speed = len(data) / (time.perf_counter() - start) / 2**30
    return (f"{model}, SHA instructions {'yes' if 'sha_ni' in flags else 'no'}, "
            f"SHA-256 {speed:.2f} GiB/s on one core")


def fork_cost(label: str, tries: int = 5) -> None:
    """What forking this process costs now (a decoding pool forks one worker per core but
    one, in the run's thread): median of ``tries``, with the process's resident memory."""
    spent = []
    for _ in range(tries):
        start = time.perf_counter()
        child = os.fork()
        if child == 0:
            os._exit(0)
        spent.append(time.perf_counter() - start)
        os.waitpid(child, 0)
    with open("/proc/self/statm") as statm:
        resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    say(f"  forking this process {label}: {1e3 * sorted(spent)[tries // 2]:.1f} ms a worker "
        f"(resident {resident:.0f} MiB)")


def _decode_file(path: Path) -> tuple[int, ...]:
    from likeness.io import load_image

    return tuple(load_image(path).pixels.shape)


def decode_scaling(reference: Path, count: int) -> None:
    """What the machine's cores decode: images/s of ``load_image`` in 1 and in N threads,
    and in N processes that return only the shape (no pixels through pipes) — whether
    threads are held back by the GIL or the cores by their own speed."""
    from likeness.evaluation.infra.pipeline import usable_cores
    from likeness.io.plain_png import load_kernel

    load_kernel()
    files = sorted(reference.iterdir())[:count]
    workers = max(1, usable_cores() - 1)
    rates = []
    for label, pool in (("1 thread", ThreadPoolExecutor(1)),
                        (f"{workers} threads", ThreadPoolExecutor(workers)),
                        (f"{workers} processes, shapes back",
                         ProcessPoolExecutor(workers))):
        with pool:
            list(pool.map(_decode_file, files[:2 * workers]))  # warm: kernels loaded
            start = time.perf_counter()
            list(pool.map(_decode_file, files, chunksize=4))
            rates.append(f"{label} {len(files) / (time.perf_counter() - start):.0f}")
    say(f"  decoding alone, images/s: {', '.join(rates)}")


def sync_points(reference: Path, test: Path, weights: dict[str, str], device: str) -> None:
    """Where a CUDA ``compare`` waits for the device (torch's synchronisation debug
    mode): each place that synchronises, and how often, over one run of 32 pairs."""
    import collections
    import traceback

    if not device.startswith("cuda"):
        return
    places: collections.Counter[str] = collections.Counter()

    def seen(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
             line: Any = None) -> None:
        if "synchroniz" not in str(message):
            return
        frames = [f for f in traceback.extract_stack()[:-1] if "likeness" in f.filename]
        where = (f"{Path(frames[-1].filename).name}:{frames[-1].lineno} {frames[-1].name}"
                 if frames else f"{Path(filename).name}:{lineno}")
        places[where] += 1

    previous = warnings.showwarning
    warnings.showwarning = seen  # type: ignore[assignment]
    warnings.simplefilter("always", UserWarning)
    torch.cuda.set_sync_debug_mode("warn")
    try:
        likeness_compare(reference, test, weights, device, 32, cache=False, batch_size=64)
    finally:
        torch.cuda.set_sync_debug_mode(0)
        warnings.showwarning = previous
        warnings.filterwarnings("ignore", category=UserWarning)
    say(f"  synchronisations in one compare of 32 pairs (batch 64): {sum(places.values())}")
    for where, times in places.most_common(12):
        say(f"    {times:5d}  {where}")


def usual_script(reference: Path, test: Path, device: str, count: int) -> float | None:
    """lpips in a DataLoader loop (PNG decoding in its workers), PSNR and SSIM by
    torchmetrics on the same device: pairs/s."""
    try:
        import lpips
        import torchmetrics.functional as tmf
        from torch.utils.data import DataLoader, Dataset
    except ImportError as error:
        say(f"  usual script skipped: {error}")
        return None

    class Pairs(Dataset):  # type: ignore[type-arg]
        def __init__(self) -> None:
            self.names = sorted(p.name for p in reference.iterdir())[:count]

        def __len__(self) -> int:
            return len(self.names)

        def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
            def load(path: Path) -> torch.Tensor:
                array = np.asarray(Image.open(path).convert("RGB"))
                return torch.from_numpy(array.copy()).permute(2, 0, 1)

            name = self.names[index]
            return load(reference / name), load(test / name)

    model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False).to(device)
    loader = DataLoader(Pairs(), batch_size=32, num_workers=max(1, (os.cpu_count() or 2) - 1),
                        pin_memory=device.startswith("cuda"))
    start = time.perf_counter()
    values = []
    with torch.inference_mode():
        for ref_batch, test_batch in loader:
            a = ref_batch.to(device).float() / 255
            b = test_batch.to(device).float() / 255
            values.append(model(a, b, normalize=True).flatten().cpu())
            tmf.peak_signal_noise_ratio(a, b, data_range=1.0)
            tmf.structural_similarity_index_measure(a, b, data_range=1.0)
    synchronize(device)
    return count / (time.perf_counter() - start)


def whole_job(root: Path, weights: dict[str, str], device: str, count: int,
              lite: bool = False) -> None:
    start = time.perf_counter()
    reference, test = make_folders(root / "pairs", count)
    say(f"\n{count} pairs of 512² PNGs written in {time.perf_counter() - start:.1f} s")
    warm = root / "warm"
    make_folders(warm, 32)
    likeness_compare(warm / "ref", warm / "out", weights, device, 32, cache=False)
    rates = {}
    cores = max(1, (os.cpu_count() or 2) - 1)
    variants: tuple[tuple[str, dict[str, Any]], ...] = (
        ("default decoding (auto), batch 64", {"cache": False, "batch_size": 64}),
        (f"decoding {cores} processes, batch 16", {"cache": False, "workers": cores,
                                                  "decoding": "processes"}),
        ("decoding 8 threads, batch 64", {"cache": False, "batch_size": 64, "workers": 8,
                                          "decoding": "threads"}),
        (f"decoding {cores} threads, batch 64", {"cache": False, "batch_size": 64,
                                                 "workers": cores, "decoding": "threads"}),
        ("default decoding (auto), fresh cache (hashes every file), batch 64",
         {"cache": root / f"cache-{time.time()}", "batch_size": 64}))
    if lite:
        variants = variants[:1] + variants[4:]
    for label, options in variants:
        try:
            rate, result = likeness_compare(reference, test, weights, device, count, **options)
        except TypeError as error:  # an option this likeness does not have
            say(f"  likeness compare, {label}: skipped ({error})")
            continue
        rates[label] = rate
        say(f"  likeness compare ssim,psnr,lpips, {label}: {rate:.0f} pairs/s")
    if lite:
        fid_features(reference, test, weights, device, root, warm, lite=True)
        return
    profile_compare(reference, test, weights, device, min(count, 400))
    on_cpu = compare(warm / "ref", warm / "out", metrics="ssim,psnr,lpips", device="cpu",
                     weights={"alexnet": weights["alexnet"]}, cache=False)
    there = compare(warm / "ref", warm / "out", metrics="ssim,psnr,lpips", device=device,
                    weights={"alexnet": weights["alexnet"]}, cache=False)
    pairs = list(zip(on_cpu.rows, there.rows, strict=True))
    for metric in ("ssim", "psnr", "lpips_alex"):
        gap = max(abs(a.values[metric] - b.values[metric]) for a, b in pairs)
        say(f"  {metric}: max |cpu - {device}| over 32 pairs {gap:.1e}")
    rooflines(reference, test, weights, device, count)
    decode_scaling(reference, min(count, 600))
    sync_points(warm / "ref", warm / "out", weights, device)
    usual_script(warm / "ref", warm / "out", device, 32)  # warm-up
    theirs = usual_script(reference, test, device, count)
    if theirs is not None:
        best = max(rates.values()) if rates else float("nan")
        say(f"  usual script (lpips in a DataLoader loop + torchmetrics PSNR/SSIM): "
            f"{theirs:.0f} pairs/s; likeness's best above is {best / theirs:.2f}x")
    fid_features(reference, test, weights, device, root, warm)


# 4. FID features -------------------------------------------------------------------------

def fid_features(reference: Path, test: Path, weights: dict[str, str], device: str,
                 root: Path, warm: Path, lite: bool = False) -> None:
    from likeness.evaluation.infra.cache import Cache
    from likeness.evaluation.infra.pipeline import keeping_processes
    from likeness.evaluation.sets.features import FeatureExtractor, set_features

    count = sum(1 for _ in reference.iterdir()) + sum(1 for _ in test.iterdir())
    extractor = FeatureExtractor(weights=weights["pt_inception"], device=device)
    set_features(warm / "ref", extractor, Cache(root / "fid-warm-cache"), batch_size=64)
    cache = Cache(root / f"fid-cache-{time.time()}")
    start = time.perf_counter()
    with keeping_processes():  # as likeness.fid: one pool of decoders for both folders
        ours = [set_features(folder, extractor, cache, batch_size=64)
                for folder in (reference, test)]
    rate = count / (time.perf_counter() - start)
    say(f"\nFID features of {count} 512² PNGs (two folders), likeness, fresh cache: "
        f"{rate:.0f} images/s")
    fork_cost("after FID (Inception on the device)")
    if lite:
        return
    from likeness.evaluation.sets.features import features_of_files

    files = sorted(reference.iterdir()) + sorted(test.iterdir())
    start = time.perf_counter()
    features_of_files(files, {path: path.name for path in files}, "both", extractor,
                      Cache(root / f"fid-threads-{time.time()}"), batch_size=64, workers=8,
                      decoding="threads")
    say(f"  likeness, fresh cache, decoding in 8 threads: "
        f"{count / (time.perf_counter() - start):.0f} images/s")
    graph_against_eager(extractor, device)
    profiled(lambda: set_features(reference, extractor, Cache(root / f"p-{time.time()}"),
                                  batch_size=64), "fid-features")
    profiled(lambda: set_features(reference, extractor, Cache(None), batch_size=64),
             "fid-features-no-cache")
    try:
        import pytorch_fid.inception as pytorch_fid_inception
        from pytorch_fid.fid_score import get_activations
    except ImportError as error:
        say(f"  pytorch-fid skipped: {error}")
        return
    pytorch_fid_inception.load_state_dict_from_url = (  # the stand-in FID Inception
        lambda *args, **kwargs: torch.load(weights["pt_inception"]))
    model = pytorch_fid_inception.InceptionV3([3]).to(device).eval()
    files = sorted(reference.iterdir()) + sorted(test.iterdir())
    workers = min(os.cpu_count() or 1, 8)  # pytorch-fid's own default
    get_activations(sorted((warm / "ref").iterdir()), model, 32, 2048, device, workers)
    start = time.perf_counter()
    theirs = get_activations(files, model, 50, 2048, device, workers)
    their_rate = count / (time.perf_counter() - start)
    gap = float(np.abs(np.concatenate([o.features for o in ours]) - theirs).max())
    say(f"  pytorch-fid get_activations (batch 50, {workers} workers): {their_rate:.0f} "
        f"images/s; likeness {rate / their_rate:.2f}x; max |difference| {gap:.1e}")
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        from torch_fidelity.utils import extract_featuresdict_from_input_id
    except ImportError as error:
        say(f"  torch-fidelity skipped: {error}")
        return
    extractor_tf = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                               feature_extractor_weights_path=weights[
                                                   "pt_inception"]).to(device)
    extract_featuresdict_from_input_id(1, extractor_tf, input1=str(warm / "ref"),
                                       cuda=device.startswith("cuda"), batch_size=32,
                                       verbose=False, cache=False)
    start = time.perf_counter()
    for folder in (reference, test):
        extract_featuresdict_from_input_id(1, extractor_tf, input1=str(folder),
                                           cuda=device.startswith("cuda"), batch_size=64,
                                           verbose=False, cache=False)
    tf_rate = count / (time.perf_counter() - start)
    say(f"  torch-fidelity feature extraction (its loader): {tf_rate:.0f} images/s; "
        f"likeness {rate / tf_rate:.2f}x")


def graph_against_eager(extractor: Any, device: str) -> None:
    """FID's Inception replayed as a CUDA graph (``GraphedCalls``) against its eager
    passes: the largest difference and each one's batches/s, no decoding beside them."""
    import functools

    from likeness.evaluation.infra.graphs import GraphedCalls

    if not device.startswith("cuda"):
        return
    eager = functools.partial(extractor.spec.features, extractor.network)
    graphed = GraphedCalls(eager)
    x = torch.rand(64, 3, 299, 299, device=device)
    with torch.inference_mode():
        want = eager(x)
        graphed(x)
        got = graphed(x)  # captured now
        gap = float((want - got).abs().max())
        rates = [per_second(lambda f=f: f(x), 64, device) for f in (eager, graphed)]
    say(f"  FID Inception as a CUDA graph: {graphed.captured} shape captured, max |graph - "
        f"eager| {gap:.1e}; alone, images/s: eager {rates[0]:.0f}, graph {rates[1]:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--pairs", type=int, default=1500)
    parser.add_argument("--quick", action="store_true", help="fewer settings and sizes")
    parser.add_argument("--only", default="pixels,networks,job",
                        help="parts, comma-separated: pixels, networks, job, job-lite, "
                             "decoding")
    parser.add_argument("--root", help="a folder for the PNGs, kept for the next run")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)  # the reference tools' notices
    warnings.filterwarnings("ignore", category=FutureWarning)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("bench_cuda: torch sees no CUDA device here; run it on a machine with one "
                 "(or --device cpu for a dry run)")
    device = resolve_device(args.device)
    with full_float32():  # every measurement in full float32, the reference tools' too
        measure(args, device)


def measure(args: argparse.Namespace, device: str) -> None:
    stand_in = stand_in_weights()
    root = Path(args.root) if args.root else Path(tempfile.mkdtemp())
    root.mkdir(parents=True, exist_ok=True)
    weights = {name: str(stand_in.save_checkpoint(name, 1, root / f"{name}.pth"))
               for name in ("alexnet", "vgg16", "squeezenet1_1", "pt_inception")}
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU"
    say(f"torch {torch.__version__}, {name}, {os.cpu_count()} cores, "
        f"TF32 cuDNN {torch.backends.cudnn.allow_tf32} (off in full_float32)")
    say(cpu_and_hashing())
    parts = args.only.split(",")
    if "pixels" in parts:
        pixel_metrics(device, args.quick)
    if "networks" in parts:
        with torch.inference_mode():
            networks(weights, device, args.quick)
    if "decoding" in parts:
        reference, test = make_folders(root / "pairs", args.pairs)
        decoding_alone(reference, test, args.pairs, rounds=3)
    if "job" in parts or "job-lite" in parts:
        whole_job(root, weights, device, args.pairs, lite="job-lite" in parts)


if __name__ == "__main__":
    main()
