"""The HTML report's cost next to the metrics it reports, and its size.

    .venv/bin/python benchmarks/bench_report.py

200 pairs of 256×256 PNGs: ``likeness.compare`` (ssim, psnr, lpips-alex, no cache) into a
results folder, then ``write_report`` on it (maps computed only for the pairs shown).
Then 1,000 pairs (128×128) for the size of the report.  Stand-in AlexNet weights from the
golden set (speed does not depend on the weights' values).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _timing import sample_pair, stand_in_weights
from likeness import compare
from likeness.runs.report import write_report


def make_pairs(root: Path, count: int, side: int) -> None:
    (root / "ref").mkdir(parents=True)
    (root / "out").mkdir()
    for index in range(count):
        reference, test = sample_pair(side, noise=5.0 + index % 20, seed=index)
        shift = index % side
        Image.fromarray(np.roll(reference, shift, axis=1)).save(root / "ref" / f"{index:04d}.png")
        Image.fromarray(np.roll(test, shift, axis=1)).save(root / "out" / f"{index:04d}.png")


def main() -> None:
    stand_in = stand_in_weights()
    root = Path(tempfile.mkdtemp())
    weights = str(stand_in.save_checkpoint("alexnet", 1, root / "alexnet.pth"))
    for count, side in ((200, 256), (1000, 128)):
        data = root / f"{count}"
        make_pairs(data, count, side)
        start = time.perf_counter()
        compare(data / "ref", data / "out", metrics="ssim,psnr,lpips", cache=False,
                weights={"alexnet": weights}, out_dir=data / "results", device="cpu")
        metrics_time = time.perf_counter() - start
        start = time.perf_counter()
        report = write_report(data / "results")
        report_time = time.perf_counter() - start
        print(f"{count} pairs of {side}x{side}: metrics {metrics_time:6.1f} s, report "
              f"{report_time:5.2f} s ({report_time / metrics_time:.0%} of the metrics' time), "
              f"report size {report.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
