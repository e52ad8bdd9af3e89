"""The per-pixel sums of phase congruency (FSIM) after its inverse FFTs, fused, via numba.

From the complex responses of every orientation and scale, one pass writes what
``fsim._phase_congruency`` reads of them: each orientation's energy Σ_s (Re − |Im|) of the
responses turned by their mean phase, the smallest scale's amplitudes (for the noise
model's median) and the sum of every amplitude.  Each value takes torch's operations in
torch's order — ``√(re² + im²)`` for an amplitude, the responses summed scale by scale,
the mean phase as the sum divided by its length + ε, the product with its conjugate as
``a·c + b·d`` and ``b·c − a·d`` (no fused multiply-adds: numba does not contract them
without ``fastmath``) — with correctly rounded square roots (torch's length of a complex
number is a ``hypot``, and its float64 square root on AVX-512 CPUs is not correctly
rounded: the two differ in the last bit, ~5e-16 relative).  In torch these are ten passes
over (N, 16, H, W) complex arrays.  float32 responses are read into float64 and the sums
kept there.

``phase_sums_backward`` is its gradient, the chain rule written out per pixel: what
autograd computes through torch's ten passes, with ``sign(0) = 0`` for |Im| and for the
length of a zero sum (torch's ``abs`` subgradients) and 0 for a zero amplitude (where
torch's √ gives NaN).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# pixels a parallel job takes (the backward: each step a pass along them, one plane at a
# time; the planes lie a power of two apart, so a pixel's 16 of them share cache sets)
_CHUNK = 4096
_BACKWARD_CHUNK = 512


@njit(parallel=True, cache=True, nogil=True)
def phase_sums(responses, phase_eps):  # pragma: no cover - compiled
    """(energy (N, O, P), smallest-scale amplitudes (N, O, P), amplitude sums (N, P)) of
    ``responses``, (N, O, S, P, 2) float64 or float32 real and imaginary parts,
    C-contiguous; float64 sums."""
    n, orientations, scales, pixels, _ = responses.shape
    energy = np.empty((n, orientations, pixels))
    smallest = np.empty((n, orientations, pixels))
    amplitude = np.empty((n, pixels))
    blocks = (pixels + _CHUNK - 1) // _CHUNK
    for job in prange(n * blocks):
        item = job // blocks
        start = (job % blocks) * _CHUNK
        for p in range(start, min(pixels, start + _CHUNK)):
            amplitude_sum = 0.0
            for o in range(orientations):
                total_re = np.float64(responses[item, o, 0, p, 0])
                total_im = np.float64(responses[item, o, 0, p, 1])
                for s in range(scales):
                    re = np.float64(responses[item, o, s, p, 0])
                    im = np.float64(responses[item, o, s, p, 1])
                    length = math.sqrt(re * re + im * im)
                    amplitude_sum += length
                    if s == 0:
                        smallest[item, o, p] = length
                    else:
                        total_re += re
                        total_im += im
                scale = math.sqrt(total_re * total_re + total_im * total_im) + phase_eps
                mean_re = total_re / scale
                mean_im = total_im / scale
                sum_energy = 0.0
                for s in range(scales):
                    re = np.float64(responses[item, o, s, p, 0])
                    im = np.float64(responses[item, o, s, p, 1])
                    aligned_re = re * mean_re + im * mean_im
                    aligned_im = im * mean_re - re * mean_im
                    sum_energy += aligned_re - abs(aligned_im)
                energy[item, o, p] = sum_energy
            amplitude[item, p] = amplitude_sum
    return energy, smallest, amplitude


@njit(parallel=True, cache=True, nogil=True)
def phase_sums_backward(responses, energy_grad, smallest_grad, amplitude_grad,
                        phase_eps):  # pragma: no cover - compiled
    """The gradient (N, O, S, P, 2), in ``responses``' dtype, of Σ energy·g_E +
    Σ smallest·g_S + Σ amplitude sums·g_A with respect to ``responses`` (as
    ``phase_sums`` takes it), for g_E, g_S (N, O, P) and g_A (N, P) float64.

    Per orientation and pixel, with z_s = r_s + i·i_s, T = Σ_s z_s, D = |T| + ε and
    m = T / D: E = Σ_s Re(z_s m̄) − |Im(z_s m̄)|, so ∂E/∂r_s = m_r + σ_s m_i and ∂E/∂i_s =
    m_i − σ_s m_r at fixed m (σ_s = sign Im(z_s m̄)), and m takes ∂E/∂m_r = Σ_s r_s − σ_s i_s,
    ∂E/∂m_i = Σ_s i_s + σ_s r_s back to T, whence to every z_s; an amplitude |z_s| gives
    z_s / |z_s|."""
    n, orientations, scales, pixels, _ = responses.shape
    gradient = np.empty_like(responses)
    blocks = (pixels + _BACKWARD_CHUNK - 1) // _BACKWARD_CHUNK
    for job in prange(n * blocks):
        item = job // blocks
        start = (job % blocks) * _BACKWARD_CHUNK
        count = min(pixels, start + _BACKWARD_CHUNK) - start
        total_re = np.empty(count)
        total_im = np.empty(count)
        length = np.empty(count)
        mean_re = np.empty(count)
        mean_im = np.empty(count)
        by_mean_re = np.empty(count)
        by_mean_im = np.empty(count)
        for o in range(orientations):
            total_re[:] = 0.0
            total_im[:] = 0.0
            for s in range(scales):
                for q in range(count):
                    total_re[q] += np.float64(responses[item, o, s, start + q, 0])
                    total_im[q] += np.float64(responses[item, o, s, start + q, 1])
            for q in range(count):
                length[q] = math.sqrt(total_re[q] * total_re[q] + total_im[q] * total_im[q])
                mean_re[q] = total_re[q] / (length[q] + phase_eps)
                mean_im[q] = total_im[q] / (length[q] + phase_eps)
            by_mean_re[:] = 0.0
            by_mean_im[:] = 0.0
            for s in range(scales):
                for q in range(count):
                    re = np.float64(responses[item, o, s, start + q, 0])
                    im = np.float64(responses[item, o, s, start + q, 1])
                    aligned_im = im * mean_re[q] - re * mean_im[q]
                    sign = np.float64(aligned_im > 0) - np.float64(aligned_im < 0)
                    by_mean_re[q] += re - sign * im
                    by_mean_im[q] += im + sign * re
            for q in range(count):
                g_energy = energy_grad[item, o, start + q]
                scale = length[q] + phase_eps
                # m = T / (|T| + ε): back to T (|T|'s subgradient 0 where T = 0)
                radial = 0.0
                if length[q] > 0:
                    radial = g_energy * (by_mean_re[q] * total_re[q]
                                         + by_mean_im[q] * total_im[q]) / (
                        length[q] * scale * scale)
                # from here on: ∂/∂T, kept in the totals' arrays
                total_re[q] = g_energy * by_mean_re[q] / scale - radial * total_re[q]
                total_im[q] = g_energy * by_mean_im[q] / scale - radial * total_im[q]
            for s in range(scales):
                for q in range(count):
                    p = start + q
                    re = np.float64(responses[item, o, s, p, 0])
                    im = np.float64(responses[item, o, s, p, 1])
                    aligned_im = im * mean_re[q] - re * mean_im[q]
                    sign = np.float64(aligned_im > 0) - np.float64(aligned_im < 0)
                    g_length = amplitude_grad[item, p]
                    if s == 0:
                        g_length += smallest_grad[item, o, p]
                    amplitude = math.sqrt(re * re + im * im)
                    per_length = g_length / amplitude if amplitude > 0 else 0.0
                    g_energy = energy_grad[item, o, p]
                    gradient[item, o, s, p, 0] = (g_energy * (mean_re[q] + sign * mean_im[q])
                                                  + total_re[q] + per_length * re)
                    gradient[item, o, s, p, 1] = (g_energy * (mean_im[q] - sign * mean_re[q])
                                                  + total_im[q] + per_length * im)
    return gradient
