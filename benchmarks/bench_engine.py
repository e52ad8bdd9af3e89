"""The whole job: ``likeness.compare`` against the per-pair script researchers write.

    .venv/bin/python benchmarks/bench_engine.py [--metrics psnr | psnr,ssim | ...]
        [--side 32 --pairs 1000]   # small images: the run's own overhead, not the metrics

The script, per pair (only the metrics asked for; default ssim, psnr, lpips):
``cv2.imread`` both files (and BGR → RGB), scikit-image
``structural_similarity(a, b, channel_axis=-1, data_range=255)`` and
``peak_signal_noise_ratio``, and LPIPS-alex the lpips package's way: the two images through
the network separately (NCHW float32, [-1, 1]).  lpips itself needs torchvision, which does
not load beside this machine's CPU torch, so its forward pass is reproduced with the same
layers and weights (see bench_lpips.py).  Both run in this process on the same 512×512
PNGs, with the golden set's stand-in AlexNet weights; likeness runs with no cache
(``cache=False``), so every value is computed.

Cases: one model (64 pairs), and three models sharing the 64 references (192 pairs: the
script decodes and encodes each reference three times; likeness once).  Each case runs
three times, the script and likeness in turn; the medians are compared.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from _timing import sample_pair, stand_in_weights
from bench_lpips import lpips_package_way
from likeness import LPIPS, compare

PAIRS = 64
ROUNDS = 3
SIDE = 512


def make_folders(root: Path, models: int) -> None:
    (root / "ref").mkdir(parents=True)
    reference, _ = sample_pair(SIDE, seed=0)
    for index in range(PAIRS):
        shift = np.roll(reference, index, axis=1)  # different references
        Image.fromarray(shift).save(root / "ref" / f"{index:04d}.png")
    for model in range(models):
        folder = root / f"model{model}"
        folder.mkdir()
        for index in range(PAIRS):
            _, test = sample_pair(SIDE, seed=1000 * (model + 1) + index)
            Image.fromarray(np.roll(test, index, axis=1)).save(folder / f"{index:04d}.png")


def per_pair_script(root: Path, models: int, metric: LPIPS, backbone: torch.nn.Module,
                    metrics: list[str]) -> list[list[float]]:
    def as_tensor(rgb: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1

    values = []
    for model in range(models):
        for index in range(PAIRS):
            a = cv2.cvtColor(cv2.imread(str(root / "ref" / f"{index:04d}.png")),
                             cv2.COLOR_BGR2RGB)
            b = cv2.cvtColor(cv2.imread(str(root / f"model{model}" / f"{index:04d}.png")),
                             cv2.COLOR_BGR2RGB)
            row = []
            for name in metrics:
                if name == "ssim":
                    row.append(structural_similarity(a, b, channel_axis=-1, data_range=255))
                elif name == "psnr":
                    row.append(peak_signal_noise_ratio(a, b, data_range=255))
                else:
                    with torch.no_grad():
                        row.append(float(lpips_package_way(metric, backbone, as_tensor(a),
                                                           as_tensor(b))))
            values.append(row)
    return values


def main() -> None:
    global PAIRS, SIDE
    parser = argparse.ArgumentParser()
    parser.add_argument("--metrics", default="ssim,psnr,lpips",
                        help="a subset of ssim, psnr, lpips (default: all three)")
    parser.add_argument("--side", type=int, default=SIDE, help="image side (default 512)")
    parser.add_argument("--pairs", type=int, default=PAIRS, help="references (default 64)")
    arguments = parser.parse_args()
    metrics = arguments.metrics.split(",")
    PAIRS, SIDE = arguments.pairs, arguments.side
    if not metrics or set(metrics) - {"ssim", "psnr", "lpips"}:
        parser.error("--metrics: a comma-separated subset of ssim, psnr, lpips")
    stand_in = stand_in_weights()
    root = Path(tempfile.mkdtemp())
    weights = stand_in.save_checkpoint("alexnet", 1, root / "alexnet.pth")
    metric = LPIPS(net="alex", backbone_weights=weights)
    backbone = copy.deepcopy(metric.backbone).to(memory_format=torch.contiguous_format)
    make_folders(root / "data", 3)
    data = root / "data"
    options = {"metrics": ",".join(metrics), "weights": {"alexnet": str(weights)},
               "cache": False, "device": "cpu"}
    # warm up both (numba compilation, first network pass) on a small copy
    warm = root / "warm"
    for folder in ("ref", "model0"):
        (warm / folder).mkdir(parents=True)
        for index in range(2):
            shutil.copy(data / folder / f"{index:04d}.png", warm / folder)
    compare(warm / "ref", warm / "model0", **options)
    print(f"threads: torch {torch.get_num_threads()}; {PAIRS} references of {SIDE}x{SIDE} PNG; "
          f"median of {ROUNDS} alternating runs")
    for models in (1, 3):
        folders = [data / f"model{m}" for m in range(models)]
        script_times, our_times = [], []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            script_values = per_pair_script(data, models, metric, backbone, metrics)
            script_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            results = compare(data / "ref", folders, **options)
            our_times.append(time.perf_counter() - start)
        script, ours = statistics.median(script_times), statistics.median(our_times)
        keys = {"ssim": "ssim", "psnr": "psnr", "lpips": "lpips_alex"}
        got = [[r.values[keys[name]] for name in metrics] for r in results.rows]
        diff = np.abs(np.array(got) - np.array(script_values)).max(axis=0)
        pairs = PAIRS * models
        ratios = sorted(s / o for s, o in zip(script_times, our_times, strict=True))
        print(f"{models} model(s), {pairs} pairs: per-pair script {script:6.1f} s "
              f"({pairs / script:5.1f} pairs/s), likeness {ours:6.1f} s "
              f"({pairs / ours:5.1f} pairs/s), ratio {script / ours:4.2f}x "
              f"(each round: {', '.join(f'{r:.2f}' for r in ratios)}); max |diff| "
              + ", ".join(f"{name} {gap:.1e}" for name, gap in zip(metrics, diff, strict=True)))


if __name__ == "__main__":
    main()
