"""FSIM, FSIMc, SR-SIM, VSI, DSS and IW-SSIM: pinned against piq 0.8.0 on float64 tensors
(tests/data/piq_values.json, made by references/make_piq_values.py) on the golden colour
pairs and on generated pairs of 384, 640 and 1024 px and odd sizes, gray and colour;
closed forms; properties; the command line over folders."""

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
from likeness.errors import ImageTooSmallError, UnsupportedImageError
from likeness.metrics.dss import dss
from likeness.metrics.fsim import fsim, fsimc
from likeness.metrics.iw_ssim import iw_ssim
from likeness.metrics.srsim import sr_sim
from likeness.metrics.vsi import vsi

DATA = Path(__file__).parent / "data"
PINNED = json.loads((DATA / "piq_values.json").read_text())
FUNCTIONS = {"fsim": fsim, "fsimc": fsimc, "sr_sim": sr_sim, "vsi": vsi, "dss": dss,
             "iw_ssim": iw_ssim}
# piq resizes SR-SIM's saliency in float32 and keeps DSS's subband values in float32; its
# VSI rounds differently on different CPUs (0.9661785922 on an AVX-512 Xeon, 0.9661798660
# pinned on the AVX2 EPYC that made piq_values.json: piq equals likeness on each machine).
# Pinned values that depend on the CPU's rounding carry a tolerance that holds across CPUs;
# test_equal_to_piq_live compares with piq on this machine where piq is installed.
TOLERANCE = {"sr_sim": 1e-6, "dss": 1e-6, "vsi": 1e-5}


def _path(golden, name):
    return DATA / name if name.startswith("piq_pairs/") else golden.image_path(name)


@pytest.mark.parametrize("metric", sorted(FUNCTIONS))
def test_every_pinned_piq_value(golden, metric):
    sizes, refused = set(), 0
    for record in PINNED["pairs"]:
        reference, test = _path(golden, record["reference"]), _path(golden, record["test"])
        if record[metric] is None:  # outside the metric's domain in piq too
            with pytest.raises((UnsupportedImageError, ImageTooSmallError)):
                likeness.compare_files(reference, test, metrics=metric)
            refused += 1
            continue
        got = likeness.compare_files(reference, test, metrics=metric)[metric]
        assert got == pytest.approx(record[metric], rel=TOLERANCE.get(metric, 1e-9)), record
        with Image.open(reference) as image:
            sizes.add(image.size)
    assert {(384, 384), (480, 640)} <= sizes
    assert refused == {"fsimc": 2, "iw_ssim": 6}.get(metric, 0)


def _float64_batch(path):
    with Image.open(path) as image:
        pixels = np.asarray(image, dtype=np.float64)
    pixels = pixels[:, :, None] if pixels.ndim == 2 else pixels
    return torch.from_numpy(pixels).permute(2, 0, 1)[None]


@pytest.mark.parametrize("metric", sorted(FUNCTIONS))
def test_equal_to_piq_live(golden, metric):
    # where piq is installed (the reference environment), on this machine's rounding
    piq = pytest.importorskip("piq")
    calls = {"fsim": lambda x, y: piq.fsim(x, y, data_range=255.0, chromatic=False,
                                           reduction="none"),
             "fsimc": lambda x, y: piq.fsim(x, y, data_range=255.0, reduction="none"),
             "sr_sim": lambda x, y: piq.srsim(x, y, data_range=255.0, reduction="none"),
             "vsi": lambda x, y: piq.vsi(x, y, data_range=255.0, reduction="none"),
             "dss": lambda x, y: piq.dss(x, y, data_range=255.0, reduction="none"),
             "iw_ssim": lambda x, y: piq.information_weighted_ssim(x, y, data_range=255.0,
                                                                   reduction="none")}
    for record in PINNED["pairs"][:4]:
        if record[metric] is None:
            continue
        x, y = (_float64_batch(_path(golden, record[side])) for side in ("test", "reference"))
        expected = float(calls[metric](x, y)[0])
        got = float(FUNCTIONS[metric](x, y, data_range=255.0)[0])
        # on one machine VSI agrees to 1e-9: only the pinned value carries the CPU tolerance
        live = {"sr_sim": 1e-6, "dss": 1e-6}
        assert got == pytest.approx(expected, rel=live.get(metric, 1e-9)), record


@pytest.mark.parametrize("metric", sorted(FUNCTIONS))
def test_identical_images_score_one_and_each_image_is_its_own(metric):
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.random((2, 3, 170, 163)))
    y = (x + 0.05 * torch.from_numpy(rng.standard_normal(x.shape))).clamp(0, 1)
    function = FUNCTIONS[metric]
    assert torch.allclose(function(x, x), torch.ones(2, dtype=torch.float64), rtol=1e-12)
    both = function(y, x)
    assert both.dtype == torch.float64
    assert both.shape == (2,)
    assert torch.all(both < 1)
    # a value never depends on the other images of the batch (piq's SR-SIM does)
    assert float(both[1]) == pytest.approx(float(function(y[1:], x[1:])[0]), rel=1e-12)
    assert function(y.float(), x.float()).dtype == torch.float32


@pytest.mark.parametrize("metric", ["fsim", "sr_sim", "vsi", "dss", "iw_ssim"])
def test_gradients_flow(metric):
    x = torch.rand(1, 3, 164, 170, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 3, 164, 170, dtype=torch.float64)
    FUNCTIONS[metric](x, y).sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


def test_dss_depends_on_deviations_not_on_the_brightness_they_sit_on():
    # its similarities use local variances and a covariance only, so lifting both images
    # by a constant leaves DSS as it was; from E[x²] − μ², as DSS.m and piq compute them,
    # the DC subband's larger squares cancel to noise that moved it by 1e-8 (and by
    # ~5e-8 between CPUs)
    x, y = (_matlab_pair_image(name)[None, None] / 2
            for name in ("goldhill.gif", "goldhill_jpeg.gif"))
    assert float(dss(x + 120, y + 120, data_range=255)) == pytest.approx(
        float(dss(x, y, data_range=255)), rel=1e-14)


def _matlab_pair_image(name):
    with Image.open(Path(__file__).parent / "data" / "matlab_pairs" / name) as image:
        return torch.from_numpy(np.array(image, dtype=np.float64))


def test_domains_are_refused_with_the_reason():
    with pytest.raises(ImageTooSmallError, match="161x161"):
        iw_ssim(torch.rand(1, 1, 160, 300), torch.rand(1, 1, 160, 300))
    with pytest.raises(ImageTooSmallError, match="8x8"):
        dss(torch.rand(1, 1, 7, 30), torch.rand(1, 1, 7, 30))
    with pytest.raises(ImageTooSmallError, match="40 px"):
        sr_sim(torch.rand(1, 1, 39, 60), torch.rand(1, 1, 39, 60))
    with pytest.raises(UnsupportedImageError, match="use fsim"):
        fsimc(torch.rand(1, 1, 40, 40), torch.rand(1, 1, 40, 40))
    with pytest.raises(ValueError, match="1 or 3"):
        vsi(torch.rand(1, 2, 40, 40), torch.rand(1, 2, 40, 40))


def test_the_catalogue_over_folders_end_to_end(tmp_path, golden):
    names = ["noise_384x384x3", "noise_97x131x1"]
    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
    for index, name in enumerate(names):
        for folder, suffix in (("ref", "ref"), ("out", "test")):
            with Image.open(DATA / "piq_pairs" / f"{name}_{suffix}.png") as image:
                image.save(tmp_path / folder / f"{index}.png")
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "ref"), str(tmp_path / "out"),
                                       "--metrics", "fsim,fsimc,sr-sim,vsi,dss,iw-ssim",
                                       "--out-dir", str(tmp_path / "run"), "--no-cache",
                                       "--html"])
    # the gray pair is outside FSIMc's and IW-SSIM's domains: its row says so
    assert result.exit_code == 1, result.output
    assert "1 of 2 pairs failed" in result.output
    rows = (tmp_path / "run" / "per_image.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert header[3:9] == ["fsim", "fsimc", "sr_sim", "vsi", "dss", "iw_ssim"]
    records = {r["reference"]: r for r in PINNED["pairs"]}
    colour = dict(zip(header, rows[1].split(","), strict=False))
    pinned = records["piq_pairs/noise_384x384x3_ref.png"]
    for metric in FUNCTIONS:
        assert float(colour[metric]) == pytest.approx(pinned[metric], rel=1e-6), metric
    gray = rows[2]
    assert "fsimc: FSIMc compares colour" in gray
    assert "iw_ssim: IW-SSIM needs" in gray
    bib = (tmp_path / "run" / "references.bib").read_text()
    for key in ("zhang2011fsim", "zhang2012srsim", "zhang2014vsi", "balanov2015dss",
                "wang2011iwssim", "kastryulin2022piq"):
        assert "{" + key + "," in bib
    methods = (tmp_path / "run" / "methods.md").read_text()
    assert "@wang2011iwssim" in methods
    assert "IW-SSIM" in methods
    assert "SR-SIM" in (tmp_path / "run" / "report.html").read_text()  # its label
