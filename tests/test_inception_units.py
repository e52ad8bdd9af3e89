"""Inception's folded units on the CPU: oneDNN's convolution on packed weights
gives the plain convolution's values, and the network's input scaling and identity resize
are exact."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
import torch.nn.functional as F

from likeness.nets.inception_features import InceptionFeatures, to_signed_range
from likeness.nets.inception_units import FoldedConv
from likeness.nets.onednn import onednn_built

needs_onednn = pytest.mark.skipif(not onednn_built(),
                                  reason="oneDNN's packed convolution needs an x86 CPU build")


def _folded(c_in: int, c_out: int, kernel: tuple[int, int], stride: int,
            padding: tuple[int, int], seed: int) -> FoldedConv:
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(c_out, c_in, *kernel, generator=generator) * 0.1
    conv = FoldedConv(weight, torch.randn(c_out, generator=generator), (stride, stride),
                      padding)
    conv.to(torch.device("cpu"), torch.channels_last)
    return conv


@needs_onednn
@pytest.mark.parametrize("relu", [True, False])
def test_units_off_the_winograd_route_take_the_packed_one(relu):
    """A strided and a 1×7 unit: oneDNN on packed weights, ``F.conv2d``'s values."""
    for conv in (_folded(32, 48, (3, 3), 2, (0, 0), seed=1),
                 _folded(64, 64, (1, 7), 1, (0, 3), seed=2)):
        x = (torch.rand(4, conv.weight.shape[1], 35, 35) * 2 - 1).contiguous(
            memory_format=torch.channels_last)
        with torch.inference_mode():
            got = conv(x, relu=relu)
        assert conv._packed.tensor is not None
        plain = F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding)
        assert torch.equal(got, F.relu(plain) if relu else plain)


def test_without_onednn_the_plain_convolution_runs():
    conv = _folded(16, 24, (3, 3), 2, (0, 0), seed=5)
    x = torch.rand(2, 16, 21, 21).contiguous(memory_format=torch.channels_last)
    enabled = torch.backends.mkldnn.enabled
    torch._C._set_mkldnn_enabled(False)
    try:
        with torch.inference_mode():
            got = conv(x)
    finally:
        torch._C._set_mkldnn_enabled(enabled)
    assert conv._packed.tensor is None
    assert torch.equal(got, F.relu(F.conv2d(x, conv.weight, conv.bias, 2)))


def test_a_used_network_copies_pickles_and_moves_with_its_values(random_inception_trunk):
    """Packed weights (opaque oneDNN tensors) are made again, never copied or saved."""
    trunk = random_inception_trunk(7)
    x = torch.rand(2, 3, 91, 87) * 2 - 1
    with torch.inference_mode():
        want = trunk(x)
        copied = copy.deepcopy(trunk)
        pickled = pickle.loads(pickle.dumps(trunk))
        buffer = io.BytesIO()
        torch.save(trunk, buffer)
        buffer.seek(0)
        saved = torch.load(buffer, weights_only=False)
        moved = trunk.to("cpu")
        for network in (copied, pickled, saved, moved):
            assert torch.equal(network(x), want)


def test_a_converted_network_computes_in_its_new_dtype(random_inception_trunk):
    """``.double()`` or ``.half()`` left the folded weights in float32: "RuntimeError:
    Input type (double) and bias type (float) should be the same".  They are folded again
    from the converted parameters; ``.float()`` gives the float32 features back, bit for
    bit."""
    trunk = random_inception_trunk(8)
    x = torch.rand(2, 3, 91, 87) * 2 - 1
    with torch.inference_mode():
        want = trunk(x)
        in_float64 = copy.deepcopy(trunk).double()(x.double())
        assert in_float64.dtype == torch.float64
        torch.testing.assert_close(in_float64, want.double(), rtol=1e-4, atol=1e-4)
        assert copy.deepcopy(trunk).half()(x.half()).dtype == torch.float16
        assert torch.equal(copy.deepcopy(trunk).double().float()(x), want)


def test_the_input_scaling_is_twice_minus_one_exactly_in_channels_last_memory():
    images = torch.rand(3, 3, 29, 31)
    before = images.clone()
    scaled = to_signed_range(images)
    assert torch.equal(images, before)  # the input is left as it was
    assert torch.equal(scaled, 2 * before - 1)
    assert scaled.is_contiguous(memory_format=torch.channels_last)
    wide = torch.rand(2, 3, 5, 5, dtype=torch.float64)
    assert to_signed_range(wide).dtype == torch.float64
    leaf = torch.rand(1, 3, 4, 4, requires_grad=True)
    to_signed_range(leaf).sum().backward()
    assert leaf.grad is not None
    assert torch.equal(leaf.grad, torch.full_like(leaf, 2.0))


def test_images_already_299_square_are_not_resized_and_the_values_are_the_same(fid_weights):
    network = InceptionFeatures(weights=fid_weights)
    images = torch.rand(2, 3, 299, 299)
    assert network.resize_batch(images) is images
    interpolated = F.interpolate(images, size=(299, 299), mode="bilinear",
                                 align_corners=False)
    assert torch.equal(interpolated, images)


def test_a_nan_weight_reaches_the_features_as_on_the_layer_by_layer_route(
        random_inception_trunk):
    """Every fast route keeps NaN through its ReLU (oneDNN's own fused ReLU would not)."""
    trunk = random_inception_trunk(11)
    with torch.no_grad():
        trunk.Conv2d_1a_3x3.conv.weight[0, 0, 0, 0] = float("nan")
    trunk.fold()
    x = torch.rand(2, 3, 91, 87) * 2 - 1
    with torch.inference_mode():
        fast, plain = trunk(x), trunk.reference_forward(x)
    assert bool(plain.isnan().any())
    assert torch.equal(fast.isnan(), plain.isnan())
