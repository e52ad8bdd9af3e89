"""Information-Weighted SSIM (IW-SSIM), batched torch on (N, C, H, W), differentiable, as
piq 0.8 computes it with its defaults (Wang's MATLAB ``iwssim.m`` in pixel arithmetic).

Wang & Li (2011): images on the [0, 255] scale; colour → the Y of YIQ; a Laplacian
pyramid of 5 levels (the 5-tap binomial filter × √2, reflected borders); at each level the
contrast-structure map of SSIM (11-tap gaussian σ = 1.5, valid region, K1 = 0.01,
K2 = 0.03; the full SSIM map at the coarsest level) pooled with information-content
weights from a Gaussian scale mixture model of 3×3 neighbourhoods plus the parent band
(σ_n² = 0.4; levels 1–3 with parent, level 4 without, level 5 uniform); IW-SSIM =
Π |pooled_s|^w_s with w = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333).  1 for identical
images, higher is better.  Images need at least 161 px a side.  ``convention="matlab"``:
as ``iwssim.m`` with matlabPyrTools' ``buildLpyr`` computes it (equal within 1e-15 to a
transcription of both, odd sides included).  piq's other arguments — the SSIM window
(``kernel_size``, ``kernel_sigma``), ``k1``, ``k2``, ``parent``, the information block
(``blk_size``), ``sigma_nsq`` and ``scale_weights`` (as many levels) — are taken under
either convention (``iwssim.m`` sets the same constants).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.arguments import check_flags, check_numbers
from likeness.errors import ImageTooSmallError, InvalidInputError, UnsupportedImageError
from likeness.metrics._filters import correlate_2d, gaussian_taps, valid_filter_2d
from likeness.metrics._image_maps import (
    check_convention,
    matlab_gray,
    on_255_scale,
    scale_weights_of,
    yiq_luma,
)
from likeness.metrics.caller_modes import as_defined
from likeness.metrics.tensor_checks import check_gray_or_rgb_pairs

__all__ = ["IW_SSIM_WEIGHTS", "iw_ssim"]

IW_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


@dataclass(frozen=True)
class _Settings:
    """piq's arguments (names and defaults; ``iwssim.m``'s values)."""

    kernel_size: int = 11  # the SSIM window's side
    kernel_sigma: float = 1.5
    k1: float = 0.01
    k2: float = 0.03
    parent: bool = True  # the information content of levels 1 to L − 2 with the parent band
    blk_size: int = 3  # the side of the information content's neighbourhoods
    sigma_nsq: float = 0.4  # the visual noise's variance

    def __post_init__(self) -> None:
        check_numbers({name: value for name, value in vars(self).items() if name != "parent"},
                      integers=("kernel_size", "blk_size"),
                      positive=("kernel_size", "kernel_sigma", "blk_size", "sigma_nsq"))
        check_flags(parent=self.parent)
        check_numbers({"k1": self.k1, "k2": self.k2}, positive=("k1", "k2"))
        for name in ("kernel_size", "blk_size"):
            if getattr(self, name) % 2 == 0:
                raise InvalidInputError(f"{name} must be odd (a window centred on its "
                                        f"pixel), got {getattr(self, name)}")
        if self.blk_size >= self.kernel_size:  # piq: an empty information map, NaN
            raise InvalidInputError(
                f"blk_size must be smaller than kernel_size (the information map is cut to "
                f"the SSIM window's valid region), got blk_size={self.blk_size} and "
                f"kernel_size={self.kernel_size}")

    @property
    def trim(self) -> int:
        """What the information map loses at each side to match the SSIM maps'."""
        return math.ceil((self.kernel_size - 1) / 2) - (self.blk_size - 1) // 2


def _binomial(like: Tensor) -> Tensor:
    """The (1, 5) binomial filter × √2 of the pyramid (its transpose filters columns)."""
    return torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=like.dtype,
                        device=like.device).view(1, 5) / 16 * 2**0.5


def _pyramid_step(x: Tensor, matlab: bool = False) -> tuple[Tensor, Tensor]:
    """One Laplacian-pyramid step: (the blurred, decimated image, the band-pass residual).

    ``matlab``: the upsampling of matlabPyrTools' ``upConv`` (``buildLpyr``): the samples
    with zeros between them cut to the image's size before the mirrored border is added;
    piq mirrors about one zero more on odd sides (up to ~6 apart at the last row or column
    of a 0–255 image)."""
    kernel = _binomial(x)
    low = correlate_2d(F.pad(x, [2, 2, 0, 0], mode="reflect"), kernel, step=(1, 2))
    low = correlate_2d(F.pad(low, [0, 0, 2, 2], mode="reflect"), kernel.t(), step=(2, 1))
    # upsample by inserting zeros, then the same filter
    wide = torch.zeros(*low.shape[:-1], 2 * low.shape[-1], dtype=x.dtype, device=x.device)
    wide[..., ::2] = low
    if matlab:
        wide = wide[..., :x.shape[-1]]
    up = correlate_2d(F.pad(wide, [2, 2, 0, 0], mode="reflect"), kernel)[..., :x.shape[-1]]
    tall = torch.zeros(*up.shape[:-2], 2 * up.shape[-2], up.shape[-1], dtype=x.dtype,
                       device=x.device)
    tall[..., ::2, :] = up
    if matlab:
        tall = tall[..., :x.shape[-2], :]
    up = correlate_2d(F.pad(tall, [0, 0, 2, 2], mode="reflect"), kernel.t())[..., :x.shape[-2], :]
    return low, x - up


def _ssim_maps(x: Tensor, y: Tensor, settings: _Settings) -> tuple[Tensor, Tensor]:
    """(SSIM map, contrast-structure map) on the valid region, data range 255; the (11×11)
    gaussian applied separably (the same window; torch's float64 convolutions are slow)."""
    taps = gaussian_taps(settings.kernel_size, settings.kernel_sigma)
    c1, c2 = (settings.k1 * 255) ** 2, (settings.k2 * 255) ** 2
    moments = valid_filter_2d(torch.stack([x, y, x * x, y * y, x * y]), taps, taps)
    mean_x, mean_y, square_x, square_y, product = moments.unbind(0)
    variance_x = F.relu(square_x - mean_x**2)
    variance_y = F.relu(square_y - mean_y**2)
    covariance = product - mean_x * mean_y
    contrast_structure = (2.0 * covariance + c2) / (variance_x + variance_y + c2)
    luminance = (2.0 * mean_x * mean_y + c1) / (mean_x**2 + mean_y**2 + c1)
    return luminance * contrast_structure, contrast_structure


def _enlarge(x: Tensor) -> Tensor:
    """The parent band at the child's resolution (``imenlarge2`` of iwssim.m)."""
    height, width = x.shape[-2:]
    inner = F.interpolate(x, size=(4 * height - 3, 4 * width - 3), mode="bilinear",
                          align_corners=False)
    big = F.pad(inner, [1, 1, 1, 1])
    big[..., 0, :] = 2 * big[..., 1, :] - big[..., 2, :]
    big[..., -1, :] = 2 * big[..., -2, :] - big[..., -3, :]
    big[..., :, 0] = 2 * big[..., :, 1] - big[..., :, 2]
    big[..., :, -1] = 2 * big[..., :, -2] - big[..., :, -3]
    return big[..., ::2, ::2]


def _information_content(x: Tensor, y: Tensor, parent: Tensor | None, matlab: bool,
                         settings: _Settings) -> Tensor:
    """Information-content weights of one band (N, 1, h − b + 1, w − b + 1) of the b × b
    neighbourhoods; ``matlab``: ``iwssim.m``'s tolerance 1e-15 (piq: machine epsilon)."""
    eps = 1e-15 if matlab else torch.finfo(x.dtype).eps
    block, noise = settings.blk_size, settings.sigma_nsq
    pads = [block // 2, block - block // 2] * 2

    def local_mean(image: Tensor) -> Tensor:  # b×b box on piq's (b // 2, b − b // 2)-padded
        padded = F.pad(image, pads)  # image: one row and column more than the image
        height, width = image.shape[-2] + 1, image.shape[-1] + 1
        rows = padded[..., :height, :]
        for offset in range(1, block):
            rows = rows + padded[..., offset:offset + height, :]
        total = rows[..., :width]
        for offset in range(1, block):
            total = total + rows[..., offset:offset + width]
        return total / block**2

    mean_x, mean_y = local_mean(x), local_mean(y)
    variance_x = F.relu(local_mean(x**2) - mean_x**2)
    variance_y = F.relu(local_mean(y**2) - mean_y**2)
    covariance = local_mean(x * y) - mean_x * mean_y
    gain = covariance / (variance_y + eps)
    residual = variance_x - gain * covariance
    flat_y, flat_x = variance_y < eps, variance_x < eps
    gain = gain.masked_fill(flat_y, 0)
    residual = torch.where(flat_y, variance_x, residual)
    gain = gain.masked_fill(flat_x, 0)
    residual = residual.masked_fill(flat_x, 0)
    # the b×b neighbourhoods (and the parent) of the reference band, as columns
    half = (block - 1) // 2
    rows, columns = y.shape[-2] - block + 1, y.shape[-1] - block + 1
    # (piq rolls the band by (dy, dx) and keeps the inner rows and columns: these slices)
    neighbourhoods = [y[..., half - dy:half - dy + rows, half - dx:half - dx + columns]
                      for dy in range(-half, half + 1) for dx in range(-half, half + 1)]
    if parent is not None:
        parent = _enlarge(parent)[..., :y.shape[-2], :y.shape[-1]]
        neighbourhoods.append(parent[..., half:half + rows, half:half + columns])
    vectors = torch.stack(neighbourhoods, dim=-1).flatten(-3, -2)
    size = vectors.shape[-1]
    covariance_u = vectors.transpose(-2, -1) @ vectors / (rows * columns)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance_u)
    positive = torch.diag_embed(eigenvalues * (eigenvalues > 0))
    total = eigenvalues.sum(dim=-1).view(*eigenvalues.shape[:-1], 1, 1)
    positive_total = positive.sum(dim=(-2, -1), keepdim=True)
    scaled = positive * total / (positive_total + (positive_total == 0))
    covariance_u = eigenvectors @ scaled @ eigenvectors.transpose(-2, -1)
    gain = gain[..., half:half + rows, half:half + columns].unsqueeze(-1)
    residual = residual[..., half:half + rows, half:half + columns].unsqueeze(-1)
    eigen = torch.diagonal(scaled, dim1=-2, dim2=-1).unsqueeze(2).unsqueeze(3)
    if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
        mixture = ((vectors @ torch.inverse(covariance_u)) * vectors / size).sum(dim=-1)
        mixture = mixture.view(*y.shape[:-2], rows, columns, 1)
        terms = 1 + ((residual + (1 + gain * gain) * noise) * mixture * eigen
                     + noise * residual) / (noise * noise)
        weights = torch.sum(torch.log2(terms), dim=-1)
    else:  # the same operations in place: (h, w, 10) arrays are written once, not five times
        mixture = (vectors @ torch.inverse(covariance_u)).mul_(vectors).div_(size).sum(dim=-1)
        mixture = mixture.view(*y.shape[:-2], rows, columns, 1)
        terms = ((residual + (1 + gain * gain) * noise) * mixture * eigen)
        terms.add_(noise * residual).div_(noise * noise)
        weights = torch.sum(terms.add_(1).log2_(), dim=-1)
    return weights.masked_fill(weights < eps, 0)


@as_defined
def iw_ssim(x: Tensor, y: Tensor, *, data_range: float = 1.0, convention: str = "piq",
            kernel_size: int = 11, kernel_sigma: float = 1.5, k1: float = 0.01,
            k2: float = 0.03, parent: bool = True, blk_size: int = 3, sigma_nsq: float = 0.4,
            scale_weights: Tensor | Sequence[float] | None = None) -> Tensor:
    """IW-SSIM of each pair: (N,), in the inputs' float dtype (see the module docs).

    Args:
        kernel_size, kernel_sigma, k1, k2: the SSIM window (odd side) and constants.
        parent: levels 1 to L − 2 weighted with their parent band (piq's, the paper's).
        blk_size: the information content's neighbourhoods (odd, below ``kernel_size``).
        sigma_nsq: the visual noise's variance.
        scale_weights: a weight per level (as many levels), normalised to sum 1, as piq's;
            None: the paper's five.
        convention: ``"piq"`` (colour → the Y of YIQ) or ``"matlab"`` (``iwssim.m`` takes
            gray images: colour through MATLAB's ``rgb2gray``; ``buildLpyr``'s upsampling on
            odd sides, the tolerance 1e-15; a negative pooled term, complex in MATLAB, is
            refused).

    Raises:
        ImageTooSmallError: a side shorter than 161 px ((kernel_size − 1) · 2^(levels − 1)
            + 1).
        UnsupportedImageError: ``iwssim.m`` would give a complex number (``"matlab"``).
        ValueError: shapes differ, not 4-D, or not 1 or 3 channels; an argument out of its
            range.
    """
    matlab = check_convention(convention)
    settings = _Settings(kernel_size, kernel_sigma, k1, k2, parent, blk_size, sigma_nsq)
    x, y = check_gray_or_rgb_pairs(x, y, data_range)
    weights = scale_weights_of(scale_weights, IW_SSIM_WEIGHTS, x, normalise_default=True)
    if matlab and x.shape[1] == 3:
        x, y = matlab_gray(x, data_range), matlab_gray(y, data_range)
    levels = weights.shape[0]
    smallest = (settings.kernel_size - 1) * 2 ** (levels - 1) + 1
    if min(x.shape[-2:]) < smallest:
        raise ImageTooSmallError(f"IW-SSIM needs images of at least {smallest}x{smallest} px, "
                                 f"got {x.shape[-1]}x{x.shape[-2]}")
    x, y = on_255_scale(x, data_range), on_255_scale(y, data_range)
    if x.shape[1] == 3:
        x, y = yiq_luma(x), yiq_luma(y)
    return _iw_ssim_of_lumas(x, y, weights, matlab, settings)


def _iw_ssim_of_lumas(x: Tensor, y: Tensor, weights: Tensor, matlab: bool,
                      settings: _Settings) -> Tensor:
    """``_iw_ssim_of_luma``, or where a band's covariance is singular, each pair's own."""
    try:
        return _iw_ssim_of_luma(x, y, weights, matlab, settings)
    except torch.linalg.LinAlgError:
        # a flat band (a constant image) has a singular Gaussian-scale-mixture covariance:
        # identical images are 1, as for every SSIM; any other flat pair has no value
        identical = (x == y).flatten(1).all(dim=1)
        if bool(identical.all()):
            return torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
        if x.shape[0] > 1:
            return torch.cat([_iw_ssim_of_lumas(x[i:i + 1], y[i:i + 1], weights, matlab,
                                                settings) for i in range(x.shape[0])])
        raise UnsupportedImageError("IW-SSIM is undefined for these images: a flat (constant) "
                                    "image has no texture for its information weights") from None


def _iw_ssim_of_luma(x: Tensor, y: Tensor, weights: Tensor, matlab: bool,
                     settings: _Settings) -> Tensor:
    levels, trim = weights.shape[0], settings.trim
    low_x, band_x = _pyramid_step(x, matlab)
    low_y, band_y = _pyramid_step(y, matlab)
    pooled = []
    for level in range(levels):
        if level < levels - 2:
            low_x, next_x = _pyramid_step(low_x, matlab)
            low_y, next_y = _pyramid_step(low_y, matlab)
        else:
            next_x, next_y = low_x, low_y
        ssim_map, contrast_structure = _ssim_maps(band_x, band_y, settings)
        if level == levels - 1:
            information, contrast_structure = torch.ones_like(ssim_map), ssim_map
        else:
            parent = next_y if settings.parent and level < levels - 2 else None
            information = _information_content(band_x, band_y, parent, matlab, settings)
            information = information[..., trim:-trim, trim:-trim]
        pooled.append(torch.sum(contrast_structure * information, dim=(-2, -1))
                      / torch.sum(information, dim=(-2, -1)))
        band_x, band_y = next_x, next_y
    stacked = torch.stack(pooled, dim=0)
    if matlab and bool((stacked < 0).any()):
        raise UnsupportedImageError(
            "iwssim.m gives a complex number for these images (a negative pooled "
            "contrast-structure or SSIM term raised to a fractional weight); piq's convention "
            "takes its absolute value")
    stacked = stacked.abs()
    return torch.prod(stacked ** weights.view(-1, 1, 1), dim=0)[:, 0]
