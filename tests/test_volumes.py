"""SSIM and MS-SSIM of 5-D volumes (N, C, T, H, W), as pytorch-msssim filters them (the
window spans T too) and as scikit-image's n-dimensional SSIM: pinned values in
tests/data/volume_values.json (references/make_volume_values.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from likeness.errors import ImageTooSmallError
from likeness.metrics.ms_ssim import ms_ssim
from likeness.metrics.ssim import ssim

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "references"))
from make_volume_values import volumes  # noqa: E402  (the generator of the pinned inputs)

PINNED = json.loads((Path(__file__).parent / "data" / "volume_values.json").read_text())


@pytest.mark.filterwarnings("ignore:image depth 5 is shorter")
def test_volumes_equal_pytorch_msssim_and_scikit_image():
    for record in PINNED["volumes"]:
        x, y = (torch.from_numpy(v) for v in volumes(tuple(record["shape"])))
        if record["metric"] == "ssim":
            got = ssim(x, y, data_range=1.0, convention="pytorch-msssim")
        else:
            got = ms_ssim(x, y, data_range=1.0)
        assert got.tolist() == pytest.approx(record["pytorch_msssim"], rel=1e-10)
        if "skimage" in record:
            got = ssim(x, y, data_range=1.0)  # 7x7x7 uniform window, sample covariance
            assert got.tolist() == pytest.approx(record["skimage"], rel=1e-10)


def test_volumes_keep_dtype_gradients_and_refuse_small_or_other_shapes():
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.random((1, 1, 12, 20, 20))).float().requires_grad_(True)
    y = torch.from_numpy(rng.random((1, 1, 12, 20, 20))).float()
    value = ssim(x, y, data_range=1.0, convention="wang2004")
    assert value.dtype == torch.float32
    value.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert ssim(y, y, data_range=1.0, convention="wang2004").item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="depth 5 is smaller"):
        ssim(torch.rand(1, 1, 5, 20, 20), torch.rand(1, 1, 5, 20, 20), data_range=1.0)
    with pytest.raises(ImageTooSmallError, match="depth x height x width"):
        ms_ssim(torch.rand(1, 1, 100, 200, 200), torch.rand(1, 1, 100, 200, 200),
                data_range=1.0)
    with pytest.raises(ValueError, match="volumes"):
        ssim(torch.rand(1, 1, 2, 8, 8, 8), torch.rand(1, 1, 2, 8, 8, 8), data_range=1.0)


@pytest.mark.filterwarnings("ignore:image depth 5 is shorter")
@pytest.mark.parametrize("shape", [(2, 3, 11, 40, 36), (1, 2, 5, 33, 30)])
@pytest.mark.parametrize("convention", ["pytorch-msssim", "skimage"])
def test_the_fused_volume_kernel_equals_the_differentiable_route(shape, convention):
    """Without a gradient, volumes on the CPU take the fused kernel (float64 sums); with
    one, the filters of torch: the same values (depth 5 < 11: pytorch-msssim leaves it
    unfiltered)."""
    if convention == "skimage" and shape[2] < 7:
        return
    rng = np.random.default_rng(11)
    x = torch.from_numpy(rng.random(shape)).float()
    y = (x + torch.from_numpy(rng.normal(0, 0.1, shape)).float()).clamp(0, 1)
    fused = ssim(x, y, data_range=1.0, convention=convention)
    graph = ssim(x.clone().requires_grad_(True), y, data_range=1.0, convention=convention)
    np.testing.assert_allclose(fused.numpy(), graph.detach().numpy(), rtol=0, atol=2e-6)
