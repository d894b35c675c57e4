"""Compiled arithmetic of the simulated gate read-back (numba), one pass over the gates.

:func:`labctl.bench.gate_encoding.adc_readback` draws the read-out noise and hands it here;
the simulated controller reads the gates after every DAQ block, where NumPy's dozen small
array operations per read-back cost more than the arithmetic. Units: V.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def adc_mean_of_readings(volts: np.ndarray, normals: np.ndarray, noise_v: float,
                         v_per_count: float, out: np.ndarray) -> None:
    """``out[i]`` (V): the mean of the ADC readings of ``volts[i]`` (V) plus ``noise_v`` (V
    rms) times each of ``normals[i, :]`` (standard normals, one per reading), each reading
    floor(max(v, 0) / ``v_per_count``) counts, plus half a count."""
    n_readings = normals.shape[1]
    for i in range(volts.size):
        counts = 0.0
        for k in range(n_readings):
            v = normals[i, k] * noise_v + volts[i]
            counts += math.floor(max(v, 0.0) / v_per_count)
        out[i] = counts / n_readings * v_per_count + v_per_count / 2
