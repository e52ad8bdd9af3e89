"""The `matlab` restoration convention: Y rounded as MATLAB's rgb2ycbcr, SSIM as Wang's
ssim.m with its automatic downsampling.  Reference values: tests/data/matlab_values.json,
made by references/make_matlab_values.py from pyiqa 0.1.16 (its SSIM with ycbcr Y, and an
emulation of ssim.m from pyiqa's pieces) on the golden pairs, the generated pairs of
tests/data/piq_pairs (384, 480×640, 1024, odd sizes) and a 768×800 pair."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import likeness
from likeness.cli import main
from likeness.errors import LikenessError
from likeness.metrics.restoration import matlab_downsampling_factor, matlab_y

DATA = Path(__file__).parent / "data"
PINNED = json.loads((DATA / "matlab_values.json").read_text())


def _path(golden, name):
    return DATA / name if "/" in name else golden.image_path(name)


def _matlab(golden, record):
    return likeness.compare_files(_path(golden, record["reference"]),
                                  _path(golden, record["test"]), metrics=["ssim", "psnr"],
                                  y_channel=True, crop_border=record["crop_border"],
                                  ssim_convention="matlab")


def test_equal_to_the_ssim_m_emulation_everywhere(golden):
    factors = set()
    for record in PINNED["pairs"]:
        got = _matlab(golden, record)
        assert got["ssim"] == pytest.approx(record["ssim_m"], rel=1e-10), record
        assert got["psnr"] == pytest.approx(record["psnr_y"], rel=1e-10), record
        with Image.open(_path(golden, record["reference"])) as image:
            side = min(image.size) - 2 * record["crop_border"]
        factors.add(matlab_downsampling_factor(side, side))
    assert factors == {1, 2, 3, 4}


def test_where_pyiqa_agrees_and_why_it_differs_elsewhere(golden):
    # pyiqa's `ssim` (downsample=False) keeps a float32 window (values within ~1e-6) and
    # clips negative contrast-structure values to 0; it never downsamples by default, and
    # with downsample=True it average-pools blocks instead of ssim.m's centred box
    agreeing = 0
    for record in PINNED["pairs"]:
        with Image.open(_path(golden, record["reference"])) as image:
            side = min(image.size) - 2 * record["crop_border"]
        f = matlab_downsampling_factor(side, side)
        same_y = record["y_pixels_unlike_pyiqa"] == 0  # else pyiqa rounded a half to even
        if f == 1 and record["min_cs"] >= 0 and same_y:
            assert record["pyiqa_ssim"] == pytest.approx(record["ssim_m"], rel=2e-6)
            agreeing += 1
        elif f == 1 and record["min_cs"] < 0:  # pyiqa's clipping can only raise the value
            assert record["pyiqa_ssim"] > record["ssim_m"] - 2e-6
        elif f == 2 and same_y and side % 2 == 0:  # 2x2 average pooling is ssim.m's box
            assert record["pyiqa_ssim_downsample"] == pytest.approx(record["ssim_m"], rel=2e-6)
            agreeing += 1
        elif f > 2:  # pyiqa pools other blocks than ssim.m's centred box
            assert abs(record["pyiqa_ssim_downsample"] - record["ssim_m"]) > 1e-6
    assert agreeing >= 12


def test_the_issues_jpeg_pair_differs_from_basicsr_as_published(golden):
    record = next(r for r in PINNED["pairs"] if r["crop_border"] == 4
                  and r["psnr_y"] == pytest.approx(29.3012, abs=2e-4))
    got = _matlab(golden, record)
    assert got["ssim"] == pytest.approx(0.89096, abs=1e-5)
    basicsr = likeness.compare_files(_path(golden, record["reference"]),
                                     _path(golden, record["test"]), metrics=["ssim", "psnr"],
                                     y_channel=True, crop_border=4, ssim_convention="basicsr")
    assert basicsr["psnr"] == pytest.approx(29.3139, abs=1e-4)
    assert basicsr["ssim"] == pytest.approx(0.89173, abs=1e-5)


def test_rounded_y_and_the_refusals(tmp_path):
    rgb = np.array([[[255, 255, 255], [0, 0, 0], [12, 200, 77]]], dtype=np.uint8)
    y = matlab_y(rgb)[..., 0]
    assert y.tolist() == [[235.0, 16.0, 16 + round((65.481 * 12 + 128.553 * 200
                                                      + 24.966 * 77) / 255)]]
    assert matlab_downsampling_factor(640, 700) == 3  # MATLAB rounds 2.5 up; Python to 2
    assert matlab_downsampling_factor(383, 900) == 1
    pixels = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(pixels[::-1].copy()).save(tmp_path / "b.png")
    with pytest.raises(LikenessError, match="compares one 8-bit channel"):
        likeness.compare_files(tmp_path / "a.png", tmp_path / "b.png", metrics="ssim",
                               ssim_convention="matlab")
    gray = likeness.compare_files(tmp_path / "a.png", tmp_path / "b.png", metrics="ssim",
                                  ssim_convention="matlab", gray=True)
    assert -1 < gray["ssim"] < 1


def test_the_command_line_records_the_convention(tmp_path, golden):
    record = PINNED["pairs"][4]
    for folder, key in (("ref", "reference"), ("out", "test")):
        (tmp_path / folder).mkdir()
        with Image.open(_path(golden, record[key])) as image:
            image.save(tmp_path / folder / "x.png")
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "ref"), str(tmp_path / "out"),
                                       "--metrics", "ssim,psnr", "--y-channel",
                                       "--ssim-convention", "matlab", "--out-dir",
                                       str(tmp_path / "run"), "--no-cache"])
    assert result.exit_code == 0, result.output
    row = (tmp_path / "run" / "per_image.csv").read_text().splitlines()[1].split(",")
    assert float(row[3]) == pytest.approx(record["ssim_m"], rel=1e-10)
    assert float(row[4]) == pytest.approx(record["psnr_y"], rel=1e-10)
    methods = (tmp_path / "run" / "methods.md").read_text()
    assert "ssim.m" in methods
    assert "rounded to integers" in methods
