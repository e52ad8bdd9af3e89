"""Winograd against the direct convolution, layer by layer, for the networks' layer shapes.

    .venv/bin/python benchmarks/bench_winograd.py [--rounds 9]

For each layer shape of Inception-v3 (batches of 4 up to 35², then 16, as the folded route
runs them; 1×7 and 7×1 layers are not routed, their rows show why), VGG19
(the style metrics, one 256² image) and VGG16/AlexNet (LPIPS, DISTS), times torch's direct
convolution + ReLU and likeness's Winograd route in turn (median of ``--rounds``), each
after a direct convolution of other data, as inside a network (torch's and numba's thread
pools take turns there).  Prints the ratio and whether ``winograd_pays`` routes the layer,
so that the thresholds in ``nets/winograd.py`` can be checked on any machine, and the
largest difference from the direct layer relative to its largest output.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from likeness.nets.winograd import WinogradWeights, winograd_convolve, winograd_pays

# (network, C_in, C_out, kernel, side of the input, batch)
LAYERS = [
    ("inception", 32, 32, (3, 3), 147, 4),
    ("inception", 32, 64, (3, 3), 147, 4),
    ("inception", 80, 192, (3, 3), 71, 4),
    ("inception", 48, 64, (5, 5), 35, 4),
    ("inception", 64, 96, (3, 3), 35, 4),
    ("inception", 96, 96, (3, 3), 35, 4),
    ("inception", 128, 128, (1, 7), 17, 16),
    ("inception", 160, 160, (7, 1), 17, 16),
    ("inception", 192, 192, (1, 7), 17, 16),
    ("inception", 384, 384, (1, 3), 8, 16),
    ("inception", 448, 384, (3, 3), 8, 16),
    ("vgg19", 64, 64, (3, 3), 256, 1),
    ("vgg19", 64, 128, (3, 3), 128, 1),
    ("vgg19", 128, 128, (3, 3), 128, 1),
    ("vgg19", 128, 256, (3, 3), 64, 1),
    ("vgg19", 256, 256, (3, 3), 64, 1),
    ("vgg19", 512, 512, (3, 3), 32, 1),
    ("alexnet", 64, 192, (5, 5), 63, 2),
    ("alexnet", 192, 384, (3, 3), 31, 2),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    rounds = parser.parse_args().rounds
    torch.manual_seed(0)
    print(f"threads: torch {torch.get_num_threads()}; median of {rounds} alternating runs")
    for network, c_in, c_out, kernel, side, batch in LAYERS:
        padding = (kernel[0] // 2, kernel[1] // 2)
        conv = nn.Conv2d(c_in, c_out, kernel, padding=padding).requires_grad_(False)
        conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last)
        x = torch.randn(batch, c_in, side, side).relu().contiguous(
            memory_format=torch.channels_last)
        other = torch.randn_like(x)
        weights = WinogradWeights(conv.weight, conv.bias, padding)
        runs = {"direct": lambda conv=conv, x=x: torch.relu(conv(x)),
                "winograd": lambda x=x, weights=weights: winograd_convolve(x, weights,
                                                                           relu=True)}
        times: dict[str, list[float]] = {"direct": [], "winograd": []}
        with torch.inference_mode():
            want, got = runs["direct"](), runs["winograd"]()
            for _ in range(rounds):
                for name, run in runs.items():
                    conv(other)  # the thread pools as a network leaves them
                    start = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - start)
            routed = winograd_pays(conv.weight, padding, x)
        slow, fast = (statistics.median(times[k]) for k in ("direct", "winograd"))
        difference = float((got - want).abs().max() / want.abs().max())
        shape = f"{kernel[0]}x{kernel[1]} {c_in}->{c_out} at {side}^2, batch {batch}"
        print(f"{network:9s} {shape:34s} direct {slow * 1e3:7.2f} ms  winograd "
              f"{fast * 1e3:7.2f} ms  ratio {slow / fast:4.2f}  "
              f"routed {'yes' if routed else 'no ':3s}  max |diff| {difference:.1e}", flush=True)


if __name__ == "__main__":
    main()
