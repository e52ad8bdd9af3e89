"""The wavelet-domain metrics: VIF (``vif``, Sheikh & Bovik's ``vifvec.m``) and CW-SSIM
(``cw_ssim``, Sampat, Wang et al.'s ``cwssim_index.m``).  Their published MATLAB values and
the NumPy transcriptions are pinned in tests/test_matlab_conventions.py; here their
properties, their input checks and their run end to end."""

from __future__ import annotations

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


def _tensor(name: str) -> torch.Tensor:
    with Image.open(PAIRS / name) as image:
        pixels = torch.from_numpy(np.array(image)).to(torch.float64)
    return pixels[None, None] if pixels.ndim == 2 else pixels.permute(2, 0, 1)[None]


def test_identical_images_give_one_and_distortion_less():
    reference = _tensor("goldhill.gif")[..., :160, :200]
    assert float(likeness.vif(reference, reference, data_range=255)) == pytest.approx(1.0,
                                                                                      abs=1e-12)
    generator = torch.Generator().manual_seed(0)
    noisy = (reference + 20 * torch.randn(reference.shape, generator=generator,
                                          dtype=torch.float64)).clamp(0, 255)
    blurred = torch.nn.functional.avg_pool2d(reference, 3, stride=1, padding=1,
                                             count_include_pad=False)
    assert 0 < float(likeness.vif(noisy, reference, data_range=255)) < 1
    assert 0 < float(likeness.vif(blurred, reference, data_range=255)) < 1
    # a contrast stretch carries more information than the reference: above 1, as VIF allows
    stretched = ((reference - 128) * 1.2 + 128).clamp(0, 255)
    assert float(likeness.vif(stretched, reference, data_range=255)) > 1


def test_a_batch_is_each_image_alone_and_the_scale_is_the_data_range():
    x = torch.cat([_tensor("goldhill_jpeg.gif"), _tensor("goldhill.gif")])[..., :128, :128]
    y = torch.cat([_tensor("goldhill.gif"), _tensor("goldhill_jpeg.gif")])[..., :128, :128]
    batch = likeness.vif(x, y, data_range=255, reduction="none")
    alone = torch.cat([likeness.vif(x[i:i + 1], y[i:i + 1], data_range=255, reduction="none")
                       for i in range(2)])
    torch.testing.assert_close(batch, alone, rtol=0, atol=1e-13)
    torch.testing.assert_close(likeness.vif(x / 255, y / 255, reduction="none"), batch,
                               rtol=0, atol=1e-12)


def test_inputs_are_checked_in_the_words_of_the_interface():
    x = torch.rand(1, 1, 80, 80, dtype=torch.float64)
    with pytest.raises(likeness.ImageTooSmallError, match="at least 72x72"):
        likeness.vif(x[..., :71, :], x[..., :71, :])
    with pytest.raises(likeness.InvalidInputError):
        likeness.vif(x * 2, x)  # outside [0, data_range]
    with pytest.raises(likeness.InvalidInputError):
        likeness.vif(x, x[..., :79])
    with pytest.raises(likeness.InvalidInputError):
        likeness.vif([[0.0]], x)  # type: ignore[arg-type]
    flat = torch.full((1, 1, 80, 80), 0.5, dtype=torch.float64)
    with pytest.raises(likeness.UnsupportedImageError, match="flat"):
        likeness.vif(x, flat)


def test_cw_ssim_is_one_for_identical_images_and_tolerates_a_small_shift():
    reference = _tensor("goldhill.gif")[..., :256, :256]
    assert float(likeness.cw_ssim(reference, reference, data_range=255)) == pytest.approx(
        1.0, abs=1e-12)
    shifted = torch.roll(reference, shifts=1, dims=-1)
    generator = torch.Generator().manual_seed(0)
    noisy = (reference + 5 * torch.randn(reference.shape, generator=generator,
                                          dtype=torch.float64)).clamp(0, 255)
    shift = float(likeness.cw_ssim(shifted, reference, data_range=255))
    noise = float(likeness.cw_ssim(noisy, reference, data_range=255))
    assert 0 < noise < shift < 1
    # SSIM sees the one-pixel shift as worse than the noise: CW-SSIM does not
    assert float(likeness.ssim(shifted, reference, data_range=255)) < float(
        likeness.ssim(noisy, reference, data_range=255))
    # fewer levels: smaller images allowed; a batch is each image alone
    small = reference[..., :40, :40]
    assert float(likeness.cw_ssim(small, small, data_range=255, levels=2)) == pytest.approx(1.0)
    batch = likeness.cw_ssim(torch.cat([noisy, shifted]), torch.cat([reference, reference]),
                             data_range=255, reduction="none")
    torch.testing.assert_close(batch, torch.tensor([noise, shift], dtype=torch.float64),
                               rtol=0, atol=1e-13)


def test_cw_ssim_inputs_are_checked():
    x = torch.rand(1, 1, 70, 70, dtype=torch.float64)
    with pytest.raises(likeness.ImageTooSmallError, match="at least 64x64"):
        likeness.cw_ssim(x[..., :63, :], x[..., :63, :])
    with pytest.raises(likeness.InvalidInputError, match="levels and orientations"):
        likeness.cw_ssim(x, x, levels=0)
    with pytest.raises(likeness.InvalidInputError):
        likeness.cw_ssim(x * 2, x)


def test_vif_in_a_run_with_its_card_and_citation(tid2013_folders, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["compare", *map(str, tid2013_folders),
                                       "--metrics", "vif,vif_p,cw_ssim", "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    lines = (out / "per_image.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert float(lines[1].split(",")[header.index("vif")]) == pytest.approx(0.1745, abs=5e-5)
    assert float(lines[1].split(",")[header.index("cw_ssim")]) == pytest.approx(0.8658,
                                                                                abs=5e-5)
    methods = (out / "methods.md").read_text()
    assert "`vifvec.m`" in methods
    assert "`cwssim_index.m`" in methods
    bibliography = (out / "references.bib").read_text()
    assert "sheikh2006vif" in bibliography
    assert "sampat2009cwssim" in bibliography
    assert "CW-SSIM" in (out / "summary.md").read_text()
    assert METRICS["vif"].better == "higher"
