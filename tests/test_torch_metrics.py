"""Batched torch metrics: ssim under each convention, ms_ssim, psnr.

Pinned values: tests/data/golden/expected.json (scikit-image 0.26.0, pytorch-msssim 1.0.0).
pytorch-msssim itself also runs in this process for cases the golden set does not cover.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import pytorch_msssim
import torch

from likeness import ImageTooSmallError, InvalidInputError, ms_ssim, psnr, ssim


def _pair(golden, pair, dtype=torch.float64):
    def as_batch(name):
        return torch.from_numpy(golden.rgb(name)).permute(2, 0, 1)[None].to(dtype)

    return as_batch(pair["reference"]), as_batch(pair["test"])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ssim_conventions_match_golden(golden, dtype):
    tol = 1e-6 if dtype == torch.float64 else 1e-5
    for pair in golden.pairs:
        x, y = _pair(golden, pair, dtype)
        skimage_like = ssim(x, y, data_range=255, convention="skimage")
        assert skimage_like.shape == (1,)
        assert skimage_like.dtype == dtype
        assert skimage_like.item() == pytest.approx(pair["ssim"]["default"], abs=tol)
        wang = ssim(x, y, data_range=255, convention="wang2004")
        assert wang.item() == pytest.approx(pair["ssim"]["gaussian"], abs=tol)


def test_ms_ssim_matches_golden(golden):
    pairs = [p for p in golden.pairs if "ms_ssim" in p]
    assert pairs
    for pair in pairs:
        x, y = _pair(golden, pair)
        assert ms_ssim(x, y, data_range=255).item() == pytest.approx(pair["ms_ssim"], abs=1e-5)


def test_psnr_matches_golden(golden):
    for pair in golden.pairs:
        x, y = _pair(golden, pair)
        assert psnr(x, y, data_range=255).item() == pytest.approx(pair["psnr"], abs=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.uint8])
@pytest.mark.parametrize("shape", [(1, 3, 37, 41), (5, 1, 20, 23), (3, 2, 9, 70)])
def test_psnr_in_blocks_is_the_float64_sum_of_squared_differences(monkeypatch, dtype, shape):
    """Large CPU batches are summed in blocks of ``CHUNK_VALUES`` (parts of a row, or
    several whole rows) instead of float64 copies of both batches: the same differences in
    float64, summed in another order.  Blocks of 1,000 values cover every split here."""
    from likeness.metrics import psnr as psnr_module

    generator = torch.Generator().manual_seed(7)
    x = torch.randint(0, 256, shape, generator=generator).to(dtype)
    y = torch.randint(0, 256, shape, generator=generator).to(dtype)
    if dtype.is_floating_point:
        x, y = (x + torch.rand(shape, generator=generator, dtype=dtype)) / 256, y / 256
    whole = (x.double() - y.double()).pow(2).flatten(1).mean(dim=1)
    monkeypatch.setattr(psnr_module, "CHUNK_VALUES", 1000)
    in_blocks = psnr_module.mse(x, y)
    torch.testing.assert_close(in_blocks, whole, rtol=1e-14, atol=0)
    data_range = 1.0 if dtype.is_floating_point else 255.0
    torch.testing.assert_close(psnr(x, y, data_range=data_range),
                               10 * torch.log10(data_range**2 / whole), rtol=1e-14, atol=0)
    x_last = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(psnr_module.mse(x_last, y), in_blocks, rtol=1e-14, atol=0)
    assert psnr_module.mse(x, x).eq(0).all()


def test_psnr_keeps_its_gradient_on_large_images():
    x = torch.rand(1, 3, 256, 256, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 3, 256, 256, dtype=torch.float64)
    psnr(x, y, data_range=1.0).sum().backward()
    difference = (x - y).detach()
    # d/dx of 10 log10(1 / mean(d²)) = -(10 / ln 10) · 2d / Σd²
    expected = -(10 / np.log(10)) * 2 * difference / difference.pow(2).sum()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, expected, rtol=1e-10, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 3, 37, 41), (3, 2, 9, 70)])
def test_mse_in_blocks_has_autograd_s_gradient_of_the_float64_expression_bit_for_bit(
        monkeypatch, dtype, shape):
    """With autograd, large CPU batches are summed in blocks too (``mse``: a custom backward, not
    float64 copies of both batches): the value the blocks give without autograd, and the
    gradient autograd gives for (x.double() − y.double())² averaged, to the last bit, for x,
    y or both, channels-last too; differentiable twice (create_graph) with the same
    numbers."""
    from likeness.metrics import psnr as psnr_module

    generator = torch.Generator().manual_seed(3)
    x = torch.rand(shape, generator=generator, dtype=dtype)
    y = torch.rand(shape, generator=generator, dtype=dtype)
    weights = torch.rand(shape[0], generator=generator, dtype=torch.float64)

    def plain(a, b):
        return (a.double() - b.double()).pow(2).flatten(1).mean(dim=1)

    def gradients(function, a, b, which, create_graph=False):
        a, b = a.clone().requires_grad_("x" in which), b.clone().requires_grad_("y" in which)
        value = function(a, b)
        wanted = [t for t in (a, b) if t.requires_grad]
        return value, torch.autograd.grad((value * weights).sum(), wanted,
                                          create_graph=create_graph)

    monkeypatch.setattr(psnr_module, "CHUNK_VALUES", 1000)
    ours = psnr_module.mse
    with torch.no_grad():
        without_autograd = ours(x, y)
    for which in ("x", "y", "xy"):
        value, got = gradients(ours, x, y, which)
        _, want = gradients(plain, x, y, which)
        assert torch.equal(value.detach(), without_autograd)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == dtype
            assert torch.equal(g, w), which
    x_last = x.contiguous(memory_format=torch.channels_last)
    _, got = gradients(ours, x_last, y, "x")
    _, want = gradients(plain, x_last, y, "x")
    assert torch.equal(got[0], want[0])
    a = x.clone().requires_grad_(True)
    second = []
    for function in (ours, plain):
        (first,) = torch.autograd.grad((function(a, y) * weights).sum(), a, create_graph=True)
        second.append(torch.autograd.grad((first * first).sum(), a) + (first.detach(),))
    assert torch.equal(second[0][1], second[1][1])  # the first gradients
    torch.testing.assert_close(second[0][0], second[1][0], rtol=1e-12, atol=0)
    _, got = gradients(functools.partial(psnr, data_range=1.0), x, y, "xy")
    _, want = gradients(lambda a, b: 10 * torch.log10(1 / plain(a, b)), x, y, "xy")
    for g, w in zip(got, want, strict=True):  # through log10: the sums' order, ~1e-16
        torch.testing.assert_close(g, w, rtol=1e-6 if dtype == torch.float32 else 1e-13,
                                   atol=0)


def _noisy_batch(shape, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=generator, dtype=dtype)
    y = (x + 0.1 * torch.randn(shape, generator=generator, dtype=dtype)).clamp(0, 1)
    return x, y


@pytest.mark.parametrize("shape", [(2, 3, 40, 37), (1, 1, 9, 30)])
def test_pytorch_msssim_convention_matches_pytorch_msssim(shape):
    x, y = _noisy_batch(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # its own "skipping smoothing" warning
        want = pytorch_msssim.ssim(x, y, data_range=1.0, size_average=False)
    if shape[2] < 11:
        with pytest.warns(UserWarning, match="not filtered"):
            got = ssim(x, y, data_range=1.0, convention="pytorch-msssim")
    else:
        got = ssim(x, y, data_range=1.0, convention="pytorch-msssim")
    torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


def test_ms_ssim_matches_pytorch_msssim_with_odd_sizes_and_custom_weights():
    x, y = _noisy_batch((2, 3, 171, 199), seed=3)
    want = pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False)
    torch.testing.assert_close(ms_ssim(x, y, data_range=1.0), want, atol=1e-9, rtol=0)
    weights = [0.2, 0.3, 0.5]
    want3 = pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False, weights=weights)
    torch.testing.assert_close(ms_ssim(x, y, data_range=1.0, scale_weights=weights), want3,
                               atol=1e-9, rtol=0)


def test_ms_ssim_refuses_small_images_with_a_clear_message():
    x, y = _noisy_batch((1, 3, 150, 225))
    with pytest.raises(ImageTooSmallError, match=r"exceeds 160 px, got 225x150 px.*4 scales"):
        ms_ssim(x, y, data_range=1.0)
    # fewer scales allow smaller images
    assert ms_ssim(x, y, data_range=1.0, scale_weights=[0.0448, 0.2856, 0.3001, 0.2363]).shape \
        == (1,)


@pytest.mark.parametrize("convention", ["skimage", "wang2004", "pytorch-msssim"])
def test_gradient_path_equals_fused_path(convention):
    x, y = _noisy_batch((2, 3, 32, 35), seed=1)
    fused = ssim(x, y, data_range=1.0, convention=convention)
    x_grad = x.clone().requires_grad_(True)
    through_graph = ssim(x_grad, y, data_range=1.0, convention=convention)
    torch.testing.assert_close(through_graph.detach(), fused, atol=1e-12, rtol=0)
    (1 - through_graph).sum().backward()
    assert x_grad.grad is not None
    assert torch.isfinite(x_grad.grad).all()
    assert x_grad.grad.abs().sum() > 0


@pytest.mark.parametrize("side", [48, 200])  # the banded product, depthwise convolutions
def test_a_loss_filters_one_sides_maps_with_the_gradient_with_the_same_values(side):
    """With one side needing a gradient (a loss), its three maps are filtered with it and
    the other side's two without: the values and gradients of the five maps filtered
    together, bit for bit, whichever side it is."""
    x, y = (t.float() for t in _noisy_batch((2, 3, side, side + 3), seed=2))
    for moving in ("x", "y"):
        both = [x.clone().requires_grad_(True), y.clone().requires_grad_(True)]
        one = [t.clone().requires_grad_(name == moving)
               for name, t in zip("xy", (x, y), strict=True)]
        index = "xy".index(moving)
        values = []
        for pair in (both, one):
            value = ssim(*pair, data_range=1.0, convention="pytorch-msssim")
            (1 - value).sum().backward()
            values.append((value.detach(), pair[index].grad))
        assert torch.equal(values[0][0], values[1][0]), moving
        assert torch.equal(values[0][1], values[1][1]), moving


@pytest.mark.parametrize("convention", ["skimage", "pytorch-msssim"])
def test_large_images_take_the_depthwise_route_with_the_same_values_and_gradients(
        convention, monkeypatch):
    """From ``DEPTHWISE_FROM`` px a side (float32, CPU) the gradient path filters by
    depthwise convolutions (2× faster at 256² with a backward pass, measured), not by the
    banded product: the same SSIM and gradients to float32 rounding, and pytorch-msssim's."""
    import likeness.metrics._filters as filters

    x, y = (t.float() for t in _noisy_batch((2, 3, filters.DEPTHWISE_FROM + 7, 171), seed=4))
    found, calls = {}, []
    depthwise = filters._depthwise_filter_2d
    monkeypatch.setattr(filters, "_depthwise_filter_2d",
                        lambda *args: calls.append(1) or depthwise(*args))
    for route, threshold in (("depthwise", filters.DEPTHWISE_FROM), ("banded", 10**9)):
        monkeypatch.setattr(filters, "DEPTHWISE_FROM", threshold)
        x_grad = x.clone().requires_grad_(True)
        value = ssim(x_grad, y, data_range=1.0, convention=convention)
        value.sum().backward()
        found[route] = (value.detach(), x_grad.grad)
        assert bool(calls) == (route == "depthwise")
        calls.clear()
    torch.testing.assert_close(found["depthwise"][0], found["banded"][0], atol=1e-6, rtol=0)
    torch.testing.assert_close(found["depthwise"][1], found["banded"][1], atol=1e-9, rtol=1e-4)
    torch.testing.assert_close(found["depthwise"][0], ssim(x, y, data_range=1.0,
                                                           convention=convention),
                               atol=1e-6, rtol=0)
    if convention == "pytorch-msssim":
        theirs = x.clone().requires_grad_(True)
        pytorch_msssim.ssim(theirs, y, data_range=1.0, size_average=False).sum().backward()
        torch.testing.assert_close(found["depthwise"][1], theirs.grad, atol=1e-9, rtol=1e-4)


def test_ms_ssim_is_differentiable():
    x, y = _noisy_batch((1, 1, 176, 180), seed=2)
    x.requires_grad_(True)
    ms_ssim(x, y, data_range=1.0).sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()


def test_gradient_matches_finite_differences():
    x, y = _noisy_batch((1, 1, 12, 12), seed=4)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a: ssim(a, y, data_range=1.0, convention="wang2004"), (x,), eps=1e-6, atol=1e-5)


def test_properties_identity_symmetry_bounds():
    x, y = _noisy_batch((3, 3, 48, 48), seed=5, dtype=torch.float32)
    for convention in ("skimage", "wang2004", "pytorch-msssim"):
        torch.testing.assert_close(ssim(x, x, data_range=1.0, convention=convention),
                                   torch.ones(3))
        xy = ssim(x, y, data_range=1.0, convention=convention)
        torch.testing.assert_close(xy, ssim(y, x, data_range=1.0, convention=convention))
        assert ((xy > -1) & (xy < 1)).all()
    assert torch.isinf(psnr(x, x, data_range=1.0)).all()


def test_uint8_tensors_are_accepted_and_data_range_is_explicit():
    x = torch.randint(0, 256, (1, 3, 20, 20), dtype=torch.uint8)
    assert ssim(x, x, data_range=255).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="data_range must be finite and positive"):
        ssim(x, x, data_range=0)


TENSOR_METRICS = ("psnr", "ssim", "ms_ssim", "fsim", "gmsd", "multi_scale_gmsd", "haarpsi",
                  "mdsi", "vsi", "dss", "srsim", "information_weighted_ssim", "vif_p", "vif",
                  "nlpd", "cw_ssim")


@pytest.mark.parametrize("name", TENSOR_METRICS)
def test_every_metric_runs_under_inference_mode_and_on_inference_tensors(name):
    """Every tensor metric raised "RuntimeError: Inference tensors do not track version
    counter" under ``torch.inference_mode()`` (evaluation code's usual context): the input
    check reads the version counter to skip tensors it checked already.  Now an inference
    tensor is checked at each call, and the value is the one of ordinary tensors."""
    import likeness

    metric = getattr(likeness, name)
    x, y = _noisy_batch((2, 3, 176, 184), seed=11, dtype=torch.float32)
    expected = metric(x, y, data_range=1.0)
    with torch.inference_mode():
        inside = metric(x, y, data_range=1.0)
        made_inside = x.clone(), y.clone()
    torch.testing.assert_close(inside, expected, rtol=0, atol=0)
    assert made_inside[0].is_inference()
    torch.testing.assert_close(metric(*made_inside, data_range=1.0), expected, rtol=0, atol=0)
    with torch.inference_mode(), pytest.raises(InvalidInputError, match="outside"):
        metric(x * 2 + 1, y, data_range=1.0)  # still checked


def test_files_and_tensor_rows_under_inference_mode(tmp_path):
    """The file and tensor entry points share one conversion per pair, whose reuse read
    the version counter too."""
    from PIL import Image

    import likeness

    generator = np.random.default_rng(5)
    pixels = [generator.integers(0, 256, (48, 56, 3), dtype=np.uint8) for _ in range(2)]
    for name, image in zip(("ref.png", "out.png"), pixels, strict=True):
        Image.fromarray(image).save(tmp_path / name)
    metrics = "ssim,psnr,gmsd,mdsi"
    expected = likeness.compare_files(tmp_path / "ref.png", tmp_path / "out.png",
                                      metrics=metrics)
    batches = [torch.from_numpy(image).permute(2, 0, 1)[None] for image in pixels]
    rows = likeness.compare_tensors(*batches, metrics=metrics)
    with torch.inference_mode():
        assert likeness.compare_files(tmp_path / "ref.png", tmp_path / "out.png",
                                      metrics=metrics) == expected
        assert [r.values for r in likeness.compare_tensors(*batches, metrics=metrics)] == [
            r.values for r in rows]


def _odd_storage(kind: str, tensor: torch.Tensor) -> torch.Tensor:
    if kind == "quantized":
        with warnings.catch_warnings():  # quantized tensors are deprecated in torch 2.13
            warnings.simplefilter("ignore")
            return torch.quantize_per_tensor(tensor, 1 / 255, 0, torch.quint8)
    if kind in ("nested", "jagged"):
        with warnings.catch_warnings():  # torch: "nested tensors is in prototype stage"
            warnings.simplefilter("ignore", UserWarning)
            layout = torch.jagged if kind == "jagged" else torch.strided
            return torch.nested.nested_tensor(list(tensor), layout=layout)
    return tensor.to_sparse() if kind == "sparse" else tensor.to_mkldnn()


@pytest.mark.parametrize(("kind", "advice"), [("sparse", "to_dense()"),
                                              ("oneDNN", "to_dense()"),
                                              ("quantized", "dequantize()"),
                                              ("nested", "unbind()"),
                                              ("jagged", "unbind()")])
def test_sparse_onednn_and_quantized_tensors_are_refused_with_what_to_pass(kind, advice):
    """Each raised torch's own error from deep inside ("Could not run 'aten::aminmax' with
    arguments from the 'SparseCPU' backend", "Creation of quantized tensor requires …",
    for nested tensors "Internal error: NestedTensorImpl doesn't support sizes. Please file
    an issue.") in every tensor metric, ``compare_tensors`` and the networks' input check."""
    import torch.nn as nn

    import likeness
    from likeness.nets.inputs import network_batch

    x, y = _noisy_batch((1, 3, 48, 48), seed=2, dtype=torch.float32)
    odd_x, odd_y = _odd_storage(kind, x), _odd_storage(kind, y)
    for name in TENSOR_METRICS:
        with pytest.raises(likeness.LikenessError, match=rf"x is a .*; pass .*x\.{advice}"):
            getattr(likeness, name)(odd_x, odd_y, data_range=1.0)
    with pytest.raises(likeness.LikenessError, match=rf"reference\.{advice}"):
        likeness.compare_tensors(odd_x, odd_y, metrics="ssim,psnr", data_range=1.0)
    with pytest.raises(likeness.LikenessError, match=rf"images\.{advice}"):
        network_batch(odd_x, nn.Conv2d(3, 3, 1), name="LPIPS", takes="images in [-1, 1]",
                      convert="pass images.float() / 127.5 - 1")


def test_eight_bit_floats_are_computed_in_float32():
    """``torch.float8_*`` tensors had no ``aminmax`` on the CPU (NotImplementedError) and
    NumPy no such dtype (TypeError in ``compare_tensors``); their values are exact in
    float32, as bfloat16's and float16's are."""
    import likeness

    x, y = _noisy_batch((1, 3, 48, 48), seed=4, dtype=torch.float32)
    for dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
        small_x, small_y = x.to(dtype), y.to(dtype)
        for name in ("psnr", "ssim", "gmsd"):
            metric = getattr(likeness, name)
            torch.testing.assert_close(metric(small_x, small_y, data_range=1.0),
                                       metric(small_x.float(), small_y.float(), data_range=1.0),
                                       rtol=0, atol=0)
        rows = likeness.compare_tensors(small_x, small_y, metrics="psnr", data_range=1.0)
        expected = likeness.compare_tensors(small_x.float(), small_y.float(), metrics="psnr",
                                            data_range=1.0)
        assert [r.values for r in rows] == [r.values for r in expected]


def test_every_metric_takes_one_number_as_data_range_and_refuses_anything_else():
    """The classical metrics (GMSD … IW-SSIM, CW-SSIM, NLPD) turned ``data_range=None`` into
    "TypeError: float() argument must be … not 'NoneType'"; ``compare_tensors`` took the
    text '1', answered "need their data range: pass data_range=1.0" to 0 and NaN, and
    raised TypeError for a list.  A tensor or array of one value is a number (training code
    holds the range so); several values, text, None and booleans are not."""
    import likeness
    from likeness import InvalidInputTypeError

    x, y = _noisy_batch((1, 3, 176, 176), seed=2, dtype=torch.float32)
    functions = {name: getattr(likeness, name) for name in (
        "ssim", "psnr", "gmsd", "multi_scale_gmsd", "vif_p", "vif", "cw_ssim", "nlpd", "mdsi",
        "haarpsi", "fsim", "srsim", "vsi", "dss", "information_weighted_ssim")}
    functions["compare_tensors"] = lambda a, b, data_range: likeness.compare_tensors(
        a, b, metrics="ssim,psnr", data_range=data_range)
    for name, function in functions.items():
        expected = function(x, y, data_range=1.0)
        for same in (1, np.float32(1.0), torch.tensor(1.0), torch.tensor([1.0]),
                     np.array(1.0)):
            assert str(function(x, y, data_range=same)) == str(expected), (name, same)
        for kind in (None, "1", [1.0], True, torch.tensor([1.0, 2.0]), 1 + 0j):
            if name == "compare_tensors" and kind is None:
                continue  # its own message: floating-point images need their data range
            with pytest.raises(InvalidInputTypeError, match="data_range must be a number"):
                function(x, y, data_range=kind)
        for value in (0, -1, float("nan"), float("inf")):
            with pytest.raises(InvalidInputError, match="data_range must be finite and "
                               "positive"):
                function(x, y, data_range=value)


def test_the_metrics_options_are_numbers_of_their_kind():
    """Text, None, lists, floats for counts and NaN reached arithmetic: "'<' not supported
    between instances of 'str' and 'int'", "'int' object is not iterable", "unhashable
    type: 'list'"; CW-SSIM's levels=10**9 raised "Exceeds the limit (4300 digits) for
    integer string conversion"; VIFp's sigma_n_sq=0 gave +inf terms.  HaarPSI's options
    were not checked at all: scales=2 gave NaN (as piq's does: only 3 scales are defined),
    scales=4 "The size of tensor a (3) must match …", alpha=0 NaN; CW-SSIM's
    orientations=10**9 ran on (buildSCFpyr takes at most 16); a 0-d tensor of MS-SSIM weights
    said "iteration over a 0-d tensor".  Each is now an InvalidInputError naming the option."""
    import likeness

    x, y = _noisy_batch((1, 3, 192, 192), seed=3, dtype=torch.float32)
    cases = [("ssim", {"win_size": "7"}, "win_size must be an integer, got '7'"),
             ("ssim", {"win_size": 7.0}, "win_size must be an integer, got 7.0"),
             ("ssim", {"sigma": [1.5], "window": "gaussian"}, "sigma must be a number"),
             ("ssim", {"k1": "0.01"}, "k1 must be a number"),
             ("ssim", {"k2": float("nan")}, "k2 must be finite"),
             ("ssim", {"convention": ["skimage"]}, "unknown SSIM convention"),
             ("ssim", {"convention": "torchmetrics", "sigma": "1.5"}, "sigma must be a number"),
             ("ssim", {"nonnegative": "no"}, "nonnegative must be True or False, got 'no'"),
             ("ms_ssim", {"scale_weights": "0.5"}, "scale_weights must be a sequence"),
             ("ms_ssim", {"scale_weights": 0.5}, "scale_weights must be a sequence"),
             ("ms_ssim", {"scale_weights": [0.5, None]}, r"scale_weights\[1\] must be a number"),
             ("ms_ssim", {"scale_weights": [0.5, -0.5]}, "none negative"),
             ("ms_ssim", {"scale_weights": [float("nan")]}, r"scale_weights\[0\] must be finite"),
             ("multi_scale_gmsd", {"alpha": None}, "alpha must be a number, got None"),
             ("vif_p", {"sigma_n_sq": "2"}, "sigma_n_sq must be a number"),
             ("vif_p", {"sigma_n_sq": 0}, "sigma_n_sq must be positive"),
             ("cw_ssim", {"levels": 2.5}, "levels must be an integer"),
             ("cw_ssim", {"orientations": None}, "orientations must be an integer"),
             ("ms_ssim", {"scale_weights": torch.tensor(0.5)}, "must be a sequence"),
             ("ms_ssim", {"scale_weights": np.array(0.5)}, "must be a sequence"),
             ("cw_ssim", {"levels": 10**9}, "pass levels=24 or fewer"),
             ("cw_ssim", {"orientations": 17}, "orientations must be 16 or fewer"),
             ("haarpsi", {"scales": "3"}, "scales must be an integer"),
             ("haarpsi", {"scales": 2}, "defined on 3 scales"),
             ("haarpsi", {"scales": 10**9}, "defined on 3 scales"),
             ("haarpsi", {"c": None}, "c must be a number"),
             ("haarpsi", {"c": 0}, "c and alpha must be positive"),
             ("haarpsi", {"alpha": 0}, "c and alpha must be positive")]
    for name, options, match in cases:
        with pytest.raises(likeness.LikenessError, match=match):
            getattr(likeness, name)(x, y, data_range=1.0, **options)
    assert likeness.ms_ssim(x, y, data_range=1.0, scale_weights=np.array([0.5, 0.5])).shape \
        == (1,)


@pytest.mark.parametrize("convention", ["pytorch-msssim", "piq", "torchmetrics", "matlab"])
def test_ms_ssim_weights_may_be_a_tensor_as_piq_takes_them(convention):
    """piq's ``scale_weights`` is a tensor (and pytorch-msssim's ``weights`` is passed as
    one): a 1-D tensor was refused, "scale_weights[0] must be a number, got tensor(0.3)".
    Its values are the list's, bit for bit, in every convention."""
    import likeness

    x, y = _noisy_batch((1, 3, 192, 192), seed=6, dtype=torch.float32)
    expected = likeness.ms_ssim(x, y, data_range=1.0, convention=convention,
                                scale_weights=[0.3, 0.7])
    for weights in (torch.tensor([0.3, 0.7]), torch.tensor([0.3, 0.7], dtype=torch.float64),
                    torch.tensor([0.3, 0.7], requires_grad=True), np.array([0.3, 0.7])):
        got = likeness.ms_ssim(x, y, data_range=1.0, convention=convention,
                               scale_weights=weights)
        assert torch.equal(got, expected), weights


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "error", "match"),
    [
        (torch.zeros(1, 3, 20, 20), torch.zeros(1, 3, 20, 21), {}, ValueError, "differ in shape"),
        (torch.zeros(3, 20, 20), torch.zeros(3, 20, 20), {}, ValueError, r"\(N, C, H, W\)"),
        (np.zeros((1, 1, 9, 9)), np.zeros((1, 1, 9, 9)), {}, TypeError,
         r"torch tensors, got ndarray and ndarray; convert NumPy images with torch\.from_"),
        (torch.zeros(1, 1, 9, 9), torch.zeros(1, 1, 9, 9), {"convention": "wang2004"},
         ValueError, "smaller than the 11-pixel"),
        (torch.zeros(1, 1, 9, 9), torch.zeros(1, 1, 9, 9), {"convention": "nope"},
         ValueError, "unknown SSIM convention"),
    ],
)
def test_ssim_errors(x, y, kwargs, error, match):
    with pytest.raises(error, match=match):
        ssim(x, y, data_range=1.0, **kwargs)


def test_numpy_images_given_to_a_classical_metric_are_pointed_to_what_takes_them():
    # it offered "the numpy functions (structural_similarity, ...)": none computes GMSD
    from likeness import fsim, gmsd

    for metric in (gmsd, fsim):  # fsim read x.ndim first: "'numpy.ndarray' has no …"
        with pytest.raises(TypeError, match=r"or pass them to likeness\.compare_tensors; "
                           r"likeness\.structural_similarity, peak_signal_noise_ratio and "
                           r"mean_squared_error take NumPy arrays"):
            metric(np.zeros((1, 3, 32, 32)).tolist(), np.zeros((1, 3, 32, 32)))


# -- issue 14: pytorch-msssim's and torchmetrics' options --------------------------------

@pytest.mark.parametrize(("options", "theirs"), [
    ({"win_size": 7}, {"win_size": 7}),
    ({"sigma": 1.0}, {"win_sigma": 1.0}),
    ({"k1": 0.02, "k2": 0.04}, {"K": (0.02, 0.04)}),
    ({"win_size": 9, "sigma": 2.0, "k1": 0.015}, {"win_size": 9, "win_sigma": 2.0,
                                                   "K": (0.015, 0.03)}),
])
def test_ssim_and_ms_ssim_options_equal_pytorch_msssim(options, theirs):
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    x, y = _noisy_batch((2, 3, 200, 208), seed=9)
    want = pytorch_msssim.ssim(x, y, data_range=1.0, size_average=False, **theirs)
    got = ssim(x, y, data_range=1.0, convention="pytorch-msssim", **options)
    assert torch.allclose(got, want, rtol=1e-10, atol=0)
    scales = [0.0448, 0.2856, 0.3001, 0.2363] if options.get("win_size", 11) > 7 else None
    want = pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False,
                                  weights=scales, **theirs)
    got = ms_ssim(x, y, data_range=1.0, scale_weights=scales, **options)
    assert torch.allclose(got, want, rtol=1e-10, atol=0)


def test_nonnegative_ssim_and_the_dtype_rules():
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    x, _ = _noisy_batch((2, 3, 32, 32), seed=3)
    y = 1 - x  # anticorrelated: negative SSIM
    want = pytorch_msssim.ssim(x, y, data_range=1.0, size_average=False,
                               nonnegative_ssim=True)
    got = ssim(x, y, data_range=1.0, convention="pytorch-msssim", nonnegative=True)
    assert torch.allclose(got, want, rtol=1e-10, atol=0)
    assert torch.all(got >= 0)
    assert ssim(x, y, data_range=1.0, convention="pytorch-msssim").min() < 0
    assert ssim(x.float(), y.float(), data_range=1.0).dtype == torch.float32
    assert ssim(x, y, data_range=1.0).dtype == torch.float64
    integers = (x * 255).round().to(torch.uint8)
    assert ssim(integers, integers, data_range=255).dtype == torch.float64


def test_bad_window_options_say_what_is_wrong():
    # seeded: for ~2.5 % of random images the two conventions round to the same float32
    x = torch.rand(1, 1, 20, 20, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="odd"):
        ssim(x, x, data_range=1.0, win_size=8)
    with pytest.raises(ValueError, match="sigma applies to a gaussian window"):
        ssim(x, x, data_range=1.0, sigma=1.0)
    with pytest.raises(ValueError, match="k1 must lie in"):
        ssim(x, x, data_range=1.0, k1=1.5)
    gaussian = ssim(x, x * 0.9, data_range=1.0, window="gaussian")
    wang = ssim(x, x * 0.9, data_range=1.0, convention="wang2004")
    assert not torch.equal(gaussian, wang)  # skimage's sample covariance is kept


@pytest.mark.parametrize(("shape", "said"), [
    ((2, 16, 16, 3), r"\(2, 16, 16, 3\) looks like an \(N, H, W, C\) batch: pass "
                     r"x\.permute\(0, 3, 1, 2\)"),
    ((16, 16, 3), r"\(16, 16, 3\) looks like one \(H, W, C\) image: pass "
                  r"x\.permute\(2, 0, 1\)\[None\]"),
    ((3, 16, 16), r"for one \(C, H, W\) image, add the missing axes: x\[None\]$"),
    ((16, 16), r"for one \(H, W\) image, add the missing axes: x\[None\]\[None\]$")])
@pytest.mark.parametrize("metric", ["ssim", "psnr", "gmsd"])
def test_images_laid_out_otherwise_are_told_how_to_turn(shape, said, metric):
    # channels last (NumPy's and PIL's layout) read as 16 channels 3 pixels wide: SSIM said
    # "image width 3 is smaller than the 7-pixel window", PSNR and GMSD "add a batch axis"
    import likeness

    x = torch.rand(shape)
    with pytest.raises(InvalidInputError, match=said):
        getattr(likeness, metric)(x, x, data_range=1.0)


def test_compare_tensors_tells_numpy_images_laid_out_otherwise_how_to_turn():
    import likeness

    image = np.zeros((16, 16, 3), dtype=np.uint8)
    with pytest.raises(InvalidInputError, match=r"reference must be \(N, C, H, W\) with C = 1 "
                       r"or 3, got shape \(16, 16, 3\); \(16, 16, 3\) looks like one \(H, W, "
                       r"C\) image: pass reference\.transpose\(2, 0, 1\)\[None\]"):
        likeness.compare_tensors(image, image, metrics="ssim")
    with pytest.raises(InvalidInputError, match=r"test\.permute\(0, 3, 1, 2\)"):
        likeness.compare_tensors(torch.zeros(1, 3, 16, 16), torch.zeros(1, 16, 16, 3),
                                 metrics="ssim", data_range=1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("data_range", [1e-30, 0.1, 1 / 3, 1e20])
def test_a_data_range_the_dtype_rounds_up_still_holds_its_own_images(dtype, data_range):
    """Images scaled to a data range their dtype cannot hold exactly reach the dtype's
    nearest value, which may be a little above it (1e-30 in float32 is 1.0000000031710769e-30):
    they were refused as "outside [0, data_range]".  The value is the one at data_range 1,
    and a value beyond the dtype's data range is still refused."""
    import likeness

    x, y = _noisy_batch((1, 3, 48, 48), seed=9)
    for name in ("ssim", "psnr", "gmsd"):
        function = getattr(likeness, name)
        scaled = [(t * data_range).to(dtype) for t in (x, y)]
        got = function(*scaled, data_range=data_range)
        want = function(x.to(dtype), y.to(dtype), data_range=1.0)
        torch.testing.assert_close(got.double(), want.double(), rtol=2e-2, atol=0)
    beyond = torch.full((1, 3, 48, 48), data_range, dtype=torch.float64) * (1 + 2**-6)
    with pytest.raises(InvalidInputError, match="outside"):
        likeness.psnr(beyond.to(dtype), beyond.to(dtype), data_range=data_range)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_non_finite_and_out_of_range_values_are_refused_in_one_pass(dtype, monkeypatch):
    """NaN, ±∞ and values outside [0, data_range], in either image, are refused with the
    same words by every metric; the check reads each image once (``aminmax``: three passes
    before, 1.76 ms of every metric's call on a 512×384 float64 pair, 0.21 ms now)."""
    import likeness

    def not_a_second_pass(*args, **kwargs):
        raise AssertionError("a pass of its own for isfinite")

    monkeypatch.setattr(torch, "isfinite", not_a_second_pass)
    x, y = _noisy_batch((1, 3, 176, 176), seed=4, dtype=dtype)
    for name in ("ssim", "gmsd", "vif_p", "fsim", "haarpsi", "nlpd"):
        function = getattr(likeness, name)
        function(x, y, data_range=1.0)
        for bad, words in ((float("nan"), "holds NaN or infinite values"),
                           (float("inf"), "holds NaN or infinite values"),
                           (float("-inf"), "holds NaN or infinite values"),
                           (1.5, r"has values in \[[0-9.e-]+, 1\.5\], outside \[0, data_range\]"),
                           (-0.25, r"has values in \[-0\.25, ")):
            for first in (True, False):
                spoilt = (x if first else y).clone()
                spoilt[0, 1, 7, 9] = bad
                pair = (spoilt, y) if first else (x, spoilt)
                with pytest.raises(InvalidInputError, match=("x " if first else "y ") + words):
                    function(*pair, data_range=1.0)
