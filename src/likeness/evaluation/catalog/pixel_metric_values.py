"""The values of the registry's own pixel metrics from one prepared pair (``PreparedPair``):
what each entry's ``pixels`` computes — (pair, run settings) → value, with the run's
conventions (SSIM's ``ssim_convention``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from likeness.errors import ImageTooSmallError, LikenessError
from likeness.evaluation.catalog.metric_spec import torch_pair
from likeness.evaluation.items.prepare import PreparedPair
from likeness.evaluation.items.settings import RunSettings

__all__ = ["ms_ssim_value", "mse_value", "psnr_value", "ssim_map", "ssim_value"]


def ssim_value(pair: PreparedPair, settings: RunSettings) -> float:
    from likeness.metrics.skimage_compat import structural_similarity

    convention = getattr(settings, "ssim_convention", "skimage")
    if convention == "basicsr":
        from likeness.metrics.restoration import basicsr_ssim

        return basicsr_ssim(pair.reference, pair.test)
    if convention == "matlab":
        from likeness.metrics.restoration import matlab_ssim

        if pair.reference.shape[2] != 1 or pair.data_range != 255:
            raise LikenessError("the matlab SSIM convention (Wang's ssim.m) compares one "
                                "8-bit channel: use the Y channel (y_channel=True, "
                                "--y-channel) or gray, on 8-bit images")
        return matlab_ssim(pair.reference, pair.test)
    if convention == "torchmetrics":
        from likeness.metrics.ssim_torchmetrics import torchmetrics_ssim

        test, reference = torch_pair(pair)
        return float(torchmetrics_ssim(test, reference, pair.data_range).mean())
    if convention == "pytorch-msssim":
        from likeness.metrics.ssim import ssim

        test, reference = torch_pair(pair)
        return float(ssim(test, reference, data_range=pair.data_range,
                          convention="pytorch-msssim")[0])
    height, width = pair.reference.shape[:2]
    if min(height, width) < 7:
        raise ImageTooSmallError(f"images of {width}x{height} px are smaller than SSIM's 7x7 "
                                 "window; SSIM needs at least 7 px a side")
    if convention == "wang2004":
        return float(structural_similarity(pair.reference, pair.test, channel_axis=-1,
                                           data_range=pair.data_range, gaussian_weights=True,
                                           sigma=1.5, use_sample_covariance=False))
    return float(structural_similarity(pair.reference, pair.test, channel_axis=-1,
                                       data_range=pair.data_range))


def psnr_value(pair: PreparedPair, settings: RunSettings) -> float:
    from likeness.metrics.skimage_compat import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(pair.reference, pair.test, data_range=pair.data_range))


def mse_value(pair: PreparedPair, settings: RunSettings) -> float:
    from likeness.metrics.skimage_compat import mean_squared_error

    return float(mean_squared_error(pair.reference, pair.test))


def ms_ssim_value(pair: PreparedPair, settings: RunSettings) -> float:
    import torch

    from likeness.metrics.ms_ssim import ms_ssim

    def as_batch(pixels: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(pixels.astype(np.float64)).permute(2, 0, 1)[None]

    return float(ms_ssim(as_batch(pair.reference), as_batch(pair.test),
                         data_range=pair.data_range,
                         convention=getattr(settings, "ms_ssim_convention",
                                            "pytorch-msssim"))[0])


def ssim_map(pair: PreparedPair, settings: RunSettings) -> np.ndarray:
    """SSIM's local values under the run's convention, averaged over channels: the map
    whose mean is the value (scikit-image's 7×7 uniform window; Wang et al.'s 11×11
    Gaussian window; BasicSR's and ``ssim.m``'s windows inside the image, ``ssim.m``'s after
    its downsampling; torchmetrics' whole reflect-padded map).  pytorch-msssim's convention
    is shown with its window as scikit-image computes it (float64, reflected borders)."""
    from likeness.metrics.skimage_compat import structural_similarity

    convention = getattr(settings, "ssim_convention", "skimage")
    if convention == "basicsr":
        from likeness.metrics.restoration import basicsr_ssim_map

        return basicsr_ssim_map(pair.reference, pair.test)
    if convention == "matlab":
        from likeness.metrics.restoration import matlab_ssim_map

        return matlab_ssim_map(pair.reference, pair.test)
    if convention == "torchmetrics":
        from likeness.metrics.ssim_torchmetrics import torchmetrics_ssim

        test, reference = torch_pair(pair)
        return torchmetrics_ssim(test, reference, pair.data_range, full=True)[0].mean(
            dim=0).numpy()
    gaussian: dict[str, Any] = ({} if convention == "skimage" else
                                {"gaussian_weights": True, "sigma": 1.5,
                                 "use_sample_covariance": False})
    _, local = structural_similarity(pair.reference, pair.test, channel_axis=-1,
                                     data_range=pair.data_range, full=True, **gaussian)
    return np.asarray(local).mean(axis=2)
