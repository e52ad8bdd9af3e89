"""Winograd F(4, r) convolutions (nets/winograd.py): the same convolution, another rounding."""

from __future__ import annotations

import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from likeness.nets import winograd
from likeness.nets.backbones import build_backbone
from likeness.nets.winograd import use_winograd, winograd_conv2d, winograd_transforms


@pytest.mark.parametrize("side", [1, 3, 5, 7])
def test_transforms_compute_a_correlation_exactly(side):
    a_t, g, b_t = winograd_transforms(side)
    assert np.array_equal(a_t.astype(np.float32), a_t)  # exact in float32
    assert np.array_equal(b_t.astype(np.float32), b_t)
    rng = np.random.default_rng(0)
    tile, kernel = rng.normal(size=b_t.shape[0]), rng.normal(size=side)
    got = a_t @ ((g @ kernel) * (b_t @ tile))
    want = np.correlate(tile, kernel, mode="valid")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_repeated_points_are_refused():
    with pytest.raises(ValueError, match="distinct points"):
        winograd_transforms(3, 4, (Fraction(0), Fraction(1), Fraction(1), Fraction(2),
                                   Fraction(3)))


def _conv(c_in, c_out, side, padding, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Conv2d(c_in, c_out, side, padding=padding).requires_grad_(False)


@pytest.mark.parametrize(("c_in", "c_out", "side", "padding", "size"), [
    (192, 192, 3, 1, (2, 13, 17)),   # odd sizes: partial last tiles
    (192, 256, 3, 0, (1, 9, 8)),     # no padding
    (96, 160, 5, 2, (3, 11, 6)),
    (64, 192, 5, 0, (1, 12, 12)),
    (64, 128, 3, 1, (5, 7, 9)),      # few channels (VGG's early layers' kind)
    (384, 384, (1, 3), (0, 1), (2, 8, 8)),   # one side only (Inception's E blocks)
    (384, 320, (3, 1), (1, 0), (3, 9, 7)),
    (192, 192, (1, 3), 0, (1, 5, 11)),
])
@pytest.mark.parametrize("relu", [False, True])
def test_equals_the_direct_convolution_within_its_own_rounding(c_in, c_out, side, padding,
                                                               size, relu):
    conv = _conv(c_in, c_out, side, padding)
    batch, height, width = size
    x = torch.randn(batch, c_in, height, width).relu().contiguous(
        memory_format=torch.channels_last)
    assert use_winograd(conv, x)
    exact = F.conv2d(x.double(), conv.weight.double(), conv.bias.double(), padding=padding)
    exact = exact.relu() if relu else exact
    direct = conv(x)
    direct = direct.relu() if relu else direct
    with torch.inference_mode():
        got = winograd_conv2d(x, conv, relu=relu)
    assert got.shape == exact.shape
    scale = float(exact.abs().max())
    direct_error = float((direct.double() - exact).abs().mean())
    error = (got.double() - exact).abs()
    assert float(error.max()) < 1e-5 * scale
    # on average within a few times a direct kernel's own rounding
    assert float(error.mean()) < 5 * direct_error + 1e-7 * scale


@pytest.mark.parametrize("side", [3, 5])
def test_a_non_finite_input_never_gives_finite_outputs_where_the_direct_one_does_not(side):
    """A NaN or infinity reaches every output whose window holds it (the tile transforms
    may spread it further inside its tile, never less far)."""
    conv = _conv(192, 192, side, side // 2)
    for bad in (float("nan"), float("inf")):
        x = torch.randn(1, 192, 12, 12).contiguous(memory_format=torch.channels_last)
        x[0, 5, 6, 7] = bad
        direct = ~torch.isfinite(conv(x))
        got = ~torch.isfinite(winograd_conv2d(x, conv))
        assert bool(direct.any())
        assert bool((got | ~direct).all())


def test_tiles_split_to_stay_in_cache_give_the_same_values(monkeypatch):
    conv = _conv(192, 192, 3, 1)
    x = torch.randn(5, 192, 10, 10).contiguous(memory_format=torch.channels_last)
    whole = winograd_conv2d(x, conv)
    monkeypatch.setattr(winograd, "_WORKING_BYTES", 1)  # a row of tiles per thread at a time
    # the matrix products may add in another order for another number of rows
    torch.testing.assert_close(winograd_conv2d(x, conv), whole, rtol=0, atol=2e-5)


def test_when_it_is_used():
    conv = _conv(192, 192, 3, 1)
    x = torch.randn(1, 192, 8, 8)
    assert use_winograd(conv, x)
    assert not use_winograd(_conv(16, 16, 3, 1), torch.randn(1, 16, 8, 8))  # too few channels
    assert not use_winograd(conv, x.double())
    strided = torch.nn.Conv2d(192, 192, 3, stride=2).requires_grad_(False)
    assert not use_winograd(strided, x)
    assert not use_winograd(conv, x.requires_grad_(True))  # autograd: the direct kernel
    with torch.no_grad():  # an input that requires a gradient, with autograd off
        assert use_winograd(conv, x)
        torch.testing.assert_close(winograd_conv2d(x, conv), conv(x), rtol=0, atol=1e-4)
    assert not use_winograd(conv, torch.randn(1, 192, 2, 2)[:, :, :, :1][:, :, :0])  # empty
    unpadded = torch.nn.Conv2d(192, 192, 3).requires_grad_(False)
    assert not use_winograd(unpadded, torch.randn(1, 192, 2, 8))  # smaller than the kernel
    assert not use_winograd(torch.nn.ReLU(), x)
    # 1×7 and 7×1: the direct kernel is as fast (see nets/winograd.py)
    for kernel in ((1, 7), (7, 1)):
        assert not use_winograd(torch.nn.Conv2d(192, 192, kernel), torch.randn(1, 192, 9, 9))


def test_switched_off_by_the_environment(monkeypatch):
    conv = _conv(192, 192, 3, 1)
    monkeypatch.setenv("LIKENESS_WINOGRAD", "0")
    assert not use_winograd(conv, torch.randn(1, 192, 8, 8))


def test_filters_are_transformed_again_when_the_weights_change():
    conv = _conv(192, 192, 3, 1)
    x = torch.randn(1, 192, 8, 8).contiguous(memory_format=torch.channels_last)
    before = winograd_conv2d(x, conv)
    with torch.no_grad():  # as an optimiser's step edits them
        conv.weight.mul_(2)
        conv.bias.mul_(2)
    after = winograd_conv2d(x, conv)
    torch.testing.assert_close(after, 2 * before, rtol=1e-5, atol=1e-5)


def test_dists_features_equal_the_direct_layers(monkeypatch):
    from likeness.nets.dists import DISTS

    torch.manual_seed(2)
    backbone = build_backbone("vgg16")
    state = {k: torch.randn_like(v) * 0.05 for k, v in backbone.state_dict().items()}
    path = Path(tempfile.mkdtemp()) / "vgg16.pth"
    torch.save(state, path)
    metric = DISTS(backbone_weights=path)
    x, y = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        fast = metric(x, y)
        monkeypatch.setenv("LIKENESS_WINOGRAD", "0")
        direct = metric(x, y)
    torch.testing.assert_close(fast, direct, rtol=1e-5, atol=1e-7)


def test_inception_takes_the_winograd_route_and_equals_the_direct_layers(
        monkeypatch, random_inception_trunk):
    """The folded Inception runs its 3×3, 5×5, 1×3 and 3×1 layers by Winograd, a few
    images at a time (6 images: parts of 4 and 2); the features equal the direct layers'."""
    trunk = random_inception_trunk(3)
    x = torch.rand(6, 3, 107, 93) * 2 - 1
    kernels = []
    convolve = winograd.winograd_convolve

    def spy(x, weights, **options):
        kernels.append(weights.kernel)
        return convolve(x, weights, **options)

    monkeypatch.setattr("likeness.nets.inception_units.winograd_convolve", spy)
    with torch.inference_mode():
        fast = trunk(x)
        assert {(3, 3), (5, 5), (1, 3), (3, 1)} <= set(kernels)
        monkeypatch.setenv("LIKENESS_WINOGRAD", "0")
        direct = trunk(x)
        one_by_one = torch.cat([trunk(image[None]) for image in x])
        plain = trunk.reference_forward(x)
    assert float((fast - direct).abs().max()) < 1e-5 * float(direct.abs().max())
    assert float((one_by_one - direct).abs().max()) < 1e-5 * float(direct.abs().max())
    assert float((plain - direct).abs().max()) < 1e-5 * float(direct.abs().max())


def test_backbone_taps_equal_the_direct_layers(monkeypatch):
    torch.manual_seed(1)
    backbone = build_backbone("alexnet").eval().requires_grad_(False)
    for parameter in backbone.parameters():
        parameter.data.normal_(0, 0.05)
    x = torch.randn(2, 3, 96, 96).contiguous(memory_format=torch.channels_last)
    taps = (1, 4, 7, 9, 11)
    with torch.inference_mode():
        fast = backbone.forward_taps(x, taps)
        monkeypatch.setenv("LIKENESS_WINOGRAD", "0")
        direct = backbone.forward_taps(x, taps)
    for a, b in zip(fast, direct, strict=True):
        assert float((a - b).abs().max()) < 1e-5 * float(b.abs().max())


def test_the_thresholds_follow_the_cpus_instruction_set(monkeypatch):
    from likeness.nets import winograd

    conv = _conv(64, 64, 3, 1)  # C_in·C_out/(C_in + C_out) = 32
    x = torch.randn(1, 64, 16, 16)
    for capability, routed in (("AVX512", False), ("AVX2", True), ("DEFAULT", True)):
        winograd.channel_thresholds.cache_clear()
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        assert use_winograd(conv, x) is routed, capability
    winograd.channel_thresholds.cache_clear()
