"""Pinned LPIPS input gradients from the lpips package (run in references/reference-env.sh).

    "$REFERENCE_VENV/bin/python" references/make_lpips_gradients.py

Writes tests/data/lpips_gradients.npz: inputs x, y (2, 3, 48, 48) uniform in [-1, 1]
(numpy default_rng(0)), and for each net the gradient of lpips.LPIPS(net).forward(x, y).sum()
with respect to x, with the backbone loaded from the golden stand-in weights
(tests/data/golden/weights.py, seed expected["lpips_seed"]) and lpips' shipped v0.1 heads.

Why noise and not a photograph: on real images, max-pooling meets near-ties, and which
neighbour wins depends on float32 rounding, so a gradient moves by up to ~1 % of its
largest entry with the convolution kernel's path: lpips differs from *itself* by that much
between two processes (oneDNN picks kernels by process state) and between memory layouts.
On noise no tie is near, and the gradient is a property of the formula, not of the kernel.
"""

from __future__ import annotations

import importlib.util
import json
from importlib.metadata import version
from pathlib import Path

import lpips
import numpy as np
import torch

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parent / "tests" / "data" / "golden"
BACKBONES = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}


def main() -> None:
    spec = importlib.util.spec_from_file_location("golden_weights", GOLDEN / "weights.py")
    weights = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(weights)
    seed = json.loads((GOLDEN / "expected.json").read_text())["lpips_seed"]
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 3, 48, 48)).astype(np.float32)
    y = rng.uniform(-1, 1, (2, 3, 48, 48)).astype(np.float32)
    out = {"x": x, "y": y}
    for net, backbone in BACKBONES.items():
        model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
        state = weights.make_state_dict(backbone, seed=seed)
        # lpips splits torchvision's `features` into slices that keep the layer indices
        for slice_module in (getattr(model.net, f"slice{i}") for i in range(1, 8)
                             if hasattr(model.net, f"slice{i}")):
            for index, layer in slice_module.named_children():
                for name, tensor in layer.named_parameters():
                    tensor.data.copy_(state[f"features.{index}.{name}"])
        model.eval()
        inputs = torch.from_numpy(x).clone().requires_grad_(True)
        model(inputs, torch.from_numpy(y)).sum().backward()
        out[f"grad_{net}"] = inputs.grad.numpy()
    out["source"] = np.array(f"lpips {version('lpips')}, torch {torch.__version__}")
    np.savez_compressed(HERE.parent / "tests" / "data" / "lpips_gradients.npz", **out)


if __name__ == "__main__":
    main()
