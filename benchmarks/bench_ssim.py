"""SSIM speed against the reference implementations, run in this process.

    .venv/bin/python benchmarks/bench_ssim.py

Prints, for each case, both timings, the ratio and the largest difference between results.
Targets (issue 2): structural_similarity ≥ 5× scikit-image at 1024², ≥ 4× at 512²
(RGB uint8, channel_axis=-1, data_range=255); ssim(wang2004) ≥ 3× pytorch-msssim on a
batch of 16 RGB images at 512²; issue 33: 3-D SSIM at least as fast as pytorch-msssim's.
"""

from __future__ import annotations

import os

import numpy as np
import pytorch_msssim
import skimage.metrics
import torch

import likeness
from _timing import alternating, best_of, sample_pair


def bench_structural_similarity() -> None:
    for side in (512, 1024):
        a, b = sample_pair(side)
        ref_best, ref_median, want = best_of(
            lambda a=a, b=b: skimage.metrics.structural_similarity(a, b, channel_axis=-1,
                                                                   data_range=255))
        our_best, our_median, got = best_of(
            lambda a=a, b=b: likeness.structural_similarity(a, b, channel_axis=-1,
                                                            data_range=255))
        print(f"structural_similarity RGB uint8 {side}x{side}: scikit-image "
              f"{ref_median * 1e3:7.1f} ms, likeness {our_median * 1e3:6.1f} ms, "
              f"ratio {ref_median / our_median:5.1f}x (best-of: {ref_best / our_best:5.1f}x), "
              f"|diff| {abs(got - want):.1e}")


def bench_batched_ssim() -> None:
    pairs = [sample_pair(512, seed=seed) for seed in range(16)]
    x = torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a, _ in pairs]).float()
    y = torch.stack([torch.from_numpy(b).permute(2, 0, 1) for _, b in pairs]).float()
    ref_best, ref_median, want = best_of(
        lambda: pytorch_msssim.ssim(x, y, data_range=255, size_average=False), repeats=3)
    our_best, our_median, got = best_of(
        lambda: likeness.ssim(x, y, data_range=255, convention="wang2004"), repeats=3)
    print(f"ssim wang2004, batch 16x3x512x512 float32: pytorch-msssim {ref_median:6.2f} s, "
          f"likeness {our_median:6.2f} s, ratio {ref_median / our_median:5.1f}x "
          f"(best-of: {ref_best / our_best:5.1f}x), max |diff| "
          f"{float((got - want).abs().max()):.1e}")
    x.requires_grad_(True)
    our_grad_best, _, _ = best_of(
        lambda: likeness.ssim(x, y, data_range=255, convention="wang2004").sum().backward(),
        repeats=2)
    ref_grad_best, _, _ = best_of(
        lambda: pytorch_msssim.ssim(x, y, data_range=255).backward(), repeats=2)
    print(f"  with gradient (forward + backward): pytorch-msssim {ref_grad_best:6.2f} s, "
          f"likeness {our_grad_best:6.2f} s, ratio {ref_grad_best / our_grad_best:5.1f}x")


def bench_ssim_loss() -> None:
    """SSIM as a training loss (forward and backward, float32, pytorch-msssim's convention)
    at the sizes training batches have, against pytorch-msssim: medians of 9 alternating
    rounds.  Small images take the banded product, from ``DEPTHWISE_FROM`` px a side
    depthwise convolutions."""
    generator = torch.Generator().manual_seed(0)
    for shape in ((8, 3, 64, 64), (8, 3, 128, 128), (4, 3, 256, 256), (2, 3, 512, 512)):
        x = torch.rand(shape, generator=generator).requires_grad_(True)
        y = (x.detach() + 0.05 * torch.randn(shape, generator=generator)).clamp(0, 1)

        def ours(x: torch.Tensor = x, y: torch.Tensor = y) -> torch.Tensor:
            value = likeness.ssim(x, y, data_range=1.0, convention="pytorch-msssim")
            value.mean().backward()
            return value.detach()

        def theirs(x: torch.Tensor = x, y: torch.Tensor = y) -> torch.Tensor:
            value = pytorch_msssim.ssim(x, y, data_range=1.0, size_average=False)
            value.mean().backward()
            return value.detach()

        ref, mine, want, got = alternating(theirs, ours, rounds=9)
        print(f"ssim loss {'x'.join(map(str, shape))} float32 (forward + backward): "
              f"pytorch-msssim {ref * 1e3:7.1f} ms, likeness {mine * 1e3:7.1f} ms, ratio "
              f"{ref / mine:5.2f}x, max |diff| {float((got - want).abs().max()):.1e}")


def bench_volume_ssim() -> None:
    """3-D SSIM (the window spans depth too, as pytorch-msssim filters 5-D inputs) of the
    (1, 3, 11, 512, 512) float32 volumes issue 33 measured, pytorch-msssim's convention."""
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((1, 3, 11, 512, 512), dtype=np.float32))
    y = (x + torch.from_numpy(rng.normal(0, 0.05, x.shape).astype(np.float32))).clamp(0, 1)
    ref_best, ref_median, want = best_of(
        lambda: pytorch_msssim.ssim(x, y, data_range=1.0, size_average=False), repeats=3)
    our_best, our_median, got = best_of(
        lambda: likeness.ssim(x, y, data_range=1.0, convention="pytorch-msssim"), repeats=3)
    print(f"ssim pytorch-msssim, volume 1x3x11x512x512 float32: pytorch-msssim "
          f"{ref_median:6.2f} s, likeness {our_median:6.2f} s, ratio "
          f"{ref_median / our_median:5.1f}x (best-of: {ref_best / our_best:5.1f}x), max |diff| "
          f"{float((got - want).abs().max()):.1e}")


if __name__ == "__main__":
    print(f"threads: torch {torch.get_num_threads()}, cores {os.cpu_count()}, "
          f"numpy {np.__version__}, torch {torch.__version__}")
    bench_structural_similarity()
    bench_batched_ssim()
    bench_ssim_loss()
    bench_volume_ssim()
