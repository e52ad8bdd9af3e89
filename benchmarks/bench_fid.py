"""FID speed: the Fréchet distance and the Inception features, against pytorch-fid's way.

    .venv/bin/python benchmarks/bench_fid.py

pytorch-fid imports torchvision, which does not load beside this machine's CPU torch, so
its way of running is reproduced in the same process:

- ``calculate_frechet_distance``: ``scipy.linalg.sqrtm`` of Σ₁Σ₂ (its arithmetic);
- ``InceptionV3([3])``: the same layers one by one (likeness's ``reference_forward``:
  convolution, batch norm, ReLU modules, NCHW float32), batch 32, ``F.interpolate`` to
  299×299 inside the network, under ``torch.no_grad()``.

Both networks use the golden set's deterministic stand-in weights (speed does not depend
on the weights' values); the printed max |diff| shows they compute the same features.
Finally, the whole folder route (decode, resize, network, cache) is timed on 64 images,
then again with every feature cached.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import linalg

from _timing import (
    alternating,
    best_of,
    convolution_roofline,
    matmul_peak,
    sample_pair,
    stand_in_weights,
)
from likeness import InceptionFeatures, fid, frechet_distance


def pytorch_fid_frechet(mu1, sigma1, mu2, sigma2):
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    covmean = covmean.real
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def bench_frechet() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2048))
    y = rng.normal(size=(4000, 2048)) * 1.1 + 0.05
    stats = (x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    _, ref, want = best_of(lambda: pytorch_fid_frechet(*stats), repeats=2)
    _, ours, got = best_of(lambda: frechet_distance(*stats), repeats=3)
    print(f"frechet_distance 2048-d: pytorch-fid way {ref:6.2f} s, likeness {ours:6.2f} s, "
          f"ratio {ref / ours:4.1f}x, relative diff {abs(got / want - 1):.1e}")


def bench_network(weights: Path) -> None:
    network = InceptionFeatures(weights=weights)
    batch = torch.stack([torch.from_numpy(sample_pair(299, seed=s)[1]).permute(2, 0, 1)
                         for s in range(32)]).float() / 255

    def pytorch_fid_way():
        with torch.no_grad():
            resized = F.interpolate(batch, size=(299, 299), mode="bilinear",
                                    align_corners=False)
            return network.trunk.reference_forward(2 * resized - 1)

    def likeness_way():
        with torch.inference_mode():
            return network(batch)

    ref, ours, want, got = alternating(pytorch_fid_way, likeness_way, 5)
    diff = float((got - want).abs().max() / want.abs().max())
    print(f"Inception features, batch 32 at 299x299: pytorch-fid way {32 / ref:5.1f} images/s, "
          f"likeness {32 / ours:5.1f} images/s, ratio {ref / ours:4.2f}x, "
          f"max |diff| / max |feature| {diff:.1e} (median of 5 alternating runs)")
    peak = matmul_peak()
    print(f"roofline: float32 matrix products reach {peak:.0f} GFLOP/s here; likeness's "
          f"Inception convolutions, batch 32 (FLOPs from their shapes):")
    print("\n".join(convolution_roofline(likeness_way, peak)))
    print("(the layers on the Winograd route — 3x3, 5x5, 1x3 and 3x1 ones with enough "
          "channels — are not aten convolutions and are not listed; bench_winograd.py times "
          "them against the direct kernel)")


def bench_folder(weights: Path) -> None:
    folder = Path(tempfile.mkdtemp())
    for label in ("a", "b"):
        (folder / label).mkdir()
        for seed in range(64):
            image = sample_pair(256 + 32 * (seed % 3), seed=seed + (0 if label == "a" else 100))[1]
            Image.fromarray(image).save(folder / label / f"{seed:03d}.png")
    database = folder / "cache.sqlite"
    start = time.perf_counter()
    first = fid(folder / "a", folder / "b", weights=weights, cache=database, device="cpu")
    cold = time.perf_counter() - start
    start = time.perf_counter()
    fid(folder / "a", folder / "b", weights=weights, cache=database, device="cpu")
    warm = time.perf_counter() - start
    print(f"likeness fid of two folders of 64 PNGs (mixed sizes): {cold:5.1f} s "
          f"({128 / cold:4.1f} images/s incl. decoding and FID), re-run from the cache "
          f"{warm:4.2f} s; FID {first.value:.4f}")


def main() -> None:
    stand_in = stand_in_weights()
    weights = stand_in.save_checkpoint("pt_inception", 1,
                                       Path(tempfile.mkdtemp()) / "pt_inception.pth")
    print(f"threads: torch {torch.get_num_threads()}")
    bench_frechet()
    bench_network(weights)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 64 images: singular covariance
        bench_folder(weights)


if __name__ == "__main__":
    main()
