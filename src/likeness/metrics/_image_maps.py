"""Building blocks piq's gradient, wavelet and saliency metrics share (GMSD, MS-GMSD,
MDSI, HaarPSI, FSIM, SR-SIM, VSI): colour transforms, even-size 2×2 pooling, the
automatic downsampling of Wang's ``ssim.m``, Prewitt and Scharr gradient magnitudes and
the similarity map, each with piq's arithmetic."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.errors import InvalidInputError
from likeness.metrics._safe_roots import safe_sqrt

YIQ = ((0.299, 0.587, 0.114), (0.5959, -0.2746, -0.3213), (0.2115, -0.5227, 0.3112))
# the authors' MATLAB code (HaarPSI.m, FeatureSIM.m) writes I and Q with three digits
YIQ_MATLAB = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))
# whose arithmetic a classical metric follows: piq's (the default) or its authors' MATLAB code
CONVENTIONS = ("piq", "matlab")
LHM = ((0.2989, 0.587, 0.114), (0.3, 0.04, -0.35), (0.34, -0.6, 0.17))
LMN = ((0.06, 0.63, 0.27), (0.30, 0.04, -0.35), (0.34, -0.6, 0.17))
_SRGB_TO_XYZ = ((0.4124564, 0.3575761, 0.1804375), (0.2126729, 0.7151522, 0.0721750),
                (0.0193339, 0.1191920, 0.9503041))
_D50_WHITE = (0.9642119944211994, 1.0, 0.8251882845188288)
_XYZ_TO_LAB = ((0.0, 116.0, 0.0), (500.0, -500.0, 0.0), (0.0, 200.0, -200.0))


def colour_transform(x: Tensor, matrix: tuple[tuple[float, ...], ...]) -> Tensor:
    """(N, 3, H, W) RGB through a colour matrix of 3 columns (rows: output channels; its
    first row alone gives only the first channel).  The same three products summed as in
    piq's product of channels-last pixels with the matrix (bit for bit on the CPUs
    measured), as an einsum over the channels: 2–5× faster on a 2-core CPU, where the
    product took a batched matmul of a permuted copy."""
    weights = torch.tensor(matrix, dtype=x.dtype, device=x.device)
    return torch.einsum("oc,nchw->nohw", weights, x).contiguous()


def yiq_luma(x: Tensor) -> Tensor:
    """(N, 3, H, W) RGB → (N, 1, H, W), the Y of YIQ (piq's ``rgb2yiq(x)[:, :1]``)."""
    return colour_transform(x, YIQ[:1])


def _ntsc_luma_row() -> tuple[float, float, float]:
    """The first row of the inverse of MATLAB's YIQ → RGB matrix: ``rgb2gray``'s weights
    (0.298936…, 0.587043…, 0.114020…)."""
    matrix = torch.tensor([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]],
                          dtype=torch.float64)
    red, green, blue = torch.linalg.inv(matrix)[0].tolist()
    return red, green, blue


RGB2GRAY_MATLAB = _ntsc_luma_row()


def matlab_gray(x: Tensor, data_range: float) -> Tensor:
    """(N, 3, H, W) → (N, 1, H, W) as MATLAB's ``rgb2gray``: ``RGB2GRAY_MATLAB`` weights
    summed R, G, B in that order; on integer images (``data_range`` 255 or 65535: uint8,
    uint16) rounded half away from zero as MATLAB rounds them, the gradient passing
    through the rounding unchanged; a [0, 1] image (MATLAB's double) is not rounded."""
    red, green, blue = RGB2GRAY_MATLAB
    gray = red * x[:, 0:1] + green * x[:, 1:2] + blue * x[:, 2:3]
    if float(data_range) in (255.0, 65535.0):
        rounded = torch.floor(gray + 0.5)  # non-negative values: half away from zero
        gray = rounded.detach() + (gray - gray.detach())  # exactly the rounded values
    return gray


def on_255_scale(x: Tensor, data_range: float, *, multiply_first: bool = False) -> Tensor:
    """``x / data_range * 255``, piq's arithmetic (``multiply_first``: ``x * 255 /
    data_range``, piq's VSI's), the second operation taken in place where no gradient is
    taken (one image-sized array written, not two: fresh arrays cost their page faults)."""
    scaled = x * 255.0 if multiply_first else x / float(data_range)
    if torch.is_grad_enabled() and scaled.requires_grad:
        return scaled / float(data_range) if multiply_first else scaled * 255
    return scaled.div_(float(data_range)) if multiply_first else scaled.mul_(255)


def matlab_gray_pair(x: Tensor, y: Tensor, data_range: float) -> tuple[Tensor, Tensor]:
    """The gray images on the [0, 255] scale that the authors' ``.m`` files take (colour
    through ``matlab_gray``)."""
    if x.shape[1] == 3:
        x, y = matlab_gray(x, data_range), matlab_gray(y, data_range)
    return on_255_scale(x, data_range), on_255_scale(y, data_range)


def rgb_to_lab(x: Tensor) -> Tensor:
    """(N, 3, H, W) sRGB in [0, 1] → CIELAB (D50 white, 2° observer), as piq's ``rgb2lab``."""
    linear = torch.where(x <= 0.04045, x / 12.92, torch.pow((x + 0.055) / 1.055, 2.4))
    xyz = colour_transform(linear, _SRGB_TO_XYZ)
    white = torch.tensor(_D50_WHITE, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    ratio = xyz / white
    above = ratio > 0.008856
    rooted = ratio
    if torch.is_grad_enabled() and ratio.requires_grad:
        # the cube root only where it is taken: its derivative at 0 (the other branch)
        # would turn the masked gradient into NaN
        rooted = torch.where(above, ratio, torch.ones_like(ratio))
    cube_root = torch.pow(rooted, 1.0 / 3.0)
    f = torch.where(above, cube_root, (903.3 * ratio + 16.0) / 116.0)
    offset = torch.tensor([-16.0, 0.0, 0.0], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return colour_transform(f, _XYZ_TO_LAB) + offset


def check_convention(convention: str) -> bool:
    """True for ``"matlab"``, False for ``"piq"``.

    Raises:
        InvalidInputError: another name.
    """
    if convention not in CONVENTIONS:
        raise InvalidInputError(f"convention must be one of {', '.join(map(repr, CONVENTIONS))}, "
                                f"got {convention!r}")
    return convention == "matlab"


def real_angle(x: Tensor) -> Tensor:
    """The angle of a real number as a complex one: π where it is negative, else 0 (the
    values of ``atan2(0, x)``, without its 0/0 gradient at x = 0)."""
    return (x < 0).to(x.dtype) * math.pi  # π · 1 and π · 0: the same values, no fills


def downsampling_factor(x: Tensor) -> int:
    """The automatic downsampling factor of Wang's ``ssim.m`` as piq computes it:
    max(1, round(min(H, W) / 256)), with Python's rounding (halves to even)."""
    return max(1, round(min(x.shape[-2:]) / 256))


def matlab_downsampling_factor(x: Tensor) -> int:
    """The same factor as the authors' MATLAB code computes it: MATLAB's ``round`` takes
    halves up (640 px → 3, where Python's rounding gives 2)."""
    return max(1, math.floor(min(x.shape[-2:]) / 256 + 0.5))


def matlab_box_downsample(x: Tensor, factor: int) -> Tensor:
    """``conv2(x, fspecial('average', f), 'same')`` sampled at ``1:f:end``, as the
    authors' MATLAB code downsamples (FeatureSIM.m, SR_SIM.m, MDSI.m; GMSD.m's f = 2 is
    ``halve``): f×f means of blocks starting ⌊(f − 1)/2⌋ pixels before each sample, zeros
    beyond the borders."""
    if factor == 1:
        return x
    before = (factor - 1) // 2
    height, width = x.shape[-2:]
    after_rows = math.ceil(height / factor) * factor - before - height
    after_columns = math.ceil(width / factor) * factor - before - width
    padded = F.pad(x, [before, max(after_columns, 0), before, max(after_rows, 0)])
    return block_mean(padded, factor)


def block_mean(x: Tensor, size: int) -> Tensor:
    """``F.avg_pool2d(x, size)``: the means of size×size blocks, a remainder dropped (``x``
    itself for size 1: images under 384 px a side are not downsampled).  On the CPU, 2×2
    blocks are four strided slices summed in the pooling kernel's order (row by row), bit
    for bit its values and ~2× faster."""
    if size == 1:  # each block one pixel: the pooling would copy the image unchanged
        return x
    if size != 2 or x.device.type != "cpu":
        return F.avg_pool2d(x, size)
    height, width = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    top, bottom = x[..., 0:height:2, :width], x[..., 1:height:2, :width]
    return (top[..., 0::2] + top[..., 1::2] + bottom[..., 0::2] + bottom[..., 1::2]) / 4


def padded_block_mean(x: Tensor, size: int, before: int, after: int) -> Tensor:
    """``block_mean`` of ``x`` zero-padded by ``before`` rows and columns at the top and
    left and ``after`` at the bottom and right, padding only what the blocks read (the
    pooling drops the rest): an even image is not copied to pad one row its 2×2 blocks
    never read."""
    height, width = x.shape[-2:]
    rows = (before + height + after) // size * size - before - height
    columns = (before + width + after) // size * size - before - width
    if not (before or rows > 0 or columns > 0):
        return block_mean(x, size)
    if x.device.type != "cpu" or (torch.is_grad_enabled() and x.requires_grad):
        return block_mean(F.pad(x, [before, max(columns, 0), before, max(rows, 0)]), size)
    # the pooling's sums without the padded copy (a 1024x768 RGB image's pad took 5 ms
    # of MDSI's 22): each block's pixels added in its order, the padding's zeros left out
    blocks = ((before + height + max(rows, 0)) // size, (before + width + max(columns, 0)) // size)
    total = x.new_zeros(*x.shape[:-2], *blocks)
    for row in range(size):
        down = _block_span(row, before, height, size, blocks[0])
        for column in range(size):
            across = _block_span(column, before, width, size, blocks[1])
            if down is not None and across is not None:
                total[..., down[0], across[0]] += x[..., down[1], across[1]]
    return total / (size * size)


def _block_span(offset: int, before: int, length: int, size: int, blocks: int
                ) -> tuple[slice, slice] | None:
    """Along one axis, for the pixel ``offset`` of each block: (the blocks whose pixel there
    lies in the image, not in the padding, and those pixels), or None."""
    first = max(0, -((offset - before) // size))  # ⌈(before − offset) / size⌉, at least 0
    last = min(blocks - 1, (length - 1 + before - offset) // size)
    if last < first:
        return None
    start = first * size + offset - before
    return slice(first, last + 1), slice(start, start + (last - first) * size + 1, size)


def halve(x: Tensor) -> Tensor:
    """Zero-pad the bottom and right to even sizes, then 2×2 average pooling."""
    pad = max(x.shape[2] % 2, x.shape[3] % 2)
    return padded_block_mean(x, 2, 0, pad)


def gradient_magnitude(x: Tensor, operator: str = "prewitt") -> Tensor:
    """Prewitt or Scharr gradient magnitude of (N, 1, H, W), zero padding, as piq's 3×3
    convolutions compute it, done as a difference and a smoothing (float64 convolutions
    take torch's slow path on CPUs)."""
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1])
    across = padded[..., :, 2:] - padded[..., :, :-2]  # (H + 2, W)
    down = padded[..., 2:, :] - padded[..., :-2, :]  # (H, W + 2)
    if operator == "prewitt":  # weights 1: the products are the values themselves
        gradient_x = (across[..., :-2, :] + across[..., 1:-1, :] + across[..., 2:, :]) / 3.0
        gradient_y = (down[..., :, :-2] + down[..., :, 1:-1] + down[..., :, 2:]) / 3.0
    else:
        gradient_x = (3.0 * across[..., :-2, :] + 10.0 * across[..., 1:-1, :]
                      + 3.0 * across[..., 2:, :]) / 16.0
        gradient_y = (3.0 * down[..., :, :-2] + 10.0 * down[..., :, 1:-1]
                      + 3.0 * down[..., :, 2:]) / 16.0
    return safe_sqrt(gradient_x**2 + gradient_y**2)  # a flat pixel: gradient 0, not NaN


def similarity(a: Tensor, b: Tensor, constant: float, alpha: float = 0.0) -> Tensor:
    """(2ab − α ab + c) / (a² + b² − α ab + c), piq's ``similarity_map``."""
    return ((2.0 * a * b - alpha * a * b + constant)
            / (a**2 + b**2 - alpha * a * b + constant))
