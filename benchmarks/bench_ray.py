"""The Ray engine's overhead on this machine, the cost of each stage, and a throughput model.

    .venv/bin/python benchmarks/bench_ray.py [--pairs 200]

Measured here: 200 pairs of 256×256 PNGs (ssim, psnr, lpips-alex; stand-in weights, no
cache), by the local engine and by the Ray engine on a local Ray instance with this
machine's CPUs; and the cost of each stage per image or pair.  Projected: the throughput
of N nodes × G GPUs from those costs and stated assumptions about the GPUs, the cores and
the storage (see docs/scaling.md).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from _timing import best_of, sample_pair, stand_in_weights
from likeness import compare

SIDE = 256

# assumptions of the projection (not measured here: no GPU on this machine)
GPU_LPIPS_IMAGES_PER_S = 4000.0   # LPIPS-alex encode at 256², one data-centre GPU, fp32
CORES_PER_NODE = 64               # CPU cores per GPU node, all decoding
STORAGE_MB_PER_S_PER_NODE = 1000.0


def make_pairs(root: Path, count: int) -> None:
    (root / "ref").mkdir(parents=True)
    (root / "out").mkdir()
    for index in range(count):
        reference, test = sample_pair(SIDE, noise=6.0, seed=index)
        shift = index % SIDE
        Image.fromarray(np.roll(reference, shift, 1)).save(root / "ref" / f"{index:04d}.png")
        Image.fromarray(np.roll(test, shift, 1)).save(root / "out" / f"{index:04d}.png")


def stage_costs(root: Path, weights: str) -> dict[str, float]:
    """Seconds per unit of each stage, measured on this machine."""
    from likeness.evaluation.infra.cache import Cache, file_digest
    from likeness.io import load_image
    from likeness.metrics.lpips import unit_normalize
    from likeness.metrics.skimage_compat import peak_signal_noise_ratio, structural_similarity
    from likeness.nets.lpips import LPIPS

    reference, test = root / "ref" / "0000.png", root / "out" / "0000.png"
    a, b = load_image(reference), load_image(test)
    lpips = LPIPS(net="alex", backbone_weights=weights)
    x = torch.from_numpy(a.pixels).permute(2, 0, 1)[None].float() / 127.5 - 1
    cache = Cache(Path(tempfile.mkdtemp()) / "c.sqlite")
    with torch.inference_mode():
        costs = {
            "decode PNG (per image)": best_of(lambda: load_image(reference))[0],
            "hash file, SHA-256 (per image)": best_of(lambda: file_digest(reference))[0],
            "SSIM + PSNR (per pair)": best_of(lambda: (
                structural_similarity(a.pixels, b.pixels, channel_axis=-1, data_range=255),
                peak_signal_noise_ratio(a.pixels, b.pixels, data_range=255)))[0],
            "LPIPS-alex encode, CPU (per image)": best_of(
                lambda: [unit_normalize(f) for f in lpips.encode(x)])[0],
        }
    rows = [(f"{i:064x}", b'{"v": 0.123456789}') for i in range(1000)]
    start = time.perf_counter()
    for chunk in range(0, 1000, 16):
        cache.put_many("bench", rows[chunk:chunk + 16])
    costs["commit a result row, driver (per pair)"] = (time.perf_counter() - start) / 1000
    costs["file size (MB per image)"] = reference.stat().st_size / 1e6
    return costs


def projection(costs: dict[str, float], nodes: int, gpus: int) -> tuple[float, str]:
    """Pairs per second of N nodes × G GPUs, and the stage that limits it (one model:
    two images decoded and encoded per pair)."""
    per_pair_images = 2
    limits = {
        "GPUs (LPIPS encode)": nodes * gpus * GPU_LPIPS_IMAGES_PER_S / per_pair_images,
        "CPU decoding": nodes * CORES_PER_NODE / (
            per_pair_images * costs["decode PNG (per image)"]
            + costs["SSIM + PSNR (per pair)"]),
        "storage": nodes * STORAGE_MB_PER_S_PER_NODE / (
            per_pair_images * costs["file size (MB per image)"]),
        "driver (result rows)": 1.0 / costs["commit a result row, driver (per pair)"],
    }
    stage = min(limits, key=lambda k: limits[k])
    return limits[stage], stage


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=200)
    count = parser.parse_args().pairs
    stand_in = stand_in_weights()
    root = Path(tempfile.mkdtemp())
    weights = str(stand_in.save_checkpoint("alexnet", 1, root / "alexnet.pth"))
    make_pairs(root / "data", count)
    data = root / "data"
    options = {"metrics": "ssim,psnr,lpips", "weights": {"alexnet": weights}, "cache": False,
               "device": "cpu"}
    compare(data / "ref", data / "out", **options)  # warm-up: kernels compiled
    start = time.perf_counter()
    local = compare(data / "ref", data / "out", **options)
    local_time = time.perf_counter() - start
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        on_ray = compare(data / "ref", data / "out", engine="ray", **options)
        ray_time = time.perf_counter() - start
    ray.shutdown()
    same = [r.values["ssim"] for r in local.rows] == [r.values["ssim"] for r in on_ray.rows]
    print(f"{count} pairs of {SIDE}x{SIDE} on this {os.cpu_count()}-core machine: local engine "
          f"{local_time:6.1f} s ({count / local_time:5.1f} pairs/s), Ray engine {ray_time:6.1f} s "
          f"({count / ray_time:5.1f} pairs/s; overhead ratio {ray_time / local_time:4.2f}x, "
          f"incl. starting actors); same values: {same}")
    costs = stage_costs(data, weights)
    print("stage costs measured here:")
    for name, value in costs.items():
        unit = "MB" if "MB" in name else "ms"
        print(f"  {name:42s} {value if unit == 'MB' else value * 1e3:8.3f} {unit}")
    print(f"projection (assumed: {GPU_LPIPS_IMAGES_PER_S:.0f} LPIPS images/s per GPU, "
          f"{CORES_PER_NODE} cores and {STORAGE_MB_PER_S_PER_NODE:.0f} MB/s storage per node):")
    for nodes, gpus in ((1, 1), (1, 8), (8, 8), (32, 8)):
        throughput, stage = projection(costs, nodes, gpus)
        print(f"  {nodes:3d} nodes x {gpus} GPUs: {throughput:10.0f} pairs/s, limited by {stage}")


if __name__ == "__main__":
    main()
