"""Kernels that are not separable, in float64 on the CPU (the arithmetic of folder runs):
``_filters.correlate_2d`` sums shifted slices instead of calling torch's float64
convolution, which runs at ~0.3 GFLOP/s there (VIF took 0.69 s a 512x384 pair, 3.5x
pyiqa's time; NLPD 93 ms, 4x).  The same sums within rounding, and no convolution left in
the metrics that filter so (their values are pinned elsewhere: tests/test_wavelet_metrics.py,
tests/test_nlpd.py, tests/test_piq_api.py).  And FSIM's filters, built once a size."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import likeness
from likeness.metrics._filters import correlate_2d


@pytest.mark.parametrize(("rows", "columns", "step"), [(5, 5, 1), (7, 7, 1), (9, 9, 2),
                                                        (17, 1, 1), (1, 9, 1), (3, 4, 3),
                                                        (1, 5, (1, 3)), (5, 1, (3, 1))])
def test_correlate_2d_is_torchs_convolution_within_rounding(rows, columns, step):
    generator = torch.Generator().manual_seed(rows * 10 + columns)
    images = torch.rand(2, 3, 41, 37, generator=generator, dtype=torch.float64) * 255
    kernel = torch.randn(rows, columns, generator=generator, dtype=torch.float64)
    kernel[0, 0] = 0.0  # a sparse kernel's zero taps are skipped
    expected = F.conv2d(images.reshape(6, 1, 41, 37), kernel[None, None], stride=step)
    expected = expected.reshape(2, 3, *expected.shape[-2:])
    got = correlate_2d(images, kernel, step)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-14, atol=1e-12)
    single = correlate_2d(images.float(), kernel.float(), step)  # float32: the convolution
    torch.testing.assert_close(single, expected.float(), rtol=1e-5, atol=1e-3)


def test_correlate_2d_carries_gradients():
    generator = torch.Generator().manual_seed(2)
    images = torch.rand(1, 1, 12, 13, generator=generator, dtype=torch.float64,
                        requires_grad=True)
    kernel = torch.randn(3, 3, generator=generator, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: correlate_2d(x, kernel, 2), (images,))


@pytest.mark.parametrize("metric", ["vif", "nlpd", "vif_p"])
def test_float64_metrics_filter_without_torchs_convolution(metric, monkeypatch):
    generator = torch.Generator().manual_seed(4)
    reference = torch.rand(2, 3, 96, 120, generator=generator, dtype=torch.float64)
    distorted = (0.8 * reference + 0.2 * torch.rand(reference.shape, generator=generator,
                                                     dtype=torch.float64))

    def refused(*args, **kwargs):
        raise AssertionError("torch's float64 convolution")

    monkeypatch.setattr(F, "conv2d", refused)
    values = getattr(likeness, metric)(distorted, reference, data_range=1.0,
                                       reduction="none")
    assert values.dtype == torch.float64
    assert bool(torch.isfinite(values).all())


def test_fsim_builds_its_filters_once_per_image_size():
    """The log-Gabor filters and the noise model's sums depend on the size alone: built
    once for a folder of one size (their inverse FFT was a quarter of FSIM's time), the
    values the same as built afresh."""
    from likeness.metrics.fsim import _filter_bank

    generator = torch.Generator().manual_seed(6)
    x = torch.rand(1, 3, 90, 110, generator=generator, dtype=torch.float64)
    y = (0.9 * x + 0.1 * torch.rand(x.shape, generator=generator, dtype=torch.float64))
    _filter_bank.cache_clear()
    first = likeness.fsim(x, y, data_range=1.0)
    again = likeness.fsim(y, x, data_range=1.0)
    info = _filter_bank.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    _filter_bank.cache_clear()
    assert torch.equal(likeness.fsim(y, x, data_range=1.0), again)
    assert torch.equal(likeness.fsim(x, y, data_range=1.0), first)
