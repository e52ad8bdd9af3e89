"""GMSD, MS-GMSD, VIFp, MDSI and HaarPSI: pinned against piq 0.8.0 on float64 tensors
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
from likeness.errors import ImageTooSmallError
from likeness.metrics.gmsd import gmsd, ms_gmsd
from likeness.metrics.haarpsi import haarpsi
from likeness.metrics.mdsi import mdsi
from likeness.metrics.vif import vif_p

DATA = Path(__file__).parent / "data"
PINNED = json.loads((DATA / "piq_values.json").read_text())


def _path(golden, name):
    return DATA / name if name.startswith("piq_pairs/") else golden.image_path(name)


@pytest.mark.parametrize("metric", ["gmsd", "ms_gmsd", "vif_p", "mdsi", "haarpsi"])
def test_every_pinned_piq_value(golden, metric):
    sizes = set()
    for record in PINNED["pairs"]:
        got = likeness.compare_files(_path(golden, record["reference"]),
                                     _path(golden, record["test"]), metrics=metric)[metric]
        assert got == pytest.approx(record[metric], rel=1e-6, abs=1e-10), record
        with Image.open(_path(golden, record["reference"])) as image:
            sizes.add(image.size)
    assert {(384, 384), (480, 640), (1024, 1024), (131, 97)} <= sizes


def test_identical_images_score_zero_and_the_value_is_symmetric():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.random((2, 3, 33, 47)))
    y = torch.from_numpy(rng.random((2, 3, 33, 47)))
    for function in (gmsd, ms_gmsd, mdsi):
        assert torch.all(function(x, x) == 0)
    for function in (gmsd, ms_gmsd):  # MDSI is not symmetric: it compares with the average
        assert torch.allclose(function(x, y), function(y, x), rtol=1e-12, atol=0)
        assert function(x, y).dtype == torch.float64
        assert function(x.float(), y.float()).dtype == torch.float32


def test_haarpsi_is_one_for_identical_images_and_symmetric():
    rng = np.random.default_rng(4)
    x = torch.from_numpy(rng.random((2, 3, 40, 36)))
    y = torch.from_numpy(rng.random((2, 3, 40, 36)))
    assert torch.allclose(haarpsi(x, x), torch.ones(2, dtype=torch.float64), rtol=1e-12)
    assert torch.allclose(haarpsi(x, y), haarpsi(y, x), rtol=1e-12, atol=0)
    with pytest.raises(ImageTooSmallError, match="16x16"):
        haarpsi(torch.rand(1, 1, 15, 60), torch.rand(1, 1, 15, 60))


def test_vif_p_is_one_for_identical_images_and_needs_41_px():
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.random((2, 3, 48, 50)))
    assert torch.allclose(vif_p(x, x), torch.ones(2, dtype=torch.float64), rtol=1e-12)
    noisy = (x + 0.1 * torch.from_numpy(rng.standard_normal(x.shape))).clamp(0, 1)
    assert torch.all(vif_p(noisy, x) < 1)
    with pytest.raises(ImageTooSmallError, match="41x41"):
        vif_p(torch.rand(1, 1, 40, 60), torch.rand(1, 1, 40, 60))


def test_gradients_flow_and_small_images_are_refused():
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    gmsd(x, y).sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    with pytest.raises(ImageTooSmallError, match="17x17"):
        ms_gmsd(torch.rand(1, 1, 16, 40), torch.rand(1, 1, 16, 40))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        gmsd(torch.rand(1, 2, 20, 20), torch.rand(1, 2, 20, 20))


def test_gmsd_over_folders_end_to_end(tmp_path, golden):
    records = [r for r in PINNED["pairs"] if r["reference"].startswith("piq_pairs/")][:3]
    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
    for index, record in enumerate(records):
        for folder, key in (("ref", "reference"), ("out", "test")):
            with Image.open(_path(golden, record[key])) as image:
                image.save(tmp_path / folder / f"{index}.png")
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "ref"), str(tmp_path / "out"),
                                       "--metrics", "gmsd,ms-gmsd,vif-p,ssim", "--out-dir",
                                       str(tmp_path / "run"), "--no-cache"])
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "run" / "per_image.csv").read_text().splitlines()
    assert rows[0].startswith("model,reference,test,gmsd,ms_gmsd,vif_p,ssim")
    for line, record in zip(rows[1:], records, strict=True):
        values = line.split(",")
        assert float(values[3]) == pytest.approx(record["gmsd"], rel=1e-6, abs=1e-10)
        assert float(values[4]) == pytest.approx(record["ms_gmsd"], rel=1e-6, abs=1e-10)
        assert float(values[5]) == pytest.approx(record["vif_p"], rel=1e-6)
    summary = (tmp_path / "run" / "summary.tex").read_text()
    assert "gmsd" in summary.lower()
    bib = (tmp_path / "run" / "references.bib").read_text()
    assert "@article{xue2014gmsd" in bib
    assert "@inproceedings{zhang2017msgmsd" in bib
    assert "@article{sheikh2006vif" in bib
    methods = (tmp_path / "run" / "methods.md").read_text()
    assert "@xue2014gmsd" in methods
