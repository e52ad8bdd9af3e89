"""DISTS speed per pair: likeness against the authors' DISTS_pytorch, in the same process,
on the same stand-in VGG16 weights.

    PYTHONPATH=src /tmp/likeness-reference/bin/python benchmarks/bench_dists.py

DISTS_pytorch needs torchvision, installed only in the reference environment
(references/reference-env.sh; add numba, which likeness's Winograd kernels need); there its
``models.vgg16`` is patched to return torchvision's
VGG16 with the golden stand-in weights (speed does not depend on the weights' values).
Prints the best of 5 after a warm-up for pairs at 256² and 512², batch 1 and 4, and the
largest difference.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

from _timing import best_of, stand_in_weights

try:
    import torchvision
except ImportError:  # `make bench` runs every script with .venv's python: skip, say why
    print("bench_dists: skipped, torchvision and DISTS_pytorch are not installed here; run "
          "it with the reference environment's python (see the module docstring)")
    sys.exit(0)

from likeness.nets.dists import DISTS


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = stand_in_weights().save_checkpoint("vgg16", 1, Path(folder) / "vgg16.pth")
        state = torch.load(path, weights_only=True)
        reference_vgg = torchvision.models.vgg16(weights=None)
        reference_vgg.load_state_dict(state, strict=False)
        torchvision.models.vgg16 = lambda *args, **kwargs: reference_vgg
        from DISTS_pytorch import DISTS as AuthorsDISTS

        theirs, ours = AuthorsDISTS(), DISTS(backbone_weights=path)
    print(f"threads: torch {torch.get_num_threads()}")
    generator = torch.Generator().manual_seed(0)
    for side in (256, 512):
        for batch in (1, 4):
            x = torch.rand(batch, 3, side, side, generator=generator)
            y = (x + 0.05 * torch.randn(x.shape, generator=generator)).clamp(0, 1)
            with torch.inference_mode():
                ref_best, _, want = best_of(lambda a=x, b=y: theirs(a, b, batch_average=False))
                our_best, _, got = best_of(lambda a=x, b=y: ours(a, b))
            print(f"dists {batch}x3x{side}x{side}: DISTS_pytorch {ref_best * 1e3:7.1f} ms, "
                  f"likeness {our_best * 1e3:7.1f} ms, ratio {ref_best / our_best:4.2f}x, "
                  f"max |diff| {float((got - want.reshape(-1)).abs().max()):.1e}")


if __name__ == "__main__":
    main()
