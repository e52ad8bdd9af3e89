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
over (N, 16, H, W) complex arrays.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# pixels a parallel job takes
_CHUNK = 4096


@njit(parallel=True, cache=True, nogil=True)
def phase_sums(responses, phase_eps):  # pragma: no cover - compiled
    """(energy (N, O, P), smallest-scale amplitudes (N, O, P), amplitude sums (N, P)) of
    ``responses``, (N, O, S, P, 2) float64 real and imaginary parts, C-contiguous."""
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
                total_re = responses[item, o, 0, p, 0]
                total_im = responses[item, o, 0, p, 1]
                for s in range(scales):
                    re = responses[item, o, s, p, 0]
                    im = responses[item, o, s, p, 1]
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
                    re = responses[item, o, s, p, 0]
                    im = responses[item, o, s, p, 1]
                    aligned_re = re * mean_re + im * mean_im
                    aligned_im = im * mean_re - re * mean_im
                    sum_energy += aligned_re - abs(aligned_im)
                energy[item, o, p] = sum_energy
            amplitude[item, p] = amplitude_sum
    return energy, smallest, amplitude
