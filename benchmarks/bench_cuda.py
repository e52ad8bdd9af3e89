"""CPU against CUDA values and CUDA throughput of likeness's networks (stand-in weights).

    python benchmarks/bench_cuda.py      (on a machine with a CUDA GPU)

Prints, for each network, the largest difference between the CPU's and the GPU's values
(after ``resolve_device("cuda")`` turned TensorFloat-32 off, as every run on CUDA does) and
the GPU's throughput in full float32; then ``compare`` on 64 pairs of 512² PNGs.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from _timing import stand_in_weights
from likeness import LPIPS, InceptionFeatures, compare
from likeness.evaluation.infra.device import resolve_device
from likeness.nets.backbones import build_backbone
from likeness.nets.dists import DISTS
from likeness.nets.loading import load_state_dict
from likeness.nets.lpips import load_backbone_weights

VGG19_TAPS = (1, 6, 11, 20, 22, 29)
rng = np.random.default_rng(0)


def images(count: int, side: int) -> torch.Tensor:
    return torch.from_numpy(rng.uniform(0, 1, (count, 3, side, side)).astype(np.float32))


def per_second(function: Callable[[], Any], count: int, repeats: int = 5) -> float:
    """Items a second of ``function`` (one warm-up call, then ``repeats`` synchronised)."""
    function()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    torch.cuda.synchronize()
    return count * repeats / (time.perf_counter() - start)


def largest_relative(cpu: list[torch.Tensor], gpu: list[torch.Tensor]) -> float:
    return max(float((a - b.cpu()).abs().max() / a.abs().max())
               for a, b in zip(cpu, gpu, strict=True))


def networks(weights: dict[str, str]) -> None:
    for net, backbone in (("alex", "alexnet"), ("vgg", "vgg16"), ("squeeze", "squeezenet1_1")):
        metric = LPIPS(net=net, backbone_weights=weights[backbone])
        x, y = images(8, 256), images(8, 256)
        cpu = metric(x, y, normalize=True).flatten()
        gpu_metric = metric.cuda()
        gpu = gpu_metric(x.cuda(), y.cuda(), normalize=True).flatten().cpu()
        big_x, big_y = images(64, 512).cuda(), images(64, 512).cuda()
        rate = per_second(lambda m=gpu_metric, a=big_x, b=big_y: m(a, b, normalize=True), 64)
        print(f"lpips_{net}: max |cpu - cuda| {float((cpu - gpu).abs().max()):.1e} "
              f"(values ~{float(cpu.mean()):.3f}); 512² pairs/s {rate:.0f}")
    dists = DISTS(backbone_weights=weights["vgg16"])
    x, y = images(4, 256), images(4, 256)
    cpu = dists(x, y).flatten()
    gpu_dists = dists.cuda()
    gpu = gpu_dists(x.cuda(), y.cuda()).flatten().cpu()
    big_x, big_y = images(32, 256).cuda(), images(32, 256).cuda()
    print(f"dists: max |cpu - cuda| {float((cpu - gpu).abs().max()):.1e}; 256² pairs/s "
          f"{per_second(lambda: gpu_dists(big_x, big_y), 32):.0f}")
    inception = InceptionFeatures(weights=weights["pt_inception"])
    x = images(8, 299)
    cpu_features = inception(x)
    gpu_inception = inception.cuda()
    gpu_features = gpu_inception(x.cuda())
    batch = images(128, 299).cuda()
    print(f"fid inception: max |cpu - cuda| / max |feature| "
          f"{largest_relative([cpu_features], [gpu_features]):.1e}; 299² images/s "
          f"{per_second(lambda: gpu_inception(batch), 128):.0f}")
    vgg = build_backbone("vgg19")
    load_backbone_weights(vgg, load_state_dict(weights["vgg19"]), "vgg19")
    vgg.eval()
    x = images(2, 256)
    cpu_taps = vgg.forward_taps(x, VGG19_TAPS)
    gpu_vgg = vgg.cuda()
    gpu_taps = gpu_vgg.forward_taps(x.cuda(), VGG19_TAPS)
    batch = images(32, 256).cuda()
    print(f"vgg19 taps: max relative |cpu - cuda| {largest_relative(cpu_taps, gpu_taps):.1e}; "
          f"256² images/s {per_second(lambda: gpu_vgg.forward_taps(batch, VGG19_TAPS), 32):.0f}")


def whole_job(root: Path, weights: dict[str, str]) -> None:
    data = root / "data"
    for folder in ("ref", "out"):
        (data / folder).mkdir(parents=True)
        for index in range(64):
            pixels = rng.uniform(0, 255, (512, 512, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(data / folder / f"{index:03d}.png")
    options = {"metrics": "ssim,psnr,lpips", "weights": {"alexnet": weights["alexnet"]},
               "cache": False}
    on_cpu = compare(data / "ref", data / "out", device="cpu", **options)
    compare(data / "ref", data / "out", device="cuda", **options)  # warm-up
    start = time.perf_counter()
    on_gpu = compare(data / "ref", data / "out", device="cuda", **options)
    seconds = time.perf_counter() - start
    pairs = list(zip(on_cpu.rows, on_gpu.rows, strict=True))
    lpips_diff = max(abs(a.values["lpips_alex"] - b.values["lpips_alex"]) for a, b in pairs)
    ssim_equal = all(a.values["ssim"] == b.values["ssim"] for a, b in pairs)
    print(f"compare ssim,psnr,lpips, 64 pairs of 512² PNG on cuda: {64 / seconds:.1f} pairs/s; "
          f"lpips max |cpu - cuda| {lpips_diff:.1e}; ssim equal: {ssim_equal}")


def main() -> None:
    if not torch.cuda.is_available():
        print("bench_cuda: torch sees no CUDA device here; run it on a machine with one")
        return
    stand_in = stand_in_weights()
    root = Path(tempfile.mkdtemp())
    weights = {name: str(stand_in.save_checkpoint(name, 1, root / f"{name}.pth"))
               for name in ("alexnet", "vgg16", "squeezenet1_1", "vgg19", "pt_inception")}
    print(torch.__version__, torch.cuda.get_device_name(0))
    before = torch.backends.cudnn.allow_tf32
    resolve_device("cuda")
    print(f"cuDNN TensorFloat-32: {before} before resolve_device, "
          f"{torch.backends.cudnn.allow_tf32} after")
    with torch.inference_mode():
        networks(weights)
    whole_job(root, weights)


if __name__ == "__main__":
    main()
