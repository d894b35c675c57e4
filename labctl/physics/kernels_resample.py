"""Compiled resampling of coarse model states onto a DAQ sample clock (numba); units V, s.

The bench model is integrated on its own step (2 ms); a DAQ samples far faster (10 kS/s).
:func:`lerp_onto_clock` linearly interpolates the coarse node voltages onto the sample
instants and adds scaled white measurement noise in one pass over the output block.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def lerp_onto_clock(coarse: np.ndarray, noise: np.ndarray, noise_scale: float,
                    out: np.ndarray) -> None:
    """Fill ``out`` (n, C) with samples of ``coarse`` (m + 1, C) V plus noise, in place.

    ``coarse[0]`` is the state at the block start t0 and ``coarse[k]`` the state at
    t0 + k·T/m (T the block duration); sample j (0-based) is taken at t0 + (j + 1)·T/n by
    linear interpolation between the two neighbouring coarse states. A single coarse row
    (m = 0) is a constant state, copied to every sample. ``noise`` (n, C) holds
    standard normal draws, scaled by ``noise_scale`` (V rms) and added; pass an empty
    (0, C) array for noise-free samples.
    """
    n, n_ch = out.shape
    m = coarse.shape[0] - 1
    ratio = m / n
    noisy = noise.shape[0] > 0
    for j in range(n):
        x = (j + 1) * ratio
        i0 = max(min(int(np.floor(x)), m - 1), 0)
        i1 = min(i0 + 1, m)  # m = 0: i0 = i1 = 0 and w = 0, an exact copy
        w = x - i0
        for c in range(n_ch):
            v = coarse[i0, c] * (1.0 - w) + coarse[i1, c] * w
            if noisy:
                v += noise[j, c] * noise_scale
            out[j, c] = v


@njit(cache=True)
def boxcar_of_lerp(coarse: np.ndarray, n: int, out: np.ndarray) -> None:
    """Fill ``out`` (r, C) with the means of r consecutive groups of n/r samples that
    :func:`lerp_onto_clock` would take, noise-free, of ``coarse`` (m + 1, C) V on a clock of
    ``n`` samples, in place; r divides n. Linear in ``coarse``: applied to the identity it
    gives the (r, m + 1) weights that map any coarse block to its boxcar means.
    """
    rows, n_ch = out.shape
    per = n // rows
    m = coarse.shape[0] - 1
    ratio = m / n
    for r in range(rows):
        for c in range(n_ch):
            out[r, c] = 0.0
        for j in range(r * per, (r + 1) * per):
            x = (j + 1) * ratio
            i0 = max(min(int(np.floor(x)), m - 1), 0)
            i1 = min(i0 + 1, m)
            w = x - i0
            for c in range(n_ch):
                out[r, c] += coarse[i0, c] * (1.0 - w) + coarse[i1, c] * w
        for c in range(n_ch):
            out[r, c] /= per


@njit(cache=True)
def weighted_means(weights: np.ndarray, first_f: np.ndarray, first_c: np.ndarray,
                   later_f: np.ndarray, later_c: np.ndarray, noise: np.ndarray,
                   noise_scale: float, out: np.ndarray) -> None:
    """Fill ``out`` (r, 2N) with weighted sums of a block's coarse states plus noise, in
    place: the weights (r, m + 1) of :func:`boxcar_of_lerp` applied to the coarse states
    (m + 1, 2N) V whose first row is ``first_f``, ``first_c`` (N,) (free copy, then
    clamped) and whose next m rows are ``later_f``, ``later_c`` (m, N), without building
    them as one array. ``noise`` (r, 2N) holds standard normal draws, scaled by
    ``noise_scale`` (V rms) and added; pass an empty (0, 2N) array for none.
    """
    rows = out.shape[0]
    n = first_f.shape[0]
    m = later_f.shape[0]
    noisy = noise.shape[0] > 0
    for r in range(rows):
        w0 = weights[r, 0]
        for j in range(n):
            acc_f = w0 * first_f[j]
            acc_c = w0 * first_c[j]
            for k in range(m):
                acc_f += weights[r, k + 1] * later_f[k, j]
                acc_c += weights[r, k + 1] * later_c[k, j]
            if noisy:
                acc_f += noise[r, j] * noise_scale
                acc_c += noise[r, n + j] * noise_scale
            out[r, j] = acc_f
            out[r, n + j] = acc_c
