"""LPIPS speed per pair: likeness against the same network run the lpips package's way.

    .venv/bin/python benchmarks/bench_lpips.py

The lpips package needs torchvision, which does not load beside this machine's CPU torch,
so its way of running is reproduced here with likeness's own layers and the same weights:
per pair, two separate forward passes (NCHW float32), the ScalingLayer, unit-normalised
features, squared differences, 1×1 linear heads, spatial means.  Both use the golden
set's deterministic stand-in backbones (speed does not depend on the weights' values).
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import torch

from _timing import alternating, sample_pair, stand_in_weights
from likeness import LPIPS
from likeness.metrics.lpips import unit_normalize

BACKBONES = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}


def plain_taps(backbone: torch.nn.Module, x: torch.Tensor, taps: tuple[int, ...]
               ) -> list[torch.Tensor]:
    """The tapped activations as lpips reads them: torchvision's layers called one after
    another (its slices of ``features``), nothing fused or rearranged."""
    outputs = []
    for index, layer in enumerate(backbone.features):
        if index > max(taps):
            break
        x = layer(x)
        if index in taps:
            outputs.append(x)
            x = x.clone()  # lpips' next slice starts from its own copy (inplace ReLUs)
    return outputs


def lpips_package_way(metric: LPIPS, backbone_nchw: torch.nn.Module, x: torch.Tensor,
                      y: torch.Tensor) -> torch.Tensor:
    """What lpips.LPIPS.forward does: each input through the network on its own (NCHW)."""
    scaled_x = (x - metric.shift) / metric.scale
    scaled_y = (y - metric.shift) / metric.scale
    features_x = plain_taps(backbone_nchw, scaled_x, metric.taps)
    features_y = plain_taps(backbone_nchw, scaled_y, metric.taps)
    total = torch.zeros(())
    for fx, fy, head in zip(features_x, features_y, metric.heads, strict=True):
        diff = (unit_normalize(fx) - unit_normalize(fy)) ** 2
        total = total + torch.nn.functional.conv2d(diff, head).mean(dim=(2, 3), keepdim=True)
    return total


def main() -> None:
    stand_in = stand_in_weights()
    folder = Path(tempfile.mkdtemp())
    print(f"threads: torch {torch.get_num_threads()}; per pair, median of 7 alternating runs "
          "of 4 pairs")
    for net, backbone in BACKBONES.items():
        path = stand_in.save_checkpoint(backbone, 1, folder / f"{backbone}.pth")
        metric = LPIPS(net=net, backbone_weights=path)
        backbone_nchw = copy.deepcopy(metric.backbone).to(memory_format=torch.contiguous_format)
        for side in (256, 512):
            pairs = []
            for seed in range(4):
                a, b = sample_pair(side, seed=seed)
                pairs.append(tuple(torch.from_numpy(v).permute(2, 0, 1)[None].float() / 127.5 - 1
                                   for v in (a, b)))

            def reference_way(pairs=pairs, metric=metric, backbone=backbone_nchw):
                with torch.no_grad():
                    return [lpips_package_way(metric, backbone, x, y) for x, y in pairs]

            def likeness_way(pairs=pairs, metric=metric):
                with torch.inference_mode():
                    return [metric(x, y) for x, y in pairs]

            ref_median, our_median, want, got = alternating(reference_way, likeness_way, 7)
            diff = max(abs(float(g) - float(w)) for g, w in zip(got, want, strict=True))
            print(f"lpips-{net:8s} {side}x{side}: lpips way {ref_median / 4 * 1e3:7.1f} ms/pair, "
                  f"likeness {our_median / 4 * 1e3:7.1f} ms/pair, "
                  f"ratio {ref_median / our_median:4.2f}x, max |diff| {diff:.1e}")


if __name__ == "__main__":
    main()
