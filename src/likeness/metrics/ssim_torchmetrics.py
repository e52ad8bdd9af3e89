"""SSIM as torchmetrics 1.x computes it (``structural_similarity_index_measure``), the
convention ``ssim(..., convention="torchmetrics")`` names: a Gaussian window of
int(3.5σ + 0.5)·2 + 1 taps (σ = 1.5: 11), or a uniform ``win_size`` window, applied to
the images reflect-padded by half a window, so the map has the image's size and its
border windows see mirrored pixels; variances clamped at 0; the whole map averaged.  On
the same pixels this differs from scikit-image's SSIM (which averages only the windows
inside the image) by 2e-3 to 7e-3 on natural images."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.errors import ImageTooSmallError, InvalidInputError
from likeness.metrics._filters import uniform_taps
from likeness.metrics._fused_ssim import fusable, fused_cpu_means

__all__ = ["torchmetrics_ssim", "torchmetrics_ssim_and_contrast_structure"]


def _gaussian_taps(size: int, sigma: float, like: Tensor) -> Tensor:
    """torchmetrics' ``_gaussian``: built in the input's dtype, summing to one."""
    distances = torch.arange((1 - size) / 2, (1 + size) / 2, 1, dtype=like.dtype,
                             device=like.device)
    taps = torch.exp(-torch.pow(distances / sigma, 2) / 2)
    return (taps / taps.sum()).unsqueeze(0)


def torchmetrics_ssim(x: Tensor, y: Tensor, data_range: float, *, sigma: float | None = None,
                      win_size: int | None = None, window: str | None = None,
                      k1: float | None = None, k2: float | None = None,
                      full: bool = False) -> Tensor:
    """Per-(image, channel) mean SSIM, (N, C), of (N, C, H, W) images in torchmetrics'
    arithmetic (``x`` its ``preds``, ``y`` its ``target``); ``full``: the local map
    (N, C, H, W) whose mean that is.

    Raises:
        InvalidInputError: a uniform window with σ, a Gaussian one with ``win_size``
            (torchmetrics derives it from σ), an even window, σ ≤ 0.
        ImageTooSmallError: a side not longer than half the window (reflection needs it).
    """
    shape = window or "gaussian"
    if shape not in ("gaussian", "uniform"):
        raise InvalidInputError(f"window must be 'uniform' or 'gaussian', got {window!r}")
    if shape == "gaussian":
        if win_size is not None:
            raise InvalidInputError("torchmetrics derives a Gaussian window's size from "
                                    "sigma: pass sigma, or window='uniform' with win_size")
        sigma = 1.5 if sigma is None else float(sigma)
        if sigma <= 0:
            raise InvalidInputError(f"sigma must be positive, got {sigma}")
        size = int(3.5 * sigma + 0.5) * 2 + 1
    else:
        if sigma is not None:
            raise InvalidInputError("sigma applies to a gaussian window; leave it out")
        size = 11 if win_size is None else int(win_size)
        if size < 1 or size % 2 == 0:
            raise InvalidInputError(f"win_size must be odd and positive, got {win_size}")
    pad = (size - 1) // 2
    if min(x.shape[-2:]) <= pad:
        raise ImageTooSmallError(f"torchmetrics' SSIM reflects {pad} px at each border: "
                                 f"images need sides over {pad} px, got "
                                 f"{x.shape[-1]}x{x.shape[-2]}")
    if not full and fusable(x, y):
        return _fused_mean(x, y, data_range, shape, size, sigma, k1, k2)
    local, _, _ = _local_terms(x, y, data_range, shape, size, sigma, k1, k2)
    return local if full else local.mean(dim=(-1, -2))


def torchmetrics_ssim_and_contrast_structure(x: Tensor, y: Tensor, data_range: float, *,
                                             sigma: float = 1.5, k1: float = 0.01,
                                             k2: float = 0.03) -> tuple[Tensor, Tensor]:
    """One scale of torchmetrics' MS-SSIM (``_ssim_update(...,
    return_contrast_sensitivity=True)``): the mean of the whole reflect-padded SSIM map
    and of the contrast-structure map without its padded border, each over channels and
    pixels together: two (N,) tensors."""
    size = int(3.5 * sigma + 0.5) * 2 + 1
    pad = (size - 1) // 2
    if x.dtype == torch.float64 and fusable(x, y):
        # float64 on the CPU: the fused separable kernel (torch's float64 2-D convolution
        # is ~80x slower; ~1e-14 away): the SSIM map's windows are those of the padded
        # image, the cropped contrast-structure map's those of the image itself
        ssim_means = _fused_mean(x, y, data_range, "gaussian", size, sigma, k1, k2)
        c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
        taps = tuple(_gaussian_taps(size, sigma, x)[0].tolist())
        _, cs_means = fused_cpu_means(x, y, taps, taps, None, c1, c2, 1.0)
        return ssim_means.mean(dim=1), cs_means.mean(dim=1)
    # float32 (or a gradient, or another device): torchmetrics' own 2-D convolution, its
    # MS-SSIM bit for bit
    local, upper, lower = _local_terms(x, y, data_range, "gaussian", size, sigma, k1, k2)
    contrast_structure = (upper / lower)[..., pad:-pad, pad:-pad]
    return (local.reshape(local.shape[0], -1).mean(-1),
            contrast_structure.reshape(contrast_structure.shape[0], -1).mean(-1))


def _fused_mean(x: Tensor, y: Tensor, data_range: float, shape: str, size: int,
                sigma: float | None, k1: float | None, k2: float | None) -> Tensor:
    """The per-(image, channel) mean (N, C) of the SSIM map over the whole reflect-padded
    image — the valid windows of the padded image — through the fused separable kernel,
    in float64 (torch's float64 2-D convolution: ~140x slower here; within 1e-15 of
    torchmetrics, tested live).  torchmetrics' 2-D window is the outer product of its 1-D
    taps; its variances, clamped at 0, differ from the kernel's only where rounding makes
    them negative (~1e-17: within 1e-13 of the value)."""
    pad = (size - 1) // 2
    k1 = 0.01 if k1 is None else float(k1)
    k2 = 0.03 if k2 is None else float(k2)
    if shape == "gaussian":
        taps = tuple(_gaussian_taps(size, sigma, x.to(torch.float64))[0].tolist())  # type: ignore[arg-type]
    else:
        taps = uniform_taps(size)
    padded_x, padded_y = (F.pad(t.detach(), (pad, pad, pad, pad), mode="reflect")
                          for t in (x, y))
    means, _ = fused_cpu_means(padded_x, padded_y, taps, taps, None, (k1 * data_range) ** 2,
                               (k2 * data_range) ** 2, 1.0)
    return means


def _local_terms(x: Tensor, y: Tensor, data_range: float, shape: str, size: int,
                 sigma: float | None, k1: float | None, k2: float | None
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """The SSIM map and the numerator and denominator of its contrast-structure term."""
    pad = (size - 1) // 2
    k1 = 0.01 if k1 is None else float(k1)
    k2 = 0.03 if k2 is None else float(k2)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    channels = x.shape[1]
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    y = F.pad(y, (pad, pad, pad, pad), mode="reflect")
    if shape == "gaussian":
        taps = _gaussian_taps(size, sigma, x)  # type: ignore[arg-type]
        kernel = torch.matmul(taps.t(), taps).expand(channels, 1, size, size)
    else:
        kernel = torch.ones((channels, 1, size, size), dtype=x.dtype, device=x.device) / (
            size * size)
    outputs = F.conv2d(torch.cat((x, y, x * x, y * y, x * y)), kernel, groups=channels)
    mu_x, mu_y, xx, yy, xy = outputs.split(x.shape[0])
    mu_x_sq, mu_y_sq, mu_xy = mu_x.pow(2), mu_y.pow(2), mu_x * mu_y
    sigma_x_sq = torch.clamp(xx - mu_x_sq, min=0.0)
    sigma_y_sq = torch.clamp(yy - mu_y_sq, min=0.0)
    sigma_xy = xy - mu_xy
    upper = 2 * sigma_xy + c2
    lower = sigma_x_sq + sigma_y_sq + c2
    local = ((2 * mu_xy + c1) * upper) / ((mu_x_sq + mu_y_sq + c1) * lower)
    return local, upper, lower
