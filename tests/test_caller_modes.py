"""Metrics as defined whatever torch modes the caller set (``metrics/caller_modes.py``).

Under bfloat16 autocast on the CPU, GMSD moved by 9 %, IW-SSIM by 29 %, MDSI by 4 % and
LPIPS by 0.4 %; under float16 FSIM, VSI, HaarPSI and MDSI were NaN and the Inception
features raised a bare TypeError.  Under a default device (``torch.set_default_device``)
the tensors a metric made for itself went there: on "meta", ``likeness.psnr`` returned a
tensor without values and MS-SSIM raised NotImplementedError.  Each public metric,
network module and run entry point now computes with autocast off and the CPU as the
default device, and gives the values it gives without those modes, bit for bit.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

import likeness
from likeness.metrics.caller_modes import as_defined, caller_modes_off

TENSOR_METRICS = ("psnr", "ssim", "ms_ssim", "fsim", "gmsd", "multi_scale_gmsd", "haarpsi",
                  "mdsi", "vsi", "dss", "srsim", "information_weighted_ssim", "vif_p", "vif",
                  "nlpd", "cw_ssim")
AUTOCAST_DTYPES = (torch.bfloat16, torch.float16)


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 176, 184, generator=generator)
    y = (0.8 * x + 0.1 + 0.05 * torch.rand(x.shape, generator=generator)).clamp(0, 1)
    return x, y


@pytest.mark.parametrize("dtype", AUTOCAST_DTYPES)
@pytest.mark.parametrize("name", TENSOR_METRICS)
def test_every_tensor_metric_ignores_the_callers_autocast(name, dtype):
    metric = getattr(likeness, name)
    x, y = _pair()
    expected = metric(x, y, data_range=1.0)
    with torch.autocast("cpu", dtype=dtype):
        got = metric(x, y, data_range=1.0)
        assert torch.is_autocast_enabled("cpu")  # the caller's autocast is left on
    assert got.dtype == expected.dtype
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_loss_modules_and_gradients_under_autocast():
    x, y = _pair()
    expected_input = x.clone().requires_grad_()
    expected = likeness.GMSDLoss()(expected_input, y)
    expected.backward()
    got_input = x.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = likeness.GMSDLoss()(got_input, y)
    got.backward()
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    torch.testing.assert_close(got_input.grad, expected_input.grad, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", AUTOCAST_DTYPES)
def test_networks_ignore_the_callers_autocast(stand_in, fid_weights, dtype):
    x, y = _pair()
    lpips = likeness.LPIPS(backbone_weights=stand_in["alexnet"])
    inception = likeness.InceptionFeatures(weights=fid_weights)
    expected = lpips(x, y, normalize=True), inception(x)
    rows = likeness.compare_tensors(y, x, metrics="ssim,gmsd,lpips", data_range=1.0,
                                    weights={"alexnet": str(stand_in["alexnet"])})
    with torch.autocast("cpu", dtype=dtype):
        got = lpips(x, y, normalize=True), inception(x)
        got_rows = likeness.compare_tensors(y, x, metrics="ssim,gmsd,lpips", data_range=1.0,
                                            weights={"alexnet": str(stand_in["alexnet"])})
    for value, want in zip(got, expected, strict=True):
        torch.testing.assert_close(value, want, rtol=0, atol=0)
    assert [r.values for r in got_rows] == [r.values for r in rows]


def test_public_modules_and_functions_are_computed_as_defined():
    """The entry points not called above are ``as_defined``'s wrapper too (the
    piq-shaped classical metrics call decorated ones: their values are tested above)."""
    wrapper = as_defined(lambda: None).__code__
    entry_points = [getattr(likeness, name) for name in (
        "psnr", "ssim", "ms_ssim", "lpips", "compare", "compare_files", "compare_folders",
        "compare_tensors", "fid", "kid_folders", "evaluate_style", "clip_score",
        "clip_image_similarity", "clip_directional_similarity", "csd_similarity",
        "aesthetic_score")]
    entry_points += [likeness.LPIPS.forward, likeness.LPIPS.encode,
                     likeness.InceptionFeatures.forward, likeness.ClipModel.encode_images,
                     likeness.ClipModel.encode_texts, likeness.Csd.forward,
                     likeness.AestheticPredictor.forward, likeness.Accumulator.update,
                     likeness.Accumulator.compute]
    undecorated = [f.__qualname__ for f in entry_points if f.__code__ is not wrapper]
    assert not undecorated


@pytest.mark.parametrize("name", TENSOR_METRICS)
def test_every_tensor_metric_ignores_the_callers_default_device(name):
    metric = getattr(likeness, name)
    x, y = _pair()
    expected = metric(x, y, data_range=1.0)
    with torch.device("meta"):  # as torch.set_default_device("meta"), for this block
        got = metric(x, y, data_range=1.0)
        assert torch.empty(1).device.type == "meta"  # the caller's default device again
    assert got.device.type == "cpu"
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_networks_and_rows_ignore_the_callers_default_device(stand_in):
    x, y = _pair()
    lpips = likeness.LPIPS(backbone_weights=stand_in["alexnet"])
    weights = {"alexnet": str(stand_in["alexnet"])}
    expected = lpips(x, y, normalize=True)
    rows = likeness.compare_tensors(y, x, metrics="ms-ssim,psnr,lpips", data_range=1.0,
                                    weights=weights)
    with torch.device("meta"):
        got = lpips(x, y, normalize=True)
        got_rows = likeness.compare_tensors(y, x, metrics="ms-ssim,psnr,lpips",
                                            data_range=1.0, weights=weights)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert [r.values for r in got_rows] == [r.values for r in rows]


def test_caller_modes_off_restores_every_mode_it_turned_off():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with caller_modes_off():
            assert not torch.is_autocast_enabled("cpu")
            assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.float32
        assert torch.is_autocast_enabled("cpu")
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.bfloat16
    with torch.device("meta"), caller_modes_off():
        assert torch.empty(1).device.type == "cpu"
    with torch.device("meta"), caller_modes_off():
        assert torch.empty(1).device.type == "cpu"
    with caller_modes_off():  # nothing on: nothing to turn off
        assert not torch.is_autocast_enabled("cpu")
    assert np.isfinite(float(likeness.psnr(*_pair(), data_range=1.0)[0]))


@pytest.mark.filterwarnings("ignore:.*covariance is singular")
def test_accumulator_under_inference_mode_and_autocast(fid_weights):
    """``Accumulator.update`` ran Inception's Winograd products in bfloat16 under autocast:
    "TypeError: Got unsupported ScalarType BFloat16"."""
    def fid(modes: bool) -> dict[str, float]:
        accumulator = likeness.Accumulator(metrics="fid", weights={"pt_inception": fid_weights})
        generator = torch.Generator().manual_seed(0)
        with contextlib.ExitStack() as stack:
            if modes:
                stack.enter_context(torch.inference_mode())
                stack.enter_context(torch.autocast("cpu", dtype=torch.bfloat16))
            for _ in range(2):
                accumulator.update(torch.rand(6, 3, 64, 64, generator=generator), real=True)
                accumulator.update(torch.rand(6, 3, 64, 64, generator=generator), real=False)
            return accumulator.compute()

    assert fid(True) == fid(False)


def test_torch_compile_traces_the_torch_routes_not_the_compiled_kernels():
    """Under ``torch.compile`` dynamo traced into numba's dispatcher on a process's first
    kernel call and failed ("AssertionError: exception table entry start instruction has
    no offset"): FSIM and SSIM in float64 without a gradient, FSIM as a float32 loss.  The
    kernels are now left out while it traces (``tracing``), for their torch routes: the
    same values.  A fresh process: the failure came with numba's first load."""
    import subprocess
    import sys

    script = '''
import warnings
import torch
import likeness
warnings.simplefilter("ignore")
generator = torch.Generator().manual_seed(0)
for name, dtype, grad, side in (("fsim", torch.float32, True, 96),
                                ("fsim", torch.float64, False, 96),
                                ("ssim", torch.float64, False, 96),
                                ("gmsd", torch.float64, False, 400),
                                ("haarpsi", torch.float64, False, 400)):
    y = torch.rand(1, 3, side, side, generator=generator, dtype=dtype)
    x = (y + 0.05 * torch.randn(y.shape, generator=generator, dtype=dtype)).clamp(0, 1)
    metric = getattr(likeness, name)
    leaf = x.clone().requires_grad_(grad)
    compiled = torch.compile(lambda p, q: metric(p, q, data_range=1.0), backend="eager")
    with torch.set_grad_enabled(grad):
        value = compiled(leaf, y)
        if grad:
            value.sum().backward()
            assert bool(torch.isfinite(leaf.grad).all())
    want = metric(x, y, data_range=1.0)
    assert torch.allclose(value.detach().double(), want.double(), rtol=1e-6, atol=0), name
print("compiled")
'''
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True,
                               text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip() == "compiled"
