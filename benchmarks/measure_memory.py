"""Memory a network pass takes per pixel of each image, and a pixel metric per pixel of a
pair: the figures behind ``NetworkSpec.bytes_per_pixel`` (the runs size their chunks and
passes with it) and ``MetricSpec.bytes_per_pixel`` (a pair too large is refused).

    .venv/bin/python benchmarks/measure_memory.py [--side 768] [--pairs 1,2,4,8]
    .venv/bin/python benchmarks/measure_memory.py --pixel-metrics [--side 1536]

Each case runs in a fresh process (a process's peak resident memory only grows): N pairs
of random side×side uint8 images through ``likeness.compare_tensors`` with the network's
metric, on the CPU, with the golden set's stand-in weights — N references kept, then the
N tests in one pass and the distances, as a run computes them.  Printed: the peak resident
memory above what the process held before the call, per pixel of each of the 2N images.
VGG19 (the style metrics': one image a pass, each group alone) and ArtFID's Inception (a
set network that reads images at their own size): N images through one pass, per pixel of
each image.  Pixel metrics (``--pixel-metrics``): one pair through ``compare_tensors``, per
pixel of the pair.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import stand_in_weights

ITEM_NETWORKS = {"lpips_alex": ("lpips-alex", "alexnet"), "lpips_vgg": ("lpips-vgg", "vgg16"),
                 "lpips_squeeze": ("lpips-squeeze", "squeezenet1_1"),
                 "dists": ("dists", "vgg16")}
PASS_NETWORKS = {"vgg19": "vgg19", "art_inception": "art_inception"}


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def measure(network: str, pairs: int, side: int, checkpoint: str) -> float:
    """Peak bytes above the process's resident memory, per pixel of each image (of the
    pair, for a pixel metric)."""
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    if network not in ITEM_NETWORKS and network not in PASS_NETWORKS:  # a pixel metric
        import likeness

        # ``checkpoint`` here: a convention, "setting=value", or "-"
        convention = dict([checkpoint.split("=")]) if "=" in checkpoint else {}
        x = rng.integers(0, 256, (1, 3, side, side), dtype=np.uint8)
        y = np.clip(x.astype(int) + rng.integers(-20, 21, x.shape), 0, 255).astype(np.uint8)
        likeness.compare_tensors(x[:, :, :64, :64], y[:, :, :64, :64], metrics=[network],
                                 device="cpu", **convention)
        before = _resident_bytes()
        rows = likeness.compare_tensors(x, y, metrics=[network], device="cpu", **convention)
        assert rows[0].error is None, rows[0].error
        return (_peak_bytes() - before) / (side * side)
    if network in ITEM_NETWORKS:
        import likeness

        metric, name = ITEM_NETWORKS[network]
        x = rng.integers(0, 256, (pairs, 3, side, side), dtype=np.uint8)
        y = rng.integers(0, 256, (pairs, 3, side, side), dtype=np.uint8)

        def run(a: np.ndarray, b: np.ndarray) -> None:
            rows = likeness.compare_tensors(a, b, metrics=[metric], device="cpu",
                                            weights={name: checkpoint})
            assert rows[0].error is None, rows[0].error

        run(x[:1, :, :64, :64], y[:1, :, :64, :64])  # built, and its kernels loaded
        before = _resident_bytes()
        run(x, y)
        images = 2 * pairs
    else:
        from likeness.evaluation.catalog.networks import NETWORKS

        spec = NETWORKS[network]
        module = spec.build(checkpoint, "cpu")
        passed = spec.encode or spec.features
        assert passed is not None
        batch = torch.rand(pairs, 3, side, side)
        with torch.inference_mode():
            passed(module, batch[:, :, :96, :96])
            before = _resident_bytes()
            passed(module, batch)
        images = pairs
    return (_peak_bytes() - before) / (images * side * side)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=768)
    parser.add_argument("--pairs", default="1,2,4,8")
    parser.add_argument("--networks", default=",".join([*ITEM_NETWORKS, *PASS_NETWORKS]))
    parser.add_argument("--pixel-metrics", action="store_true")
    # one case, in its own process: network or metric, pairs, side, checkpoint or convention
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one:
        network, pairs, side, checkpoint = arguments.one
        print(measure(network, int(pairs), int(side), checkpoint))
        return
    if arguments.pixel_metrics:
        from likeness.evaluation.catalog.registry import METRICS

        print(f"peak bytes per pixel of a pair, {arguments.side}² uint8 RGB images, CPU")
        # SSIM of luma (the style runs') is SSIM on one channel: SSIM's figure bounds it
        for metric, spec in METRICS.items():
            if spec.kind != "pixel" or "compare" not in spec.commands:
                continue
            setting, figures = spec.bytes_per_pixel_by or ("", {})
            for convention, recorded in (("-", spec.bytes_per_pixel),
                                         *((f"{setting}={value}", figure)
                                           for value, figure in figures.items())):
                out = subprocess.run(
                    [sys.executable, __file__, "--one", metric, "1", str(arguments.side),
                     convention], capture_output=True, text=True, check=True,
                    cwd=Path(__file__).parent)
                print(f"{metric:10s} {convention:30s} {float(out.stdout.split()[-1]):6.0f}  "
                      f"(recorded: {recorded})")
        return
    weights = stand_in_weights()
    with tempfile.TemporaryDirectory() as folder:
        print(f"peak bytes per pixel of each image, {arguments.side}² images, CPU")
        for network in arguments.networks.split(","):
            name = ITEM_NETWORKS[network][1] if network in ITEM_NETWORKS else network
            checkpoint = Path(folder) / f"{name}.pth"
            if not checkpoint.exists():
                weights.save_checkpoint(name, 0, checkpoint)
            figures = []
            for pairs in arguments.pairs.split(","):
                out = subprocess.run(
                    [sys.executable, __file__, "--one", network, pairs, str(arguments.side),
                     str(checkpoint)], capture_output=True, text=True, check=True,
                    cwd=Path(__file__).parent)
                figures.append(f"N={pairs}: {float(out.stdout.split()[-1]):6.0f}")
            from likeness.evaluation.catalog.networks import NETWORKS

            spec = NETWORKS[network]
            print(f"{network:14s}", "  ".join(figures), f"(recorded: bytes_per_pixel "
                  f"{spec.bytes_per_pixel}, pair_bytes {spec.pair_bytes}, from N=1)")


if __name__ == "__main__":
    main()
