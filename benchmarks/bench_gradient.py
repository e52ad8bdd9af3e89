"""The classical full-reference metrics (GMSD, MS-GMSD, VIFp, MDSI, HaarPSI, FSIM, FSIMc,
SR-SIM, VSI, DSS, IW-SSIM) against piq, run in the same process on the same float64
tensors.

    PYTHONPATH=src /tmp/likeness-reference/bin/python benchmarks/bench_gradient.py

piq is a reference implementation, installed only in the reference environment
(references/reference-env.sh), so this benchmark runs there with likeness's source on the
path.  Prints both timings (best of 5 after a warm-up), the ratio and the largest
difference, for a batch of 8 RGB images at 256² and 512² (4 for IW-SSIM, the slowest).
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

import functools
import warnings

from likeness.metrics.dss import dss
from likeness.metrics.fsim import fsim, fsimc
from likeness.metrics.gmsd import gmsd, ms_gmsd
from likeness.metrics.haarpsi import haarpsi
from likeness.metrics.iw_ssim import iw_ssim
from likeness.metrics.mdsi import mdsi
from likeness.metrics.srsim import sr_sim
from likeness.metrics.vif import vif_p
from likeness.metrics.vsi import vsi

METRICS = (("gmsd", gmsd, piq.gmsd), ("ms_gmsd", ms_gmsd, piq.multi_scale_gmsd),
           ("vif_p", vif_p, piq.vif_p), ("mdsi", mdsi, piq.mdsi),
           ("haarpsi", haarpsi, piq.haarpsi),
           ("fsim", fsim, functools.partial(piq.fsim, chromatic=False)),
           ("fsimc", fsimc, piq.fsim), ("sr_sim", sr_sim, piq.srsim), ("vsi", vsi, piq.vsi),
           ("dss", dss, piq.dss), ("iw_ssim", iw_ssim, piq.information_weighted_ssim))


def main() -> None:
    print(f"threads: torch {torch.get_num_threads()}; piq {piq.__version__}")
    warnings.simplefilter("ignore")
    generator = torch.Generator().manual_seed(0)
    wanted = set(sys.argv[1:])  # metric names to run (default: all)
    for side in (256, 512):
        y = torch.rand(8, 3, side, side, generator=generator, dtype=torch.float64)
        x = (y + 0.05 * torch.randn(y.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
        for name, ours, theirs in METRICS:
            if wanted and name not in wanted:
                continue
            a, b = (x[:4], y[:4]) if name == "iw_ssim" else (x, y)
            ref_best, _, want = best_of(lambda f=theirs, a=a, b=b: f(a, b, reduction="none"))
            our_best, _, got = best_of(lambda f=ours, a=a, b=b: f(a, b))
            print(f"{name:8s} {a.shape[0]}x3x{side}x{side} float64: piq {ref_best * 1e3:7.1f} ms, "
                  f"likeness {our_best * 1e3:7.1f} ms, ratio {ref_best / our_best:4.2f}x, "
                  f"max |diff| {float((got - want).abs().max()):.1e}")
    print("(sr_sim's |diff| over a batch: piq scales saliency by the whole batch's range)")


if __name__ == "__main__":
    main()
