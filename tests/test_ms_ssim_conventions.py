"""MS-SSIM in the conventions users compare against: pytorch-msssim's (the default),
piq's ``multi_scale_ssim`` (``convention="piq"``, ``--ms-ssim-convention piq``) and
torchmetrics' (``"torchmetrics"``), pinned to piq 0.8.0's and torchmetrics 1.9.0's values
(tests/data/piq_ms_ssim_values.json, made by references/make_piq_ms_ssim_values.py) and
live against them where they are installed; Wang's ``msssim.m`` (``"matlab"``) is pinned
in tests/test_matlab_conventions.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import likeness
from likeness.cli import main
from likeness.metrics.ms_ssim import ms_ssim
from likeness.metrics.ssim import ssim

DATA = Path(__file__).parent / "data"
PINNED = json.loads((DATA / "piq_ms_ssim_values.json").read_text())


def _path(golden, name: str) -> Path:
    for folder in (DATA, DATA / "matlab_pairs"):
        if (folder / name).is_file():
            return folder / name
    return golden.image_path(name)


def test_every_pinned_piq_value(golden):
    sizes = set()
    for record in PINNED["pairs"]:
        reference, test = _path(golden, record["reference"]), _path(golden, record["test"])
        got = likeness.compare_files(reference, test, metrics="ms_ssim",
                                     ms_ssim_convention="piq")["ms_ssim"]
        assert got == pytest.approx(record["ms_ssim"], abs=1e-12), record
        sizes.add(likeness.load_image(reference).pixels.shape)
    assert any(side % 2 for shape in sizes for side in shape[:2])  # odd sides are covered


def test_the_conventions_differ_where_piq_pads_odd_sides():
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(1, 3, 177, 203, generator=generator, dtype=torch.float64)
    y = (0.7 * x + 0.3 * torch.rand(x.shape, generator=generator, dtype=torch.float64))
    piq_value = ms_ssim(x, y, data_range=1.0, convention="piq")
    default = ms_ssim(x, y, data_range=1.0)
    assert 1e-4 < float((piq_value - default).abs()) < 1e-2
    # even at every scale: no padding, and only the window differs (pytorch-msssim builds
    # its taps in float32, piq in the input's dtype)
    even = x[..., :176, :176], y[..., :176, :176]
    gap = float((ms_ssim(*even, data_range=1.0, convention="piq")
                 - ms_ssim(*even, data_range=1.0)).abs())
    assert gap < 1e-6


def test_piq_live_on_odd_sizes_and_custom_weights():
    piq = pytest.importorskip("piq")
    generator = torch.Generator().manual_seed(5)
    for shape in ((2, 3, 161, 161), (1, 1, 255, 321), (1, 3, 383, 512)):
        for dtype in (torch.float64, torch.float32):
            x = torch.rand(shape, generator=generator, dtype=dtype)
            y = (0.8 * x + 0.2 * torch.rand(shape, generator=generator, dtype=dtype))
            ours = ms_ssim(x, y, data_range=1.0, convention="piq")
            theirs = piq.multi_scale_ssim(x, y, data_range=1.0, reduction="none")
            if dtype == torch.float32:  # piq's own 2-D convolutions: bit for bit
                assert torch.equal(ours, theirs)
            else:  # its window as a separable one (the fused kernel): within rounding
                torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-13)
    weights = [3.0, 4.0, 2.0, 1.0, 2.0]
    assert torch.equal(
        ms_ssim(x, y, data_range=1.0, convention="piq", scale_weights=weights),
        piq.multi_scale_ssim(x, y, data_range=1.0, reduction="none",
                             scale_weights=torch.tensor(weights, dtype=dtype)))
    doubles = x.double(), y.double()
    torch.testing.assert_close(
        ms_ssim(*doubles, data_range=1.0, convention="piq", scale_weights=weights),
        piq.multi_scale_ssim(*doubles, data_range=1.0, reduction="none",
                             scale_weights=torch.tensor(weights, dtype=torch.float64)),
        rtol=0, atol=1e-13)


@pytest.mark.parametrize("convention", ["piq", "torchmetrics"])
def test_float64_images_take_the_separable_window_within_1e_13_of_the_2d_one(
        convention, monkeypatch):
    """piq's and torchmetrics' 2-D Gaussian windows are outer products: in float64 on the
    CPU they are applied as separable windows by the fused kernel (torch's float64 2-D
    convolution took 2.0 s a 512x384 RGB pair, 40x piq's float32 speed); with a gradient
    (or in float32) the references' own 2-D convolutions."""
    from likeness.metrics import ms_ssim as ms_ssim_module
    from likeness.metrics import ssim_torchmetrics

    generator = torch.Generator().manual_seed(9)
    x = torch.rand(2, 3, 190, 230, generator=generator, dtype=torch.float64)
    y = (0.7 * x + 0.3 * torch.rand(x.shape, generator=generator, dtype=torch.float64))
    two_d = ms_ssim(x.clone().requires_grad_(), y, data_range=1.0,
                    convention=convention).detach()

    def refused(*args, **kwargs):
        raise AssertionError("a 2-D convolution in float64")

    for module in (ms_ssim_module, ssim_torchmetrics):
        monkeypatch.setattr(module.F, "conv2d", refused)
    separable = ms_ssim(x, y, data_range=1.0, convention=convention)
    torch.testing.assert_close(separable, two_d, rtol=0, atol=1e-13)
    assert not torch.equal(separable, two_d)  # not the same arithmetic


def test_an_unknown_ms_ssim_convention_and_small_images_are_refused():
    x = torch.rand(1, 1, 200, 200)
    with pytest.raises(likeness.InvalidInputError, match="convention must be one of"):
        ms_ssim(x, x, data_range=1.0, convention="tensorflow")
    with pytest.raises(likeness.ImageTooSmallError, match="at least 161x161"):
        ms_ssim(x[..., :160, :160], x[..., :160, :160], data_range=1.0, convention="piq")


def test_a_run_records_and_states_the_ms_ssim_convention(golden, tmp_path):
    record = PINNED["pairs"][0]
    reference, test = _path(golden, record["reference"]), _path(golden, record["test"])
    out = tmp_path / "run"
    (tmp_path / "ref").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "ref" / "a.png").write_bytes(reference.read_bytes())
    (tmp_path / "out" / "a.png").write_bytes(test.read_bytes())
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "ref"), str(tmp_path / "out"),
                                       "--metrics", "ms-ssim", "--ms-ssim-convention", "piq",
                                       "--out-dir", str(out), "--no-cache"])
    assert result.exit_code == 0, result.output
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["ms_ssim_convention"] == "piq"
    assert run["conventions"]["ms_ssim"].endswith("(ms_ssim_convention=piq)")
    assert "as piq's `multi_scale_ssim` computes it" in (out / "methods.md").read_text()
    assert "kastryulin2022piq" in (out / "references.bib").read_text()
    rows = (out / "per_image.csv").read_text().splitlines()
    assert float(rows[1].split(",")[3]) == pytest.approx(record["ms_ssim"], abs=1e-12)


def test_every_pinned_torchmetrics_value(golden):
    for record in PINNED["pairs"]:
        reference, test = _path(golden, record["reference"]), _path(golden, record["test"])
        got = likeness.compare_files(reference, test, metrics="ms_ssim",
                                     ms_ssim_convention="torchmetrics")["ms_ssim"]
        assert got == pytest.approx(record["torchmetrics_ms_ssim"], abs=1e-12), record


def test_torchmetrics_ms_ssim_live():
    tm = pytest.importorskip("torchmetrics.functional.image")
    generator = torch.Generator().manual_seed(3)
    for shape in ((2, 3, 256, 256), (1, 3, 301, 257), (1, 1, 200, 190)):
        x = torch.rand(shape, generator=generator, dtype=torch.float64)
        y = (x + 0.2 * torch.rand(shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
        expected = tm.multiscale_structural_similarity_index_measure(x, y, data_range=1.0,
                                                                     reduction="none")
        got = ms_ssim(x, y, data_range=1.0, convention="torchmetrics")
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-13)  # separable window
        single = x.float(), y.float()  # torchmetrics' own 2-D convolution: bit for bit
        assert torch.equal(
            ms_ssim(*single, data_range=1.0, convention="torchmetrics"),
            tm.multiscale_structural_similarity_index_measure(*single, data_range=1.0,
                                                              reduction="none"))


def test_the_four_ms_ssim_conventions_are_refused_and_named_alike(golden):
    x = torch.rand(1, 1, 160, 160, dtype=torch.float64)
    with pytest.raises(likeness.ImageTooSmallError, match="torchmetrics' convention"):
        ms_ssim(x, x, data_range=1.0, convention="torchmetrics")
    with pytest.raises(likeness.ImageTooSmallError, match=r"msssim\.m"):
        ms_ssim(x[..., :150, :150], x[..., :150, :150], data_range=1.0, convention="matlab")
    with pytest.raises(likeness.InvalidInputError, match="convention must be one of"):
        ms_ssim(x, x, data_range=1.0, convention="octave")
    flipped = torch.rand(1, 1, 200, 200, dtype=torch.float64)
    with pytest.raises(likeness.UnsupportedImageError, match="complex number"):
        ms_ssim(flipped, 1 - flipped, data_range=1.0, convention="matlab")
    result = CliRunner().invoke(main, ["compare", "--help"])
    for name in ("pytorch-msssim", "piq", "torchmetrics", "matlab"):
        assert name in result.output


def test_torchmetrics_ssim_live_and_through_files(golden):
    tm = pytest.importorskip("torchmetrics.functional.image")
    generator = torch.Generator().manual_seed(8)
    for shape in ((2, 3, 64, 64), (1, 1, 37, 53), (1, 3, 200, 311)):
        x = torch.rand(shape, generator=generator, dtype=torch.float64)
        y = 0.8 * x + 0.2 * torch.rand(shape, generator=generator, dtype=torch.float64)
        for theirs, ours in (({}, {}), ({"sigma": 1.0}, {"sigma": 1.0}),
                             ({"gaussian_kernel": False, "kernel_size": 7},
                              {"window": "uniform", "win_size": 7})):
            expected = tm.structural_similarity_index_measure(x, y, data_range=1.0,
                                                              reduction="none", **theirs)
            got = likeness.ssim(x, y, data_range=1.0, convention="torchmetrics", **ours)
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-15)


def test_torchmetrics_ssim_averages_its_reflect_padded_map(golden):
    """Without torchmetrics here: the convention's map has the image's size, its mean is
    the value, and it differs from scikit-image's SSIM (windows inside the image only)."""
    from likeness.metrics.ssim_torchmetrics import torchmetrics_ssim

    pair = golden.pairs[0]
    reference, test = golden.image_path(pair["reference"]), golden.image_path(pair["test"])
    value = likeness.compare_files(reference, test, metrics="ssim",
                                   ssim_convention="torchmetrics")["ssim"]
    skimage = likeness.compare_files(reference, test, metrics="ssim")["ssim"]
    assert 1e-3 < abs(value - skimage) < 2e-2
    x = torch.rand(1, 3, 40, 50, dtype=torch.float64)
    local = torchmetrics_ssim(x, x.flip(-1), 1.0, full=True)
    assert local.shape == x.shape
    torch.testing.assert_close(local.mean(dim=(-1, -2)), torchmetrics_ssim(x, x.flip(-1), 1.0),
                               rtol=0, atol=1e-15)
    with pytest.raises(likeness.InvalidInputError, match="derives a Gaussian window"):
        likeness.ssim(x, x, data_range=1.0, convention="torchmetrics", win_size=7)


def _noisy_pair():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 200, 230, generator=generator, dtype=torch.float64)
    y = (x + 0.1 * torch.rand(x.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
    return x, y


@pytest.mark.parametrize("convention", ["matlab", "matlab-wtd-sum"])
def test_the_fused_cpu_route_equals_the_tensor_route(convention):
    # msssim.m's separable window: without a gradient on the CPU, in the fused numba
    # kernel; with one (and on a GPU), through torch's tensor operations: the same values
    x, y = _noisy_pair()
    fused = ms_ssim(x, y, data_range=1.0, convention=convention)
    tensors = ms_ssim(x.clone().requires_grad_(True), y, data_range=1.0,
                      convention=convention).detach()
    assert torch.allclose(fused, tensors, rtol=1e-13, atol=0)


def test_torchmetrics_ssim_fused_equals_its_convolution():
    x, y = _noisy_pair()
    for window in ({}, {"window": "uniform", "win_size": 7}):
        single = ssim(x, y, data_range=1.0, convention="torchmetrics", **window)
        graph = ssim(x.clone().requires_grad_(True), y, data_range=1.0,
                     convention="torchmetrics", **window).detach()
        assert torch.allclose(single, graph, rtol=1e-13, atol=0)
