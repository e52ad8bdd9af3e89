"""Spectral Residual based Similarity (SR-SIM), batched torch on (N, C, H, W),
differentiable, as piq 0.8 computes it with its defaults.

Zhang & Li (2012): images on the [0, 255] scale, zero-padded and average-pooled by
f = max(1, round(min(H, W) / 256)); colour → the Y of YIQ.  Visual saliency by the
spectral residual (Hou & Zhang 2007) of Y shrunk to a quarter by MATLAB's bicubic
``imresize``: the log amplitude minus its 3×3 mean (replicated borders), back with the
original phase, squared, blurred with a 10-tap gaussian (σ = 3.8, zero-padded as MATLAB
pads even kernels), scaled to [0, 1] per image and resized back.  SR-SIM =
Σ S_VS S_G^0.5 VS_max / Σ VS_max with C1 = 0.40, C2 = 225 on Scharr gradient magnitudes.
1 for identical images, higher is better.

piq scales the saliency maps by the minimum and maximum over the whole batch, so its
values for one image depend on the others in the batch; likeness scales each image's map
by its own (Hou & Zhang's definition), which is piq's value for a batch of one.  piq also
resizes in float32 whatever the input dtype; likeness in the input's dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.arguments import check_numbers
from likeness.errors import ImageTooSmallError, InvalidInputError
from likeness.metrics._image_maps import (
    check_convention,
    downsampling_factor,
    gradient_similarity,
    matlab_box_downsample,
    matlab_downsampling_factor,
    on_255_scale,
    padded_block_mean,
    similarity,
    yiq_luma,
)
from likeness.metrics._matlab_resize import matlab_resize
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.tensor_checks import check_gray_or_rgb_pairs

__all__ = ["sr_sim"]


@dataclass(frozen=True)
class _Saliency:
    """The spectral residual's settings: the paper's (piq's defaults), or piq's arguments."""

    scale: float = 0.25  # the image shrunk to this
    kernel_size: int = 3  # the mean of the log amplitude
    sigma: float = 3.8  # the blur of the saliency map
    gaussian_size: int = 10


def _saliency_blur(like: Tensor, settings: _Saliency) -> Tensor:
    """The gaussian blur; of an even size, zero-padded on the top and left to the next odd
    size, as MATLAB pads it (10 taps: 11×11)."""
    taps = settings.gaussian_size
    coordinates = torch.arange(taps, dtype=like.dtype, device=like.device) - (taps - 1) / 2.0
    squared = coordinates**2
    kernel = torch.exp(-(squared[None, :] + squared[:, None]) / (2 * settings.sigma**2))
    kernel = F.pad(kernel / kernel.sum(), [1, 0, 1, 0] if taps % 2 == 0 else [0, 0, 0, 0])
    return kernel.view(1, 1, *kernel.shape)


def _spectral_residual_saliency(x: Tensor, settings: _Saliency) -> Tensor:
    """Saliency maps (N, 1, H, W) in [0, 1] of gray images (N, 1, H, W)."""
    eps = torch.finfo(x.dtype).eps
    height, width = x.shape[-2:]
    small = matlab_resize(x, math.ceil(height * settings.scale),
                          math.ceil(width * settings.scale), scale=settings.scale)
    spectrum = torch.fft.fft2(small)
    log_amplitude = torch.log(spectrum.abs() + eps)
    phase = torch.angle(spectrum)
    size = settings.kernel_size
    padded = F.pad(log_amplitude, [(size - 1) // 2, size // 2] * 2, mode="replicate") \
        if size > 1 else log_amplitude
    local_mean = F.avg_pool2d(padded, kernel_size=size, stride=1)
    residual = torch.exp(log_amplitude - local_mean)
    saliency = torch.abs(torch.fft.ifft2(torch.complex(residual * torch.cos(phase),
                                                       residual * torch.sin(phase)))) ** 2
    blur = _saliency_blur(saliency, settings)
    saliency = F.conv2d(saliency, blur, padding=(blur.shape[-1] - 1) // 2)
    lowest = saliency.amin(dim=(1, 2, 3), keepdim=True)
    highest = saliency.amax(dim=(1, 2, 3), keepdim=True)
    saliency = (saliency - lowest) / (highest - lowest + eps)
    return matlab_resize(saliency, height, width)


@as_defined
def sr_sim(x: Tensor, y: Tensor, *, data_range: float = 1.0, scale: float = 0.25,
           kernel_size: int = 3, sigma: float = 3.8, gaussian_size: int = 10,
           convention: str = "piq") -> Tensor:
    """SR-SIM of each pair: (N,), in the inputs' float dtype (see the module docs).

    Args:
        scale, kernel_size, sigma, gaussian_size: the saliency's settings, as piq's
            arguments (the paper's by default).
        convention: ``"piq"`` or ``"matlab"`` (``SR_SIM.m``: f rounded as MATLAB rounds,
            halves up — 640 px a side gives 3, not piq's 2).

    Raises:
        ImageTooSmallError: the shrunk image is smaller than the blur or the mean.
        ValueError: shapes differ, not 4-D, or not 1 or 3 channels; another convention;
            a setting that is not a positive number (an integer for the sizes), a scale
            above 1.
    """
    matlab = check_convention(convention)
    check_numbers({"scale": scale, "kernel_size": kernel_size, "sigma": sigma,
                   "gaussian_size": gaussian_size}, integers=("kernel_size", "gaussian_size"),
                  positive=("scale", "kernel_size", "sigma", "gaussian_size"))
    if scale > 1:
        raise InvalidInputError(f"scale shrinks the image for its saliency: it must be at most "
                                f"1, got {scale}")
    settings = _Saliency(float(scale), int(kernel_size), float(sigma), int(gaussian_size))
    x, y = check_gray_or_rgb_pairs(x, y, data_range)
    # scaled after the pooling, not before as piq: linear steps, the same values within
    # rounding (~1e-16 relative) on fewer pixels
    if matlab:  # SR_SIM.m: conv2(…, 'same') of an f×f average, sampled at 1:f:end
        factor = matlab_downsampling_factor(x)
        x, y = matlab_box_downsample(x, factor), matlab_box_downsample(y, factor)
    else:
        factor = downsampling_factor(x)
        before, after = (factor - 1) // 2, factor // 2
        x, y = (padded_block_mean(x, factor, (before, after, before, after)),
                padded_block_mean(y, factor, (before, after, before, after)))
    x, y = on_255_scale(x, data_range), on_255_scale(y, data_range)
    widest = max(settings.gaussian_size, settings.kernel_size)
    if min(x.shape[-2:]) * settings.scale < widest:
        raise ImageTooSmallError(
            f"SR-SIM needs images of at least {math.ceil(widest / settings.scale)} px a side "
            f"(after its downsampling by {factor}), got {x.shape[-1]}x{x.shape[-2]}")
    if x.shape[1] == 3:
        x, y = yiq_luma(x), yiq_luma(y)
    saliency_x, saliency_y = _spectral_residual_saliency(torch.cat([x, y]), settings).chunk(2)
    saliency_max = torch.where(saliency_x > saliency_y, saliency_x, saliency_y)
    gradients = gradient_similarity(x, y, 225.0, "scharr")
    score = similarity(saliency_x, saliency_y, 0.40) * gradients**0.5 * saliency_max
    eps = torch.finfo(score.dtype).eps
    return score.sum(dim=[1, 2, 3]) / (saliency_max.sum(dim=[1, 2, 3]) + eps)
