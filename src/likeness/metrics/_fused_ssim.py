"""SSIM's window means through the fused numba kernels (``_separable_ssim_kernel``): the
CPU route of ``ssim.ssim_and_contrast_structure`` and of torchmetrics' SSIM when no
gradient is recorded."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from likeness.metrics.caller_modes import tracing
from likeness.metrics.kernel_threads import kernel_threads

__all__ = ["fusable", "fused_cpu_means", "plane_ssim_means"]

# one thread's time a sample and filter tap (``kernel_threads``), measured at 512² RGB
# with 11-tap filters on this repository's 2-core AMD EPYC
SEPARABLE_SSIM_SECONDS = 0.85e-9


def fusable(x: Tensor, y: Tensor) -> bool:
    """Whether the fused CPU kernels apply: tensors on the CPU, no gradient to record, not
    traced by ``torch.compile`` (``tracing``)."""
    needs_graph = torch.is_grad_enabled() and (x.requires_grad or y.requires_grad)
    return x.device.type == "cpu" and not needs_graph and not tracing()


def plane_ssim_means(planes_x: np.ndarray, planes_y: np.ndarray, taps_h: np.ndarray,
                     taps_w: np.ndarray, c1: float, c2: float, cov_norm: float) -> np.ndarray:
    """The means (P, 2) of the SSIM and contrast-structure maps over the full windows of
    each of the (P, H, W) contiguous image planes (any real dtype, taken as float64)."""
    from likeness.metrics._separable_ssim_kernel import valid_separable_ssim_sums

    height, width = planes_x.shape[-2:]
    windows = (height - len(taps_h) + 1) * (width - len(taps_w) + 1)
    with kernel_threads(SEPARABLE_SSIM_SECONDS * (len(taps_h) + len(taps_w))
                        * planes_x.size):
        sums = valid_separable_ssim_sums(planes_x, planes_y, taps_h, taps_w, c1, c2,
                                         cov_norm)
    return sums / windows


def fused_cpu_means(x: Tensor, y: Tensor, taps_h: tuple[float, ...] | None,
                    taps_w: tuple[float, ...] | None, taps_t: tuple[float, ...] | None,
                    c1: float, c2: float, cov_norm: float) -> tuple[Tensor, Tensor]:
    """The per-(image, channel) means (N, C) of the SSIM and contrast-structure maps over
    the full windows, through the fused numba kernels (CPU, no gradient; ``fusable``), in
    float64: images, or volumes (``x.ndim == 5``; ``taps_t`` None leaves their depth
    unfiltered)."""
    from likeness.metrics._separable_ssim_kernel import valid_separable_ssim_sums_3d

    batch, channels = x.shape[:2]
    as_array = lambda taps: np.asarray(taps if taps is not None else (1.0,), np.float64)  # noqa: E731
    kernel_h, kernel_w, kernel_t = as_array(taps_h), as_array(taps_w), as_array(taps_t)
    planes_x = x.detach().contiguous().reshape(batch * channels, *x.shape[2:]).numpy()
    planes_y = y.detach().contiguous().reshape(batch * channels, *x.shape[2:]).numpy()
    if x.ndim == 5:
        height, width = x.shape[-2:]
        windows = ((height - len(kernel_h) + 1) * (width - len(kernel_w) + 1)
                   * (x.shape[2] - len(kernel_t) + 1))
        taps = len(kernel_h) + len(kernel_w) + len(kernel_t)
        with kernel_threads(SEPARABLE_SSIM_SECONDS * taps * planes_x.size):
            means_array = valid_separable_ssim_sums_3d(planes_x, planes_y, kernel_t, kernel_h,
                                                       kernel_w, c1, c2, cov_norm) / windows
    else:
        means_array = plane_ssim_means(planes_x, planes_y, kernel_h, kernel_w, c1, c2,
                                       cov_norm)
    means = torch.from_numpy(means_array).to(x.dtype).view(batch, channels, 2)
    return means[..., 0], means[..., 1]
