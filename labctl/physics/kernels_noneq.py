"""Compiled out-of-equilibrium coupled learning of one linear network run (numba, SI units).

Both copies take backward-Euler voltage steps, (c/dt + L) V⁺ = (c/dt) V on the nodes that
are not held, assembled (:func:`~labctl.physics.kernels_linear.assemble_held`: held rows and
columns become identity rows, so the matrix is SPD with the network's RCM envelope) and
solved by the envelope Cholesky of :mod:`labctl.physics.kernels_linear`. Every buffer lives
in positions of the RCM order (``pos[node]``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from labctl.physics.kernels_linear import (
    _cholesky_envelope,
    _solve_envelope,
    assemble_held,
    envelope_slots,
)

FLOOR_CLIP = 0
FLOOR_RELAX = 1


@njit(cache=True)
def _relax(k: np.ndarray, pa: np.ndarray, pb: np.ndarray, slot: np.ndarray,
           first: np.ndarray, row_ptr: np.ndarray, held: np.ndarray, shunt: float,
           v: np.ndarray, env: np.ndarray, inv_diag: np.ndarray, rhs: np.ndarray) -> None:
    """:func:`relax_copy` with the edges' envelope entries ``slot`` (E,) computed once
    (:func:`~labctl.physics.kernels_linear.envelope_slots`)."""
    n = first.shape[0]
    env[:] = 0.0
    for i in range(n):
        rhs[i, 0] = v[i] if held[i] else shunt * v[i]
    assemble_held(k, pa, pb, slot, held, shunt, inv_diag, env, rhs, 1)
    _cholesky_envelope(env, first, row_ptr, inv_diag)
    _solve_envelope(env, first, row_ptr, inv_diag, rhs)
    for i in range(n):
        v[i] = rhs[i, 0]


@njit(cache=True)
def relax_copy(k: np.ndarray, pa: np.ndarray, pb: np.ndarray, first: np.ndarray,
               row_ptr: np.ndarray, held: np.ndarray, shunt: float, v: np.ndarray,
               env: np.ndarray, inv_diag: np.ndarray, rhs: np.ndarray) -> None:
    """One backward-Euler step of one copy, in place: (shunt + L) V⁺ = shunt V off the held
    nodes, held nodes keep ``v`` (V). ``shunt`` = c/dt in S; 0 gives the steady state.

    k (E,) S; ``pa``/``pb`` (E,) the edges' end positions; ``first``/``row_ptr`` the envelope
    (:func:`~labctl.physics.kernels_linear.envelope_order`); ``held`` (N,) flags; scratch:
    ``env`` (row_ptr[N],), ``inv_diag`` (N,), ``rhs`` (N, 1).
    """
    _relax(k, pa, pb, envelope_slots(pa, pb, first, row_ptr), first, row_ptr, held, shunt,
           v, env, inv_diag, rhs)


@njit(cache=True)
def _target_error(v: np.ndarray, tgt: np.ndarray, tgt_val: np.ndarray) -> float:
    err = 0.0
    for t in range(tgt.shape[0]):
        miss = tgt_val[t] - v[tgt[t]]
        err += 0.5 * miss * miss
    return err


@njit(cache=True)
def run_nonequilibrium(
    k: np.ndarray, pa: np.ndarray, pb: np.ndarray, first: np.ndarray, row_ptr: np.ndarray,
    held_free: np.ndarray, held_clamp: np.ndarray, tgt: np.ndarray, tgt_val: np.ndarray,
    eta: float, gain: float, shunt: float, lam: float, k_min: float, k_max: float,
    floor_mode: int, floor_step: float, steps: int, record_every: int, v_free: np.ndarray,
    v_clamp: np.ndarray, err: np.ndarray, err_eq: np.ndarray, power: np.ndarray,
) -> None:
    """Advance one run by ``steps`` steps; k (E,) S, v_free / v_clamp (N,) V updated in place.

    ``held_free`` / ``held_clamp`` (N,) flag the held positions of each copy (sources and
    ground; the clamped copy also the targets ``tgt`` (T,), whose values it takes from the
    instantaneous free copy nudged by η toward ``tgt_val`` (T,) V). Per step: both copies
    relax (``shunt`` = c/dt, S), then k += gain·[(1 − λ) ΔV_F² − ΔV_C²] (gain = α dt/η);
    ``floor_mode`` FLOOR_CLIP clips k to [k_min, k_max], FLOOR_RELAX limits a decrease to
    ``floor_step``·(k − k_min) (floor_step = ρ dt ≤ 1: relaxation toward k_min at rate ρ, no
    upper bound). Row r = s / record_every of ``err`` (instantaneous ½ Σ (Ṽ − V_F)²), ``err_eq``
    (the same for the steady state of the current k) in V² and ``power`` (Σ k ΔV_F², W) is
    written at steps s = 0, record_every, … (s = 0: before learning).
    """
    n = first.shape[0]
    env = np.empty(row_ptr[n])
    inv_diag = np.empty(n)
    rhs = np.empty((n, 1))
    v_eq = np.empty(n)
    slot = envelope_slots(pa, pb, first, row_ptr)
    n_edges = k.shape[0]
    for s in range(steps + 1):
        if s > 0:
            _relax(k, pa, pb, slot, first, row_ptr, held_free, shunt, v_free, env, inv_diag,
                   rhs)
            for t in range(tgt.shape[0]):
                y = v_free[tgt[t]]
                v_clamp[tgt[t]] = y + eta * (tgt_val[t] - y)
            _relax(k, pa, pb, slot, first, row_ptr, held_clamp, shunt, v_clamp, env,
                   inv_diag, rhs)
        if s % record_every == 0:
            row = s // record_every
            err[row] = _target_error(v_free, tgt, tgt_val)
            v_eq[:] = v_free
            _relax(k, pa, pb, slot, first, row_ptr, held_free, 0.0, v_eq, env, inv_diag,
                   rhs)
            err_eq[row] = _target_error(v_eq, tgt, tgt_val)
            p = 0.0
            for e in range(n_edges):
                d = v_free[pa[e]] - v_free[pb[e]]
                p += k[e] * d * d
            power[row] = p
        if s == 0:
            continue
        for e in range(n_edges):
            df = v_free[pa[e]] - v_free[pb[e]]
            dc = v_clamp[pa[e]] - v_clamp[pb[e]]
            dk = gain * ((1.0 - lam) * df * df - dc * dc)
            if floor_mode == FLOOR_RELAX:
                limit = -floor_step * (k[e] - k_min)
                k[e] += max(dk, limit)
            else:
                k[e] = min(max(k[e] + dk, k_min), k_max)
