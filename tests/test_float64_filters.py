"""The classical metrics' routes in float64 on the CPU (the arithmetic of folder runs),
where torch's general operations were slow: ``_filters.correlate_2d`` sums shifted slices
instead of calling torch's float64 convolution, which runs at ~0.3 GFLOP/s there (VIF took
0.69 s a 512x384 pair, 3.5x pyiqa's time; NLPD 93 ms, 4x); separable windows without
autograd are shifted slices too (the banded product costs a row's length per value); 2×2
block means are strided slices, colour matrices an einsum, FSIM's per-pixel sums after its
inverse FFTs one compiled pass.  float32 without a gradient (and ``correlate_2d`` with
one) takes the shifted slices too.  Each is checked against the operation it replaces — bit
for bit where it says so, else within rounding — and the metrics' values are pinned
elsewhere (tests/test_wavelet_metrics.py, tests/test_nlpd.py, tests/test_piq_api.py,
tests/test_saliency_metrics.py)."""

from __future__ import annotations

import math
import random
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import likeness
from likeness.metrics import fsim as fsim_module
from likeness.metrics._filters import (
    SHIFTED_FROM,
    correlate_2d,
    gaussian_taps,
    valid_filter_2d,
)
from likeness.metrics._image_maps import (
    FUSED_MAPS_FROM,
    LHM,
    LMN,
    YIQ,
    block_mean,
    colour_transform,
    gradient_magnitude,
    gradient_similarity,
    on_255_scale,
    padded_block_mean,
    real_angle,
    rgb_to_lab,
    similarity,
    yiq_luma,
)


@pytest.mark.parametrize(("rows", "columns", "step"), [(5, 5, 1), (7, 7, 1), (9, 9, 2),
                                                        (17, 1, 1), (1, 9, 1), (3, 4, 3),
                                                        (1, 5, (1, 3)), (5, 1, (3, 1))])
def test_correlate_2d_is_torchs_convolution_within_rounding(rows, columns, step):
    generator = torch.Generator().manual_seed(rows * 10 + columns)
    images = torch.rand(2, 3, 41, 37, generator=generator, dtype=torch.float64) * 255
    kernel = torch.randn(rows, columns, generator=generator, dtype=torch.float64)
    kernel[0, 0] = 0.0  # a sparse kernel's zero taps are skipped
    expected = F.conv2d(images.reshape(6, 1, 41, 37), kernel[None, None], stride=step)
    expected = expected.reshape(2, 3, *expected.shape[-2:])
    got = correlate_2d(images, kernel, step)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-14, atol=1e-12)
    single = correlate_2d(images.float(), kernel.float(), step)  # float32: the same sums
    torch.testing.assert_close(single, expected.float(), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("gradient", [False, True])
def test_float32_correlate_2d_sums_shifted_slices_not_torchs_convolution(gradient,
                                                                        monkeypatch):
    """float32 took torch's one-channel convolution: VIFp's 17-tap columns of five images
    at 384×512 took 49 ms there against 2 ms as shifted slices (a 2-core AMD EPYC), with a
    gradient 5× slower.  The values and the gradient stay the convolution's within float32
    rounding."""
    generator = torch.Generator().manual_seed(3)
    images = torch.rand(2, 3, 41, 37, generator=generator) * 255
    kernel = torch.randn(5, 3, generator=generator)
    expected_input = images.clone().requires_grad_(gradient)
    expected = F.conv2d(expected_input.reshape(6, 1, 41, 37), kernel[None, None], stride=2)
    expected = expected.reshape(2, 3, *expected.shape[-2:])
    convolution = F.conv2d

    def refused(*args, **kwargs):
        raise AssertionError("torch's convolution")

    monkeypatch.setattr(F, "conv2d", refused)
    got_input = images.clone().requires_grad_(gradient)
    got = correlate_2d(got_input, kernel, 2)
    torch.testing.assert_close(got.detach(), expected.detach(), rtol=1e-5, atol=1e-3)
    if gradient:
        weights = torch.rand(got.shape, generator=generator)
        (got * weights).sum().backward()
        (expected * weights).sum().backward()
        torch.testing.assert_close(got_input.grad, expected_input.grad, rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(F, "conv2d", convolution)
    half = correlate_2d(images.half(), kernel.half(), 2)  # other dtypes: the convolution
    assert half.dtype == torch.float16


def test_correlate_2d_carries_gradients():
    generator = torch.Generator().manual_seed(2)
    images = torch.rand(1, 1, 12, 13, generator=generator, dtype=torch.float64,
                        requires_grad=True)
    kernel = torch.randn(3, 3, generator=generator, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: correlate_2d(x, kernel, 2), (images,))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("metric", "side"), [("vif", 96), ("nlpd", 96), ("vif_p", 96),
                                            ("information_weighted_ssim", 161)])
def test_float64_metrics_filter_without_torchs_convolution(metric, side, dtype, monkeypatch):
    generator = torch.Generator().manual_seed(4)
    reference = torch.rand(2, 3, side, side + 24, generator=generator, dtype=dtype)
    distorted = (0.8 * reference + 0.2 * torch.rand(reference.shape, generator=generator,
                                                     dtype=dtype))
    if dtype == torch.float32:  # the values as the convolutions gave them
        expected = getattr(likeness, metric)(distorted.double(), reference.double(),
                                             data_range=1.0, reduction="none")

    def refused(*args, **kwargs):
        raise AssertionError("torch's float64 convolution")

    monkeypatch.setattr(F, "conv2d", refused)
    values = getattr(likeness, metric)(distorted, reference, data_range=1.0,
                                       reduction="none")
    assert values.dtype == dtype
    assert bool(torch.isfinite(values).all())
    if dtype == torch.float32:
        torch.testing.assert_close(values, expected.float(), rtol=1e-4, atol=1e-5)


def test_fsim_builds_its_filters_once_per_image_size():
    """The log-Gabor filters and the noise model's sums depend on the size alone: built
    once for a folder of one size (their inverse FFT was a quarter of FSIM's time), the
    values the same as built afresh."""
    from likeness.metrics.fsim import _filter_bank

    generator = torch.Generator().manual_seed(6)
    x = torch.rand(1, 3, 90, 110, generator=generator, dtype=torch.float64)
    y = (0.9 * x + 0.1 * torch.rand(x.shape, generator=generator, dtype=torch.float64))
    _filter_bank.cache_clear()
    first = likeness.fsim(x, y, data_range=1.0)
    again = likeness.fsim(y, x, data_range=1.0)
    info = _filter_bank.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    _filter_bank.cache_clear()
    assert torch.equal(likeness.fsim(y, x, data_range=1.0), again)
    assert torch.equal(likeness.fsim(x, y, data_range=1.0), first)


def _images(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 255


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("shape", "size"), [((2, 3, 41, 37), 2), ((1, 1, 40, 36), 2),
                                             ((2, 3, 41, 37), 3), ((1, 2, 9, 12), 1)])
def test_block_mean_is_average_pooling_bit_for_bit(shape, size, dtype):
    images = _images(*shape, seed=size, dtype=dtype)
    assert torch.equal(block_mean(images, size), F.avg_pool2d(images, size))
    if size == 1:  # images under 384 px a side: not copied (VSI at 256x192 0.70-0.90x piq)
        assert block_mean(images, size) is images


@pytest.mark.parametrize(("size", "pads"), [(2, (0, 1, 0, 1)), (2, (1, 1, 1, 1)),
                                             (3, (1, 1, 1, 1)), (4, (1, 2, 1, 2)),
                                             (2, (0, 0, 0, 0)), (3, (2, 3, 2, 3)),
                                             (5, (2, 2, 2, 2)), (2, (1, 0, 1, 0)),
                                             (3, (1, 0, 0, 2)), (2, (0, 1, 1, 0))])
@pytest.mark.parametrize(("height", "width"), [(40, 36), (41, 37), (40, 37), (1, 5)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("mode", ["constant", "replicate"])
def test_padded_block_mean_is_the_pooling_of_the_padded_image_bit_for_bit(
        size, pads, height, width, dtype, mode):
    """Without the padded copy (the pooling's sums, the padding's zeros left out or the
    border pixels repeated), and with autograd through the copy: the same values either
    way, negative ones too."""
    images = _images(2, 3, height, width, seed=height + width, dtype=dtype) - 100
    padded = F.pad(images, list(pads), mode=mode)
    if min(padded.shape[-2:]) < size:
        return  # no block at all (no metric pools so small an image)
    expected = F.avg_pool2d(padded, size)
    replicate = mode == "replicate"
    assert torch.equal(padded_block_mean(images, size, pads, replicate=replicate), expected)
    differentiable = images.clone().requires_grad_()
    pooled = padded_block_mean(differentiable, size, pads, replicate=replicate)
    assert torch.equal(pooled.detach(), expected)
    pooled.sum().backward()
    assert differentiable.grad is not None


def test_padded_block_mean_over_random_sizes_and_pads_bit_for_bit():
    """Every route (the pooling with its own padding and border strips; strided sums for
    pads beyond what the pooling pads, small images): 400 seeded cases, pads up to a block
    and more, both modes, both float types."""
    chooser = random.Random(7)
    checked = 0
    for _ in range(400):
        size, height, width = (chooser.randint(1, 6), chooser.randint(1, 40),
                               chooser.randint(1, 40))
        pads = tuple(chooser.randint(0, size + 1) for _ in range(4))
        mode = chooser.choice(["constant", "replicate"])
        images = _images(chooser.randint(1, 2), chooser.randint(1, 3), height, width,
                         seed=checked, dtype=chooser.choice([torch.float64, torch.float32]))
        padded = F.pad(images, list(pads), mode=mode)
        if min(padded.shape[-2:]) < size:
            continue
        pooled = padded_block_mean(images, size, pads, replicate=mode == "replicate")
        assert torch.equal(pooled, F.avg_pool2d(padded, size)), (size, height, width, pads,
                                                                 mode)
        checked += 1
    assert checked > 350


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("matrix", [YIQ, LHM, LMN])
def test_colour_transform_is_piqs_product_of_channels_last_pixels(matrix, dtype):
    """piq multiplies (N, H, W, 3) pixels by the matrix's transpose; the einsum sums the
    same three products (bit for bit on the CPUs measured; within one rounding here)."""
    images = _images(3, 3, 17, 29, seed=1, dtype=dtype)
    weights = torch.tensor(matrix, dtype=dtype)
    expected = torch.matmul(images.permute(0, 2, 3, 1), weights.t()).permute(0, 3, 1, 2)
    got = colour_transform(images, matrix)
    assert got.is_contiguous()
    torch.testing.assert_close(got, expected, rtol=4 * torch.finfo(dtype).eps, atol=0.0)
    if matrix is YIQ:
        torch.testing.assert_close(yiq_luma(images), expected[:, :1],
                                   rtol=4 * torch.finfo(dtype).eps, atol=0.0)


def test_on_255_scale_is_piqs_arithmetic_and_leaves_the_input_alone():
    images = _images(1, 3, 8, 9, seed=2) / 255 * 65535
    kept = images.clone()
    assert torch.equal(on_255_scale(images, 65535.0), images / 65535.0 * 255)
    assert torch.equal(on_255_scale(images, 65535.0, multiply_first=True),
                       images * 255.0 / 65535.0)  # VSI's order
    assert torch.equal(images, kept)
    differentiable = images.clone().requires_grad_()
    on_255_scale(differentiable, 65535.0).sum().backward()
    torch.testing.assert_close(differentiable.grad, torch.full_like(images, 255 / 65535))
    differentiable.grad = None
    on_255_scale(differentiable, 65535.0, multiply_first=True).sum().backward()
    torch.testing.assert_close(differentiable.grad, torch.full_like(images, 255 / 65535))


def test_real_angle_is_pi_where_negative_else_zero():
    values = torch.tensor([-2.0, -0.0, 0.0, 3.0, float("nan")], dtype=torch.float64)
    expected = torch.where(values < 0, torch.full_like(values, math.pi),
                           torch.zeros_like(values))
    assert torch.equal(real_angle(values), expected)


def test_rgb_to_lab_without_gradients_is_its_differentiable_value():
    """Without autograd the cube root is taken of every ratio (the masked ones are not
    read): the same values as the masked route, bit for bit, dark pixels included."""
    images = _images(2, 3, 11, 13, seed=3) / 255
    images[0, :, :4] = 0.001  # below the linear segment's threshold
    differentiable = images.clone().requires_grad_()
    assert torch.equal(rgb_to_lab(images), rgb_to_lab(differentiable).detach())


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("channels", [1, 3])
def test_haarpsi_without_gradients_is_its_differentiable_value(channels, fused, monkeypatch):
    """Without autograd HaarPSI's Haar responses are written into one array, scale by
    scale, not concatenated, and (from ``FUSED_MAPS_FROM`` pixels, float64) its
    similarity maps and weights are one compiled pass: the same values bit for bit as the
    differentiable route."""
    if fused:
        monkeypatch.setattr("likeness.metrics.haarpsi.FUSED_MAPS_FROM", 1)
    x = _images(2, channels, 70, 53, seed=5)
    y = (x + _images(2, channels, 70, 53, seed=6) / 10).clamp(0, 255)
    differentiable = x.clone().requires_grad_()
    assert torch.equal(likeness.haarpsi(x, y, data_range=255.0, reduction="none"),
                       likeness.haarpsi(differentiable, y, data_range=255.0,
                                        reduction="none").detach())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("side", [SHIFTED_FROM, 130, 170])
def test_float64_separable_filtering_without_autograd_sums_shifted_slices(side, dtype,
                                                                         monkeypatch):
    """float64 and float32 (whose depthwise convolutions were up to 8× slower without a
    gradient from 128² on a 2-core AMD EPYC) without autograd: shifted slices."""
    from likeness.metrics import _filters

    images = _images(5, 2, 1, side, side + 17, seed=side).to(dtype)
    taps = gaussian_taps(11, 1.5)
    expected = valid_filter_2d(images.clone().requires_grad_(), taps, taps).detach()
    monkeypatch.setattr(F, "conv2d", None)  # neither the depthwise convolution

    def refused(*args, **kwargs):
        raise AssertionError("the banded product")

    monkeypatch.setattr(_filters, "_band_matrix", refused)
    got = valid_filter_2d(images, taps, taps)
    assert got.shape == expected.shape
    assert got.dtype == dtype
    tolerance = 1e-14 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(got, expected, rtol=tolerance, atol=tolerance * 100)


def test_float64_separable_filtering_of_small_images_keeps_the_banded_product(monkeypatch):
    from likeness.metrics import _filters

    calls = []
    band = _filters._band_matrix
    monkeypatch.setattr(_filters, "_band_matrix", lambda *args: calls.append(1) or band(*args))
    valid_filter_2d(_images(1, 1, SHIFTED_FROM - 1, 200), (0.25, 0.5, 0.25), None)
    assert calls


def _responses(seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (2, 4, 4, 23, 31)
    parts = [torch.randn(shape, generator=generator, dtype=torch.float64) for _ in range(2)]
    return torch.complex(*parts) * 10**seed


@pytest.mark.parametrize("phase_eps", [torch.finfo(torch.float64).eps, 1e-4])
@pytest.mark.parametrize("seed", [0, 3])
def test_fsim_compiled_phase_sums_are_torchs_within_rounding(phase_eps, seed):
    responses = _responses(seed)
    compiled = fsim_module._compiled_sums(responses, phase_eps)
    plain = fsim_module._torch_sums(responses, phase_eps)
    for got, want in zip(compiled, plain, strict=True):
        assert got.shape == want.shape
        assert got.dtype == want.dtype
        torch.testing.assert_close(got, want, rtol=0.0,
                                   atol=1e-14 * float(want.abs().max()))


def test_fsim_compiled_phase_sums_of_float32_responses_are_the_float64_sums_rounded():
    """complex64 responses (float32 images) take the compiled pass too, read into float64:
    torch's float64 sums of the same values, rounded to float32 (torch's own float32 sums
    are ~1e-6 off)."""
    responses = _responses(1).to(torch.complex64)
    eps = torch.finfo(torch.float32).eps
    compiled = fsim_module._compiled_sums(responses, eps)
    exact = fsim_module._torch_sums(responses.to(torch.complex128), eps)
    for got, want in zip(compiled, exact, strict=True):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want.float(), rtol=0.0,
                                   atol=2e-7 * float(want.abs().max()))


@pytest.mark.parametrize("dtype", [torch.complex128, torch.complex64])
@pytest.mark.parametrize("phase_eps", [torch.finfo(torch.float64).eps, 1e-4])
def test_fsim_compiled_phase_sums_backward_is_autograd_s_through_torchs(dtype, phase_eps):
    """The compiled backward gives autograd's gradient through ``_torch_sums`` (complex:
    ∂/∂Re + i·∂/∂Im), for any weights of the three outputs; where a response is exactly
    zero, the amplitude's subgradient is 0 (torch's √ gives NaN there: the reference takes
    the safe root); differentiated twice (create_graph) it is torch's own."""
    from likeness.metrics._safe_roots import safe_sqrt

    responses = _responses(0).to(dtype)
    responses[0, 1, 2, 3, 4] = 0  # a zero amplitude
    responses[1, 2, :, 5, 6] = 0  # a zero sum over the scales
    generator = torch.Generator().manual_seed(4)
    real = responses.real.dtype
    weights = [torch.randn(shape, generator=generator, dtype=real)
               for shape in ((2, 4, 1, 23, 31), (2, 4, 1, 1, 23 * 31), (2, 23, 31))]

    def gradient(sums, create_graph=False):
        leaf = responses.clone().requires_grad_()
        (grad,) = torch.autograd.grad(sums(leaf, phase_eps), leaf, weights,
                                      create_graph=create_graph)
        return grad

    def safe_torch_sums(leaf, eps):  # _torch_sums with the amplitude's root made safe
        energy, _, _ = fsim_module._torch_sums(leaf, eps)
        amplitude = safe_sqrt(leaf.real**2 + leaf.imag**2)
        n, orientations, _, height, width = leaf.shape
        return (energy, amplitude[:, :, :1].reshape(n, orientations, 1, 1, height * width),
                amplitude.sum(dim=[1, 2]))

    assert not torch.isfinite(torch.view_as_real(gradient(fsim_module._torch_sums))).all()
    want = gradient(safe_torch_sums)
    got = gradient(fsim_module._CompiledPhaseSums.apply)
    assert got.dtype == dtype
    assert bool(torch.isfinite(torch.view_as_real(got)).all())
    tolerance = 1e-13 if dtype == torch.complex128 else 1e-5
    torch.testing.assert_close(got, want, rtol=0.0, atol=tolerance * float(want.abs().max()))
    if dtype == torch.complex128:
        assert gradient(fsim_module._CompiledPhaseSums.apply, create_graph=True).requires_grad


def test_fsim_with_gradients_takes_the_compiled_sums_and_their_backward(monkeypatch):
    """With autograd FSIM's value is the one without it, bit for bit, and its gradient the
    one through torch's sums within rounding."""
    x = _images(1, 3, 40, 48, seed=5) / 255
    y = (0.8 * x + 0.2 * _images(1, 3, 40, 48, seed=6) / 255)
    torch_sums = fsim_module._torch_sums

    def refused(*args):
        raise AssertionError("the other route")

    def fsim_and_gradient():
        leaf = x.clone().requires_grad_()
        value = likeness.fsim(leaf, y, data_range=1.0)
        value.backward()
        return value.detach(), leaf.grad

    monkeypatch.setattr(fsim_module, "_torch_sums", refused)
    plain = likeness.fsim(x, y, data_range=1.0)
    value, gradient = fsim_and_gradient()
    assert torch.equal(value, plain)
    monkeypatch.setattr(fsim_module, "_torch_sums", torch_sums)
    monkeypatch.setattr(fsim_module._CompiledPhaseSums, "apply", torch_sums)
    torch_value, torch_gradient = fsim_and_gradient()
    torch.testing.assert_close(torch_value, value, rtol=1e-13, atol=0.0)
    torch.testing.assert_close(gradient, torch_gradient, rtol=0.0,
                               atol=1e-12 * float(torch_gradient.abs().max()))


def test_iw_ssim_without_gradients_is_its_differentiable_value():
    """Without autograd the information weights are written in place and the windows
    filtered by shifted slices: the differentiable value within rounding."""
    x = _images(1, 3, 170, 181, seed=7) / 255
    y = (0.7 * x + 0.3 * _images(1, 3, 170, 181, seed=8) / 255)
    plain = likeness.information_weighted_ssim(x, y, data_range=1.0)
    differentiable = likeness.information_weighted_ssim(x.clone().requires_grad_(), y,
                                                        data_range=1.0)
    torch.testing.assert_close(plain, differentiable.detach(), rtol=1e-13, atol=0.0)


def test_vsi_builds_its_saliency_filters_once_per_size():
    from likeness.metrics.vsi import _saliency_filters

    x = _images(1, 3, 40, 44, seed=9) / 255
    y = (0.9 * x + 0.1 * _images(1, 3, 40, 44, seed=10) / 255)
    _saliency_filters.cache_clear()
    first = likeness.vsi(x, y, data_range=1.0)
    likeness.vsi(y, x, data_range=1.0)
    info = _saliency_filters.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    _saliency_filters.cache_clear()
    assert torch.equal(likeness.vsi(x, y, data_range=1.0), first)


def _torch_gradient_similarity(x, y, constant, operator, alpha, rounded_sqrt=False):
    """similarity(gradient_magnitude(x), gradient_magnitude(y)), the square roots torch's
    or (``rounded_sqrt``) NumPy's correctly rounded ones."""
    if not rounded_sqrt:
        return similarity(gradient_magnitude(x, operator), gradient_magnitude(y, operator),
                          constant, alpha)
    squares = []
    for image in (x, y):  # gradient_magnitude before its square root
        with mock.patch.object(torch, "sqrt", lambda value: value):
            squares.append(gradient_magnitude(image, operator))
    magnitudes = [torch.from_numpy(np.sqrt(square.numpy())) for square in squares]
    return similarity(*magnitudes, constant, alpha)


@pytest.mark.parametrize(("operator", "constant", "alpha"), [
    ("prewitt", 170 / 255**2, 0.0), ("prewitt", 170.0, 0.5), ("scharr", 386.0, 0.0)])
@pytest.mark.parametrize(("height", "width"), [(1, 1), (1, 7), (2, 2), (3, 40), (130, 127)])
def test_fused_gradient_similarity_is_torchs_with_rounded_square_roots(
        operator, constant, alpha, height, width, monkeypatch):
    """GMSD's, MS-GMSD's, SR-SIM's, FSIM's and VSI's map in one compiled pass: bit for bit
    torch's operations with correctly rounded square roots (torch's are not on AVX-512
    CPUs), so within ~1e-15 of torch's own; borders, one-pixel rows and columns too."""
    monkeypatch.setattr("likeness.metrics._image_maps.FUSED_MAPS_FROM", 1)
    generator = torch.Generator().manual_seed(height * width)
    x = torch.rand(2, 1, height, width, dtype=torch.float64, generator=generator) * 255
    y = x + torch.randn(x.shape, dtype=torch.float64, generator=generator) * 9
    fused = gradient_similarity(x, y, constant, operator, alpha)
    assert torch.equal(fused, _torch_gradient_similarity(x, y, constant, operator, alpha,
                                                         rounded_sqrt=True))
    assert torch.allclose(fused, _torch_gradient_similarity(x, y, constant, operator, alpha),
                          rtol=2e-15, atol=0)


def test_gradient_similarity_keeps_torchs_route_for_gradients_float32_and_small_images():
    generator = torch.Generator().manual_seed(1)
    side = math.isqrt(FUSED_MAPS_FROM) + 1
    x = torch.rand(1, 1, side, side, dtype=torch.float64, generator=generator)
    y = torch.rand(1, 1, side, side, dtype=torch.float64, generator=generator)
    differentiable = x.clone().requires_grad_()
    value = gradient_similarity(differentiable, y, 0.5)
    value.sum().backward()
    assert differentiable.grad is not None
    assert torch.equal(value.detach(), _torch_gradient_similarity(x, y, 0.5, "prewitt", 0.0))
    single = gradient_similarity(x.float(), y.float(), 0.5)
    assert torch.equal(single, _torch_gradient_similarity(x.float(), y.float(), 0.5,
                                                          "prewitt", 0.0))
    small = x[..., :8, :8]
    assert torch.equal(gradient_similarity(small, y[..., :8, :8], 0.5),
                       _torch_gradient_similarity(small, y[..., :8, :8], 0.5, "prewitt", 0.0))
