"""The classical metrics with piq's call shape: functions and losses with piq's argument
names, defaults and reductions — equal to piq live where piq is installed (the reference
environment), and to likeness's per-image functions everywhere."""

from __future__ import annotations

import pytest
import torch

import likeness
from likeness.metrics import catalogue

FUNCTIONS = ["dss", "fsim", "gmsd", "haarpsi", "information_weighted_ssim", "mdsi",
             "multi_scale_gmsd", "srsim", "vif_p", "vsi"]
LOSSES = {"GMSDLoss": "gmsd", "MultiScaleGMSDLoss": "multi_scale_gmsd", "MDSILoss": "mdsi",
          "VIFLoss": "vif_p", "HaarPSILoss": "haarpsi", "FSIMLoss": "fsim",
          "SRSIMLoss": "srsim", "VSILoss": "vsi", "DSSLoss": "dss",
          "InformationWeightedSSIMLoss": "information_weighted_ssim"}


def _pair():
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 176, 176, dtype=torch.float64, generator=generator)
    y = (x * 0.8 + 0.1 + 0.05 * torch.rand(x.shape, dtype=torch.float64,
                                           generator=generator)).clamp(0, 1)
    return x, y


@pytest.mark.parametrize("name", FUNCTIONS)
def test_reductions_are_piqs(name):
    x, y = _pair()
    function = getattr(likeness, name)
    per_image = function(x, y, reduction="none")
    assert per_image.shape == (2,)
    assert torch.allclose(function(x, y), per_image.mean(), rtol=1e-15)
    assert torch.allclose(function(x, y, reduction="sum"), per_image.sum(), rtol=1e-15)
    with pytest.raises(likeness.InvalidInputError, match="reduction"):
        function(x, y, reduction="median")


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_losses_are_piqs_and_differentiable(loss):
    x, y = _pair()
    x.requires_grad_(True)
    value = getattr(likeness, loss)()(x, y)
    score = getattr(likeness, LOSSES[loss])(x.detach(), y)
    lower = LOSSES[loss] in ("gmsd", "multi_scale_gmsd", "mdsi")
    want = score if lower else 1 - (score.clamp(0, 1) if getattr(
        catalogue, loss).clamped else score)
    assert torch.allclose(value.detach(), want, rtol=1e-12)
    value.backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", FUNCTIONS)
def test_equal_to_piq_live(name):
    piq = pytest.importorskip("piq")
    x, y = _pair()
    ours = getattr(likeness, name)(x, y, reduction="none")
    # image by image: piq's SR-SIM scales saliency by the whole batch's range (README)
    theirs = torch.cat([getattr(piq, name)(x[i:i + 1], y[i:i + 1], reduction="none")
                        for i in range(x.shape[0])])
    # piq computes parts of SR-SIM and DSS in float32 (README, "Exactness")
    tolerance = 1e-6 if name in ("srsim", "dss") else 1e-9
    assert torch.allclose(ours, theirs.to(ours.dtype), rtol=tolerance, atol=1e-12), name


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_losses_equal_to_piq_live(loss):
    piq = pytest.importorskip("piq")
    x, y = _pair()
    # piq computes parts of SR-SIM and DSS in float32, and its MultiScaleGMSDLoss holds its
    # scale weights in a float32 buffer (its function in float64): 4.5e-8 relative here
    tolerance = 1e-6 if LOSSES[loss] in ("srsim", "dss") else 1e-7
    ours = getattr(likeness, loss)(reduction="none")(x, y)
    theirs = torch.cat([getattr(piq, loss)(reduction="none")(x[i:i + 1], y[i:i + 1])
                        for i in range(x.shape[0])])
    assert torch.allclose(ours, theirs.to(ours.dtype), rtol=tolerance, atol=1e-12), loss


def test_srsim_chromatic_is_refused_and_fsim_defaults_to_colour():
    x, y = _pair()
    with pytest.raises(likeness.UnsupportedImageError, match="chromatic=False"):
        likeness.srsim(x, y, chromatic=True)
    assert torch.equal(likeness.fsim(x, y, reduction="none"),
                       likeness.metrics.fsim.fsimc(x, y))
    with pytest.raises(likeness.UnsupportedImageError):
        likeness.fsim(x[:, :1], y[:, :1])


def test_fsim_on_gray_images_says_which_argument_to_pass():
    """piq's default computes FSIMc, which needs colour: the Python call is told to pass
    chromatic=False (the CLI's message names its metric fsim instead)."""
    gray = torch.rand(1, 1, 40, 40, dtype=torch.float64)
    with pytest.raises(likeness.UnsupportedImageError, match="pass chromatic=False"):
        likeness.fsim(gray, gray)
    with pytest.raises(likeness.UnsupportedImageError, match="pass chromatic=False"):
        likeness.FSIMLoss()(gray, gray)
    assert float(likeness.fsim(gray, gray, chromatic=False)) == pytest.approx(1.0)
