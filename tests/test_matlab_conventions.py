"""The classical metrics as their authors' MATLAB code computes them (``convention=
"matlab"``), pinned to the MATLAB values published with piq 0.8.0's tests on its pairs
(tests/data/matlab_pairs, see its README), within each value's printed precision; piq's
convention (the default) unchanged and its departure from MATLAB measured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import likeness
from likeness.cli import main
from likeness.evaluation.catalog.registry import METRICS

PAIRS = Path(__file__).parent / "data" / "matlab_pairs"
GRAY = ("goldhill_jpeg.gif", "goldhill.gif")  # (distorted, reference), as piq's tests
RGB = ("i01_01_5.bmp", "I01.BMP")

# (metric, function options, pair, MATLAB value as published, printed precision, source)
PUBLISHED = [
    ("gmsd", {}, GRAY, 0.138012587141798, 1e-14, "GMSD.m; piq tests/test_gmsd.py"),
    ("gmsd", {}, RGB, 0.094124655829098, 1e-14, "GMSD.m on YIQ's Y; piq tests/test_gmsd.py"),
    ("haarpsi", {}, RGB, 0.71706527, 5e-9, "HaarPSI.m; piq tests/test_haarpsi.py"),
    ("fsim", {"chromatic": False}, GRAY, 0.89691, 5e-6, "FeatureSIM.m; piq tests/test_fsim.py"),
    ("fsim", {"chromatic": False}, RGB, 0.93674, 5e-6, "FeatureSIM.m; piq tests/test_fsim.py"),
    ("fsim", {"chromatic": True}, RGB, 0.92587, 5e-6, "FeatureSIM.m (FSIMc); piq "
     "tests/test_fsim.py"),
]


# published MATLAB values that piq's arithmetic (the default) already reproduces: these
# metrics compute the same in both conventions (x, y as piq's tests pass them; tolerance:
# the printed precision, or the measured difference where MATLAB's imresize, run in
# double, and likeness's differ in the last printed digit)
SAME_IN_BOTH = [
    ("mdsi", GRAY, 0.395910876130775, 1e-14, "MDSI.m (sum); piq tests/test_mdsi.py"),
    ("mdsi", RGB, 0.338972600511665, 1e-14, "MDSI.m (sum); piq tests/test_mdsi.py"),
    ("information_weighted_ssim", GRAY, 0.886297251092821, 1e-14,
     "iwssim.m; piq tests/test_iw_ssim.py"),
    ("information_weighted_ssim", RGB[::-1], 0.946804801436296, 1e-14,
     "iwssim.m on YIQ's Y; piq tests/test_iw_ssim.py"),
    ("srsim", GRAY[::-1], 0.94652679, 5e-9, "SR_SIM.m (10-tap gaussian); piq tests/test_srsim.py"),
    ("srsim", RGB[::-1], 0.9659730, 1e-7, "SR_SIM.m; piq tests/test_srsim.py (6.8e-8 off)"),
    ("vsi", RGB[::-1], 0.96405, 5e-6, "VSI.m; piq tests/test_vsi.py"),
    ("vif_p", GRAY, 0.2665, 5e-5, "vifp_mscale.m; piq tests/test_vif.py"),
    ("vif_p", RGB, 0.3147, 5e-5, "vifp_mscale.m on YIQ's Y; piq tests/test_vif.py"),
    ("dss", GRAY[::-1], 0.45217181, 2e-8, "DSS.m; piq tests/test_dss.py (1.3e-8 off)"),
]


@pytest.mark.parametrize(("metric", "pair", "value", "precision", "source"), SAME_IN_BOTH,
                         ids=[f"{m}-{p[0]}" for m, p, *_ in SAME_IN_BOTH])
def test_published_matlab_values_piq_already_reproduces(metric, pair, value, precision,
                                                        source):
    x, y = (_tensor(name) for name in pair)
    got = float(getattr(likeness, metric)(x, y, data_range=255))
    assert abs(got - value) <= precision, (source, got)


def _tensor(name: str) -> torch.Tensor:
    with Image.open(PAIRS / name) as image:
        pixels = torch.from_numpy(np.array(image)).to(torch.float64)
    return pixels[None, None] if pixels.ndim == 2 else pixels.permute(2, 0, 1)[None]


@pytest.mark.parametrize(("metric", "options", "pair", "value", "precision", "source"),
                         PUBLISHED, ids=[f"{m}-{p[1]}-{o}" for m, o, p, *_ in PUBLISHED])
def test_the_matlab_convention_gives_the_published_values(metric, options, pair, value,
                                                          precision, source):
    x, y = (_tensor(name) for name in pair)
    got = getattr(likeness, metric)(x, y, data_range=255, convention="matlab", **options)
    assert abs(float(got) - value) <= precision, (source, float(got))


def test_piq_departs_from_matlab_by_what_the_cards_say():
    """piq's convention stays the default, and misses these MATLAB values by the sizes
    the cards state (so it is not the authors' value)."""
    x, y = (_tensor(name) for name in GRAY)
    piq_gmsd = float(likeness.gmsd(x, y, data_range=255))
    assert 1e-6 < 0.138012587141798 - piq_gmsd < 1.1e-6
    x, y = (_tensor(name) for name in RGB)
    assert abs(float(likeness.haarpsi(x, y, data_range=255)) - 0.71706527) > 2.9e-5
    assert abs(float(likeness.fsim(x, y, data_range=255)) - 0.92587) > 2e-5
    # the luma-only metrics: the same arithmetic in both conventions
    assert float(likeness.fsim(x, y, data_range=255, chromatic=False)) == float(
        likeness.fsim(x, y, data_range=255, chromatic=False, convention="matlab"))


def test_ms_gmsd_pools_each_scale_with_std2():
    x, y = (_tensor(name) for name in RGB)
    piq = float(likeness.multi_scale_gmsd(x, y, data_range=255))
    matlab = float(likeness.multi_scale_gmsd(x, y, data_range=255, convention="matlab"))
    assert 5e-7 < matlab - piq < 1.3e-6  # N − 1 instead of N at each of 4 scales


def test_losses_and_gradients_take_the_convention():
    x, y = (_tensor(name) / 255 for name in RGB)
    x = x.clone().requires_grad_(True)
    loss = likeness.HaarPSILoss(convention="matlab")(x, y)
    loss.backward()
    assert torch.isfinite(x.grad).all()
    assert float(1 - loss.detach()) == pytest.approx(0.71706527, abs=5e-9)


def test_an_unknown_convention_is_refused_in_the_words_of_the_interface():
    x, y = (_tensor(name) for name in GRAY)
    with pytest.raises(likeness.InvalidInputError, match="convention must be one of"):
        likeness.gmsd(x, y, data_range=255, convention="octave")
    with pytest.raises(likeness.InvalidInputError, match="convention must be one of"):
        likeness.compare_files(PAIRS / GRAY[1], PAIRS / GRAY[0], metrics="gmsd",
                               convention="octave")
    result = CliRunner().invoke(main, ["compare", str(PAIRS / GRAY[1]), str(PAIRS / GRAY[0]),
                                       "--metrics", "gmsd", "--convention", "octave"])
    assert result.exit_code == 2
    assert "--convention" in result.output


def test_a_run_in_the_matlab_convention_records_and_states_it(tmp_path):
    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
    for index, (test, reference) in enumerate((GRAY, RGB)):
        for folder, name in (("ref", reference), ("out", test)):
            with Image.open(PAIRS / name) as image:
                image.convert("RGB").save(tmp_path / folder / f"{index}.png")
    out = tmp_path / "run"
    result = CliRunner().invoke(main, [
        "compare", str(tmp_path / "ref"), str(tmp_path / "out"), "--metrics",
        "gmsd,haarpsi,fsimc,psnr", "--convention", "matlab", "--out-dir", str(out),
        "--no-cache"])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "run.json").read_text())
    assert record["settings"]["convention"] == "matlab"
    assert record["conventions"]["gmsd"].endswith("(convention=matlab)")
    assert "convention" not in record["conventions"]["psnr"]
    methods = (out / "methods.md").read_text()
    assert "as the authors' `GMSD.m` computes it" in methods
    assert "`HaarPSI.m`" in methods
    assert "real((S_I S_Q)^0.03)" in methods
    rows = {row.reference: row for row in likeness.compare_folders(
        tmp_path / "ref", tmp_path / "out", metrics="gmsd", convention="matlab").rows}
    # RGB-converted goldhill: GMSD.m on YIQ's Y of gray-as-RGB is GMSD.m on the gray image
    assert float(rows["0.png"].values["gmsd"]) == pytest.approx(0.138012587141798, abs=1e-14)
    piq = likeness.compare_files(tmp_path / "ref" / "0.png", tmp_path / "out" / "0.png",
                                 metrics="gmsd")["gmsd"]
    assert piq != rows["0.png"].values["gmsd"]  # the convention is part of the value (and key)
    assert "convention" in METRICS["gmsd"].key_settings
