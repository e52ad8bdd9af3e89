"""Multi-scale SSIM on (N, C, H, W) tensors, as ``pytorch_msssim.ms_ssim`` computes it, or
as piq, torchmetrics or Wang's ``msssim.m`` compute it (the ``convention``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.arguments import check_numbers, described
from likeness.errors import (
    ImageTooSmallError,
    InvalidInputError,
    InvalidInputTypeError,
    UnsupportedImageError,
)
from likeness.metrics._filters import gaussian_taps
from likeness.metrics._fused_ssim import fusable, fused_cpu_means
from likeness.metrics._image_maps import matlab_gray, padded_block_mean
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.ssim import (
    SSIM_CONVENTIONS,
    SsimConvention,
    get_convention,
    ssim_and_contrast_structure,
)
from likeness.metrics.ssim_torchmetrics import torchmetrics_ssim_and_contrast_structure
from likeness.metrics.tensor_checks import check_data_range, check_image_batches

__all__ = ["MS_SSIM_CONVENTIONS", "MS_SSIM_WEIGHTS", "ms_ssim", "ms_ssim_min_side",
           "ms_ssim_too_small"]

# whose MS-SSIM: pytorch-msssim's (the default), piq's (``piq.multi_scale_ssim``),
# torchmetrics' (``multiscale_structural_similarity_index_measure``) or Wang's ``msssim.m``
# with its default method 'product' or its method 'wtd_sum'
MS_SSIM_CONVENTIONS = ("pytorch-msssim", "piq", "torchmetrics", "matlab", "matlab-wtd-sum")

# Wang, Simoncelli & Bovik (2003), the exponents of the five scales, finest first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WINDOW = SSIM_CONVENTIONS["pytorch-msssim"]  # 11-tap gaussian, sigma 1.5, population cov.


def ms_ssim_min_side(scales: int, win_size: int = _WINDOW.win_size) -> int:
    """The shorter side must exceed this many pixels for ``scales`` scales."""
    return (win_size - 1) * 2 ** (scales - 1)


def ms_ssim_too_small(sides: Sequence[int], scales: int = len(MS_SSIM_WEIGHTS),
                      win_size: int = _WINDOW.win_size) -> str | None:
    """Why an image of these spatial ``sides`` ((H, W), or (T, H, W) for a volume) is too
    small for MS-SSIM with ``scales`` scales under pytorch-msssim's convention, or None."""
    min_side = ms_ssim_min_side(scales, win_size)
    if min(sides) > min_side:
        return None
    # width x height, as every size in a run's messages (a volume's sides named)
    got = (f"{'x'.join(map(str, sides))} (depth x height x width)" if len(sides) == 3
           else f"{sides[-1]}x{sides[-2]} px")
    return (f"MS-SSIM with {scales} scales needs images whose shorter side exceeds "
            f"{min_side} px, got {got}; use larger images")


def _scale_weights(scale_weights: Sequence[float] | None) -> tuple[float, ...]:
    """The scales' exponents, finest first: pytorch-msssim's by default, else one or more
    finite, non-negative numbers."""
    if scale_weights is None:
        return tuple(MS_SSIM_WEIGHTS)
    if getattr(scale_weights, "ndim", None) == 1 and hasattr(scale_weights, "tolist"):
        scale_weights = scale_weights.tolist()  # a 1-D tensor or array: piq takes a tensor
    try:  # a 0-d tensor or array is Iterable, and refuses to be iterated
        weights = None if isinstance(scale_weights, str | bytes) else tuple(scale_weights)
    except TypeError:
        weights = None
    if weights is None:
        raise InvalidInputTypeError(f"scale_weights must be a sequence of numbers, one "
                                    f"exponent per scale (finest first), got "
                                    f"{described(scale_weights)}")
    check_numbers({f"scale_weights[{i}]": weight for i, weight in enumerate(weights)})
    if not weights or min(weights) < 0:
        raise InvalidInputError(f"scale_weights must hold at least one weight, none "
                                f"negative, got {list(weights)}")
    return weights


@as_defined
def ms_ssim(x: Tensor, y: Tensor, *, data_range: float,
            scale_weights: Sequence[float] | None = None, win_size: int | None = None,
            sigma: float | None = None, k1: float | None = None,
            k2: float | None = None, convention: str = "pytorch-msssim") -> Tensor:
    """Multi-scale structural similarity of each pair in an (N, C, H, W) batch of images or
    an (N, C, T, H, W) batch of volumes (2×2×2 average pooling between scales, as
    pytorch-msssim pools 5-D inputs).

    pytorch-msssim's ``ms_ssim`` with its defaults: 11-tap gaussian (σ = 1.5), K = (0.01,
    0.03), 2×2 average pooling between scales (zero padding on odd sides, counted), the
    contrast-structure terms of the first scales and the SSIM of the last clipped at 0,
    raised to the scale weights and multiplied, then averaged over channels.

    Args:
        x, y: (N, C, H, W) or (N, C, T, H, W) batches of the same shape.
        data_range: the distance between the smallest and largest possible values.
        scale_weights: one exponent per scale, finest first (default: Wang et al. 2003's
            five).  Fewer weights mean fewer scales and smaller images allowed.
        win_size, sigma, k1, k2: pytorch-msssim's ``win_size``, ``win_sigma`` and ``K``
            (default 11, 1.5, 0.01, 0.03).
        convention: ``"pytorch-msssim"`` (default) or ``"piq"`` (``piq.multi_scale_ssim``:
            odd sides padded by replicating the top row and left column, both sides
            whenever one is odd; images of at least 10·2^(scales−1) + 1 px; custom
            ``scale_weights`` normalised to sum 1; 2-D images only).  The two differ by up
            to ~1e-2 on odd sizes.  ``"torchmetrics"``: torchmetrics'
            ``multiscale_structural_similarity_index_measure`` with its defaults (each
            scale's SSIM the mean of the whole reflect-padded map, its contrast-structure
            term without the padded border, both over channels and pixels together;
            floor 2×2 pooling; ReLU; the weights as float32).  ``"matlab"``: Wang's
            ``msssim.m`` (colour through MATLAB's ``rgb2gray``; windows inside the image;
            2×2 means of ``imfilter(…, 'symmetric')`` sampled at ``1:2:end``; nothing
            clipped: a negative contrast-structure mean, a complex number in MATLAB, is
            refused).  ``"matlab-wtd-sum"``: the same ``msssim.m`` with ``method =
            'wtd_sum'`` — the weights normalised to sum 1, Σ w_s · cs_s over the finer scales
            + w_last · SSIM_last (the values IQA-PyTorch's calibration table publishes).
            2-D images only for these.

    Returns:
        (N,) tensor.

    Raises:
        ImageTooSmallError: the shorter side is not larger than 10·2^(scales−1) pixels.
        UnsupportedImageError: ``msssim.m`` would give a complex number (``"matlab"``).
        ValueError: shapes differ or data_range is not positive.

    Example:
        >>> x = torch.rand(1, 3, 176, 176)
        >>> ms_ssim(x, x, data_range=1.0)
        tensor([1.])

    References:
        Wang, Simoncelli & Bovik (2003), Multiscale structural similarity for image quality
        assessment. Asilomar Conference on Signals, Systems and Computers.
    """
    if convention not in MS_SSIM_CONVENTIONS:
        raise InvalidInputError(f"convention must be one of "
                                f"{', '.join(map(repr, MS_SSIM_CONVENTIONS))}, got {convention!r}")
    data_range = check_data_range(data_range)
    x, y = check_image_batches(x, y, volumes=convention == "pytorch-msssim",
                               data_range=data_range)
    window = get_convention("pytorch-msssim", win_size=win_size, sigma=sigma, k1=k1, k2=k2)
    weights = _scale_weights(scale_weights)
    if convention == "piq":
        return _piq_ms_ssim(x, y, data_range, weights, window.win_size, window.sigma,
                            window.k1, window.k2, normalise=scale_weights is not None)
    if convention == "torchmetrics":
        return _torchmetrics_ms_ssim(x, y, data_range, weights, window.sigma, window.k1,
                                     window.k2)
    if convention in ("matlab", "matlab-wtd-sum"):
        return _matlab_ms_ssim(x, y, data_range, weights, window.win_size, window.sigma,
                               window.k1, window.k2, weighted_sum=convention != "matlab")
    scales = len(weights)
    height, width = x.shape[-2:]
    too_small = ms_ssim_too_small(tuple(x.shape[2:]), scales, window.win_size)
    if too_small is not None:
        fewer = max(1, scales - 1)
        hint = (f"; or pass fewer scales, e.g. scale_weights={list(weights[:fewer])} "
                f"({fewer} scales need more than {ms_ssim_min_side(fewer, window.win_size)} px)"
                if scales > 1 else "")
        raise ImageTooSmallError(too_small + hint)
    weight_tensor = torch.tensor(weights, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    terms = []
    for scale in range(scales):
        ssim_pc, cs_pc = ssim_and_contrast_structure(x, y, data_range=data_range,
                                                     convention=window)
        if scale < scales - 1:
            terms.append(torch.relu(cs_pc))
            padding = [side % 2 for side in x.shape[2:]]
            pool = F.avg_pool3d if x.ndim == 5 else F.avg_pool2d
            x = pool(x, kernel_size=2, padding=padding)
            y = pool(y, kernel_size=2, padding=padding)
    terms.append(torch.relu(ssim_pc))
    per_channel = torch.prod(torch.stack(terms) ** weight_tensor, dim=0)
    return per_channel.mean(dim=1)


def _gaussian_window(size: int, sigma: float, like: Tensor) -> Tensor:
    """piq's ``gaussian_filter``: the 2-D Gaussian built in the input's dtype, summing to
    one, as a depthwise (C, 1, size, size) kernel."""
    coordinates = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2.0
    squared = coordinates**2
    window = (-(squared[None, :] + squared[:, None]) / (2 * sigma**2)).exp()
    window = window / window.sum()
    return window.expand(like.shape[1], 1, size, size)


def _separable_float64(x: Tensor, y: Tensor) -> bool:
    """Whether piq's and torchmetrics' 2-D Gaussian windows are applied as separable ones
    through the fused CPU kernel (``fusable``): for float64 images, where torch's 2-D
    convolution is ~70x slower (512x384 RGB: 2.0 s against 0.03 s; float32's is fast, and
    the references' float32 values are kept bit for bit).  The two differ by rounding
    (up to ~1e-14 seen; tested against both references at 1e-13)."""
    return x.dtype == torch.float64 and fusable(x, y)


def _piq_ms_ssim(x: Tensor, y: Tensor, data_range: float, weights: Sequence[float],
                 win_size: int, sigma: float, k1: float, k2: float,
                 normalise: bool) -> Tensor:
    """``piq.multi_scale_ssim`` (piq 0.8): on x / data_range, a valid-region 2-D Gaussian
    window, each coarser scale after replicating the top row and left column when a side
    is odd, the contrast-structure terms and the last SSIM clipped at 0, raised to the
    weights, multiplied, averaged over channels."""
    scales = len(weights)
    smallest = (win_size - 1) * 2 ** (scales - 1) + 1
    if min(x.shape[-2:]) < smallest:
        raise ImageTooSmallError(
            f"MS-SSIM (piq's convention) with {scales} scales needs images of at least "
            f"{smallest}x{smallest} px, got {x.shape[-1]}x{x.shape[-2]}")
    if x.ndim != 4:
        raise InvalidInputError("piq's MS-SSIM takes (N, C, H, W) images; volumes: "
                                "convention='pytorch-msssim'")
    weight_tensor = torch.tensor(weights, dtype=x.dtype, device=x.device)
    if normalise:
        weight_tensor = weight_tensor / weight_tensor.sum()
    x, y = x / float(data_range), y / float(data_range)
    c1, c2 = k1**2, k2**2
    window = _gaussian_window(win_size, sigma, x)
    # piq's 2-D window is the outer product of the normalised 1-D Gaussian
    taps = gaussian_taps(win_size, sigma) if _separable_float64(x, y) else None
    channels = x.shape[1]
    terms = []
    ssim_value = x.new_zeros(())
    for scale in range(scales):
        if scale > 0:
            padding = max(x.shape[2] % 2, x.shape[3] % 2)
            pads = (padding, 0, padding, 0)
            x = padded_block_mean(x, 2, pads, replicate=True)
            y = padded_block_mean(y, 2, pads, replicate=True)
        if taps:
            ssim_value, contrast_structure = fused_cpu_means(x, y, taps, taps, None, c1, c2,
                                                             1.0)
            terms.append(contrast_structure)
            continue
        mu_x = F.conv2d(x, window, groups=channels)
        mu_y = F.conv2d(y, window, groups=channels)
        mu_xx, mu_yy, mu_xy = mu_x**2, mu_y**2, mu_x * mu_y
        sigma_xx = F.conv2d(x**2, window, groups=channels) - mu_xx
        sigma_yy = F.conv2d(y**2, window, groups=channels) - mu_yy
        sigma_xy = F.conv2d(x * y, window, groups=channels) - mu_xy
        cs = (2.0 * sigma_xy + c2) / (sigma_xx + sigma_yy + c2)
        ssim_value = ((2.0 * mu_xy + c1) / (mu_xx + mu_yy + c1) * cs).mean(dim=(-1, -2))
        terms.append(cs.mean(dim=(-1, -2)))
    stacked = torch.relu(torch.stack(terms[:-1] + [ssim_value], dim=0))
    return torch.prod(stacked ** weight_tensor.view(-1, 1, 1), dim=0).mean(dim=1)


def _gaussian_convention(win_size: int, sigma: float, k1: float, k2: float) -> SsimConvention:
    """The valid-window SSIM ``msssim.m`` takes at each scale: a 2-D gaussian of
    ``win_size`` taps summing to one, population covariance.  Computed as a separable
    window (the fused CPU kernel, or the separable filters elsewhere): the same quantity as
    its 2-D filter within rounding (~1e-15, held to the MATLAB emulation at 1e-10), ~50x
    faster in float64 on the CPU than torch's 2-D convolution (piq's and torchmetrics'
    conventions take the same route in float64: ``_separable_float64``)."""
    return replace(SSIM_CONVENTIONS["wang2004"], win_size=win_size, sigma=sigma, k1=k1, k2=k2)


def _torchmetrics_ms_ssim(x: Tensor, y: Tensor, data_range: float, weights: Sequence[float],
                          sigma: float, k1: float, k2: float) -> Tensor:
    """torchmetrics' ``multiscale_structural_similarity_index_measure`` (1.x) with its
    defaults, per image."""
    scales = len(weights)
    divisor = max(1, scales - 1) ** 2  # torchmetrics' own size rule
    size = int(3.5 * sigma + 0.5) * 2 + 1
    if min(x.shape[-2:]) < 2**scales or min(x.shape[-2:]) // divisor <= size - 1:
        smallest = max(2**scales, (size - 1) * divisor + divisor)
        raise ImageTooSmallError(
            f"MS-SSIM (torchmetrics' convention) with {scales} scales needs images of at "
            f"least {smallest}x{smallest} px, got {x.shape[-1]}x{x.shape[-2]}")
    if x.ndim != 4:
        raise InvalidInputError("torchmetrics' MS-SSIM is offered for (N, C, H, W) images; "
                                "volumes: convention='pytorch-msssim'")
    terms = []
    ssim_value = x.new_zeros(())
    for _ in weights:
        ssim_value, contrast_structure = torchmetrics_ssim_and_contrast_structure(
            x, y, data_range, sigma=sigma, k1=k1, k2=k2)
        terms.append(torch.relu(contrast_structure))
        x, y = F.avg_pool2d(x, (2, 2)), F.avg_pool2d(y, (2, 2))
    terms[-1] = torch.relu(ssim_value)
    exponents = torch.tensor(weights, dtype=torch.float32, device=x.device).view(-1, 1)
    return torch.prod(torch.stack(terms) ** exponents, dim=0)


def _matlab_ms_ssim(x: Tensor, y: Tensor, data_range: float, weights: Sequence[float],
                    win_size: int, sigma: float, k1: float, k2: float,
                    weighted_sum: bool = False) -> Tensor:
    """Wang's ``msssim.m`` (``ssim_index_new`` at each scale, L = data_range), per image;
    ``weighted_sum``: its ``method = 'wtd_sum'``."""
    if x.ndim != 4:
        raise InvalidInputError("msssim.m takes 2-D images; volumes: "
                                "convention='pytorch-msssim'")
    if x.shape[1] == 3:
        x, y = matlab_gray(x, data_range), matlab_gray(y, data_range)
    elif x.shape[1] != 1:
        raise InvalidInputError(f"msssim.m takes gray images (colour through rgb2gray): "
                                f"expected 1 or 3 channels, got {x.shape[1]}")
    window = _gaussian_convention(win_size, sigma, k1, k2)
    contrast_structures, ssim_value = [], x.new_zeros(())
    for scale in range(len(weights)):
        if min(x.shape[-2:]) < win_size:
            raise ImageTooSmallError(
                f"MS-SSIM (msssim.m) with {len(weights)} scales needs the image at scale "
                f"{scale + 1} to hold an {win_size}x{win_size} window: got "
                f"{x.shape[-1]}x{x.shape[-2]} there")
        ssim_means, cs_means = ssim_and_contrast_structure(x, y, data_range=data_range,
                                                           convention=window)
        contrast_structures.append(cs_means[:, 0])
        ssim_value = ssim_means[:, 0]
        # imfilter(ones(2)/4, 'symmetric', 'same') then 1:2:end: the 2×2 block starting at
        # each sample, an odd side's last row or column repeated
        rows, columns = x.shape[-2] % 2, x.shape[-1] % 2
        x = padded_block_mean(x, 2, (0, columns, 0, rows), replicate=True)
        y = padded_block_mean(y, 2, (0, columns, 0, rows), replicate=True)
    terms = torch.stack(contrast_structures[:-1] + [ssim_value])
    if weighted_sum:  # weight = weight./sum(weight); sum(mcs .* weight) + mssim .* weight
        normalised = torch.tensor(weights, dtype=x.dtype, device=x.device)
        normalised = (normalised / normalised.sum()).view(-1, 1)
        return (terms[:-1] * normalised[:-1]).sum(dim=0) + terms[-1] * normalised[-1]
    if bool((terms < 0).any()):
        raise UnsupportedImageError(
            "msssim.m gives a complex number for these images (a negative mean "
            "contrast-structure or SSIM term raised to a fractional weight); likeness's "
            "other MS-SSIM conventions clip such terms at 0")
    exponents = torch.tensor(weights, dtype=x.dtype, device=x.device).view(-1, 1)
    return torch.prod(terms ** exponents, dim=0)
