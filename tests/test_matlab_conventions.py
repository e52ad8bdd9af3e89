"""The classical metrics as their authors' MATLAB code computes them (``convention=
"matlab"``): pinned to the MATLAB values published with piq 0.8.0's tests on its pairs and
with IQA-PyTorch's calibration table on five TID2013 pairs (tests/data/matlab_pairs, see
its README), within each value's printed precision, and to NumPy transcriptions of the
``.m`` files (references/make_matlab_transcriptions.py) within 1e-10 on pairs of several
sizes; piq's convention (the default) unchanged and its departure from MATLAB measured."""

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
from likeness.metrics._image_maps import (
    RGB2GRAY_MATLAB,
    matlab_box_downsample,
    matlab_downsampling_factor,
    matlab_gray,
)
from likeness.metrics.ms_ssim import ms_ssim
from likeness.metrics.nlpd import nlp_distances

DATA = Path(__file__).parent / "data"
PAIRS = DATA / "matlab_pairs"
GRAY = ("goldhill_jpeg.gif", "goldhill.gif")  # (distorted, reference), as piq's tests
RGB = ("i01_01_5.bmp", "I01.BMP")
TID = ("I03", "I04", "I06", "I08", "I19")  # IQA-PyTorch's ResultsCalibra pairs


def _tid(name: str) -> tuple[str, str]:
    return f"tid2013_{name}_distorted.png", f"tid2013_{name}_reference.png"


# (metric, function options, pair, MATLAB value as published, printed precision, source);
# "yiq-luma": the published value was computed on YIQ's unrounded Y (0.299 R + 0.587 G +
# 0.114 B), not on MATLAB's rgb2gray, so the test hands that luma to the metric
PUBLISHED = [
    ("gmsd", {}, GRAY, 0.138012587141798, 1e-14, "GMSD.m; piq tests/test_gmsd.py"),
    ("gmsd", {"yiq-luma": True}, RGB, 0.094124655829098, 1e-14,
     "GMSD.m on YIQ's unrounded Y; piq tests/test_gmsd.py"),
    ("haarpsi", {}, RGB, 0.71706527, 5e-9, "HaarPSI.m; piq tests/test_haarpsi.py"),
    ("fsim", {"chromatic": False}, GRAY, 0.89691, 5e-6, "FeatureSIM.m; piq tests/test_fsim.py"),
    ("fsim", {"chromatic": False}, RGB, 0.93674, 5e-6, "FeatureSIM.m; piq tests/test_fsim.py"),
    ("fsim", {"chromatic": True}, RGB, 0.92587, 5e-6, "FeatureSIM.m (FSIMc); piq "
     "tests/test_fsim.py"),
    ("information_weighted_ssim", {"yiq-luma": True}, RGB[::-1], 0.946804801436296, 1e-14,
     "iwssim.m on YIQ's unrounded Y; piq tests/test_iw_ssim.py"),
    ("vif_p", {"yiq-luma": True}, RGB, 0.3147, 5e-5,
     "vifp_mscale.m on YIQ's unrounded Y; piq tests/test_vif.py"),
    ("vif_p", {}, GRAY, 0.2665, 5e-5, "vifp_mscale.m; piq tests/test_vif.py"),
    ("mdsi", {}, RGB, 0.338972600511665, 1e-14, "MDSI.m (sum); piq tests/test_mdsi.py"),
    ("srsim", {}, RGB[::-1], 0.9659730, 1e-7, "SR_SIM.m; piq tests/test_srsim.py (6.8e-8 off)"),
]
# IQA-PyTorch's ResultsCalibra/results_official.csv (github.com/chaofengc/IQA-PyTorch, commit
# 01ae427): MATLAB values of the authors' code on TID2013 pairs, colour through rgb2gray
PUBLISHED += [("gmsd", {}, _tid(name), value, 2e-14, "GMSD.m on rgb2gray; IQA-PyTorch "
               "ResultsCalibra") for name, value in zip(TID, (
                   0.220347639470143, 0.0005220585050504579, 0.0004482814810014102,
                   0.134631933046914, 0.204996493556054), strict=True)]
PUBLISHED += [("fsim", {"chromatic": True}, _tid(name), value, 5e-4 if name == "I03" else 5e-5,
               "FeatureSIM.m (FSIMc); IQA-PyTorch ResultsCalibra")
              for name, value in zip(TID, (0.689, 0.9702, 0.9927, 0.9575, 0.822), strict=True)]
# the wavelet-domain VIF has one convention, the authors': the same values either way
PUBLISHED += [("vif", {"convention-free": True}, _tid(name), value, 5e-5,
               "vifvec.m on rgb2gray; IQA-PyTorch ResultsCalibra")
              for name, value in zip(TID, (0.0172, 0.9891, 0.9924, 0.9103, 0.1745), strict=True)]
PUBLISHED += [("cw_ssim", {"convention-free": True}, _tid(name), value, 5e-5,
               "cwssim_index.m (level 4, 8 orientations); IQA-PyTorch ResultsCalibra")
              for name, value in zip(TID, (0.2763, 0.9996, 1.0, 0.9068, 0.8658), strict=True)]


# published MATLAB values that piq's arithmetic (the default) already reproduces: these
# metrics compute the same in both conventions on these pairs (x, y as piq's tests pass
# them; tolerance: the printed precision, or the measured difference where MATLAB's
# imresize, run in double, and likeness's differ in the last printed digit)
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
    ("dss", GRAY[::-1], 0.45217181, 5e-9,
     "DSS.m; piq tests/test_dss.py (piq 1.3e-8 off; likeness 1.7e-9: centred variances)"),
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
    options = dict(options)
    if options.pop("yiq-luma", False):
        x, y = _yiq_luma(x), _yiq_luma(y)
    if not options.pop("convention-free", False):
        options["convention"] = "matlab"
    got = getattr(likeness, metric)(x, y, data_range=255, **options)
    assert abs(float(got) - value) <= precision, (source, float(got))


def _yiq_luma(rgb: torch.Tensor) -> torch.Tensor:
    return (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2])[:, None]


def test_piq_departs_from_matlab_by_what_the_cards_say():
    """piq's convention stays the default, and misses these MATLAB values by the sizes
    the cards state (so it is not the authors' value)."""
    x, y = (_tensor(name) for name in GRAY)
    piq_gmsd = float(likeness.gmsd(x, y, data_range=255))
    assert 1e-6 < 0.138012587141798 - piq_gmsd < 1.1e-6
    x, y = (_tensor(name) for name in RGB)
    assert abs(float(likeness.haarpsi(x, y, data_range=255)) - 0.71706527) > 2.9e-5
    assert abs(float(likeness.fsim(x, y, data_range=255)) - 0.92587) > 2e-5
    # FSIM of luma: phasecong2's frequency angle, median and ε
    assert 1e-6 < abs(float(likeness.fsim(x, y, data_range=255, chromatic=False)) - float(
        likeness.fsim(x, y, data_range=255, chromatic=False, convention="matlab"))) < 2e-6


def test_ms_gmsd_pools_each_scale_with_std2():
    x, y = (_yiq_luma(_tensor(name)) for name in RGB)
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


TRANSCRIBED = json.loads((DATA / "matlab_transcriptions.json").read_text())
_BY_METRIC = {
    "gmsd": lambda x, y: likeness.gmsd(x, y, data_range=255, convention="matlab"),
    "ms_ssim": lambda x, y: ms_ssim(x, y, data_range=255, convention="matlab"),
    "ms_ssim_wtd_sum": lambda x, y: ms_ssim(x, y, data_range=255, convention="matlab-wtd-sum"),
    "vif_p": lambda x, y: likeness.vif_p(x, y, data_range=255, convention="matlab"),
    "mdsi": lambda x, y: likeness.mdsi(x, y, data_range=255, convention="matlab"),
    "vif": lambda x, y: likeness.vif(x, y, data_range=255),
    "cw_ssim": lambda x, y: likeness.cw_ssim(x, y, data_range=255),
    "nlpd": lambda x, y: likeness.nlpd(x, y, data_range=255),
    "fsim": lambda x, y: likeness.fsim(x, y, data_range=255, chromatic=False,
                                       convention="matlab"),
    "fsimc": lambda x, y: likeness.fsim(x, y, data_range=255, convention="matlab"),
    "haarpsi": lambda x, y: likeness.haarpsi(x, y, data_range=255, convention="matlab"),
    "sr_sim": lambda x, y: likeness.srsim(x, y, data_range=255, convention="matlab"),
    "iw_ssim": lambda x, y: likeness.information_weighted_ssim(x, y, data_range=255,
                                                               convention="matlab"),
    "nlpd_laplacian": lambda x, y: nlp_distances(x, y, data_range=255).laplacian,
}
# the pairs references/make_matlab_transcriptions.py builds: (reference, distorted) files
# and the crop (rows, columns) taken from their top-left corner
_TRANSCRIBED_PAIRS = {
    "tid2013_I03": (_tid("I03")[::-1], None),
    "tid2013_I19": (_tid("I19")[::-1], None),
    "tid2013_I19_crop_383x509": (_tid("I19")[::-1], (383, 509)),
    "goldhill": (GRAY[::-1], None),
    "goldhill_crop_257x301": (GRAY[::-1], (257, 301)),
    "noise_768x800": (("noise_768x800_ref.png", "noise_768x800_test.png"), None),
    "noise_crop_640x700": (("noise_768x800_ref.png", "noise_768x800_test.png"), (640, 700)),
}


def _transcribed_pair(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(distorted, reference) tensors of a pair of matlab_transcriptions.json."""
    files, crop = _TRANSCRIBED_PAIRS[name]
    reference, distorted = (_tensor(file) for file in files)
    if crop is not None:
        reference = reference[..., :crop[0], :crop[1]]
        distorted = distorted[..., :crop[0], :crop[1]]
    return distorted, reference


@pytest.mark.parametrize(("pair", "metric"), [(pair, metric) for pair, row in
                                              TRANSCRIBED["values"].items() for metric in row])
def test_the_matlab_convention_equals_the_transcribed_m_files(pair, metric):
    """GMSD.m, msssim.m, vifp_mscale.m, vifvec.m, cwssim_index.m, MDSI.m, HaarPSI.m,
    iwssim.m (with buildLpyr), SR_SIM.m, FeatureSIM.m (FSIM, and FSIMc of colour pairs)
    and NLP_dist.m (both of its outputs) transcribed line by line in NumPy, on odd sizes,
    > 512 px, gray and colour (through rgb2gray where the file takes gray; FeatureSIM.m,
    HaarPSI.m, SR_SIM.m: their own YIQ; NLP_dist.m: rgb2ycbcr's Y)."""
    x, y = _transcribed_pair(pair)
    got = float(_BY_METRIC[metric](x, y))
    assert got == pytest.approx(TRANSCRIBED["values"][pair][metric], abs=1e-10)


@pytest.mark.parametrize("pair", list(TRANSCRIBED["downsampled_distorted"]))
def test_the_authors_downsampling_block(pair):
    """FeatureSIM.m, SR_SIM.m, VSI.m and MDSI.m: f = max(1, round(min/256)), MATLAB's round;
    conv2(Y, fspecial('average', f), 'same') sampled at 1:f:end."""
    distorted, _ = _transcribed_pair(pair)
    if distorted.shape[1] == 3:
        distorted = matlab_gray(distorted, 255)
    small = matlab_box_downsample(distorted, matlab_downsampling_factor(distorted))[0, 0]
    total, squares, rows, columns = TRANSCRIBED["downsampled_distorted"][pair]
    assert tuple(small.shape) == (rows, columns)
    assert float(small.sum()) == pytest.approx(total, rel=1e-12)
    assert float((small**2).sum()) == pytest.approx(squares, rel=1e-12)


def test_matlab_rounds_the_downsampling_factor_up():
    x = torch.zeros(1, 1, 640, 700)
    assert matlab_downsampling_factor(x) == 3  # piq's Python rounding gives 2
    assert matlab_box_downsample(torch.ones(1, 1, 5, 5), 2).shape[-1] == 3


def test_rgb2gray_as_matlab_rounds_integer_images_with_a_gradient_through_it():
    rgb = torch.tensor([[[[10.0]], [[200.0]], [[30.0]]]], dtype=torch.float64, requires_grad=True)
    gray = matlab_gray(rgb, 255)
    # 0.298936…·10 + 0.587043…·200 + 0.114020…·30 = 123.8… → 124
    assert float(gray.detach()) == 124.0
    gray.sum().backward()
    assert rgb.grad is not None
    assert torch.allclose(rgb.grad.flatten(), torch.tensor(
        RGB2GRAY_MATLAB, dtype=torch.float64))
    unit = matlab_gray(rgb.detach() / 255, 1.0)  # MATLAB's double image
    exact = sum(c * v for c, v in zip(RGB2GRAY_MATLAB, (10, 200, 30), strict=True))
    assert float(unit) * 255 == pytest.approx(exact, abs=1e-9)


@pytest.mark.parametrize(("name", "ssim_value", "psnr_value"), list(zip(TID, (
    0.6993, 0.9978, 0.9989, 0.9669, 0.6519), (21.11, 20.99, 27.01, 23.3, 21.62), strict=True)))
def test_tid2013_ssim_and_psnr_as_published(name, ssim_value, psnr_value):
    """IQA-PyTorch's ResultsCalibra: SSIM (Wang's ssim_index: 11×11 gaussian, windows
    inside the image, no downsampling) of rgb2gray images — in likeness ``gray`` under the
    matlab convention with the wang2004 SSIM convention; PSNR of the RGB images."""
    distorted, reference = (PAIRS / file for file in _tid(name))
    gray = likeness.compare_files(reference, distorted, metrics="ssim", gray=True,
                                  convention="matlab", ssim_convention="wang2004")
    assert gray["ssim"] == pytest.approx(ssim_value, abs=5e-5)
    colour = likeness.compare_files(reference, distorted, metrics="psnr")
    assert colour["psnr"] == pytest.approx(psnr_value, abs=5e-3)


# IQA-PyTorch's ResultsCalibra/results_official.csv (commit 01ae427, rgb2gray): msssim.m with
# its method 'wtd_sum' — the product (its default) is up to 4.4e-3 below these
@pytest.mark.parametrize(("name", "value", "product_gap"), [
    ("I03", 0.6733, 3.4e-3), ("I04", 0.9996, 5e-5), ("I06", 0.9998, 5e-5),
    ("I08", 0.9566, 1e-4), ("I19", 0.8462, 4.5e-3)])
def test_tid2013_ms_ssim_as_published_is_msssim_m_with_wtd_sum(name, value, product_gap):
    """The table's MS-SSIM is msssim.m's method 'wtd_sum' (weights normalised to sum 1;
    Σ w·cs over the finer scales + w₅·SSIM₅), all five to their four digits — found after
    the gray conversions, downsampling variants, imresize, clipping, rounding between
    scales, the older msssim.m, image-sized maps and a Laplacian pyramid were ruled out."""
    x, y = (_tensor(file) for file in _tid(name))
    got = float(ms_ssim(x, y, data_range=255, convention="matlab-wtd-sum"))
    assert abs(got - value) <= 5e-5
    product = float(ms_ssim(x, y, data_range=255, convention="matlab"))
    assert abs(product - value) <= product_gap


# IQA-PyTorch's ResultsCalibra/ms_ssim_org_result.txt (commit 3f32343, "# ycbcr input"): an
# earlier table of msssim.m (method 'product') on the Y of rgb2ycbcr for double images
@pytest.mark.parametrize(("name", "value"), list(zip(
    TID, (0.6981, 0.9998, 0.9999, 0.9570, 0.8547), strict=True)))
def test_tid2013_ms_ssim_on_ycbcr_y_as_published(name, value):
    def y_of(rgb: torch.Tensor) -> torch.Tensor:  # rgb2ycbcr's Y, unrounded, 0–255 scale
        return 16 + (65.481 * rgb[:, 0:1] + 128.553 * rgb[:, 1:2] + 24.966 * rgb[:, 2:3]) / 255

    x, y = (y_of(_tensor(file)) for file in _tid(name))
    got = float(ms_ssim(x, y, data_range=255, convention="matlab"))
    assert abs(got - value) <= 5e-5


@pytest.mark.parametrize(("name", "value"), list(zip(
    TID, (0.9139, 0.9620, 0.9922, 0.9571, 0.9262), strict=True)))
def test_tid2013_vsi_departs_from_the_table_by_what_the_readme_says(name, value):
    """piq's VSI reproduces VSI.m's published value on piq's pair (0.96405, SAME_IN_BOTH)
    but misses IQA-PyTorch's table by up to 1.24e-2: the table's VSI values are not MATLAB
    values — they equal, to their 8 digits, the outputs of IQA-optimization's PyTorch port
    that IQA-PyTorch lists beside them (ResultsCalibra/results_compare/vsi_opt_result.txt,
    commit f39658d: 0.91382939, 0.96196967, 0.99220151, 0.95711297, 0.92621893)."""
    x, y = (_tensor(file) for file in _tid(name))
    assert abs(float(likeness.vsi(x, y, data_range=255)) - value) <= 1.25e-2


def test_a_cli_run_with_gray_in_the_matlab_convention_uses_rgb2gray(tmp_path):
    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
    for name in ("I03", "I19"):
        distorted, reference = (PAIRS / file for file in _tid(name))
        (tmp_path / "ref" / f"{name}.png").write_bytes(reference.read_bytes())
        (tmp_path / "out" / f"{name}.png").write_bytes(distorted.read_bytes())
    runs = {}
    for convention in ("piq", "matlab"):
        out = tmp_path / convention
        result = CliRunner().invoke(main, [
            "compare", str(tmp_path / "ref"), str(tmp_path / "out"), "--metrics", "ssim",
            "--gray", "--convention", convention, "--ssim-convention", "wang2004",
            "--out-dir", str(out)])
        assert result.exit_code == 0, result.output
        runs[convention] = out
    record = (runs["matlab"] / "run.json").read_text()
    assert "MATLAB's rgb2gray" in record
    assert "MATLAB's rgb2gray" not in (runs["piq"] / "run.json").read_text()
    values = {}
    for convention, out in runs.items():
        lines = (out / "per_image.csv").read_text().splitlines()
        header = lines[0].split(",")
        values[convention] = {line.split(",")[header.index("reference")]:
                              float(line.split(",")[header.index("ssim")]) for line in lines[1:]}
    assert values["matlab"]["I03.png"] == pytest.approx(0.6993, abs=5e-5)
    assert values["matlab"]["I19.png"] == pytest.approx(0.6519, abs=5e-5)
    # the shared cache keeps Pillow's and MATLAB's gray apart (gray=matlab in the key)
    assert values["piq"]["I03.png"] != values["matlab"]["I03.png"]


def test_two_files_with_a_results_folder_are_refused_not_ignored(tmp_path):
    distorted, reference = (PAIRS / file for file in _tid("I03"))
    result = CliRunner().invoke(main, ["compare", str(reference), str(distorted),
                                       "--out-dir", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "--out-dir writes a results folder for folders" in result.output
    assert not (tmp_path / "run").exists()


def test_iw_ssim_refuses_what_iwssim_m_makes_complex():
    """A negative pooled contrast-structure term (an inverted image) is complex in
    iwssim.m: refused in the matlab convention, its absolute value taken in piq's."""
    _, reference = (_tensor(name) for name in GRAY)
    inverted = 255 - reference
    assert float(likeness.information_weighted_ssim(inverted, reference, data_range=255)) > 0
    with pytest.raises(likeness.UnsupportedImageError, match="complex"):
        likeness.information_weighted_ssim(inverted, reference, data_range=255,
                                           convention="matlab")


def test_a_run_with_msssim_m_wtd_sum_records_and_states_it(tid2013_folders, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["compare", *map(str, tid2013_folders),
                                       "--metrics", "ms-ssim", "--ms-ssim-convention",
                                       "matlab-wtd-sum", "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["ms_ssim_convention"] == "matlab-wtd-sum"
    assert "`method = 'wtd_sum'`" in (out / "methods.md").read_text()
    rows = (out / "per_image.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert float(rows[1].split(",")[header.index("ms_ssim")]) == pytest.approx(0.8462, abs=5e-5)
