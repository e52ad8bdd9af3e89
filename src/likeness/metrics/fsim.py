"""Feature Similarity Index (FSIM) and its chromatic form (FSIMc), batched torch on
(N, C, H, W), differentiable, as piq 0.8 computes them with their defaults.

Zhang, Zhang, Mou & Zhang (2011): images on the [0, 255] scale, average-pooled by
f = max(1, round(min(H, W) / 256)) (Wang's automatic downsampling, Python's rounding);
colour → YIQ.  Phase congruency of Y from log-Gabor filters (4 scales from wavelength 6,
×2 apart, σ_f = 0.55; 4 orientations, Δθ = 1.2; a low-pass of order 15 at 0.45) with
Kovesi's noise compensation (k = 2, the median of the smallest scale's energy, ÷ 1.7);
Scharr gradient magnitudes.  FSIM = Σ S_PC S_G PC_max / Σ PC_max with T1 = 0.85,
T2 = 160; FSIMc multiplies in |S_I S_Q|^0.03 (T3 = T4 = 200).  1 for identical images,
higher is better.  FSIMc needs colour images.  piq's tuning arguments change the filters
(``scales``, ``orientations``, ``min_length``, ``mult``, ``sigma_f``, ``delta_theta``) and
the noise threshold (``k``), under either convention (``FeatureSIM.m``'s ``phasecong2``
sets the same constants).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from likeness.arguments import check_numbers
from likeness.errors import ImageTooSmallError, InvalidInputError, UnsupportedImageError
from likeness.metrics._frequency import centred_grid, ifftshift
from likeness.metrics._image_maps import (
    YIQ,
    YIQ_MATLAB,
    block_mean,
    check_convention,
    colour_transform,
    downsampling_factor,
    gradient_similarity,
    matlab_box_downsample,
    matlab_downsampling_factor,
    on_255_scale,
    real_angle,
    similarity,
)
from likeness.metrics._safe_roots import safe_pow
from likeness.metrics.caller_modes import as_defined, tracing
from likeness.metrics.kernel_threads import kernel_threads
from likeness.metrics.tensor_checks import check_gray_or_rgb_pairs

__all__ = ["PhaseCongruency", "fsim", "fsimc"]

# one thread's time a real value of the responses (``kernel_threads``), measured at
# 512x384 on a 2-core AMD EPYC
PHASE_SUMS_SECONDS = 4.0e-9


@dataclass(frozen=True)
class PhaseCongruency:
    """The settings of phase congruency (piq's names and defaults, ``phasecong2``'s
    values): ``scales`` log-Gabor filters from wavelength ``min_length``, ``mult`` apart,
    of bandwidth ``sigma_f``; ``orientations`` of them, of angular spread ``delta_theta``;
    the noise threshold ``k`` deviations above the noise's mean energy."""

    scales: int = 4
    orientations: int = 4
    min_length: float = 6.0
    mult: float = 2.0
    sigma_f: float = 0.55
    delta_theta: float = 1.2
    k: float = 2.0

    def __post_init__(self) -> None:
        check_numbers(vars(self), integers=("scales", "orientations"),
                      positive=("scales", "orientations", "min_length", "mult", "sigma_f",
                                "delta_theta"))
        if self.sigma_f == 1:  # log(sigma_f) divides: every filter would be 0 / 0
            raise InvalidInputError("sigma_f must not be 1 (the filters' bandwidth is "
                                    "log(sigma_f)); piq's default is 0.55")
        if self.k < 0:
            raise InvalidInputError(f"k (the noise threshold, in deviations above the "
                                    f"noise's mean) must be 0 or more, got {self.k}")


def _log_gabor_filters(height: int, width: int, like: Tensor, matlab: bool,
                       settings: PhaseCongruency) -> Tensor:
    """(orientations · scales, H, W) filters, orientation-major, zero frequency at [0, 0].

    ``matlab``: the angle as ``phasecong2`` takes it, atan2(−y, x) of the row and column
    frequencies; piq takes atan2(−x, y), which turns the filters to −θ − 90° — the same
    responses up to conjugation where the grid is symmetric, not on even sizes (the
    frequency −1/2 has no +1/2), where PC differs by up to ~1e-5."""
    rows, columns = centred_grid(height, width, like)
    radius = torch.sqrt(rows**2 + columns**2)
    theta = ifftshift(torch.atan2(-rows, columns) if matlab else torch.atan2(-columns, rows))
    low_pass = ifftshift(1.0 / (1.0 + (radius / 0.45) ** 30))
    radius = ifftshift(radius)
    radius[0, 0] = 1
    scales, orientations = settings.scales, settings.orientations
    radial = []
    for scale in range(scales):
        centre = 1.0 / (settings.min_length * settings.mult**scale)
        component = torch.exp(-torch.log(radius / centre) ** 2
                              / (2 * math.log(settings.sigma_f) ** 2)) * low_pass
        component[0, 0] = 0
        radial.append(component)
    theta_sigma = math.pi / (orientations * settings.delta_theta)
    sin_theta, cos_theta = torch.sin(theta), torch.cos(theta)
    angular = []
    for orientation in range(orientations):
        angle = orientation * math.pi / orientations
        sin_difference = sin_theta * math.cos(angle) - cos_theta * math.sin(angle)
        cos_difference = cos_theta * math.cos(angle) + sin_theta * math.sin(angle)
        distance = torch.abs(torch.atan2(sin_difference, cos_difference))
        angular.append(torch.exp(-distance**2 / (2 * theta_sigma**2)))
    return (torch.stack(angular).repeat_interleave(scales, dim=0)
            * torch.stack(radial).repeat(orientations, 1, 1))


def _median(values: Tensor, matlab: bool) -> Tensor:
    """The median over the last axis: MATLAB's (the mean of the two middle values of an
    even count) or torch's (the lower of them, as piq takes it)."""
    if not matlab or values.shape[-1] % 2:
        return torch.median(values, dim=-1, keepdim=True).values
    middle = values.shape[-1] // 2
    ordered = torch.sort(values, dim=-1).values
    return (ordered[..., middle - 1:middle] + ordered[..., middle:middle + 1]) / 2


@functools.lru_cache(maxsize=4)
def _filter_bank(height: int, width: int, dtype: torch.dtype, device: torch.device,
                 matlab: bool, settings: PhaseCongruency
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """What phase congruency takes of the filters alone, for one image size: the filters
    (1, orientations · scales, H, W), the power of the smallest scale's and the sums of
    the spatial filters' squares and cross products of the noise model.  Cached: a folder
    of one size builds them once, not twice a pair (their inverse FFT was a quarter of
    FSIM's time at 512x384)."""
    like = torch.empty(0, dtype=dtype, device=device)
    filters = _log_gabor_filters(height, width, like, matlab, settings).unsqueeze(0)
    orientations, scales = settings.orientations, settings.scales
    grid = filters.view(1, orientations, scales, height, width)
    smallest_power = (grid[:, :, :1] ** 2).sum(dim=[-2, -1], keepdim=True)
    spatial = torch.fft.ifft2(filters).real.view(1, orientations, scales, height, width)
    spatial = spatial * math.sqrt(height * width)
    sum_squares = torch.sum(torch.sum(spatial**2, dim=-3, keepdim=True), dim=[-1, -2],
                            keepdim=True)
    cross = torch.zeros(1, orientations, 1, height, width, dtype=dtype, device=device)
    for scale in range(scales - 1):
        cross = cross + (spatial[:, :, scale:scale + 1]
                         * spatial[:, :, scale + 1:]).sum(dim=-3, keepdim=True)
    cross = torch.sum(cross, dim=[-1, -2], keepdim=True)
    return filters, smallest_power, sum_squares, cross


def _phase_congruency(x: Tensor, matlab: bool, settings: PhaseCongruency) -> Tensor:
    """Phase congruency (N, 1, H, W) of gray images (N, 1, H, W) (Kovesi's PC₂).

    ``matlab``: as ``phasecong2`` of ``FeatureSIM.m`` computes it — the mean phase vector
    divided by its length + 1e-4 (its ``epsilon``; piq: + machine epsilon) and MATLAB's
    median."""
    eps = torch.finfo(x.dtype).eps
    phase_eps = 1e-4 if matlab else eps
    n, _, height, width = x.shape
    filters, smallest_power, sum_squares, cross = _filter_bank(height, width, x.dtype,
                                                               x.device, matlab, settings)
    responses = torch.fft.ifft2(torch.fft.fft2(x) * filters)
    responses = responses.view(n, settings.orientations, settings.scales, height,
                               width)  # even + i·odd
    if responses.device.type != "cpu" or tracing():
        energy, smallest, amplitude_sum = _torch_sums(responses, phase_eps)
    elif torch.is_grad_enabled() and responses.requires_grad:
        energy, smallest, amplitude_sum = _CompiledPhaseSums.apply(responses, phase_eps)
    else:
        energy, smallest, amplitude_sum = _compiled_sums(responses, phase_eps)
    # noise: the median squared response at the smallest scale (Rayleigh-distributed)
    median = _median(smallest**2, matlab)
    noise_power = (-median / math.log(0.5)) / smallest_power
    tau = torch.sqrt((2 * noise_power * sum_squares + 4 * noise_power * cross) / 2)
    threshold = (tau * math.sqrt(math.pi / 2)
                 + settings.k * torch.sqrt((2 - math.pi / 2) * tau**2)) / 1.7
    energy = torch.max(energy - threshold, torch.zeros_like(threshold))
    congruency = (energy.sum(dim=[1, 2]) + eps) / (amplitude_sum + eps)
    return congruency.unsqueeze(1)


def _torch_sums(responses: Tensor, phase_eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """From the responses (N, O, S, H, W): each orientation's energy Σ_s A_s (cos Δφ_s −
    |sin Δφ_s|) (N, O, 1, H, W), the smallest scale's amplitudes (N, O, 1, 1, H · W) and
    the sum of every amplitude (N, H, W), as piq computes them (differentiable)."""
    n, orientations, _, height, width = responses.shape
    # in place where autograd allows it (its saved tensors are the inputs of ** and abs):
    # the same arithmetic, writing two of these (N, 16, H, W) arrays instead of four
    amplitude = responses.real**2
    amplitude += responses.imag**2
    amplitude.sqrt_()
    total = responses.sum(dim=2, keepdim=True)
    mean_phase = total / (total.abs() + phase_eps)
    # the real and imaginary parts of z_s · conj(mean)
    aligned = torch.view_as_real(responses * mean_phase.conj())
    energy = aligned[..., 1].abs().neg_().add_(aligned[..., 0])  # re − |im|, in place
    smallest = amplitude[:, :, :1].reshape(n, orientations, 1, 1, height * width)
    return (energy.sum(dim=2, keepdim=True), smallest,
            amplitude.sum(dim=[1, 2]))


def _planes(responses: Tensor) -> np.ndarray:
    """The responses (N, O, S, H, W) as the compiled kernels take them: (N, O, S, H · W, 2)
    real and imaginary parts, C-contiguous."""
    n, orientations, scales = responses.shape[:3]
    planes = torch.view_as_real(responses.detach()).reshape(n, orientations, scales, -1, 2)
    return planes.contiguous().numpy()


def _compiled_sums(responses: Tensor, phase_eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """``_torch_sums`` in one compiled pass (on the CPU; float64 sums, returned in the
    responses' real dtype): within rounding of it (~5e-16 relative in float64; torch's
    float64 square root on AVX-512 CPUs is not the correctly rounded one, so no route is
    bit for bit on every CPU; closer to the exact sums than torch's in float32), 3–4×
    faster."""
    from likeness.metrics._phase_congruency_kernel import phase_sums

    n, orientations, _, height, width = responses.shape
    planes = _planes(responses)
    with kernel_threads(PHASE_SUMS_SECONDS * planes.size):
        energy, smallest, amplitude_sum = phase_sums(planes, phase_eps)
    dtype = responses.real.dtype
    return (torch.from_numpy(energy).to(dtype).view(n, orientations, 1, height, width),
            torch.from_numpy(smallest).to(dtype).view(n, orientations, 1, 1, height * width),
            torch.from_numpy(amplitude_sum).to(dtype).view(n, height, width))


class _CompiledPhaseSums(torch.autograd.Function):
    """``_compiled_sums`` with autograd: the compiled backward (``phase_sums_backward``)
    in place of autograd's through torch's ten passes (FSIM as a loss was 0.62–0.68× piq);
    the same gradient within rounding, and 0 where torch's is NaN (a zero response).
    Differentiated twice (``create_graph=True``), the backward is torch's own."""

    @staticmethod
    def forward(ctx: Any, responses: Tensor, phase_eps: float
                ) -> tuple[Tensor, Tensor, Tensor]:
        ctx.save_for_backward(responses)
        ctx.phase_eps = phase_eps
        return _compiled_sums(responses, phase_eps)

    @staticmethod
    def backward(ctx: Any, energy_grad: Tensor, smallest_grad: Tensor,
                 amplitude_grad: Tensor) -> tuple[Tensor, None]:
        (responses,) = ctx.saved_tensors
        grads = (energy_grad, smallest_grad, amplitude_grad)
        if torch.is_grad_enabled():  # create_graph=True: a differentiable gradient
            with torch.enable_grad():
                sums = _torch_sums(responses, ctx.phase_eps)
            (gradient,) = torch.autograd.grad(sums, responses, grads, create_graph=True)
            return gradient, None
        from likeness.metrics._phase_congruency_kernel import phase_sums_backward

        n, orientations, scales, height, width = responses.shape
        flat = [g.detach().double().reshape(n, -1, height * width).contiguous().numpy()
                for g in grads]
        planes = _planes(responses)
        with kernel_threads(2 * PHASE_SUMS_SECONDS * planes.size):
            gradient = phase_sums_backward(planes, flat[0], flat[1], flat[2].reshape(n, -1),
                                           ctx.phase_eps)
        return torch.view_as_complex(torch.from_numpy(gradient)).view(responses.shape), None


def _feature_similarity(x: Tensor, y: Tensor, data_range: float, chromatic: bool,
                        convention: str, settings: PhaseCongruency) -> Tensor:
    matlab = check_convention(convention)
    x, y = check_gray_or_rgb_pairs(x, y, data_range)
    if chromatic and x.shape[1] != 3:
        raise UnsupportedImageError("FSIMc compares colour: it needs RGB images; use fsim "
                                    "for gray images")
    if min(x.shape[-2:]) < 2:  # a 1-px-wide image has no phase congruency (piq: NaN)
        raise ImageTooSmallError(f"FSIM needs images of at least 2x2 px, got "
                                 f"{x.shape[-1]}x{x.shape[-2]}")
    # scaled after the pooling, not before as piq: linear steps, the same values within
    # rounding (~1e-16 relative) on fewer pixels
    if matlab:  # FeatureSIM.m: conv2(…, 'same') of an f×f average, sampled at 1:f:end
        factor = matlab_downsampling_factor(x)
        x, y = matlab_box_downsample(x, factor), matlab_box_downsample(y, factor)
    else:
        factor = downsampling_factor(x)
        x, y = block_mean(x, factor), block_mean(y, factor)
    x, y = on_255_scale(x, data_range), on_255_scale(y, data_range)
    if x.shape[1] == 3:
        yiq = YIQ_MATLAB if matlab else YIQ  # FeatureSIM.m: three-digit I and Q
        x, y = colour_transform(x, yiq), colour_transform(y, yiq)
    luma_x, luma_y = x[:, :1], y[:, :1]
    pc_x, pc_y = _phase_congruency(torch.cat([luma_x, luma_y]), matlab, settings).chunk(2)
    pc_max = torch.where(pc_x > pc_y, pc_x, pc_y)
    score = (gradient_similarity(luma_x, luma_y, 160.0, "scharr")
             * similarity(pc_x, pc_y, 0.85) * pc_max)
    if chromatic:
        chroma = similarity(x[:, 1:2], y[:, 1:2], 200.0) * similarity(x[:, 2:], y[:, 2:], 200.0)
        powered = safe_pow(torch.abs(chroma), 0.03)
        if matlab:  # FeatureSIM.m: real((S_I .* S_Q) .^ 0.03), negative products too
            powered = powered * torch.cos(real_angle(chroma) * 0.03)
        score = score * powered
    return score.sum(dim=[1, 2, 3]) / pc_max.sum(dim=[1, 2, 3])


@as_defined
def fsim(x: Tensor, y: Tensor, *, data_range: float = 1.0, convention: str = "piq",
         scales: int = 4, orientations: int = 4, min_length: float = 6.0, mult: float = 2.0,
         sigma_f: float = 0.55, delta_theta: float = 1.2, k: float = 2.0) -> Tensor:
    """FSIM of each pair (luma only): (N,), in the inputs' float dtype (see the module docs).

    Args:
        convention: ``"piq"`` or ``"matlab"`` (``FeatureSIM.m`` with its ``phasecong2``:
            the frequency angle, MATLAB's median and ε = 1e-4; its downsampling).
        scales, orientations, min_length, mult, sigma_f, delta_theta, k: phase
            congruency's settings, piq's (``PhaseCongruency``).

    Raises:
        ValueError: shapes differ, not 4-D, or not 1 or 3 channels; another convention;
            a setting out of its range.
    """
    settings = PhaseCongruency(scales, orientations, min_length, mult, sigma_f, delta_theta,
                               k)
    return _feature_similarity(x, y, data_range, False, convention, settings)


@as_defined
def fsimc(x: Tensor, y: Tensor, *, data_range: float = 1.0, convention: str = "piq",
          scales: int = 4, orientations: int = 4, min_length: float = 6.0, mult: float = 2.0,
          sigma_f: float = 0.55, delta_theta: float = 1.2, k: float = 2.0) -> Tensor:
    """FSIMc of each pair of RGB images: (N,), in the inputs' float dtype.

    Args:
        convention: ``"piq"`` (|S_I S_Q|^0.03, four-digit YIQ) or ``"matlab"``
            (``FeatureSIM.m``: real((S_I S_Q)^0.03), three-digit I and Q, and ``fsim``'s
            ``"matlab"`` phase congruency and downsampling).
        scales, orientations, min_length, mult, sigma_f, delta_theta, k: as ``fsim``'s.

    Raises:
        UnsupportedImageError: the images are gray.
        ValueError: shapes differ or not 4-D; another convention; a setting out of its
            range.
    """
    settings = PhaseCongruency(scales, orientations, min_length, mult, sigma_f, delta_theta,
                               k)
    return _feature_similarity(x, y, data_range, True, convention, settings)
