"""Finite input gradients everywhere, flat regions included: every differentiable metric
on images of exactly flat 16×16 blocks, on identical images and on a natural pair — the
places where a square root or a fractional power of zero made them NaN (and one NaN ends a
training run).  The values are unchanged bit for bit (the safe roots compute the same
forward), and the gradient elsewhere is torch's own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import likeness
from likeness.metrics._safe_roots import safe_pow, safe_sqrt

DIFFERENTIABLE = ["gmsd", "multi_scale_gmsd", "mdsi", "vsi", "dss", "haarpsi", "fsim", "srsim",
                  "cw_ssim", "vif", "vif_p", "nlpd", "information_weighted_ssim", "ssim", "ms_ssim"]


def _blocks(seed: int, channels: int = 3) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    cells = torch.rand(1, channels, 12, 12, generator=generator, dtype=torch.float64)
    return cells.repeat_interleave(16, 2).repeat_interleave(16, 3)  # 192×192, flat blocks


def _natural(golden) -> tuple[torch.Tensor, torch.Tensor]:
    pair = golden.pairs[0]

    def load(name: str) -> torch.Tensor:
        with Image.open(golden.image_path(name)) as image:
            pixels = torch.from_numpy(np.array(image.convert("RGB")))
        return pixels.permute(2, 0, 1)[None].to(torch.float64) / 255

    return load(pair["reference"]), load(pair["test"])


def _gradient(metric: str, x: torch.Tensor, y: torch.Tensor, **options: object) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    value = getattr(likeness, metric)(x, y, data_range=1.0, **options)
    value.sum().backward()
    assert torch.isfinite(value).all()
    assert x.grad is not None
    return x.grad


@pytest.mark.parametrize("metric", DIFFERENTIABLE)
def test_gradients_are_finite_on_flat_blocks_identical_images_and_natural_pairs(metric, golden):
    blocks = _blocks(0)
    noisy = (blocks + 0.05 * torch.rand(blocks.shape, generator=torch.Generator()
                                        .manual_seed(1), dtype=torch.float64)).clamp(0, 1)
    natural, distorted = _natural(golden)
    cases = {"flat blocks vs noise": (blocks, noisy), "noise vs flat blocks": (noisy, blocks),
             "identical flat blocks": (blocks, blocks.clone()),
             "a natural pair": (distorted, natural)}
    for case, (x, y) in cases.items():
        if metric == "ms_ssim" and min(x.shape[-2:]) < 161:
            continue
        grad = _gradient(metric, x, y)
        assert torch.isfinite(grad).all(), f"{metric}, {case}: {int((~grad.isfinite()).sum())}"
    gray = _blocks(2, channels=1)
    options = {"chromatic": False} if metric == "fsim" else {}  # FSIMc needs colour
    assert torch.isfinite(_gradient(metric, gray, gray.clone(), **options)).all(), metric


def test_the_safe_roots_are_the_plain_ones_with_a_zero_subgradient():
    value = torch.tensor([0.0, 0.25, 4.0, 9.0], dtype=torch.float64, requires_grad=True)
    assert torch.equal(safe_sqrt(value), torch.sqrt(value.detach()))
    assert torch.equal(safe_pow(value, 0.25), torch.pow(value.detach(), 0.25))
    (grad,) = torch.autograd.grad(safe_sqrt(value).sum(), value)
    positive = value.detach()[1:]
    assert grad[0] == 0
    assert torch.equal(grad[1:], 1 / (2 * torch.sqrt(positive)))
    (grad,) = torch.autograd.grad(safe_pow(value, 0.25).sum(), value)
    assert grad[0] == 0
    torch.testing.assert_close(grad[1:], 0.25 * positive ** -0.75, rtol=1e-15, atol=0)
    inner = torch.tensor([0.3, 1.7], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(safe_sqrt, (inner,))
    assert torch.autograd.gradcheck(lambda v: safe_pow(v, 0.25), (inner,))
