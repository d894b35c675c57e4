"""Compiled twin-MOSFET bench dynamics: gate rule plus warm-started Newton states (numba).

Same physics as :mod:`labctl.physics.edges` (soft square-law edge) and
:func:`labctl.physics.solve.solve_mosfet_batch` (KCL at the free nodes, identity rows at held
nodes, a 1e-12·S diagonal floor, Newton steps clipped to ±0.25 V), specialised to small
networks (the 16-node bench): per task a dense LU with partial pivoting, and each Newton solve
warm-started from the previous integration step, where one or two iterations reach the
tolerance. Units: V, A, S (S in A/V²), s.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _overdrive(x: float, smoothing: float) -> tuple[float, float]:
    """Soft overdrive f(x) = s·ln(1 + e^{x/s}) (V) and f'(x); the hard max(x, 0) for s = 0."""
    if smoothing <= 0.0:
        return (x, 1.0) if x > 0.0 else (0.0, 0.0)
    z = x / smoothing
    if z > 0.0:
        e = math.exp(-z)
        return smoothing * (z + math.log1p(e)), 1.0 / (1.0 + e)
    e = math.exp(z)
    return smoothing * math.log1p(e), e / (1.0 + e)


@njit(cache=True)
def _residual(v: np.ndarray, gate: np.ndarray, a: np.ndarray, b: np.ndarray, s: np.ndarray,
              vt: np.ndarray, smoothing: float, held: np.ndarray, res: np.ndarray,
              jac: np.ndarray, floor: float) -> float:
    """Net outflow (A) at each free node into ``res`` and its Jacobian (S) into ``jac``.

    Held rows get residual 0 and identity Jacobian rows. Returns max |residual| (A).
    """
    n = v.shape[0]
    for i in range(n):
        res[i] = 0.0
        for j in range(n):
            jac[i, j] = 0.0
    for e in range(a.shape[0]):
        i, j = a[e], b[e]
        fa, fpa = _overdrive(gate[e] - vt[e] - v[i], smoothing)
        fb, fpb = _overdrive(gate[e] - vt[e] - v[j], smoothing)
        cur = 0.5 * s[e] * (fb * fb - fa * fa)
        da = s[e] * fa * fpa
        db = -s[e] * fb * fpb
        res[i] += cur
        res[j] -= cur
        jac[i, i] += da
        jac[i, j] += db
        jac[j, i] -= da
        jac[j, j] -= db
    worst = 0.0
    for i in range(n):
        if held[i]:
            res[i] = 0.0
            for j in range(n):
                jac[i, j] = 0.0
            jac[i, i] = 1.0
        jac[i, i] += floor
        worst = max(worst, abs(res[i]))
    return worst


@njit(cache=True)
def _lu_solve(mat: np.ndarray, rhs: np.ndarray) -> None:
    """Solve mat · x = rhs in place (rhs becomes x) by LU with partial pivoting."""
    n = rhs.shape[0]
    for c in range(n):
        p = c
        for r in range(c + 1, n):
            if abs(mat[r, c]) > abs(mat[p, c]):
                p = r
        if p != c:
            for q in range(n):
                mat[c, q], mat[p, q] = mat[p, q], mat[c, q]
            rhs[c], rhs[p] = rhs[p], rhs[c]
        piv = mat[c, c]
        for r in range(c + 1, n):
            f = mat[r, c] / piv
            if f != 0.0:
                for q in range(c + 1, n):
                    mat[r, q] -= f * mat[c, q]
                rhs[r] -= f * rhs[c]
    for r in range(n - 1, -1, -1):
        acc = rhs[r]
        for q in range(r + 1, n):
            acc -= mat[r, q] * rhs[q]
        rhs[r] = acc / mat[r, r]


@njit(cache=True)
def newton_state(v: np.ndarray, gate: np.ndarray, a: np.ndarray, b: np.ndarray,
                 s: np.ndarray, vt: np.ndarray, smoothing: float, held: np.ndarray,
                 tol: float, scale: float, max_iter: int, res: np.ndarray,
                 jac: np.ndarray) -> bool:
    """Newton steady state of one MOSFET network, in place from the warm start ``v`` (N,) V.

    Held nodes must already carry their voltages. Converged when every KCL residual is below
    ``tol``·``scale`` (A); returns False if ``max_iter`` iterations did not get there.
    """
    floor = 1e-12 * scale
    for _ in range(max_iter):
        if _residual(v, gate, a, b, s, vt, smoothing, held, res, jac, floor) < tol * scale:
            return True
        _lu_solve(jac, res)
        for i in range(v.shape[0]):
            v[i] -= min(max(res[i], -0.25), 0.25)
    return False


@njit(cache=True)
def twin_substeps(
    gates: np.ndarray, v_free: np.ndarray, v_clamp: np.ndarray, a: np.ndarray, b: np.ndarray,
    s_free: np.ndarray, vt_free: np.ndarray, s_clamp: np.ndarray, vt_clamp: np.ndarray,
    smoothing: float, src: np.ndarray, src_v: np.ndarray, tgt: np.ndarray, tgt_v: np.ndarray,
    eta: float, lam: np.ndarray, alpha: float, leak: float, rest: float, g_min: float,
    g_max: float, learning: bool, h: float, n_sub: int, kicks: np.ndarray, tol: float,
    scale: float, max_iter: int,
) -> int:
    """Advance B twin networks by ``n_sub`` explicit-Euler steps of ``h`` seconds, in place.

    Per step: gates (B, E) V follow the rule dG/dt = (α/η)[(1 − λ) ΔV_F² − ΔV_C²] (α in s⁻¹)
    minus ``leak``·(G − ``rest``), plus ``kicks`` (n_sub, B, E) V (pre-scaled noise, or zero
    steps for none), clipped to [g_min, g_max]; then both copies' node voltages (B, N) are
    re-solved (free: sources held; clamped: targets also held at V_F + η(Ṽ − V_F)).
    Returns the number of tasks whose Newton solve failed (0 = all converged).
    """
    bsz, n = v_free.shape
    n_edges = a.shape[0]
    res = np.empty(n)
    jac = np.empty((n, n))
    held_f = np.zeros(n, dtype=np.bool_)
    held_c = np.zeros(n, dtype=np.bool_)
    failed = 0
    for bt in range(bsz):
        g = gates[bt]
        vf = v_free[bt]
        vc = v_clamp[bt]
        held_f[:] = False
        held_c[:] = False
        for q in range(src.shape[1]):
            held_f[src[bt, q]] = True
            held_c[src[bt, q]] = True
            vf[src[bt, q]] = src_v[bt, q]
            vc[src[bt, q]] = src_v[bt, q]
        for q in range(tgt.shape[1]):
            held_c[tgt[bt, q]] = True
        keep = 1.0 - lam[bt]
        ok = True
        for step in range(n_sub):
            if learning or leak > 0.0:
                for e in range(n_edges):
                    ge = g[e]
                    if learning:
                        d_f = vf[a[e]] - vf[b[e]]
                        d_c = vc[a[e]] - vc[b[e]]
                        ge += h * (alpha / eta) * (keep * d_f * d_f - d_c * d_c)
                    if leak > 0.0:
                        ge -= h * leak * (ge - rest)
                    if learning and kicks.shape[0] > 0:
                        ge += kicks[step, bt, e]
                    g[e] = min(max(ge, g_min), g_max)
            ok &= newton_state(vf, g, a, b, s_free, vt_free, smoothing, held_f, tol, scale,
                               max_iter, res, jac)
            for q in range(tgt.shape[1]):
                t = tgt[bt, q]
                vc[t] = vf[t] + eta * (tgt_v[bt, q] - vf[t])
            ok &= newton_state(vc, g, a, b, s_clamp, vt_clamp, smoothing, held_c, tol, scale,
                               max_iter, res, jac)
        if not ok:
            failed += 1
    return failed
