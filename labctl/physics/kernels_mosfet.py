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
              vt: np.ndarray, smoothing: float, row: np.ndarray, m: int, res: np.ndarray,
              jac: np.ndarray, floor: float) -> float:
    """Net outflow (A) at the free nodes into ``res[:m]`` and its Jacobian (S) ``jac[:m, :m]``.

    ``row[node]`` is the node's row among the m free nodes, or −1 for a held node (held
    voltages are fixed, so they have no row). Returns max |residual| (A).
    """
    for i in range(m):
        res[i] = 0.0
        for j in range(m):
            jac[i, j] = 0.0
    for e in range(a.shape[0]):
        i, j = row[a[e]], row[b[e]]
        fa, fpa = _overdrive(gate[e] - vt[e] - v[a[e]], smoothing)
        fb, fpb = _overdrive(gate[e] - vt[e] - v[b[e]], smoothing)
        cur = 0.5 * s[e] * (fb * fb - fa * fa)
        da = s[e] * fa * fpa
        db = -s[e] * fb * fpb
        if i >= 0:
            res[i] += cur
            jac[i, i] += da
            if j >= 0:
                jac[i, j] += db
        if j >= 0:
            res[j] -= cur
            jac[j, j] -= db
            if i >= 0:
                jac[j, i] -= da
    worst = 0.0
    for i in range(m):
        jac[i, i] += floor
        worst = max(worst, abs(res[i]))
    return worst


@njit(cache=True)
def _lu_solve(mat: np.ndarray, rhs: np.ndarray, n: int) -> None:
    """Solve mat[:n, :n] · x = rhs[:n] in place (rhs becomes x), LU with partial pivoting."""
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
                 s: np.ndarray, vt: np.ndarray, smoothing: float, row: np.ndarray,
                 free: np.ndarray, tol: float, scale: float, curvature: float, max_iter: int,
                 res: np.ndarray, jac: np.ndarray) -> bool:
    """Newton steady state of one MOSFET network, in place from the warm start ``v`` (N,) V.

    Only the free nodes ``free`` (M,) are unknowns (``row`` maps node → index in ``free`` or
    −1); held nodes must already carry their voltages. Converged when every KCL residual is below
    ``tol``·``scale`` (A), measured, or bounded after a Newton step of at most d volts by
    ``curvature``·d² (A; see :func:`residual_curvature`) when that bound is below a tenth of
    the tolerance (the 1e-12·S diagonal floor and round-off add < 1e-20 A at such steps);
    ``curvature`` = 0 always measures. Returns False if ``max_iter`` iterations did not get
    there.
    """
    floor = 1e-12 * scale
    m = free.shape[0]
    for _ in range(max_iter):
        if _residual(v, gate, a, b, s, vt, smoothing, row, m, res, jac, floor) < tol * scale:
            return True
        _lu_solve(jac, res, m)
        biggest = 0.0
        for r in range(m):
            step = min(max(res[r], -0.25), 0.25)
            v[free[r]] -= step
            biggest = max(biggest, abs(step))
        if curvature * biggest * biggest < 0.1 * tol * scale and biggest < 0.25:
            return True
    return False


def residual_curvature(s_edge: np.ndarray, degree: np.ndarray, smoothing: float) -> float:
    """Bound (A/V²) on the KCL residual left after an exact Newton step, per V² of step.

    Each edge current I = (S/2)[f(x_b)² − f(x_a)²] is a sum of one function of V_a and one
    of V_b, with |∂²I/∂V²| = S·|f'² + f f''| ≤ 1.05·S for the soft-plus overdrive (maximised
    numerically; independent of the smoothing width). Taylor's remainder then bounds the
    residual at a node after a step of at most d volts by 1.05·deg_max·S_max·d². The hard
    square law (smoothing 0) has no such bound: returns 0 (always measure).
    """
    if smoothing <= 0.0:
        return 0.0
    return 1.05 * float(np.max(degree)) * float(np.max(s_edge))


@njit(cache=True)
def _rows(held: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Fill ``row`` (N,) with each free node's index among the free nodes (−1 if held).

    Returns the free nodes (M,) in increasing order.
    """
    free = np.flatnonzero(~held)
    row[:] = -1
    for r in range(free.shape[0]):
        row[free[r]] = r
    return free


@njit(cache=True)
def twin_advance(
    gates: np.ndarray, v_free: np.ndarray, v_clamp: np.ndarray, a: np.ndarray, b: np.ndarray,
    s_free: np.ndarray, vt_free: np.ndarray, s_clamp: np.ndarray, vt_clamp: np.ndarray,
    smoothing: float, src: np.ndarray, src_v: np.ndarray, tgt: np.ndarray, tgt_v: np.ndarray,
    eta: float, lam: np.ndarray, alpha: float, leak: float, rest: float, g_min: float,
    g_max: float, learning: bool, h: float, n_sub: int, kicks: np.ndarray, out_f: np.ndarray,
    out_c: np.ndarray, tol: float, scale: float, curvature: float, max_iter: int,
) -> int:
    """Advance B twin networks by n_samples × ``n_sub`` explicit-Euler steps of ``h`` s, in place.

    n_samples = ``out_f.shape[1]``. Per step: gates (B, E) V follow the rule
    dG/dt = (α/η)[(1 − λ) ΔV_F² − ΔV_C²] (α in s⁻¹) minus ``leak``·(G − ``rest``), plus
    ``kicks`` (n_samples·n_sub, B, E) V (pre-scaled noise, or zero steps for none), clipped to
    [g_min, g_max]; then both copies' node voltages (B, N) are re-solved (free: sources held;
    clamped: targets also held at V_F + η(Ṽ − V_F)), Newton starting from the linear
    extrapolation of the previous two steps of this call. After every ``n_sub`` steps the node
    voltages are written to ``out_f`` / ``out_c`` (B, n_samples, N) V. Newton tolerance: see
    :func:`newton_state`. Returns the number of tasks whose Newton solve failed (0 = none).
    """
    bsz, n = v_free.shape
    n_samples = out_f.shape[1]
    n_edges = a.shape[0]
    res = np.empty(n)
    jac = np.empty((n, n))
    prev_f = np.empty(n)
    prev_c = np.empty(n)
    held_f = np.zeros(n, dtype=np.bool_)
    held_c = np.zeros(n, dtype=np.bool_)
    row_f = np.empty(n, dtype=np.int64)
    row_c = np.empty(n, dtype=np.int64)
    noisy = learning and kicks.shape[0] > 0
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
        free_f = _rows(held_f, row_f)
        free_c = _rows(held_c, row_c)
        keep = 1.0 - lam[bt]
        gain = h * (alpha / eta)
        ok = True
        step = 0
        for smp in range(n_samples):
            for _ in range(n_sub):
                if learning or leak > 0.0:
                    for e in range(n_edges):
                        ge = g[e]
                        if learning:
                            d_f = vf[a[e]] - vf[b[e]]
                            d_c = vc[a[e]] - vc[b[e]]
                            ge += gain * (keep * d_f * d_f - d_c * d_c)
                        if leak > 0.0:
                            ge -= h * leak * (ge - rest)
                        if noisy:
                            ge += kicks[step, bt, e]
                        g[e] = min(max(ge, g_min), g_max)
                for i in range(n):
                    # linear extrapolation from the last two steps as the Newton start: the
                    # step left is second order in h, so one iteration usually meets the tol
                    if step > 0 and not held_f[i]:
                        guess = 2.0 * vf[i] - prev_f[i]
                        prev_f[i] = vf[i]
                        vf[i] = guess
                    else:
                        prev_f[i] = vf[i]
                    if step > 0 and not held_c[i]:
                        guess = 2.0 * vc[i] - prev_c[i]
                        prev_c[i] = vc[i]
                        vc[i] = guess
                    else:
                        prev_c[i] = vc[i]
                ok &= newton_state(vf, g, a, b, s_free, vt_free, smoothing, row_f, free_f, tol,
                                   scale, curvature, max_iter, res, jac)
                for q in range(tgt.shape[1]):
                    t = tgt[bt, q]
                    vc[t] = vf[t] + eta * (tgt_v[bt, q] - vf[t])
                ok &= newton_state(vc, g, a, b, s_clamp, vt_clamp, smoothing, row_c, free_c,
                                   tol, scale, curvature, max_iter, res, jac)
                step += 1
            for i in range(n):
                out_f[bt, smp, i] = vf[i]
                out_c[bt, smp, i] = vc[i]
        if not ok:
            failed += 1
    return failed
