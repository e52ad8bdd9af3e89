"""Haar wavelet-based Perceptual Similarity Index (HaarPSI), batched torch on (N, C, H, W),
differentiable, as piq 0.8 computes it with its defaults.

Reisenhofer, Bosse, Kutyniok & Wiegand (2018): images on the [0, 255] scale; colour →
YIQ; zero-padded at the bottom/right to even sizes and 2×2 average-pooled; Haar filters of
sizes 2, 4 and 8 on Y (horizontal and vertical); local similarities of the first two
scales' magnitudes (C = 30) per orientation, and for colour of the 2×2-averaged I and Q
magnitudes; weighted by the third scale's magnitudes (their mean for the chroma map);
HaarPSI = logit⁻¹-mapped mean (α = 4.2), as (log(s / (1 − s)) / α)².  1 for identical
images, higher is better.  Images need at least 16 px a side.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from likeness.arguments import check_flags, check_numbers
from likeness.errors import ImageTooSmallError, InvalidInputError
from likeness.metrics._image_maps import (
    FUSED_MAPS_FROM,
    YIQ,
    YIQ_MATLAB,
    check_convention,
    colour_transform,
    halve,
    on_255_scale,
    similarity,
)
from likeness.metrics.caller_modes import as_defined, tracing
from likeness.metrics.kernel_threads import kernel_threads
from likeness.metrics.tensor_checks import check_gray_or_rgb_pairs

__all__ = ["haarpsi"]

# one thread's time a pixel of the fused Haar similarity maps (``kernel_threads``): 3 ns
# at 192×256, 20 ns at 384×512 (the page faults of its fresh outputs), 2-core AMD EPYC
HAAR_MAPS_SECONDS = 1.0e-8


def _box_sums(x: Tensor, rows: int, columns: int) -> Tensor:
    """The sum of every rows×columns window lying inside x: a pass of shifted slices per
    axis (torch's float64 pooling and convolutions are slow on CPUs)."""
    width = x.shape[-1] - columns + 1
    across = x[..., :width].clone()
    for column in range(1, columns):
        across += x[..., column:column + width]
    height = x.shape[-2] - rows + 1
    total = across[..., :height, :].clone()
    for row in range(1, rows):
        total += across[..., row:row + height, :]
    return total


def _haar_responses(x: Tensor, size: int, out: Tensor | None = None) -> Tensor:
    """(N, 2, H, W): piq's size×size Haar filters (horizontal edge, then vertical) of the
    zero-padded (N, 1, H, W) image, as differences of box sums; written into ``out``
    where given (no autograd: the same operations, without concatenating copies)."""
    half = size // 2
    padded = F.pad(x, pad=[half - 1, half, half - 1, half], mode="constant")
    rows = _box_sums(padded, half, size)
    columns = _box_sums(padded, size, half)
    if out is None:
        horizontal = (rows[..., :-half, :] - rows[..., half:, :]) / size
        vertical = (columns[..., :, :-half] - columns[..., :, half:]) / size
        return torch.cat([horizontal, vertical], dim=1)
    torch.sub(rows[..., :-half, :], rows[..., half:, :], out=out[:, :1])
    torch.sub(columns[..., :, :-half], columns[..., :, half:], out=out[:, 1:])
    return out.div_(size)


def _fused_maps(all_x: Tensor, all_y: Tensor, c: float) -> tuple[list[Tensor], Tensor]:
    """The luma similarity maps (one (N, 2, H, W) tensor, in a list) and their weights from
    the Haar responses, in one compiled pass (``_similarity_kernel.haar_similarity_maps``):
    bit for bit the route of thirty-odd torch passes."""
    from likeness.metrics._similarity_kernel import haar_similarity_maps

    with kernel_threads(HAAR_MAPS_SECONDS * all_x[:, 0].numel()):
        maps, weights = haar_similarity_maps(all_x.contiguous().numpy(),
                                             all_y.contiguous().numpy(), float(c))
    return [torch.from_numpy(maps)], torch.from_numpy(weights)


def _check_options(scales: object, c: object, alpha: object) -> None:
    """HaarPSI is defined on 3 scales: the third's low-frequency responses weigh the first
    two's similarities (``HaarPSI.m`` fixes 3; piq's code, which takes ``scales``, returns
    NaN for 1 or 2 and fails for 4 or more).  c and alpha must be positive: alpha = 0
    divides by zero, and c ≤ 0 can divide zero by zero where both images are flat."""
    check_numbers({"scales": scales, "c": c, "alpha": alpha}, integers=("scales",))
    if scales != 3:
        raise InvalidInputError(f"HaarPSI is defined on 3 scales (HaarPSI.m fixes 3: the "
                                f"third's responses weigh the first two's); got scales={scales}")
    if c <= 0 or alpha <= 0:  # type: ignore[operator]  # numbers, checked above
        raise InvalidInputError(f"c and alpha must be positive, got c={c}, alpha={alpha}")


@as_defined
def haarpsi(x: Tensor, y: Tensor, *, data_range: float = 1.0, scales: int = 3,
            subsample: bool = True, c: float = 30.0, alpha: float = 4.2,
            convention: str = "piq") -> Tensor:
    """HaarPSI of each pair: (N,), in the inputs' float dtype (see the module docs).

    Args:
        subsample: halve the images first (the paper's viewing distance; piq's and
            ``HaarPSI.m``'s default); False compares them at their own size.
        convention: ``"piq"`` (YIQ with four-digit I and Q coefficients) or ``"matlab"``
            (the authors' ``HaarPSI.m``: 0.596, −0.274, −0.322; 0.211, −0.523, 0.312).

    Raises:
        ImageTooSmallError: a side shorter than 2^(scales + 1) px.
        ValueError: shapes differ, not 4-D, or not 1 or 3 channels; another convention;
            scales other than 3, or c or alpha not positive numbers.
    """
    yiq = YIQ_MATLAB if check_convention(convention) else YIQ
    x, y = check_gray_or_rgb_pairs(x, y, data_range)
    _check_options(scales, c, alpha)
    check_flags(subsample=subsample)
    smallest = 2 ** (scales + 1)
    if min(x.shape[-2:]) < smallest:
        raise ImageTooSmallError(f"HaarPSI needs images of at least {smallest}x{smallest} px, "
                                 f"got {x.shape[-1]}x{x.shape[-2]}")
    colour = x.shape[1] == 3
    # piq scales and converts to YIQ, then halves: linear steps, here taken on the halved
    # images (4× fewer pixels; the same values within rounding, ~1e-16 relative)
    if subsample:
        x, y = halve(x), halve(y)
    x, y = on_255_scale(x, data_range), on_255_scale(y, data_range)
    if colour:
        x, y = colour_transform(x, yiq), colour_transform(y, yiq)
    both = torch.cat((x[:, :1], y[:, :1]))  # one pass of the two images' luma
    differentiable = torch.is_grad_enabled() and both.requires_grad
    if differentiable:
        responses = torch.cat([_haar_responses(both, 2 ** (scale + 1))
                               for scale in range(scales)], dim=1)
    else:  # each scale written in place of its concatenated copy
        responses = both.new_empty(len(both), 2 * scales, *both.shape[-2:])
        for scale in range(scales):
            _haar_responses(both, 2 ** (scale + 1), responses[:, 2 * scale:2 * scale + 2])
    all_x, all_y = responses.split(len(x))
    if (not differentiable and scales == 3 and responses.dtype == torch.float64
            and responses.device.type == "cpu"
            and responses.shape[-2] * responses.shape[-1] >= FUSED_MAPS_FROM
            and not tracing()):
        maps, weights = _fused_maps(all_x, all_y, c)
    else:
        weights = torch.max(torch.abs(all_x[:, 4:]), torch.abs(all_y[:, 4:]))
        maps = []
        for orientation in range(2):
            # the first two scales' responses of this orientation: a strided view
            magnitude_x = torch.abs(all_x[:, orientation:orientation + 3:2])
            magnitude_y = torch.abs(all_y[:, orientation:orientation + 3:2])
            maps.append(similarity(magnitude_x, magnitude_y, c).sum(dim=1, keepdim=True) / 2)
    if colour:
        x, y = F.pad(x, pad=[0, 1, 0, 1]), F.pad(y, pad=[0, 1, 0, 1])
        chroma_x = torch.abs(F.avg_pool2d(x[:, 1:], kernel_size=2, stride=1, padding=0))
        chroma_y = torch.abs(F.avg_pool2d(y[:, 1:], kernel_size=2, stride=1, padding=0))
        weights = torch.cat([weights, weights.mean(dim=1, keepdim=True)], dim=1)
        maps.append(similarity(chroma_x, chroma_y, c).sum(dim=1, keepdim=True) / 2)
    combined = maps[0] if len(maps) == 1 else torch.cat(maps, dim=1)
    # images without any Haar structure (flat: black vs black) weigh every position zero;
    # their score is the limit under uniform weights (1 for identical images), not 0/0
    flat = weights.sum(dim=[1, 2, 3], keepdim=True) == 0
    weights = torch.where(flat, torch.ones_like(weights), weights)
    eps = torch.finfo(combined.dtype).eps
    score = ((((combined * alpha).sigmoid() * weights).sum(dim=[1, 2, 3]) + eps)
             / (torch.sum(weights, dim=[1, 2, 3]) + eps))
    return (torch.log(score / (1 - score)) / alpha) ** 2
