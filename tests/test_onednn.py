"""Convolutions through oneDNN on weights packed once (nets/onednn.py): ``F.conv2d``'s
values, copies that pack again, and a ReLU that never hides a non-finite value."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F

from likeness.nets.onednn import PackedWeights, onednn_built, onednn_pays, packed_conv2d

pytestmark = pytest.mark.skipif(not onednn_built(),
                                reason="oneDNN's packed convolution needs an x86 CPU build")

# strided, 1×1, few channels, 1×7/7×1: the layers that stay off the Winograd route
CASES = [(3, 32, (3, 3), 2, (0, 0)), (32, 64, (3, 3), 1, (1, 1)), (64, 80, (1, 1), 1, (0, 0)),
         (96, 96, (3, 3), 2, (0, 0)), (48, 40, (1, 7), 1, (0, 3)), (40, 48, (7, 1), 1, (3, 0))]


@pytest.mark.parametrize(("c_in", "c_out", "kernel", "stride", "padding"), CASES)
@pytest.mark.parametrize("relu", [True, False])
def test_equals_the_plain_convolution(c_in, c_out, kernel, stride, padding, relu):
    """Bit for bit at the shape the weights were packed for and at other batches (torch
    runs oneDNN's direct convolution there too); within float32 rounding for a single
    small image (torch takes a kernel of its own)."""
    generator = torch.Generator().manual_seed(c_in + c_out)
    weight = (torch.randn(c_out, c_in, *kernel, generator=generator) * 0.1).contiguous(
        memory_format=torch.channels_last)
    bias = torch.randn(c_out, generator=generator)
    packed = PackedWeights()
    with torch.inference_mode():
        for shape in [(4, c_in, 37, 41), (3, c_in, 37, 41), (6, c_in, 12, 30),
                      (1, c_in, 23, 19)]:
            x = (torch.rand(shape) * 2 - 1).contiguous(memory_format=torch.channels_last)
            assert onednn_pays(weight, padding, x)
            got = packed_conv2d(x, weight, bias, (stride, stride), padding, packed, relu=relu)
            assert packed.tensor is not None
            assert packed.tensor.is_mkldnn
            plain = F.conv2d(x, weight, bias, stride, padding)
            want = F.relu(plain) if relu else plain
            assert got.is_contiguous(memory_format=torch.channels_last)
            if shape[0] > 1:
                assert torch.equal(got, want), shape
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


def test_where_it_does_not_apply():
    weight = torch.rand(4, 4, 3, 3)
    x = torch.rand(2, 4, 9, 9)
    assert onednn_pays(weight, (0, 0), x)
    assert not onednn_pays(weight, (0, 0), x.double())
    assert not onednn_pays(weight.double(), (0, 0), x)
    assert not onednn_pays(weight, (0, 0), torch.rand(2, 4, 2, 9))  # the plain error
    assert onednn_pays(weight, (1, 1), torch.rand(2, 4, 1, 1))
    enabled = torch.backends.mkldnn.enabled
    torch._C._set_mkldnn_enabled(False)
    try:
        assert not onednn_pays(weight, (0, 0), x)
    finally:
        torch._C._set_mkldnn_enabled(enabled)


def test_copies_start_empty_and_pack_again():
    packed = PackedWeights()
    weight, x = torch.rand(8, 4, 3, 3), torch.rand(2, 4, 10, 10)
    with torch.inference_mode():
        want = packed_conv2d(x, weight, None, (1, 1), (1, 1), packed)
        for other in (copy.deepcopy(packed), pickle.loads(pickle.dumps(packed))):
            assert other.tensor is None
            assert torch.equal(packed_conv2d(x, weight, None, (1, 1), (1, 1), other), want)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_weight_or_input_is_never_hidden_by_the_relu(bad):
    """oneDNN's own fused ReLU maps NaN to 0; the route keeps torch's ReLU, so non-finite
    values reach the output wherever the plain convolution and ReLU put them."""
    weight, bias = torch.rand(6, 4, 3, 3) - 0.5, torch.rand(6)
    x = torch.rand(2, 4, 12, 12).contiguous(memory_format=torch.channels_last)
    weight[0, 0, 0, 0] = bad
    tainted = x.clone()
    tainted[0, 1, 5, 5] = -bad
    with torch.inference_mode():
        for inputs in (x, tainted):
            got = packed_conv2d(inputs, weight, bias, (1, 1), (1, 1), PackedWeights(),
                                relu=True)
            want = torch.relu(F.conv2d(inputs, weight, bias, 1, 1))
            assert torch.equal(got.isnan(), want.isnan())
            assert torch.equal(got.isinf(), want.isinf())
            assert not bool(got.isfinite().all())
