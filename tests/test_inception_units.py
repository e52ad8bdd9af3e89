"""Inception's folded units on the CPU: oneDNN's fused convolution with packed weights
gives the plain convolution's values, and the network's input scaling and identity resize
are exact."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
import torch.nn.functional as F

from likeness.nets import inception_units
from likeness.nets.inception import InceptionTrunk
from likeness.nets.inception_features import InceptionFeatures, to_signed_range
from likeness.nets.inception_units import FoldedConv

needs_onednn = pytest.mark.skipif(not inception_units._onednn_built(),
                                  reason="oneDNN's fused convolution needs an x86 CPU build")


def _folded(c_in: int, c_out: int, kernel: tuple[int, int], stride: int,
            padding: tuple[int, int], seed: int) -> FoldedConv:
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(c_out, c_in, *kernel, generator=generator) * 0.1
    conv = FoldedConv(weight, torch.randn(c_out, generator=generator), (stride, stride),
                      padding)
    conv.to(torch.device("cpu"), torch.channels_last)
    return conv


# the layers that stay off the Winograd route: strided, 1×1, few channels, 1×7/7×1
CASES = [(3, 32, (3, 3), 2, (0, 0)), (32, 64, (3, 3), 1, (1, 1)), (64, 80, (1, 1), 1, (0, 0)),
         (96, 96, (3, 3), 2, (0, 0)), (48, 40, (1, 7), 1, (0, 3)), (40, 48, (7, 1), 1, (3, 0))]


@needs_onednn
@pytest.mark.parametrize(("c_in", "c_out", "kernel", "stride", "padding"), CASES)
@pytest.mark.parametrize("relu", [True, False])
def test_onednn_route_equals_the_plain_convolution(c_in, c_out, kernel, stride, padding, relu):
    """Bit for bit at the shape the weights were packed for (a few images, as the network
    runs them); within float32 rounding at others (for a single small image torch's own
    convolution takes another kernel)."""
    conv = _folded(c_in, c_out, kernel, stride, padding, seed=c_in + c_out)
    with torch.inference_mode():
        for index, shape in enumerate([(4, c_in, 37, 41), (3, c_in, 37, 41),
                                       (1, c_in, 23, 19), (6, c_in, 12, 30)]):
            x = (torch.rand(shape) * 2 - 1).contiguous(memory_format=torch.channels_last)
            got = conv(x, relu=relu)
            assert conv._packed is not None
            assert conv._packed.is_mkldnn
            plain = F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding)
            want = F.relu(plain) if relu else plain
            assert got.is_contiguous(memory_format=torch.channels_last)
            if index == 0:
                assert torch.equal(got, want)
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


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
    assert conv._packed is None
    assert torch.equal(got, F.relu(F.conv2d(x, conv.weight, conv.bias, 2)))


def _random_trunk() -> InceptionTrunk:
    torch.manual_seed(7)
    trunk = InceptionTrunk("fid").eval()
    for name, tensor in trunk.state_dict().items():
        if name.endswith("running_var"):
            tensor.uniform_(0.5, 1.5)
        elif tensor.is_floating_point():
            tensor.normal_(0, 0.05 if "conv" in name else 0.1)
    trunk.fold()
    return trunk


def test_a_used_network_copies_pickles_and_moves_with_its_values():
    """Packed weights (opaque oneDNN tensors) are made again, never copied or saved."""
    trunk = _random_trunk()
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
