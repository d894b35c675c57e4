"""Edge current laws: linear resistor and the twin-MOSFET edge (SI units).

MOSFET edge joining nodes a, b with gate G (n-channel, source/drain symmetric):

    I_ab = (S/2) · [ f(G − V_T − V_b)² − f(G − V_T − V_a)² ]

with f(x) = max(x, 0) in the hard square law. Both overdrives positive gives the triode law
I = S (G − V_T − (V_a+V_b)/2)(V_a − V_b); one negative gives saturation
I = (S/2)(G − V_T − min(V_a, V_b))²; both negative gives cut-off (I = 0). The twin network uses
f(x) = s·ln(1 + e^{x/s}) (soft-plus), which is smooth for Newton's method and turns the
cut-off into an exponential sub-threshold tail of slope ``s·ln10/2`` volts per decade (0.1 V/dec
at the default ``s``). On the bench (nodes 0–0.45 V, G − V_T ≥ 0.38 V) edges are mostly in
triode, where the soft-plus changes the current by less than ``s·e^{-x/s}`` in overdrive,
i.e. < 0.1 % at G − V_T − V̄ = 0.6 V.
Channel-length modulation (≈0.02 /V) is neglected.
"""

from __future__ import annotations

import numpy as np


def overdrive(x: np.ndarray, smoothing: float) -> tuple[np.ndarray, np.ndarray]:
    """Soft overdrive f(x) (V) and its derivative f'(x) for gate overdrive x (V)."""
    if smoothing <= 0.0:
        return np.maximum(x, 0.0), (x > 0).astype(float)
    z = x / smoothing
    f = smoothing * np.logaddexp(0.0, z)
    fp = 0.5 * (1.0 + np.tanh(0.5 * z))  # logistic(z), overflow-free
    return f, fp


def mosfet_current(
    v_a: np.ndarray,
    v_b: np.ndarray,
    gate: np.ndarray,
    S: np.ndarray | float,
    V_T: np.ndarray | float,
    smoothing: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Current I (A) from node a to node b through a MOSFET edge and its derivatives.

    Returns ``(I, dI/dV_a, dI/dV_b)``; the derivatives are in S. Arguments in V (S in A/V²).
    """
    fa, fpa = overdrive(gate - V_T - v_a, smoothing)
    fb, fpb = overdrive(gate - V_T - v_b, smoothing)
    current = 0.5 * S * (fb * fb - fa * fa)
    return current, S * fa * fpa, -S * fb * fpb


def mosfet_conductance(
    v_a: np.ndarray,
    v_b: np.ndarray,
    gate: np.ndarray,
    S: np.ndarray | float,
    V_T: np.ndarray | float,
    smoothing: float,
) -> np.ndarray:
    """Chord conductance I/ΔV (S) of MOSFET edges; the small-signal limit where ΔV → 0."""
    current, ga, gb = mosfet_current(v_a, v_b, gate, S, V_T, smoothing)
    dv = v_a - v_b
    small = np.abs(dv) < 1e-9
    safe = np.where(small, 1.0, dv)
    return np.where(small, 0.5 * (ga - gb), current / safe)


def linear_current(drop: np.ndarray, conductance: np.ndarray) -> np.ndarray:
    """Current I = k ΔV (A) through linear resistors of conductance k (S) for drops ΔV (V)."""
    return conductance * drop
