"""The classical metrics with piq's call shape: functions and losses with piq's argument
names, defaults and reductions — equal to piq live where piq is installed (the reference
environment), and to likeness's per-image functions everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import likeness
from likeness.metrics import catalogue

DATA = Path(__file__).parent / "data"

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


def _option_cases():
    document = json.loads((DATA / "piq_option_values.json").read_text(encoding="utf-8"))
    return [pytest.param(case, id=f"{case['function']}-{'-'.join(case['arguments'])}-"
                                  f"{Path(case['test']).stem}")
            for case in document["values"]]


def _read(path: Path) -> torch.Tensor:
    pixels = np.asarray(Image.open(path), dtype=np.float64)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return torch.from_numpy(pixels).permute(2, 0, 1)[None]


@pytest.mark.parametrize("case", _option_cases())
def test_piqs_other_arguments_give_piqs_values(case):
    """GMSD's t, MS-GMSD's chromatic (MS-GMSDc), scale weights and constants, MDSI's
    "mult" combination and constants: piq's values (references/make_piq_option_values.py,
    piq 0.8.0); these arguments were refused ("unexpected keyword argument")."""
    arguments = dict(case["arguments"])
    if "scale_weights" in arguments:
        arguments["scale_weights"] = torch.tensor(arguments["scale_weights"],
                                                  dtype=torch.float64)
    x, y = _read(DATA / case["test"]), _read(DATA / case["reference"])
    value = getattr(likeness, case["function"])(x, y, data_range=255.0, reduction="none",
                                                **arguments)
    # piq resizes SR-SIM's saliency and stores DSS's subband similarities in float32
    # whatever the input (README, "Exactness")
    tolerance = 1e-6 if case["function"] in ("srsim", "dss") else 1e-9
    assert float(value[0]) == pytest.approx(case["value"], rel=tolerance, abs=1e-12)


def test_piqs_other_arguments_are_checked_in_their_own_words():
    x, y = _pair()
    gray = x[:, :1], y[:, :1]
    with pytest.raises(likeness.UnsupportedImageError, match="chromatic=True .* RGB"):
        likeness.multi_scale_gmsd(*gray, chromatic=True)
    with pytest.raises(likeness.InvalidInputError, match="pass convention='piq'"):
        likeness.multi_scale_gmsd(x, y, chromatic=True, convention="matlab")
    for weights in ([], [0.0, 0.0], [1.0, -1.0], [1.0, float("nan")], "heavy"):
        with pytest.raises(likeness.InvalidInputError, match="scale_weights must be"):
            likeness.multi_scale_gmsd(x, y, scale_weights=weights)
    with pytest.raises(likeness.ImageTooSmallError, match="at least 65x65"):  # six scales
        likeness.multi_scale_gmsd(x[..., :64, :64], y[..., :64, :64], scale_weights=[1.0] * 6)
    with pytest.raises(likeness.InvalidInputError, match="'sum' or 'mult', got 'product'"):
        likeness.mdsi(x, y, combination="product")
    with pytest.raises(likeness.InvalidInputError, match="pass convention='piq'"):
        likeness.mdsi(x, y, combination="mult", convention="matlab")
    with pytest.raises(likeness.InvalidInputError, match="rho must not be 0"):
        likeness.mdsi(x, y, rho=0.0)
    with pytest.raises(likeness.InvalidInputError, match="t must be finite"):
        likeness.gmsd(x, y, t=float("nan"))
    # a similarity's constant of 0 divides 0 by 0 in flat regions: NaN, in piq
    with pytest.raises(likeness.InvalidInputError, match="t must be positive, got 0"):
        likeness.multi_scale_gmsd(x, y, t=0)
    with pytest.raises(likeness.InvalidInputError, match="c3 must be positive, got -1"):
        likeness.mdsi(x, y, c3=-1.0)
    with pytest.raises(likeness.InvalidInputError, match="sigma_c must be positive, got 0"):
        likeness.vsi(x, y, sigma_c=0)
    with pytest.raises(likeness.InvalidInputTypeError, match="gaussian_size must be an integer"):
        likeness.srsim(x, y, gaussian_size=9.5)
    with pytest.raises(likeness.InvalidInputError, match="scale .* at most 1, got 2"):
        likeness.srsim(x, y, scale=2)
    with pytest.raises(likeness.ImageTooSmallError, match="at least 200 px a side"):
        likeness.srsim(x, y, scale=0.1, gaussian_size=20)  # 176 px: a 17-pixel map
    with pytest.raises(likeness.InvalidInputError, match="percentile .* at most 1, got 5"):
        likeness.dss(x, y, percentile=5)
    with pytest.raises(likeness.InvalidInputError, match="dct_size must be positive, got 0"):
        likeness.dss(x, y, dct_size=0)
    with pytest.raises(likeness.ImageTooSmallError, match="needs at least 21 whole blocks"):
        likeness.dss(x[..., :32, :32], y[..., :32, :32], percentile=0.024)
    with pytest.raises(likeness.InvalidInputTypeError, match="subsample must be True or "):
        likeness.haarpsi(x, y, subsample="no")
    # the losses pass them on, as piq's
    loss = likeness.MultiScaleGMSDLoss(chromatic=True)(x, y)
    assert torch.allclose(loss, likeness.multi_scale_gmsd(x, y, chromatic=True), rtol=1e-15)
    assert not torch.allclose(loss, likeness.multi_scale_gmsd(x, y))


def test_fsim_and_iw_ssim_settings_are_checked_in_their_own_words():
    """FSIM's and IW-SSIM's tuning arguments were not taken ("unexpected keyword
    argument"); now taken, each out of its range refused by its name."""
    x, y = _pair()
    refusals = [
        (dict(scales=0), likeness.InvalidInputError, "scales must be positive, got 0"),
        (dict(orientations=2.5), likeness.InvalidInputTypeError,
         "orientations must be an integer"),
        (dict(sigma_f=1), likeness.InvalidInputError, "sigma_f must not be 1"),
        (dict(mult=0), likeness.InvalidInputError, "mult must be positive"),
        (dict(k=-1.0), likeness.InvalidInputError, "k .*must be 0 or more, got -1"),
        (dict(delta_theta=float("inf")), likeness.InvalidInputError,
         "delta_theta must be finite")]
    for arguments, error, words in refusals:
        with pytest.raises(error, match=words):
            likeness.fsim(x, y, **arguments)
    refusals = [
        (dict(kernel_size=10), likeness.InvalidInputError, "kernel_size must be odd"),
        (dict(blk_size=11), likeness.InvalidInputError,
         "blk_size must be smaller than kernel_size"),
        (dict(parent="no"), likeness.InvalidInputTypeError, "parent must be True or False"),
        (dict(k2=0), likeness.InvalidInputError, "k2 must be positive, got 0"),
        (dict(sigma_nsq="0.4"), likeness.InvalidInputTypeError, "sigma_nsq must be a number"),
        (dict(scale_weights=[1.0, -1.0]), likeness.InvalidInputError, "scale_weights must be"),
        (dict(scale_weights=[1.0] * 6), likeness.ImageTooSmallError, "at least 321x321")]
    for arguments, error, words in refusals:
        with pytest.raises(error, match=words):
            likeness.information_weighted_ssim(x, y, **arguments)
    # the losses pass them on, as piq's
    loss = likeness.FSIMLoss(scales=3, k=1.0)(x, y)
    assert torch.allclose(loss, 1 - likeness.fsim(x, y, scales=3, k=1.0).clamp(0, 1),
                          rtol=1e-15)
    loss = likeness.InformationWeightedSSIMLoss(blk_size=5)(x, y)
    assert torch.allclose(loss, 1 - likeness.information_weighted_ssim(x, y, blk_size=5),
                          rtol=1e-15)
    assert not torch.allclose(loss, likeness.InformationWeightedSSIMLoss()(x, y))


@pytest.mark.parametrize("call", [
    lambda x, y: likeness.fsim(x, y, chromatic="no"),  # was FSIMc: "no" is truthy
    lambda x, y: likeness.srsim(x, y, chromatic="no"),  # was "piq's chromatic extension"
    lambda x, y: likeness.multi_scale_gmsd(x, y, chromatic=0.5),
    lambda x, y: likeness.haarpsi(x, y, subsample=[]),
    lambda x, y: likeness.structural_similarity(x[0, 0].numpy(), y[0, 0].numpy(),
                                                data_range=1.0, full="no"),
    lambda x, y: likeness.structural_similarity(x[0, 0].numpy(), y[0, 0].numpy(),
                                                data_range=1.0, use_sample_covariance="no"),
], ids=["fsim", "srsim", "ms_gmsd", "haarpsi", "ssim_full", "ssim_sample_covariance"])
def test_a_flag_that_is_not_true_or_false_is_refused_not_taken_as_true(call):
    x, y = _pair()
    with pytest.raises(likeness.InvalidInputTypeError, match="must be True or False, got"):
        call(x, y)


def test_numpys_booleans_are_flags():
    x, y = _pair()
    assert torch.equal(likeness.fsim(x, y, chromatic=np.False_),
                       likeness.fsim(x, y, chromatic=False))
