"""GMSD, MS-GMSD, VIFp, MDSI and HaarPSI against piq, run in the same process on the same float64 tensors.

    PYTHONPATH=src /tmp/likeness-reference/bin/python benchmarks/bench_gradient.py

piq is a reference implementation, installed only in the reference environment
(../shared/reference-env.sh), so this benchmark runs there with likeness's source on the
path.  Prints both timings (best of 5 after a warm-up), the ratio and the largest
difference, for a batch of 8 RGB images at 256² and 512².
"""

from __future__ import annotations

import sys

import torch

from _timing import best_of

try:
    import piq
except ImportError:  # `make bench` runs every script with .venv's python: skip, say why
    print("bench_gradient: skipped, piq is not installed here; run it with the reference "
          "environment's python (see the module docstring)")
    sys.exit(0)

from likeness.metrics.gmsd import gmsd, ms_gmsd
from likeness.metrics.haarpsi import haarpsi
from likeness.metrics.mdsi import mdsi
from likeness.metrics.vif import vif_p


def main() -> None:
    print(f"threads: torch {torch.get_num_threads()}; piq {piq.__version__}")
    generator = torch.Generator().manual_seed(0)
    for side in (256, 512):
        y = torch.rand(8, 3, side, side, generator=generator, dtype=torch.float64)
        x = (y + 0.05 * torch.randn(y.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
        for name, ours, theirs in (("gmsd", gmsd, piq.gmsd),
                                   ("ms_gmsd", ms_gmsd, piq.multi_scale_gmsd),
                                   ("vif_p", vif_p, piq.vif_p), ("mdsi", mdsi, piq.mdsi),
                                   ("haarpsi", haarpsi, piq.haarpsi)):
            ref_best, _, want = best_of(lambda f=theirs, a=x, b=y: f(a, b, reduction="none"))
            our_best, _, got = best_of(lambda f=ours, a=x, b=y: f(a, b))
            print(f"{name:8s} 8x3x{side}x{side} float64: piq {ref_best * 1e3:7.1f} ms, likeness "
                  f"{our_best * 1e3:7.1f} ms, ratio {ref_best / our_best:4.2f}x, max |diff| "
                  f"{float((got - want).abs().max()):.1e}")


if __name__ == "__main__":
    main()
