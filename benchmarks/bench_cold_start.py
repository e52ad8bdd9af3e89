"""Cold start: how long a fresh ``likeness`` process takes to answer.

Each case starts a new process (the console script, as a user runs it) several times and
prints the median wall time, against the targets of issue 13: ``likeness compare a.png
b.png`` (SSIM and PSNR of one pair of 512² PNGs) under 1 s, ``likeness --help`` under 0.3
s.  One untimed run first warms the file-system cache and, if needed, numba's on-disk
cache of compiled kernels (its first compilation, ~5 s once per installation, is
excluded; the one-pair run does not load numba at all — see likeness.metrics.exact_sums).
It also reports which heavy modules the one-pair run imported, and times a re-run of
``likeness compare`` with LPIPS whose values are all in its cache (the warm-up run fills
it), with a stand-in AlexNet checkpoint of the published file's size (244 MB: its
classifier too, which LPIPS does not read): no target, a figure to compare across versions.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import SAMPLES, stand_in_weights

RUNS = 7
TARGETS = {"likeness --help": 0.3, "likeness compare a.png b.png": 1.0}
CACHED_RERUN = "likeness compare --metrics lpips, all cached"


def _console_script() -> str:
    here = Path(sys.executable).parent / "likeness"
    found = here if here.is_file() else shutil.which("likeness")
    if found is None:
        sys.exit("the likeness console script is not installed (make .venv/.likeness-installed)")
    return str(found)


def _median_seconds(command: list[str]) -> float:
    subprocess.run(command, capture_output=True, check=True)  # warm caches, untimed
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _published_size_alexnet(folder: Path) -> Path:
    """The stand-in AlexNet features and a classifier of torchvision's shapes (random), as
    large as the published alexnet-owt-7be5be79.pth."""
    import torch

    state = stand_in_weights().make_state_dict("alexnet", 1)
    generator = torch.Generator().manual_seed(0)
    for index, (outputs, inputs) in {1: (4096, 9216), 4: (4096, 4096), 6: (1000, 4096)}.items():
        state[f"classifier.{index}.weight"] = torch.randn(outputs, inputs, generator=generator)
        state[f"classifier.{index}.bias"] = torch.randn(outputs, generator=generator)
    path = folder / "alexnet.pth"
    torch.save(state, path)
    return path


def main() -> None:
    script = _console_script()
    reference = SAMPLES / "reference" / "astronaut.png"
    test = SAMPLES / "jpeg" / "astronaut.png"
    with tempfile.TemporaryDirectory() as folder:
        cases = {"likeness --help": [script, "--help"],
                 "likeness compare a.png b.png": [script, "compare", str(reference), str(test),
                                                  "--no-cache"]}
        print(f"fresh processes, median of {RUNS} (first run untimed)")
        cases[CACHED_RERUN] = [script, "compare", str(SAMPLES / "reference"),
                               str(SAMPLES / "jpeg"), "--metrics", "lpips", "--weights",
                               f"alexnet={_published_size_alexnet(Path(folder))}",
                               "--cache", str(Path(folder) / "cache.sqlite")]
        for label, command in cases.items():
            seconds = _median_seconds(command)
            target = TARGETS.get(label)
            verdict = "" if target is None else (
                f"   target < {target} s: {'within' if seconds < target else 'OVER'}")
            print(f"{label:45s} {seconds:6.3f} s{verdict}")
        probe = ("import sys; from likeness.cli import main; sys.argv = ['likeness', 'compare', "
                 f"{str(reference)!r}, {str(test)!r}]\ntry:\n    main()\nexcept SystemExit:\n"
                 "    pass\nprint('loaded:', sorted(m for m in ('torch', 'numba', 'scipy', "
                 "'scipy.stats', 'rich.table') if m in sys.modules), file=sys.stderr)")
        loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                cwd=folder, check=True).stderr.strip().splitlines()[-1]
        print(f"one-pair compare imported {loaded.removeprefix('loaded: ')}")


if __name__ == "__main__":
    main()
