"""Compiled twin-MOSFET bench dynamics: gate rule plus warm-started Newton states (numba).

Same physics as :mod:`labctl.physics.edges` (soft square-law edge) and
:func:`labctl.physics.solve.solve_mosfet_batch` (KCL at the free nodes, identity rows at held
nodes, a 1e-12·S diagonal floor, Newton steps clipped to ±0.25 V), specialised to small
networks (the 16-node bench): per task a dense LU with partial pivoting, and each Newton solve
warm-started from the previous integration step, where one or two iterations reach the
tolerance. Larger networks (more than :data:`DENSE_MAX_NODES` nodes) use the sparse LU of
:mod:`labctl.physics.kernels_sparse` on the whole node set instead (held nodes as identity
rows and columns), whose cost grows with the factor's size instead of N³. Units: V, A, S
(S in A/V²), s.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from labctl.physics.kernels_sparse import lu_factor, lu_solve

#: networks up to this many nodes (the 4×4 bench board) use the dense per-task LU; larger
#: ones the sparse LU, which is as fast at 5×5 and 2.3× faster at 8×8 (same Newton
#: iteration, tolerances and, to round-off, voltages)
DENSE_MAX_NODES = 16


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


@njit(cache=True)
def _residual_sparse(v: np.ndarray, gate: np.ndarray, a: np.ndarray, b: np.ndarray,
                     s: np.ndarray, vt: np.ndarray, smoothing: float, pos: np.ndarray,
                     held: np.ndarray, edge_at: np.ndarray, res: np.ndarray,
                     lval: np.ndarray, uval: np.ndarray, diag: np.ndarray,
                     floor: float) -> float:
    """Like :func:`_residual` into the sparse factor storage, rows and columns at positions
    ``pos[node]``: held nodes are identity rows and columns with zero residual. Returns max
    |residual| (A)."""
    res[:] = 0.0
    lval[:] = 0.0
    uval[:] = 0.0
    for i in range(diag.shape[0]):
        diag[i] = 0.0
    for e in range(a.shape[0]):
        na, nb = a[e], b[e]
        i, j = pos[na], pos[nb]
        fa, fpa = _overdrive(gate[e] - vt[e] - v[na], smoothing)
        fb, fpb = _overdrive(gate[e] - vt[e] - v[nb], smoothing)
        cur = 0.5 * s[e] * (fb * fb - fa * fa)
        da = s[e] * fa * fpa
        db = -s[e] * fb * fpb
        free_a = not held[na]
        free_b = not held[nb]
        if free_a:
            res[i] += cur
            diag[i] += da
        if free_b:
            res[j] -= cur
            diag[j] -= db
        if free_a and free_b:  # J[i, j] = db, J[j, i] = −da
            q = edge_at[e]
            if i > j:  # (i, j) is in the lower factor, (j, i) in the upper
                lval[q] += db
                uval[q] -= da
            else:
                uval[q] += db
                lval[q] -= da
    worst = 0.0
    for i in range(diag.shape[0]):
        diag[i] += floor
        worst = max(worst, abs(res[i]))
    for na in range(held.shape[0]):
        if held[na]:
            diag[pos[na]] = 1.0
    return worst


@njit(cache=True)
def newton_state_sparse(v: np.ndarray, gate: np.ndarray, a: np.ndarray, b: np.ndarray,
                        s: np.ndarray, vt: np.ndarray, smoothing: float, held: np.ndarray,
                        pos: np.ndarray, edge_at: np.ndarray, colptr: np.ndarray,
                        rowidx: np.ndarray, rowptr: np.ndarray, rowcol: np.ndarray,
                        rowat: np.ndarray, tol: float, scale: float, curvature: float,
                        max_iter: int, res: np.ndarray, lval: np.ndarray, uval: np.ndarray,
                        diag: np.ndarray, work_l: np.ndarray, work_u: np.ndarray) -> bool:
    """:func:`newton_state` with the sparse LU (pattern of
    :class:`labctl.physics.kernels_sparse.SparsePattern`); ``held`` (N,) flags held nodes.

    Same convergence test, step clipping (±0.25 V) and diagonal floor as the dense version.
    """
    floor = 1e-12 * scale
    n = held.shape[0]
    for _ in range(max_iter):
        if _residual_sparse(v, gate, a, b, s, vt, smoothing, pos, held, edge_at, res, lval,
                            uval, diag, floor) < tol * scale:
            return True
        lu_factor(lval, uval, diag, colptr, rowidx, rowptr, rowcol, rowat, work_l, work_u)
        lu_solve(lval, uval, diag, colptr, rowidx, res)
        biggest = 0.0
        for node in range(n):
            if not held[node]:
                step = min(max(res[pos[node]], -0.25), 0.25)
                v[node] -= step
                biggest = max(biggest, abs(step))
        if curvature * biggest * biggest < 0.1 * tol * scale and biggest < 0.25:
            return True
    return False


@njit(cache=True)
def edge_observables(v: np.ndarray, gates: np.ndarray, a: np.ndarray, b: np.ndarray,
                     s: np.ndarray, vt: np.ndarray, smoothing: float, current: np.ndarray,
                     power: np.ndarray, chord: np.ndarray) -> None:
    """Edge currents, dissipated power and chord conductances of R node-voltage rows.

    ``v`` (R, N) V; ``gates`` (G, E) V, row r using gate row r mod G (G = 1: one gate
    vector for every row); edges a → b with ``s`` (A/V²) and ``vt`` (V). Fills
    ``current`` (R, E) A (from a to b), ``power`` (R,) W = Σ_i I_i ΔV_i and ``chord``
    (R, E) S = I/ΔV, with the small-signal limit ½(∂I/∂V_a − ∂I/∂V_b) where |ΔV| < 1 nV:
    the law of :func:`labctl.physics.edges.mosfet_current` and
    :func:`~labctl.physics.edges.mosfet_conductance`.
    """
    rows = v.shape[0]
    n_gate_rows = gates.shape[0]
    for r in range(rows):
        g = r % n_gate_rows
        p = 0.0
        for e in range(a.size):
            va, vb = v[r, a[e]], v[r, b[e]]
            fa, fpa = _overdrive(gates[g, e] - vt[e] - va, smoothing)
            fb, fpb = _overdrive(gates[g, e] - vt[e] - vb, smoothing)
            cur = 0.5 * s[e] * (fb * fb - fa * fa)
            dv = va - vb
            current[r, e] = cur
            p += cur * dv
            if abs(dv) < 1e-9:
                chord[r, e] = 0.5 * s[e] * (fa * fpa + fb * fpb)
            else:
                chord[r, e] = cur / dv
        power[r] = p


@njit(cache=True)
def node_outflow_both(v_free: np.ndarray, v_clamp: np.ndarray, gate: np.ndarray,
                      a: np.ndarray, b: np.ndarray, s_free: np.ndarray, vt_free: np.ndarray,
                      s_clamp: np.ndarray, vt_clamp: np.ndarray, smoothing: float,
                      node: int) -> float:
    """Current (A) flowing out of ``node`` into its edges, summed over the free copy (node
    voltages ``v_free`` (N,) V, transistors ``s_free``/``vt_free``) and the clamped copy
    (``v_clamp``, ``s_clamp``/``vt_clamp``), with gates ``gate`` (E,) V shared; edges
    a → b. What a source holding that node in both copies supplies (the compiled law the
    twin's states are solved with)."""
    out_free = 0.0
    out_clamp = 0.0
    for e in range(a.size):
        if a[e] != node and b[e] != node:
            continue
        sign = 1.0 if a[e] == node else -1.0
        for copy in range(2):
            v, s, vt = (v_free, s_free, vt_free) if copy == 0 else (v_clamp, s_clamp, vt_clamp)
            fa, _ = _overdrive(gate[e] - vt[e] - v[a[e]], smoothing)
            fb, _ = _overdrive(gate[e] - vt[e] - v[b[e]], smoothing)
            cur = sign * 0.5 * s[e] * (fb * fb - fa * fa)
            if copy == 0:
                out_free += cur
            else:
                out_clamp += cur
    return out_free + out_clamp


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


def no_pattern() -> tuple:
    """The trailing arguments of :func:`twin_advance` for the dense per-task LU."""
    empty = np.zeros(0, dtype=np.int64)
    one = np.zeros(1, dtype=np.int64)
    return (False, empty, empty, one, empty, one, empty, empty)


@njit(cache=True)
def twin_advance(
    gates: np.ndarray, v_free: np.ndarray, v_clamp: np.ndarray, a: np.ndarray, b: np.ndarray,
    s_free: np.ndarray, vt_free: np.ndarray, s_clamp: np.ndarray, vt_clamp: np.ndarray,
    smoothing: float, src: np.ndarray, src_v: np.ndarray, tgt: np.ndarray, tgt_v: np.ndarray,
    eta: float, lam: np.ndarray, alpha: float, leak: float, rest: float, g_min: float,
    g_max: float, learning: bool, h: float, n_sub: int, kicks: np.ndarray, out_f: np.ndarray,
    out_c: np.ndarray, block: int, out_g: np.ndarray, tol: float, scale: float,
    curvature: float, max_iter: int,
    sparse: bool, pos: np.ndarray, edge_at: np.ndarray, colptr: np.ndarray,
    rowidx: np.ndarray, rowptr: np.ndarray, rowcol: np.ndarray, rowat: np.ndarray,
) -> int:
    """Advance B twin networks by n_samples × ``n_sub`` explicit-Euler steps of ``h`` s, in place.

    n_samples = ``out_f.shape[1]``. Per step: gates (B, E) V follow the rule
    dG/dt = (α/η)[(1 − λ) ΔV_F² − ΔV_C²] (α in s⁻¹) minus ``leak``·(G − ``rest``), plus
    ``kicks`` (n_samples·n_sub, B, E) V (pre-scaled noise, or zero steps for none), clipped to
    [g_min, g_max]; then both copies' node voltages (B, N) are re-solved (free: sources held;
    clamped: targets also held at V_F + η(Ṽ − V_F)), Newton starting from the linear
    extrapolation of the previous two steps of the same block. After every ``n_sub`` steps
    the node voltages are written to ``out_f`` / ``out_c`` (B, n_samples, N) V. The samples
    come in blocks of ``block``: each block's Newton solves start as a call of its own would
    start them, so one call of several blocks gives what one call per block gives, bit for
    bit (without ``kicks``); ``out_g`` (B, K, E) receives the gates (V) at the end of each of
    the first K blocks (K = 0: none). Newton tolerance: see :func:`newton_state`. Returns
    the number of tasks whose Newton solve failed (0 = none).
    With ``sparse`` the Newton systems are solved by :func:`newton_state_sparse` in the
    factor pattern ``pos`` … ``rowat`` (:class:`labctl.physics.kernels_sparse.SparsePattern`;
    see :func:`no_pattern` for the dense case).
    """
    bsz, n = v_free.shape
    n_samples = out_f.shape[1]
    n_edges = a.shape[0]
    res = np.empty(n)
    jac = np.empty((0, 0)) if sparse else np.empty((n, n))
    nnz = rowidx.shape[0]
    lval, uval = np.empty(nnz), np.empty(nnz)
    diag, work_l, work_u = np.empty(n), np.empty(n), np.empty(n)
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
        since = 0  # steps since the start of this sample's block
        for smp in range(n_samples):
            if smp % block == 0:
                since = 0
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
                    if since > 0 and not held_f[i]:
                        guess = 2.0 * vf[i] - prev_f[i]
                        prev_f[i] = vf[i]
                        vf[i] = guess
                    else:
                        prev_f[i] = vf[i]
                    if since > 0 and not held_c[i]:
                        guess = 2.0 * vc[i] - prev_c[i]
                        prev_c[i] = vc[i]
                        vc[i] = guess
                    else:
                        prev_c[i] = vc[i]
                if sparse:
                    ok &= newton_state_sparse(
                        vf, g, a, b, s_free, vt_free, smoothing, held_f, pos, edge_at, colptr,
                        rowidx, rowptr, rowcol, rowat, tol, scale, curvature, max_iter, res,
                        lval, uval, diag, work_l, work_u)
                else:
                    ok &= newton_state(vf, g, a, b, s_free, vt_free, smoothing, row_f, free_f,
                                       tol, scale, curvature, max_iter, res, jac)
                for q in range(tgt.shape[1]):
                    t = tgt[bt, q]
                    vc[t] = vf[t] + eta * (tgt_v[bt, q] - vf[t])
                if sparse:
                    ok &= newton_state_sparse(
                        vc, g, a, b, s_clamp, vt_clamp, smoothing, held_c, pos, edge_at,
                        colptr, rowidx, rowptr, rowcol, rowat, tol, scale, curvature,
                        max_iter, res, lval, uval, diag, work_l, work_u)
                else:
                    ok &= newton_state(vc, g, a, b, s_clamp, vt_clamp, smoothing, row_c,
                                       free_c, tol, scale, curvature, max_iter, res, jac)
                step += 1
                since += 1
            for i in range(n):
                out_f[bt, smp, i] = vf[i]
                out_c[bt, smp, i] = vc[i]
            if (smp + 1) % block == 0 and (smp + 1) // block <= out_g.shape[1]:
                for e in range(n_edges):
                    out_g[bt, (smp + 1) // block - 1, e] = g[e]
        if not ok:
            failed += 1
    return failed
