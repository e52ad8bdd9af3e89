"""3×3 and 5×5 convolutions by Winograd's minimal filtering, F(4×4, r×r), for CPU inference.

A stride-1 r×r convolution computes each output from r² products per input channel;
F(4, r) computes a 4×4 output tile from an n×n input tile (n = r + 3) with n² products
(2.25 instead of 9 per output for 3×3, 4 instead of 25 for 5×5), after transforming the
tile (Bᵀ d B) and the filter (G g Gᵀ, once per network), and transforms the products back
(Aᵀ M A).  The n² products of all tiles and channels are n² matrix products, which run at
the machine's matrix-multiply speed; the tile transforms run in fused numba kernels
(``_winograd_kernel``).

Exactness: the result is the same convolution with another rounding.  The interpolation
points (0, 1, −1, ½, −2 for 3×3; and 2, −½ for 5×5) keep the float32 error near a direct
convolution's: on unit-sized outputs of a 256-channel 3×3 layer the largest error is
7.6e-6 against 6.1e-6 for oneDNN's direct kernel (mean 6e-7 against 3e-7), on a 64-channel
5×5 layer 1.4e-5 against 2.4e-6.  ``tests/test_winograd.py`` bounds it, and every network
metric stays within its parity tolerance.  ``LIKENESS_WINOGRAD=0`` turns it off (the direct
convolution throughout).

References:
    Lavin & Gray (2016), Fast algorithms for convolutional neural networks. CVPR.
    Barabasz, Anderson, Soodhalter & Gregg (2020), Error analysis and improving the accuracy
    of Winograd convolution for deep neural networks. ACM TOMS (the choice of points).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from functools import cache

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["WinogradWeights", "apply_layer", "prepare_winograd", "use_winograd",
           "winograd_conv2d", "winograd_transforms"]

TILE_OUTPUT = 4
_HALF = Fraction(1, 2)
# kernel side: interpolation points of F(4, r) (n − 1 = r + 2 of them; ∞ is the last)
_POINTS = {3: (Fraction(0), Fraction(1), Fraction(-1), _HALF, Fraction(-2)),
           5: (Fraction(0), Fraction(1), Fraction(-1), _HALF, Fraction(-2), Fraction(2),
               -_HALF)}
# The tile transforms cost ∝ C_in + C_out per tile, the products ∝ C_in · C_out: below this
# C_in·C_out / (C_in + C_out) the direct convolution is as fast on this project's CPU
# (measured alternately, batches of 1, 2 and 8: 3×3, 64→64 at 256² 1.0×, 64→128 at 128²
# 0.95–1.18×, 128→128 at 128² 1.34–1.50×, 128→256 at 64² 1.65–2.0×, 256→256 at 64²
# 2.3–2.4×, 512→512 at 32² 2.9–3.1×; 5×5 saves more products per output: 64→192 at 63²
# 1.3–2.2×)
_MIN_CHANNEL_PRODUCT = {3: 60, 5: 40}
_WORKING_BYTES = 24 * 2**20


def use_winograd(conv: nn.Module, x: Tensor) -> bool:
    """Whether ``conv`` applied to ``x`` takes the Winograd route: a 3×3 or 5×5, stride-1,
    ungrouped, undilated ``nn.Conv2d`` with enough channels to pay for the transforms, on
    a float32 CPU batch, without autograd, unless ``LIKENESS_WINOGRAD=0``."""
    if not isinstance(conv, nn.Conv2d):
        return False
    channels = conv.in_channels * conv.out_channels / (conv.in_channels + conv.out_channels)
    side = conv.kernel_size[0]
    return (conv.kernel_size[1] == side and side in _POINTS
            and channels >= _MIN_CHANNEL_PRODUCT[side]
            and conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and isinstance(conv.padding, tuple) and conv.padding[0] == conv.padding[1]
            and conv.padding_mode == "zeros"
            and x.device.type == "cpu" and x.dtype == torch.float32 and x.ndim == 4
            # too small for the kernel: the direct layer raises its own error
            and min(x.shape[2], x.shape[3]) + 2 * conv.padding[0] >= side
            and not (torch.is_grad_enabled() and (x.requires_grad or conv.weight.requires_grad))
            and os.environ.get("LIKENESS_WINOGRAD") != "0")


@cache
def winograd_transforms(r: int = 3, m: int = TILE_OUTPUT,
                        points: tuple[Fraction, ...] | None = None) -> tuple[np.ndarray, ...]:
    """Aᵀ (m×n), G (n×r) and Bᵀ (n×n), n = m + r − 1, for F(m, r) by Toom-Cook on
    ``points`` (by default this module's for an r×r kernel) and ∞, in float64; Bᵀ and Aᵀ
    are exact in float32.

    Aᵀ and G evaluate at the points; Bᵀ is solved exactly in fractions from the condition
    Σ_j Aᵀ[i, j] G[j, k] Bᵀ[j, l] = [l = i + k] (correlation), and checked.
    """
    n = m + r - 1
    points = _POINTS[r] if points is None else points
    if len(points) < n - 1:
        raise ValueError(f"F({m}, {r}) needs {n - 1} finite points, got {len(points)}")
    p = points[:n - 1]
    if len(set(p)) < len(p):
        raise ValueError(f"F({m}, {r}) needs distinct points, got {p}")
    a_t = [[p[j] ** i for j in range(n - 1)] + [Fraction(int(i == m - 1))] for i in range(m)]
    scale = [_product(p[j] - p[k] for k in range(n - 1) if k != j) for j in range(n - 1)]
    g = [[p[j] ** k / scale[j] for k in range(r)] for j in range(n - 1)]
    g.append([Fraction(int(k == r - 1)) for k in range(r)])
    system = [[a_t[i][j] * g[j][k] for j in range(n)] for i in range(m) for k in range(r)]
    b_t = [[Fraction(0)] * n for _ in range(n)]
    for col in range(n):
        target = [Fraction(int(col == i + k)) for i in range(m) for k in range(r)]
        for row, value in enumerate(_solve_exactly(system, target)):
            b_t[row][col] = value
    return (np.array(a_t, dtype=np.float64), np.array(g, dtype=np.float64),
            np.array(b_t, dtype=np.float64))


def _product(values: Iterable[Fraction]) -> Fraction:
    result = Fraction(1)
    for value in values:
        result *= value
    return result


def _solve_exactly(system: list[list[Fraction]], target: list[Fraction]) -> list[Fraction]:
    """x with system · x = target (consistent, full column rank), by exact elimination."""
    rows = [list(row) + [t] for row, t in zip(system, target, strict=True)]
    unknowns = len(system[0])
    pivot_row = 0
    pivots = []
    for col in range(unknowns):
        found = next((r for r in range(pivot_row, len(rows)) if rows[r][col] != 0), None)
        if found is None:
            raise ValueError("the Winograd system is singular")
        rows[pivot_row], rows[found] = rows[found], rows[pivot_row]
        lead = rows[pivot_row][col]
        rows[pivot_row] = [v / lead for v in rows[pivot_row]]
        for r in range(len(rows)):
            if r != pivot_row and rows[r][col] != 0:
                factor = rows[r][col]
                rows[r] = [v - factor * w for v, w in zip(rows[r], rows[pivot_row], strict=True)]
        pivots.append(pivot_row)
        pivot_row += 1
    if any(row[-1] != 0 for row in rows[pivot_row:]):
        raise ValueError("the Winograd system is inconsistent")
    return [rows[p][-1] for p in pivots]


class WinogradWeights:
    """A convolution's filters in the Winograd domain, (n², C_in, C_out) float32, and its
    bias; ``stamp`` identifies the parameters they were made from."""

    def __init__(self, conv: nn.Conv2d) -> None:
        _, g, _ = winograd_transforms(conv.kernel_size[0])
        n = g.shape[0]
        weight = conv.weight.detach().to(torch.float64)
        transform = torch.from_numpy(g)
        filters = torch.einsum("ik,ockl,jl->ijco", transform, weight, transform)
        self.filters = filters.reshape(n * n, conv.in_channels, conv.out_channels).to(
            torch.float32).contiguous()
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
        self.bias = bias.to(torch.float32).contiguous().numpy()
        self.padding = int(conv.padding[0])
        self.stamp = parameter_stamp(conv)


def parameter_stamp(conv: nn.Module) -> tuple[object, ...]:
    """What changes when a convolution's parameters are replaced, moved or edited in place
    (inference tensors, made under ``torch.inference_mode``, keep no version counter)."""
    return tuple((p.data_ptr(), p.dtype, None if p.is_inference() else p._version)
                 for p in conv.parameters())


def prepare_winograd(conv: nn.Conv2d) -> WinogradWeights:
    """The convolution's Winograd filters, made once and made again whenever its
    parameters change (kept on the module, outside its state dict)."""
    held = conv.__dict__.get("_winograd_weights")
    if held is None or held.stamp != parameter_stamp(conv):
        held = WinogradWeights(conv)
        conv.__dict__["_winograd_weights"] = held
    return held


def winograd_conv2d(x: Tensor, conv: nn.Conv2d, *, relu: bool = False) -> Tensor:
    """``conv(x)`` (followed by a ReLU when ``relu``) by F(4×4, r×r): (N, C_out, H', W')
    float32 in channels-last memory.  ``use_winograd(conv, x)`` must hold."""
    from likeness.nets._winograd_kernel import transform_input_tiles, transform_output_tiles

    weights = prepare_winograd(conv)
    side = conv.kernel_size[0]
    a_t, _, b_t = winograd_transforms(side)
    m, n = a_t.shape
    batch, _, height, width = x.shape
    pad = weights.padding
    out_h, out_w = height + 2 * pad - side + 1, width + 2 * pad - side + 1
    tiles_h, tiles_w = -(-out_h // m), -(-out_w // m)
    # a view when x is channels-last (detached: no autograd here, see use_winograd)
    pixels = x.detach().permute(0, 2, 3, 1).contiguous().numpy()
    out = np.empty((batch, out_h, out_w, conv.out_channels), np.float32)
    # a few tiles at a time, so that their transforms and products stay in cache
    per_tile = n * n * (conv.in_channels + conv.out_channels) * 4
    step = max(1, _WORKING_BYTES // per_tile)
    total = batch * tiles_h * tiles_w
    input_transform, output_transform = b_t.astype(np.float32), a_t.astype(np.float32)
    for first in range(0, total, step):
        count = min(step, total - first)
        tiles = np.empty((n * n, count, x.shape[1]), np.float32)
        transform_input_tiles(pixels, pad, m, input_transform, tiles_h, tiles_w, first, tiles)
        products = torch.bmm(torch.from_numpy(tiles), weights.filters).numpy()
        transform_output_tiles(products, output_transform, weights.bias, relu, tiles_h,
                               tiles_w, first, out)
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def apply_layer(layer: nn.Module, x: Tensor) -> Tensor:
    """``layer(x)``, by Winograd when ``use_winograd(layer, x)`` holds."""
    if use_winograd(layer, x):
        return winograd_conv2d(x, layer)  # type: ignore[arg-type]
    return layer(x)
