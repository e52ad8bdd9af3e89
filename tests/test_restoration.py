"""Restoration conventions: PSNR and SSIM on the Y channel with a cropped border, as
BasicSR computes them.  Pinned values: tests/data/basicsr_values.json, made by
references/make_basicsr_values.py with BasicSR 1.4.2 (opencv 5.0.0) on the golden pairs and
on generated odd-sized pairs (tests/data/basicsr_pairs/)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import likeness
from likeness.cli import main
from likeness.io import load_image
from likeness.metrics.restoration import basicsr_ssim, basicsr_ssim_map
from likeness.runs.single import compare_pair

DATA = Path(__file__).parent / "data"
PINNED = json.loads((DATA / "basicsr_values.json").read_text())


def _path(golden, name):
    return DATA / name if name.startswith("basicsr_pairs/") else golden.image_path(name)


def _rgb8_pairs(golden):
    """The pinned pairs likeness reads as 8-bit RGB (BasicSR read every file as BGR uint8;
    gray and 16-bit files are other conventions, see test_gray_y_is_the_gray_value)."""
    for record in PINNED["pairs"]:
        a, b = _path(golden, record["reference"]), _path(golden, record["test"])
        images = [load_image(p, alpha="drop") for p in (a, b)]
        if all(i.channels == 3 and i.bit_depth == 8 for i in images):
            yield record, a, b


@pytest.mark.parametrize("crop", [0, 4])
@pytest.mark.parametrize("y_channel", [False, True])
def test_psnr_and_ssim_equal_basicsr(golden, crop, y_channel):
    key = f"crop{crop}_{'y' if y_channel else 'rgb'}"
    checked = 0
    for record, a, b in _rgb8_pairs(golden):
        got = likeness.compare_files(a, b, metrics="psnr,ssim", alpha="drop",
                                     y_channel=y_channel, crop_border=crop,
                                     ssim_convention="basicsr")
        assert got["psnr"] == pytest.approx(record[f"psnr_{key}"], rel=1e-10), record
        assert got["ssim"] == pytest.approx(record[f"ssim_{key}"], rel=1e-10), record
        checked += 1
    assert checked >= 8  # golden colour pairs and the generated odd-sized ones


def test_the_issues_jpeg_pair_reads_as_published(golden):
    # issue 14: PSNR-Y 29.3139 dB, SSIM-Y 0.89173 with BasicSR on one JPEG pair, 4-px crop
    sample = Path(__file__).parents[1] / "samples"
    got = likeness.compare_files(sample / "reference" / "astronaut.png",
                                 sample / "jpeg" / "astronaut.png", metrics="psnr,ssim",
                                 y_channel=True, crop_border=4, ssim_convention="basicsr")
    assert round(got["psnr"], 4) == 29.3139
    assert round(got["ssim"], 5) == 0.89173


def test_gray_y_is_the_gray_value_and_16_bit_is_refused(tmp_path):
    rng = np.random.default_rng(3)
    gray = rng.integers(0, 256, (40, 48), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "a.png")
    Image.fromarray(np.clip(gray.astype(int) + 5, 0, 255).astype(np.uint8)).save(tmp_path / "b.png")
    row = compare_pair(tmp_path / "a.png", tmp_path / "b.png", metrics="psnr",
                                y_channel=True)
    plain = likeness.compare_files(tmp_path / "a.png", tmp_path / "b.png", metrics="psnr")
    assert row.values["psnr"] == pytest.approx(plain["psnr"], rel=1e-12)
    assert any("gray image: its values are the Y channel" in d for d in row.decisions)
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "c.png")
    Image.fromarray(gray.astype(np.uint16) * 257 + 3).save(tmp_path / "d.png")
    row = compare_pair(tmp_path / "c.png", tmp_path / "d.png", metrics="psnr,ssim",
                                y_channel=True)
    assert row.error.endswith("defined for 8-bit images; these are 16-bit (or of two bit "
                              "depths)")


def test_a_crop_that_leaves_nothing_and_contradictory_options_are_refused(tmp_path):
    pixels = np.random.default_rng(4).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    row = compare_pair(tmp_path / "a.png", tmp_path / "a.png", metrics="psnr",
                                crop_border=10)
    assert "crop_border=10 leaves nothing" in row.error
    with pytest.raises(ValueError, match="choose one"):
        likeness.compare_files(tmp_path / "a.png", tmp_path / "a.png", y_channel=True,
                               gray=True)
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "a.png"),
                                       str(tmp_path / "a.png"), "--y-channel", "--gray"])
    assert result.exit_code == 2
    assert "--y-channel and --gray" in result.output


def test_folders_record_the_convention_and_cite_basicsr(tmp_path, golden):
    chosen = list(_rgb8_pairs(golden))[:3]
    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
    for index, (_, a, b) in enumerate(chosen):
        for source, folder in ((a, "ref"), (b, "out")):
            with Image.open(source) as image:
                image.convert("RGB").save(tmp_path / folder / f"{index}.png")
    result = CliRunner().invoke(main, [
        "compare", str(tmp_path / "ref"), str(tmp_path / "out"), "--metrics", "psnr,ssim",
        "--y-channel", "--crop-border", "4", "--ssim-convention", "basicsr",
        "--out-dir", str(tmp_path / "run"), "--no-cache", "--html"])
    assert result.exit_code == 0, result.output
    # the report's SSIM maps show the pixels the run's SSIM saw
    assert "SSIM map, Y channel, 4-px border cropped" in (tmp_path / "run" /
                                                         "report.html").read_text()
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["settings"]["y_channel"] is True
    assert record["settings"]["crop_border"] == 4
    assert record["settings"]["ssim_convention"] == "basicsr"
    methods = (tmp_path / "run" / "methods.md").read_text()
    assert "Y channel of ITU-R BT.601" in methods
    assert "cropping 4 pixels" in methods
    assert "calculate_ssim" in methods
    assert "@misc{wang2022basicsr" in (tmp_path / "run" / "references.bib").read_text()
    rows = likeness.compare(tmp_path / "ref", tmp_path / "out", metrics="psnr,ssim",
                            cache=False, y_channel=True, crop_border=4,
                            ssim_convention="basicsr").rows
    for row, (record, _, _) in zip(rows, chosen, strict=True):
        assert row.values["psnr"] == pytest.approx(record["psnr_crop4_y"], rel=1e-10)
        assert row.values["ssim"] == pytest.approx(record["ssim_crop4_y"], rel=1e-10)


def test_conventions_are_part_of_the_cache_key(tmp_path):
    rng = np.random.default_rng(5)
    for folder, shift in (("ref", 0), ("out", 9)):
        (tmp_path / folder).mkdir()
        pixels = rng.integers(0, 200, (40, 40, 3), dtype=np.uint8) if folder == "ref" else None
        if pixels is not None:
            reference = pixels
        Image.fromarray(np.clip(reference.astype(int) + shift, 0, 255).astype(np.uint8)).save(
            tmp_path / folder / "x.png")
    cache = tmp_path / "cache.sqlite"
    plain = likeness.compare(tmp_path / "ref", tmp_path / "out", metrics="psnr", cache=cache)
    y = likeness.compare(tmp_path / "ref", tmp_path / "out", metrics="psnr", cache=cache,
                         y_channel=True)
    assert not y.rows[0].cached
    assert y.rows[0].values["psnr"] != plain.rows[0].values["psnr"]


def test_named_ssim_conventions_of_files(golden, tmp_path):
    # wang2004: the golden `ssim.gaussian` value (scikit-image 0.26 with gaussian_weights,
    # sigma 1.5, population covariance); pytorch-msssim: its ssim, live, on the same pixels
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    import torch

    checked = 0
    for pair in golden.pairs:
        a, b = golden.image_path(pair["reference"]), golden.image_path(pair["test"])
        images = [load_image(p, alpha="drop") for p in (a, b)]
        if not all(i.channels == 3 and i.bit_depth == 8 for i in images):
            continue
        got = likeness.compare_files(a, b, metrics="ssim", alpha="drop",
                                     ssim_convention="wang2004")["ssim"]
        assert got == pytest.approx(pair["ssim"]["gaussian"], abs=1e-6)
        x, y = (torch.from_numpy(i.pixels.astype(np.float64)).permute(2, 0, 1)[None]
                for i in images)
        want = float(pytorch_msssim.ssim(y, x, data_range=255, size_average=False)[0])
        got = likeness.compare_files(a, b, metrics="ssim", alpha="drop",
                                     ssim_convention="pytorch-msssim")["ssim"]
        assert got == pytest.approx(want, rel=1e-10)
        checked += 1
    assert checked >= 4
    ref, out = (tmp_path / "ref", tmp_path / "out")
    for folder, pixels in ((ref, images[0].pixels), (out, images[1].pixels)):
        folder.mkdir()
        Image.fromarray(pixels).save(folder / "x.png")
    results = likeness.compare(ref, out, metrics="ssim", ssim_convention="wang2004",
                               out_dir=tmp_path / "run", cache=False)
    assert "population covariance" in (tmp_path / "run" / "methods.md").read_text()
    assert results.record["settings"]["ssim_convention"] == "wang2004"
    with pytest.raises(ValueError, match="ssim_convention must be one of"):
        likeness.compare_files(a, b, ssim_convention="ms-ssim")


@pytest.mark.parametrize(("height", "width", "channels"), [(11, 11, 1), (37, 52, 3),
                                                           (64, 45, 1), (23, 90, 3)])
def test_basicsr_ssim_through_the_fused_kernel_is_cv2s_2d_window_within_rounding(
        height, width, channels):
    """BasicSR filters with ``cv2.filter2D`` and the 11×11 outer product of its 1-D
    gaussian; ``basicsr_ssim`` applies those taps down and across in the fused kernel
    (5× BasicSR's speed on a 512×384 RGB pair): the same SSIM within rounding, 8-bit and
    float (the Y channel) images, odd sizes, and the 11-px smallest."""
    rng = np.random.default_rng(height * width)
    x = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    noise = rng.integers(-40, 41, x.shape)
    y = np.clip(x.astype(int) + noise, 0, 255).astype(np.uint8)
    for a, b in ((x, y), (x.astype(np.float64) * 0.859 + 16, y.astype(np.float64) * 0.859 + 16)):
        expected = float(basicsr_ssim_map(a, b).mean())
        assert basicsr_ssim(a, b) == pytest.approx(expected, rel=1e-13, abs=1e-15)
