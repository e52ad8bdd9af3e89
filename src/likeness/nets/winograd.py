"""3×3, 5×5, 1×3 and 3×1 convolutions by Winograd's minimal filtering, for CPU inference.

A stride-1 r×r convolution computes each output from r² products per input channel;
F(4×4, r×r) computes a 4×4 output tile from an n×n input tile (n = r + 3) with n² products
(2.25 instead of 9 per output for 3×3, 4 instead of 25 for 5×5), after transforming the
tile (Bᵀ d B) and the filter (G g Gᵀ, once per network), and transforms the products back
(Aᵀ M A).  A 1×r or r×1 kernel is the same along one side only: F(1×4, 1×r) (the
transforms along the other side are the identity).  The n² products of all tiles and
channels are n² matrix products, which run at the machine's matrix-multiply speed; the
tile transforms run in fused numba kernels (``_winograd_kernel``).

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

from collections.abc import Iterable
from fractions import Fraction
from functools import cache

import numpy as np
import torch
from torch import Tensor, nn

from likeness.errors import InvalidInputError
from likeness.metrics.caller_modes import tracing
from likeness.metrics.kernel_threads import kernel_threads
from likeness.metrics.tensor_checks import tensor_version
from likeness.switches import switch

__all__ = ["WinogradWeights", "apply_layer", "channel_thresholds", "prepare_winograd",
           "use_winograd",
           "winograd_conv2d", "winograd_convolve",
           "winograd_pays", "winograd_transforms"]

_HALF = Fraction(1, 2)
# Interpolation points, in the order they are taken: F(m, r) uses the first m + r − 2 (and
# ∞).  Small magnitudes and their reciprocals keep the transforms' rounding small.
_POINTS = (Fraction(0), Fraction(1), Fraction(-1), _HALF, Fraction(-2), Fraction(2), -_HALF)
# output pixels per tile along a side, by the kernel's side there (1: no transform)
_TILE_OUTPUT = {1: 1, 3: 4, 5: 4, 7: 2}
# The tile transforms cost ∝ C_in + C_out per tile, the products ∝ C_in · C_out: below this
# C_in·C_out / (C_in + C_out) the direct convolution is as fast on this project's CPU, by
# kernel shape (benchmarks/bench_winograd.py, medians of alternating runs after a direct
# layer: 3×3 32→64 at 147² 0.75×, 64→64 at 256² 1.36×, 80→192 at 71² 1.59×, 256→256 at 64²
# 2.52×; 5×5 48→64 at 35² 2.01×; 1×3 384→384 at 8² 1.56×).  1×7 and 7×1 kernels are not
# routed: F(2, 7) measured 0.90–1.12× (its products save only 14 → 8 a pair of outputs),
# F(4, 7) needs two more points and loses 3–4× the precision for 0.92–1.45×.
_MIN_CHANNEL_PRODUCT = {(3, 3): 28, (5, 5): 24, (1, 3): 60}
# By the CPU's instruction set, as torch reports it: oneDNN's direct AVX-512 kernels are
# faster, so on those CPUs a 3×3 layer needs more channels before Winograd pays (measured on
# an AVX-512 Intel Xeon, 2026-12-04, medians of 7 alternating runs: 3×3 64→64 at 256²
# 0.81–0.90×, 64→80 at 71² 1.04×, 64→96 1.13–1.16×, 64→128 at 128² 1.28×; 5×5 48→64
# 1.26× and 32→48 0.88×, 1×3 384→384 1.45×: those thresholds hold there too).  The choice
# depends only on the machine, so every process of a run takes the same routes.
_MIN_CHANNEL_PRODUCT_BY_CPU = {"AVX512": {(3, 3): 36, (5, 5): 24, (1, 3): 60}}
_WORKING_BYTES = 24 * 2**20


def use_winograd(conv: nn.Module, x: Tensor) -> bool:
    """Whether ``conv`` applied to ``x`` takes the Winograd route: an ungrouped, undilated,
    stride-1 ``nn.Conv2d`` with zero padding that ``winograd_pays`` for, unless autograd
    needs the direct kernel."""
    return (isinstance(conv, nn.Conv2d) and conv.stride == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1
            and isinstance(conv.padding, tuple) and conv.padding_mode == "zeros"
            and not (torch.is_grad_enabled() and (x.requires_grad or conv.weight.requires_grad))
            and not tracing() and winograd_pays(conv.weight, conv.padding, x))


@cache
def channel_thresholds() -> dict[tuple[int, int], int]:
    """The least C_in·C_out / (C_in + C_out) for which each kernel shape takes the
    Winograd route on this CPU (by torch's ``get_cpu_capability``: ``AVX512`` or not)."""
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):  # an older torch: the default thresholds
        capability = "DEFAULT"
    return _MIN_CHANNEL_PRODUCT_BY_CPU.get(capability, _MIN_CHANNEL_PRODUCT)


def winograd_pays(weight: Tensor, padding: tuple[int, ...], x: Tensor) -> bool:
    """Whether a stride-1 convolution with ``weight`` (C_out, C_in, r_h, r_w) and
    ``padding`` applied to ``x`` runs faster by Winograd: a 3×3, 5×5, 1×3 or 3×1 kernel
    with enough channels to pay for the transforms on this CPU (``channel_thresholds``), on
    a float32 CPU batch, unless
    ``LIKENESS_WINOGRAD=0``.  (No autograd there: the caller checks.)"""
    if weight.ndim != 4 or len(padding) != 2:
        return False
    c_out, c_in, r_h, r_w = weight.shape
    threshold = channel_thresholds().get((min(r_h, r_w), max(r_h, r_w)))
    return (threshold is not None and c_in * c_out >= threshold * (c_in + c_out)
            and x.device.type == "cpu" and x.dtype == torch.float32 and x.ndim == 4
            and weight.device.type == "cpu" and weight.dtype == torch.float32
            # too small for the kernel: the direct layer raises its own error
            and x.shape[2] + 2 * padding[0] >= r_h and x.shape[3] + 2 * padding[1] >= r_w
            and switch("LIKENESS_WINOGRAD") is not False)


@cache
def winograd_transforms(r: int = 3, m: int | None = None,
                        points: tuple[Fraction, ...] | None = None) -> tuple[np.ndarray, ...]:
    """Aᵀ (m×n), G (n×r) and Bᵀ (n×n), n = m + r − 1, for F(m, r) by Toom-Cook on
    ``points`` (by default the first n − 1 of this module's) and ∞, in float64; Bᵀ and Aᵀ
    are exact in float32.  ``m`` defaults to this module's tile for a kernel side r.

    Aᵀ and G evaluate at the points; Bᵀ is solved exactly in fractions from the condition
    Σ_j Aᵀ[i, j] G[j, k] Bᵀ[j, l] = [l = i + k] (correlation), and checked.
    """
    m = _TILE_OUTPUT[r] if m is None else m
    n = m + r - 1
    points = _POINTS if points is None else points
    if len(points) < n - 1:
        raise InvalidInputError(f"F({m}, {r}) needs {n - 1} finite points, got {len(points)}")
    p = points[:n - 1]
    if len(set(p)) < len(p):
        raise InvalidInputError(f"F({m}, {r}) needs distinct points, got {p}")
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
            raise InvalidInputError("the Winograd system is singular")
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
        raise InvalidInputError("the Winograd system is inconsistent")
    return [rows[p][-1] for p in pivots]


class WinogradWeights:
    """A convolution's filters in the Winograd domain, (n_h·n_w, C_in, C_out) float32, its
    bias, padding and transforms; ``stamp`` identifies the parameters they were made from."""

    def __init__(self, weight: Tensor, bias: Tensor | None, padding: tuple[int, ...],
                 stamp: tuple[object, ...] = ()) -> None:
        c_out, c_in, r_h, r_w = weight.shape
        a_h, g_h, b_h = winograd_transforms(r_h)
        a_w, g_w, b_w = winograd_transforms(r_w)
        filters = torch.einsum("ik,ockl,jl->ijco", torch.from_numpy(g_h),
                               weight.detach().to("cpu", torch.float64), torch.from_numpy(g_w))
        self.filters = filters.reshape(g_h.shape[0] * g_w.shape[0], c_in, c_out).to(
            torch.float32).contiguous()
        bias = bias.detach().to("cpu") if bias is not None else torch.zeros(c_out)
        self.bias = bias.to(torch.float32).contiguous().numpy()
        self.kernel = (r_h, r_w)
        self.padding = (int(padding[0]), int(padding[1]))
        self.input_transforms = (b_h.astype(np.float32), b_w.astype(np.float32))
        self.output_transforms = (a_h.astype(np.float32), a_w.astype(np.float32))
        self.stamp = stamp


def parameter_stamp(conv: nn.Module) -> tuple[object, ...]:
    """What changes when a convolution's parameters are replaced, moved or edited in place
    (inference tensors, made under ``torch.inference_mode``, keep no version counter)."""
    return tuple((p.data_ptr(), p.dtype, tensor_version(p)) for p in conv.parameters())


def prepare_winograd(conv: nn.Conv2d) -> WinogradWeights:
    """The convolution's Winograd filters, made once and made again whenever its
    parameters change (kept on the module, outside its state dict)."""
    held = conv.__dict__.get("_winograd_weights")
    stamp = parameter_stamp(conv)
    if held is None or held.stamp != stamp:
        held = WinogradWeights(conv.weight, conv.bias, conv.padding, stamp)  # type: ignore[arg-type]
        conv.__dict__["_winograd_weights"] = held
    return held


def winograd_conv2d(x: Tensor, conv: nn.Conv2d, *, relu: bool = False) -> Tensor:
    """``conv(x)`` (followed by a ReLU when ``relu``) by Winograd: (N, C_out, H', W')
    float32 in channels-last memory.  ``use_winograd(conv, x)`` must hold."""
    return winograd_convolve(x, prepare_winograd(conv), relu=relu)


def winograd_convolve(x: Tensor, weights: WinogradWeights, *, relu: bool = False) -> Tensor:
    """The stride-1 convolution whose Winograd filters are ``weights`` applied to ``x``
    (``winograd_pays`` must hold), followed by a ReLU when ``relu``."""
    from likeness.nets._winograd_kernel import transform_input_tiles, transform_output_tiles

    (a_h, a_w), (b_h, b_w) = weights.output_transforms, weights.input_transforms
    (m_h, n_h), (m_w, n_w) = a_h.shape, a_w.shape
    batch, c_in, height, width = x.shape
    c_out = weights.filters.shape[2]
    pad_h, pad_w = weights.padding
    out_h = height + 2 * pad_h - weights.kernel[0] + 1
    out_w = width + 2 * pad_w - weights.kernel[1] + 1
    tiles_h, tiles_w = -(-out_h // m_h), -(-out_w // m_w)
    # a view when x is channels-last (detached: no autograd here, see use_winograd)
    pixels = x.detach().permute(0, 2, 3, 1).contiguous().numpy()
    out = np.empty((batch, out_h, out_w, c_out), np.float32)
    # a few rows of tiles at a time, so that their transforms and products stay in cache
    # (at least a row per thread: the kernels run rows in parallel)
    per_row = n_h * n_w * (c_in + c_out) * 4 * tiles_w
    step = max(torch.get_num_threads(), _WORKING_BYTES // per_row)
    rows = batch * tiles_h
    for first in range(0, rows, step):
        count = min(step, rows - first) * tiles_w
        tiles = np.empty((n_h * n_w, count, c_in), np.float32)
        with kernel_threads():  # torch's threads, left as they are
            transform_input_tiles(pixels, pad_h, pad_w, m_h, m_w, b_h, b_w, tiles_h,
                                  tiles_w, first, tiles)
        products = torch.bmm(torch.from_numpy(tiles), weights.filters).numpy()
        with kernel_threads():
            transform_output_tiles(products, a_h, a_w, weights.bias, relu, tiles_h,
                                   tiles_w, first, out)
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def apply_layer(layer: nn.Module, x: Tensor) -> Tensor:
    """``layer(x)``, by Winograd when ``use_winograd(layer, x)`` holds."""
    if use_winograd(layer, x):
        return winograd_conv2d(x, layer)  # type: ignore[arg-type]
    return layer(x)
