"""Building blocks piq's gradient, wavelet and saliency metrics share (GMSD, MS-GMSD,
MDSI, HaarPSI, FSIM, SR-SIM, VSI): colour transforms, even-size 2×2 pooling, the
automatic downsampling of Wang's ``ssim.m``, Prewitt and Scharr gradient magnitudes and
the similarity map, each with piq's arithmetic."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.errors import InvalidInputError
from likeness.metrics._safe_roots import safe_sqrt
from likeness.metrics.caller_modes import tracing

# images (or HaarPSI's half-size maps) of at least this many pixels take the compiled
# similarity maps of ``_similarity_kernel`` (smaller ones would wait for numba's first
# load, ~0.5 s, to save microseconds)
FUSED_MAPS_FROM = 128 * 128
# one thread's time a pixel of the fused gradient similarity (``kernel_threads``), measured
# at 200×131 to 1024×768 on a 2-core AMD EPYC: 3.0–3.4 ns
GRADIENT_SIMILARITY_SECONDS = 3.2e-9
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
    return padded_block_mean(x, factor, (before, max(after_columns, 0), before,
                                         max(after_rows, 0)))


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


def padded_block_mean(x: Tensor, size: int, pads: tuple[int, int, int, int], *,
                      replicate: bool = False) -> Tensor:
    """``block_mean(F.pad(x, pads), size)``, ``pads`` in ``F.pad``'s order (left, right,
    top, bottom), zeros or (``replicate``) the border pixels repeated, padding only what
    the blocks read (the pooling drops the rest): an even image is not copied to pad one
    row its 2×2 blocks never read.  On the CPU without autograd, without the padded copy
    (a 1024×768 RGB image's pad took 2–5 ms of MDSI's 22 and VSI's 41), bit for bit its
    values: the pooling with its own zero padding, then the blocks at the borders that it
    cannot give (replicated pixels, a side padded more than the other) summed in its order
    (``_strided_block_mean``)."""
    left, right, top, bottom = pads
    height, width = x.shape[-2:]
    rows = (top + height + bottom) // size * size - top - height  # padding read below
    columns = (left + width + right) // size * size - left - width
    if not (left or top or rows > 0 or columns > 0):
        return block_mean(x, size)
    read = (left, max(columns, 0), top, max(rows, 0))
    if x.device.type != "cpu" or (torch.is_grad_enabled() and x.requires_grad):
        return block_mean(F.pad(x, list(read), mode="replicate" if replicate else "constant"),
                          size)
    blocks = ((top + height + read[3]) // size, (left + width + read[1]) // size)
    if (max(top, left) > size // 2 or max(read[1], read[3]) >= size
            or min(height, width) < 2 * size):  # beyond what the pooling's padding gives
        return _strided_block_mean(x, size, read, replicate)
    pooled = F.avg_pool2d(x, size, padding=(top, left))  # zeros, counted as the copy's
    if tuple(pooled.shape[-2:]) != blocks:  # one block more or fewer at the bottom or right
        fitted = pooled.new_zeros(*x.shape[:-2], *blocks)
        shared = (min(blocks[0], pooled.shape[-2]), min(blocks[1], pooled.shape[-1]))
        fitted[..., :shared[0], :shared[1]] = pooled[..., :shared[0], :shared[1]]
        pooled = fitted
    else:
        shared = blocks
    # the blocks the pooling left out, or read as zeros where the copy repeats pixels: the
    # first or last row or column of blocks, each summed from its strip of the image
    last_row, last_column = (blocks[0] - 1) * size - top, (blocks[1] - 1) * size - left
    below, beyond = last_row + size - height, last_column + size - width  # padding read
    if replicate and top > 0:
        pooled[..., :1, :] = _strided_block_mean(x[..., :size - top, :], size,
                                                 (left, read[1], top, 0), replicate)
    if (replicate and below > 0) or shared[0] < blocks[0]:
        pooled[..., -1:, :] = _strided_block_mean(x[..., last_row:, :], size,
                                                  (left, read[1], 0, below), replicate)
    if replicate and left > 0:
        pooled[..., :, :1] = _strided_block_mean(x[..., :, :size - left], size,
                                                 (left, 0, top, read[3]), replicate)
    if (replicate and beyond > 0) or shared[1] < blocks[1]:
        pooled[..., :, -1:] = _strided_block_mean(x[..., :, last_column:], size,
                                                  (0, beyond, top, read[3]), replicate)
    return pooled


def _strided_block_mean(x: Tensor, size: int, read: tuple[int, int, int, int],
                        replicate: bool) -> Tensor:
    """``padded_block_mean`` of pads that its blocks read entirely, as the pooling's sums:
    each block's pixels added in its order from strided views of ``x``, the padding's
    zeros left out or its repeated pixels broadcast."""
    left, right, top, bottom = read
    height, width = x.shape[-2:]
    blocks = ((top + height + bottom) // size, (left + width + right) // size)
    total = x.new_zeros(*x.shape[:-2], *blocks)
    for row in range(size):
        for down_blocks, down_pixels in _block_spans(row, top, height, size, blocks[0],
                                                     replicate):
            for column in range(size):
                for across_blocks, across_pixels in _block_spans(column, left, width, size,
                                                                 blocks[1], replicate):
                    total[..., down_blocks, across_blocks] += x[..., down_pixels,
                                                                across_pixels]
    return total / (size * size)


def _block_spans(offset: int, before: int, length: int, size: int, blocks: int,
                 replicate: bool) -> list[tuple[slice, slice]]:
    """Along one axis, for the pixel ``offset`` of each block: (blocks, the pixels they
    read there) for the blocks whose pixel lies in the image, and (``replicate``) for
    those whose pixel lies in the padding before or after it (the first or last pixel,
    broadcast over them); zeros are left out."""
    first = max(0, -((offset - before) // size))  # ⌈(before − offset) / size⌉, at least 0
    last = min(blocks - 1, (length - 1 + before - offset) // size)
    spans = []
    if first <= last:
        start = first * size + offset - before
        spans.append((slice(first, last + 1),
                      slice(start, start + (last - first) * size + 1, size)))
    if replicate and first > 0:
        spans.append((slice(0, min(first, blocks)), slice(0, 1)))
    if replicate and last < blocks - 1:
        spans.append((slice(max(last + 1, 0), blocks), slice(length - 1, length)))
    return spans


def halve(x: Tensor) -> Tensor:
    """Zero-pad the bottom and right to even sizes, then 2×2 average pooling."""
    pad = max(x.shape[2] % 2, x.shape[3] % 2)
    return padded_block_mean(x, 2, (0, pad, 0, pad))


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


def gradient_similarity(x: Tensor, y: Tensor, constant: float, operator: str = "prewitt",
                        alpha: float = 0.0) -> Tensor:
    """``similarity(gradient_magnitude(x, operator), gradient_magnitude(y, operator),
    constant, alpha)`` of (N, 1, H, W) images.  In float64 on the CPU without autograd,
    from ``FUSED_MAPS_FROM`` pixels, one compiled pass
    (``_similarity_kernel``): within rounding of it (its square roots correctly
    rounded), 8–23× faster than its thirty passes over image-sized arrays (200×131 to
    1024×768 pairs)."""
    if (x.dtype != torch.float64 or y.dtype != torch.float64 or x.device.type != "cpu"
            or x.shape[-2] * x.shape[-1] < FUSED_MAPS_FROM
            or (torch.is_grad_enabled() and (x.requires_grad or y.requires_grad))
            or tracing()):
        return similarity(gradient_magnitude(x, operator), gradient_magnitude(y, operator),
                          constant, alpha)
    from likeness.metrics._similarity_kernel import gradient_similarity as fused
    from likeness.metrics.kernel_threads import kernel_threads

    with kernel_threads(GRADIENT_SIMILARITY_SECONDS * x.numel()):
        values = fused(x[:, 0].contiguous().numpy(), y[:, 0].contiguous().numpy(),
                       operator == "scharr", float(constant), float(alpha))
    return torch.from_numpy(values).unsqueeze(1)


def similarity(a: Tensor, b: Tensor, constant: float, alpha: float = 0.0) -> Tensor:
    """(2ab − α ab + c) / (a² + b² − α ab + c), piq's ``similarity_map``."""
    return ((2.0 * a * b - alpha * a * b + constant)
            / (a**2 + b**2 - alpha * a * b + constant))


def scale_weights_of(given: Tensor | Sequence[float] | None, default: Sequence[float],
                     like: Tensor, *, normalise_default: bool = False) -> Tensor:
    """A multi-scale metric's weights (MS-GMSD, IW-SSIM): its paper's (``default``; divided
    by their sum where piq divides them: ``normalise_default``), or the caller's
    ``scale_weights`` normalised to sum 1, as piq normalises them — finite, none negative,
    not all 0 (piq would compute with a negative weight, or give NaN)."""
    if given is None:
        weights = torch.tensor(default, device=like.device, dtype=like.dtype)
        return weights / weights.sum() if normalise_default else weights
    try:
        weights = torch.as_tensor(given, dtype=like.dtype).to(like.device).flatten()
    except (TypeError, ValueError, RuntimeError):
        weights = torch.empty(0)
    if weights.numel() == 0 or not torch.isfinite(weights).all() or (weights < 0).any() \
            or weights.sum() <= 0:
        raise InvalidInputError(f"scale_weights must be one or more finite weights, none "
                                f"negative, not all 0 (a weight per scale), got {given!r}")
    return weights / weights.sum()
