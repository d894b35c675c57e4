"""Compiled quasistatic coupled-learning loop for linear resistor networks (numba, SI units).

Held nodes (sources) become identity rows *and* columns, their voltages moved to the
right-hand side, so the matrix A stays symmetric positive definite with the same sparsity
pattern for every task. Per step and task: one sparse L D Lᵀ factorisation of A (S) into
the pattern fixed once per network (:mod:`labctl.physics.kernels_sparse`: minimum-degree
ordering; N = 64 disordered network: 203 off-diagonal factor entries, ~350 multiply-adds),
the free state V_F and Z = A⁻¹ Mᵀ from it in one sweep, the clamped state
V_C = V_F + Z (M Z)⁻¹ η (ỹ − M V_F) (exact: a rank-|T| correction), then the local rule on
the conductances (S). Floating inputs (input edges' drops imposed with one ground node) are
constraint rows handled the same way, by Lagrange multipliers (:func:`observe_task`).
:func:`train_chunk` advances tasks one after the other, :func:`train_batch` all of them in
lockstep (vectorised over the task axis, same numbers). Every buffer lives in positions of
the ordering; ``pos[node]`` maps a node to its position. :func:`assemble_held` builds the
held-node matrix and right-hand side for both storages, this sparse factor and the envelope
(:func:`envelope_order`, :func:`envelope_slots`, envelope Cholesky) of the
out-of-equilibrium kernels (:mod:`labctl.physics.kernels_noneq`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit
from scipy.sparse.csgraph import reverse_cuthill_mckee

from labctl.network import Network
from labctl.physics.kernels_sparse import (
    ldl_factor,
    ldl_factor_batch,
    ldl_solve_batch,
    ldl_solve_many,
)


def envelope_order(network: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RCM renumbering of ``network``: ``(pos (N,), first (N,), row_ptr (N + 1,))``.

    ``pos[node]`` is the node's row in the reordered Laplacian; ``first[i]`` is the first
    column of row i's envelope (lowest neighbour position, or i itself); row i's entries
    (columns first[i]..i) are stored at ``row_ptr[i]:row_ptr[i + 1]`` of a flat buffer.
    """
    n = network.n_nodes
    a, b = network.edges[:, 0], network.edges[:, 1]
    adj = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    order = reverse_cuthill_mckee((adj + adj.T).tocsr(), symmetric_mode=True)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    first = np.arange(n, dtype=np.int64)
    pa, pb = pos[a], pos[b]
    np.minimum.at(first, np.maximum(pa, pb), np.minimum(pa, pb))
    row_ptr = np.concatenate([[0], np.cumsum(np.arange(n) - first + 1)]).astype(np.int64)
    return pos, first, row_ptr


@njit(cache=True)
def envelope_slots(pa: np.ndarray, pb: np.ndarray, first: np.ndarray,
                   row_ptr: np.ndarray) -> np.ndarray:
    """Each edge's entry in the envelope storage of :func:`envelope_order`, (E,) int64.

    ``pa``/``pb`` (E,) are the edges' end positions; the entry is row max(a, b), column
    min(a, b) (the lower triangle).
    """
    slot = np.empty(pa.shape[0], dtype=np.int64)
    for e in range(pa.shape[0]):
        hi, lo = max(pa[e], pb[e]), min(pa[e], pb[e])
        slot[e] = row_ptr[hi] + lo - first[hi]
    return slot


@njit(cache=True)
def assemble_held(k: np.ndarray, pa: np.ndarray, pb: np.ndarray, off_at: np.ndarray,
                  held: np.ndarray, shunt: float, diag: np.ndarray, off: np.ndarray,
                  rhs: np.ndarray, n_src: int) -> None:
    """Stamp conductances ``k`` (E,) in S into A = shunt·1 + Laplacian with the held rows
    and columns replaced by identity (SPD), and move the held voltages to the right-hand side.

    ``diag`` (N,) receives A's diagonal: 1 at held positions (``held`` (N,) flags),
    ``shunt`` (S) plus the node's edge conductances elsewhere. An edge e between two free
    positions subtracts k_e from ``off[off_at[e]]`` (its slot in the factor's strictly lower
    storage; the caller zeroes ``off``). An edge from a held position h to a free one f adds
    k_e·rhs[h, x] to rhs[f, x] for the first ``n_src`` columns of ``rhs`` (N, C), whose held
    rows hold V_h (V) on entry. ``pa``/``pb`` (E,) are the edges' end positions.
    """
    for i in range(held.shape[0]):
        diag[i] = 1.0 if held[i] else shunt
    for e in range(k.shape[0]):
        i, j, ke = pa[e], pb[e], k[e]
        if not held[i]:
            diag[i] += ke
        if not held[j]:
            diag[j] += ke
        if not held[i] and not held[j]:
            off[off_at[e]] -= ke
        elif held[i] and not held[j]:
            for x in range(n_src):
                rhs[j, x] += ke * rhs[i, x]
        elif held[j] and not held[i]:
            for x in range(n_src):
                rhs[i, x] += ke * rhs[j, x]


@njit(cache=True)
def _cholesky_envelope(env: np.ndarray, first: np.ndarray, row_ptr: np.ndarray,
                       inv_diag: np.ndarray) -> None:
    """In-place lower Cholesky factor of an SPD matrix in envelope storage.

    On entry ``env`` holds the strictly lower envelope (its diagonal entries are not read)
    and ``inv_diag`` (N,) the diagonal; on exit ``env`` holds L's strictly lower part and
    ``inv_diag`` 1/L_ii (as :func:`_solve_envelope` takes them).
    """
    n = first.shape[0]
    for i in range(n):
        fi = first[i]
        base_i = row_ptr[i] - fi
        for j in range(fi, i):
            fj = first[j]
            base_j = row_ptr[j] - fj
            s = env[base_i + j]
            for q in range(max(fi, fj), j):
                s -= env[base_i + q] * env[base_j + q]
            env[base_i + j] = s * inv_diag[j]
        s = inv_diag[i]
        for q in range(fi, i):
            s -= env[base_i + q] * env[base_i + q]
        inv_diag[i] = 1.0 / np.sqrt(s)


@njit(cache=True)
def _solve_envelope(env: np.ndarray, first: np.ndarray, row_ptr: np.ndarray,
                    inv_diag: np.ndarray, rhs: np.ndarray) -> None:
    """Solve L Lᵀ X = rhs in place for all columns of ``rhs`` (N, C), L in envelope storage."""
    n, c = rhs.shape
    for i in range(n):
        base = row_ptr[i] - first[i]
        for col in range(c):
            acc = rhs[i, col]  # a register accumulator: no store/load chain through rhs
            for q in range(first[i], i):
                acc -= env[base + q] * rhs[q, col]
            rhs[i, col] = acc * inv_diag[i]
    for i in range(n - 1, -1, -1):
        base = row_ptr[i] - first[i]
        for col in range(c):
            x = rhs[i, col] * inv_diag[i]
            rhs[i, col] = x
            for q in range(first[i], i):
                rhs[q, col] -= env[base + q] * x


@njit(cache=True)
def _solve_small_spd(mat: np.ndarray, rhs: np.ndarray) -> None:
    """Solve the small dense SPD system mat · X = rhs (T, C) in place (Cholesky; ``mat``'s
    lower triangle is overwritten by the factor). Allocates nothing."""
    t = mat.shape[0]
    for i in range(t):
        for j in range(i + 1):
            s = mat[i, j]
            for q in range(j):
                s -= mat[i, q] * mat[j, q]
            mat[i, j] = s / mat[j, j] if j < i else np.sqrt(s)
    for col in range(rhs.shape[1]):
        for i in range(t):
            acc = rhs[i, col]
            for q in range(i):
                acc -= mat[i, q] * rhs[q, col]
            rhs[i, col] = acc / mat[i, i]
        for i in range(t - 1, -1, -1):
            acc = rhs[i, col]
            for q in range(i + 1, t):
                acc -= mat[q, i] * rhs[q, col]
            rhs[i, col] = acc / mat[i, i]


@njit(cache=True)
def _superpose(sol: np.ndarray, coef: np.ndarray, out: np.ndarray) -> None:
    """out[:, x] = sol[:, x] + Σ_q sol[:, X + q] coef[q, x] for the X = ``coef.shape[1]``
    state columns (V): the states plus the responses W (columns X …, V per A) to the
    constraint currents ``coef`` (Q, X) (A). ``out`` may be ``sol`` itself (in place)."""
    n_ex = coef.shape[1]
    for i in range(sol.shape[0]):
        for x in range(n_ex):
            acc = sol[i, x]
            for q in range(coef.shape[0]):
                acc += sol[i, n_ex + q] * coef[q, x]
            out[i, x] = acc


@njit(cache=True)
def _constrain_states(
    sol: np.ndarray, m: np.ndarray, desired: np.ndarray, c_in: np.ndarray, b_in: np.ndarray,
    eta: float, small: np.ndarray, nudge: np.ndarray, small_in: np.ndarray, mu: np.ndarray,
) -> float:
    """The small dense systems of one task (see :func:`observe_task`), after the solve.

    ``sol`` (N, X + I + T) holds U (V) in its first X columns and W = A⁻¹ Cᵀ in the rest.
    Imposes the floating inputs on the free state in place (V_F = U + W_in G_in⁻¹
    (b_in − c_in U)) and leaves in ``nudge`` (I + T, X) the multipliers G⁻¹ [0; η (ỹ − m V_F)]
    of the clamped state V_C = V_F + W · nudge. Returns Σ ½ (ỹ − y)² over examples and
    outputs (V², not yet averaged). ``small`` … ``mu`` are scratch as in :func:`observe_task`.
    """
    n = sol.shape[0]
    n_ex, n_out = desired.shape
    n_in = c_in.shape[0]
    n_con = n_in + n_out
    if n_in > 0:  # impose the floating inputs on the free state
        for p in range(n_in):
            for x in range(n_ex):
                u = 0.0
                for i in range(n):
                    u += c_in[p, i] * sol[i, x]
                mu[p, x] = b_in[x, p] - u
            for q in range(n_in):
                z = 0.0
                for i in range(n):
                    z += c_in[p, i] * sol[i, n_ex + q]
                small_in[p, q] = z
        _solve_small_spd(small_in, mu)
        _superpose(sol, mu, sol)
    err = 0.0
    for p in range(n_in):
        for x in range(n_ex):
            nudge[p, x] = 0.0
    for t in range(n_out):
        for x in range(n_ex):
            y = 0.0
            for i in range(n):
                y += m[t, i] * sol[i, x]
            miss = desired[x, t] - y
            err += 0.5 * miss * miss
            nudge[n_in + t, x] = eta * miss
    for p in range(n_con):
        for q in range(n_con):
            z = 0.0
            for i in range(n):
                row = c_in[p, i] if p < n_in else m[p - n_in, i]
                z += row * sol[i, n_ex + q]
            small[p, q] = z
    _solve_small_spd(small, nudge)
    return err


@njit(cache=True)
def observe_task(
    k: np.ndarray, pa: np.ndarray, pb: np.ndarray, edge_at: np.ndarray, colptr: np.ndarray,
    rowidx: np.ndarray, rowptr: np.ndarray, rowcol: np.ndarray, rowat: np.ndarray,
    held: np.ndarray, src: np.ndarray, src_val: np.ndarray, m: np.ndarray,
    desired: np.ndarray, c_in: np.ndarray, b_in: np.ndarray, eta: float, lval: np.ndarray,
    diag: np.ndarray, work: np.ndarray, sol: np.ndarray, v_c: np.ndarray, small: np.ndarray,
    nudge: np.ndarray, small_in: np.ndarray, mu: np.ndarray, sq_free: np.ndarray,
    sq_clamp: np.ndarray,
) -> tuple[float, float, float]:
    """Free and clamped states of one task at conductances ``k`` (E,) in S.

    Fills ``sq_free`` / ``sq_clamp`` (E,) with the example-averaged squared drops (V²) and
    returns (error L = ½ Σ_T (ỹ_T − y_T)² averaged over examples, in V²; free power Σ k ΔV²
    in W; clamped power in W; no factor ½ in the powers). ``pa``/``pb`` (E,) are the edges'
    end positions, ``edge_at`` … ``rowat`` the factor pattern
    (:class:`labctl.physics.kernels_sparse.SparsePattern`). ``held`` (N,) flags source
    positions, ``src`` (S,) their positions, ``src_val`` (X, S) V, ``m`` (T, N) the output
    rows in positions, ``desired`` (X, T) V. ``c_in`` (I, N) are floating input constraints
    (rows in positions, e.g. an input edge's incidence row) with values ``b_in`` (X, I) V:
    both states satisfy c_in V = b_in exactly (I may be 0). Scratch buffers: ``lval``
    (nnz,), ``diag`` (N,), ``work`` (N,), ``sol`` (N, X + I + T), ``v_c`` (N, X), ``small``
    (I + T, I + T), ``nudge`` (I + T, X), ``small_in`` (I, I), ``mu`` (I, X).

    Method: A = Laplacian with held rows and columns replaced by identity (SPD). One sparse
    L D Lᵀ factorisation of A gives U = A⁻¹ (source terms) and W = A⁻¹ Cᵀ for
    C = [c_in; m] (held rows of W are 0). Free state V_F = U + W_in G_in⁻¹ (b_in − c_in U),
    G_in = c_in W_in; clamped V_C = V_F + W G⁻¹ [0; η (ỹ − m V_F)], G = C W: the
    Lagrange-multiplier (bordered-system) solution of minimal power under the constraints,
    with the multipliers the currents the input and output sources inject.
    """
    n = diag.shape[0]
    n_ex, n_out = desired.shape
    n_in = c_in.shape[0]
    n_edges = k.shape[0]
    lval[:] = 0.0
    sol[:] = 0.0
    for s in range(src.shape[0]):
        for x in range(n_ex):
            sol[src[s], x] = src_val[x, s]
    assemble_held(k, pa, pb, edge_at, held, 0.0, diag, lval, sol, n_ex)
    # right-hand sides of W = A⁻¹ Cᵀ (held rows stay 0); held free-state rows hold V_h
    for p in range(n_in):
        for i in range(n):
            if not held[i]:
                sol[i, n_ex + p] = c_in[p, i]
    for t in range(n_out):
        for i in range(n):
            if not held[i]:
                sol[i, n_ex + n_in + t] = m[t, i]
    # the held rows of the free-state columns are identity rows: their solution is V_h
    ldl_factor(lval, diag, colptr, rowidx, rowptr, rowcol, rowat, work)
    ldl_solve_many(lval, diag, colptr, rowidx, sol)
    err = _constrain_states(sol, m, desired, c_in, b_in, eta, small, nudge, small_in, mu)
    _superpose(sol, nudge, v_c)
    p_free = 0.0
    p_clamp = 0.0
    for e in range(n_edges):
        i, j = pa[e], pb[e]
        acc_f = 0.0
        acc_c = 0.0
        for x in range(n_ex):
            d_f = sol[i, x] - sol[j, x]
            d_c = v_c[i, x] - v_c[j, x]
            acc_f += d_f * d_f
            acc_c += d_c * d_c
        sq_free[e] = acc_f / n_ex
        sq_clamp[e] = acc_c / n_ex
        p_free += k[e] * sq_free[e]
        p_clamp += k[e] * sq_clamp[e]
    return err / n_ex, p_free, p_clamp


@njit(cache=True)
def update_conductance(
    k: np.ndarray, sq_free: np.ndarray, sq_clamp: np.ndarray, gain: float, lam: float,
    noise: np.ndarray, k_min: float, k_max: float,
) -> None:
    """Local rule k += (α/η)[(1 − λ) ΔV_F² − ΔV_C²] + noise (S), clipped to [k_min, k_max].

    ``noise`` (E,) in S, or an empty array for none.
    """
    with_noise = noise.shape[0] > 0
    for e in range(k.shape[0]):
        dk = gain * ((1.0 - lam) * sq_free[e] - sq_clamp[e])
        if with_noise:
            dk += noise[e]
        k[e] = min(max(k[e] + dk, k_min), k_max)


@njit(cache=True)
def step_buffers(
    k: np.ndarray, held: np.ndarray, desired: np.ndarray, c_in: np.ndarray,
    rowidx: np.ndarray, lanes: tuple[int, ...],
) -> tuple[np.ndarray, ...]:
    """Uninitialised scratch of a training step, in :func:`observe_task`'s argument order.

    Sizes from the trainers' arguments (``k`` (B, E), ``held`` (B, N), ``desired``
    (B, X, T), ``c_in`` (B, I, N), ``rowidx`` (nnz,)): lval (nnz,), diag (N,), work (N,),
    sol (N, X + I + T), v_c (N, X), small (I + T, I + T), nudge (I + T, X), small_in (I, I),
    mu (I, X), sq_free (E,), sq_clamp (E,). ``lanes`` is () for one task at a time or (B,)
    for B tasks in lockstep: a trailing task axis on every buffer but the small per-task
    systems (small … mu).
    """
    n_edges, n = k.shape[1], held.shape[1]
    n_ex, n_out = desired.shape[1], desired.shape[2]
    n_in = c_in.shape[1]
    n_con = n_in + n_out
    return (np.empty((rowidx.shape[0], *lanes)), np.empty((n, *lanes)),
            np.empty((n, *lanes)), np.empty((n, n_ex + n_con, *lanes)),
            np.empty((n, n_ex, *lanes)), np.empty((n_con, n_con)), np.empty((n_con, n_ex)),
            np.empty((n_in, n_in)), np.empty((n_in, n_ex)), np.empty((n_edges, *lanes)),
            np.empty((n_edges, *lanes)))


@njit(cache=True)
def train_chunk(
    k: np.ndarray, pa: np.ndarray, pb: np.ndarray, edge_at: np.ndarray, colptr: np.ndarray,
    rowidx: np.ndarray, rowptr: np.ndarray, rowcol: np.ndarray, rowat: np.ndarray,
    held: np.ndarray,
    src: np.ndarray, src_val: np.ndarray, m: np.ndarray, desired: np.ndarray,
    c_in: np.ndarray, b_in: np.ndarray, eta: float, gain: float, lam: np.ndarray,
    k_min: float, k_max: float, noise: np.ndarray, step0: int,
    record_every: int, hist: np.ndarray, err: np.ndarray, p_free: np.ndarray,
    p_clamp: np.ndarray,
) -> None:
    """Advance B tasks by ``err.shape[0]`` steps at fixed λ; k (B, E) in S is updated in place.

    Per-task arrays carry a leading B axis (see :func:`observe_task`; ``c_in`` (B, I, N),
    ``b_in`` (B, X, I), I may be 0); ``lam`` (B,) is each
    task's λ (dimensionless, [0, 1)). ``noise`` is
    (steps, B, E) in S or has zero steps; ``step0`` is the global index of the first step,
    used to record k into ``hist`` (R, B, E) every ``record_every`` steps (0 = never).
    Outputs ``err``, ``p_free``, ``p_clamp`` are (steps, B). Every buffer is allocated once
    per call: the step loop allocates nothing.
    """
    steps, bsz = err.shape
    lval, diag, work, sol, v_c, small, nudge, small_in, mu, sq_f, sq_c = step_buffers(
        k, held, desired, c_in, rowidx, ())
    no_noise = np.empty(0)
    for b in range(bsz):
        kb = k[b]
        for s in range(steps):
            e_, pf, pc = observe_task(kb, pa, pb, edge_at, colptr, rowidx, rowptr, rowcol,
                                      rowat, held[b], src[b], src_val[b], m[b], desired[b],
                                      c_in[b], b_in[b], eta, lval, diag, work, sol, v_c,
                                      small, nudge, small_in, mu, sq_f, sq_c)
            err[s, b] = e_
            p_free[s, b] = pf
            p_clamp[s, b] = pc
            g = step0 + s
            if record_every > 0 and g % record_every == 0:
                hist[g // record_every, b, :] = kb
            row = noise[s, b] if noise.shape[0] > 0 else no_noise
            update_conductance(kb, sq_f, sq_c, gain, lam[b], row, k_min, k_max)


@njit(cache=True)
def train_batch(
    k: np.ndarray, pa: np.ndarray, pb: np.ndarray, edge_at: np.ndarray, colptr: np.ndarray,
    rowidx: np.ndarray, rowptr: np.ndarray, rowcol: np.ndarray, rowat: np.ndarray,
    held: np.ndarray,
    src: np.ndarray, src_val: np.ndarray, m: np.ndarray, desired: np.ndarray,
    c_in: np.ndarray, b_in: np.ndarray, eta: float, gain: float, lam: np.ndarray,
    k_min: float, k_max: float, noise: np.ndarray, step0: int,
    record_every: int, hist: np.ndarray, err: np.ndarray, p_free: np.ndarray,
    p_clamp: np.ndarray,
) -> None:
    """:func:`train_chunk` with the B tasks in lockstep: same arguments, same results.

    Every task has the same factor pattern (held nodes are identity rows and columns of
    the same pattern), so the factorisation, the solves and the edge loops run over the
    task axis innermost (contiguous, vectorised), each index of the pattern loaded once
    for all tasks; each task sees exactly the arithmetic of :func:`observe_task`. The small
    per-task systems (outputs, floating inputs) are solved task by task by the same
    :func:`_constrain_states`; the buffers are :func:`step_buffers` with a task axis.
    """
    steps, bsz = err.shape
    n_edges = k.shape[1]
    n = held.shape[1]
    n_ex, n_out = desired.shape[1], desired.shape[2]
    n_in = c_in.shape[1]
    n_con = n_in + n_out
    n_col = n_ex + n_con
    lval, diag, work, sol, v_c, small, nudge, small_in, mu, sq_f, sq_c = step_buffers(
        k, held, desired, c_in, rowidx, (bsz,))
    kt = np.empty((n_edges, bsz))  # conductances, task axis last (S)
    for b in range(bsz):
        for e in range(n_edges):
            kt[e, b] = k[b, e]
    free = np.empty((n, bsz))  # 1.0 at free nodes, 0.0 at held ones
    for b in range(bsz):
        for i in range(n):
            free[i, b] = 0.0 if held[b, i] else 1.0
    base = np.zeros((n, n_col, bsz))  # fixed right-hand-side entries: V_h, c_in, m
    for b in range(bsz):
        for s in range(src.shape[1]):
            for x in range(n_ex):
                base[src[b, s], x, b] = src_val[b, x, s]
        for i in range(n):
            if not held[b, i]:
                for p in range(n_in):
                    base[i, n_ex + p, b] = c_in[b, p, i]
                for t in range(n_out):
                    base[i, n_ex + n_in + t, b] = m[b, t, i]
    gain_x = np.empty((n_con, n_ex, bsz))
    errs = np.empty(bsz)
    for s in range(steps):
        lval[:] = 0.0
        sol[:] = base
        for i in range(n):
            for b in range(bsz):
                diag[i, b] = 1.0 - free[i, b]
        for e in range(n_edges):
            i, j, q = pa[e], pb[e], edge_at[e]
            for b in range(bsz):
                ke = kt[e, b]
                fi, fj = free[i, b], free[j, b]
                if fi != 0.0:
                    diag[i, b] += ke
                if fj != 0.0:
                    diag[j, b] += ke
                if fi != 0.0 and fj != 0.0:
                    lval[q, b] -= ke
                elif fj != 0.0:
                    for x in range(n_ex):
                        sol[j, x, b] += ke * sol[i, x, b]
                elif fi != 0.0:
                    for x in range(n_ex):
                        sol[i, x, b] += ke * sol[j, x, b]
        ldl_factor_batch(lval, diag, colptr, rowidx, rowptr, rowcol, rowat, work)
        ldl_solve_batch(lval, diag, colptr, rowidx, sol)
        for b in range(bsz):  # the small per-task systems, as in observe_task
            errs[b] = _constrain_states(sol[:, :, b], m[b], desired[b], c_in[b], b_in[b], eta,
                                        small, nudge, small_in, mu)
            for q in range(n_con):
                for x in range(n_ex):
                    gain_x[q, x, b] = nudge[q, x]
        for i in range(n):
            for x in range(n_ex):
                for b in range(bsz):
                    acc = sol[i, x, b]
                    for q in range(n_con):
                        acc += sol[i, n_ex + q, b] * gain_x[q, x, b]
                    v_c[i, x, b] = acc
        for b in range(bsz):
            p_free[s, b] = 0.0
            p_clamp[s, b] = 0.0
        for e in range(n_edges):
            i, j = pa[e], pb[e]
            for b in range(bsz):
                sq_f[e, b] = 0.0
                sq_c[e, b] = 0.0
            for x in range(n_ex):
                for b in range(bsz):
                    d_f = sol[i, x, b] - sol[j, x, b]
                    d_c = v_c[i, x, b] - v_c[j, x, b]
                    sq_f[e, b] += d_f * d_f
                    sq_c[e, b] += d_c * d_c
            for b in range(bsz):
                sq_f[e, b] /= n_ex
                sq_c[e, b] /= n_ex
                p_free[s, b] += kt[e, b] * sq_f[e, b]
                p_clamp[s, b] += kt[e, b] * sq_c[e, b]
        for b in range(bsz):
            err[s, b] = errs[b] / n_ex
        g = step0 + s
        if record_every > 0 and g % record_every == 0:
            for b in range(bsz):
                for e in range(n_edges):
                    hist[g // record_every, b, e] = kt[e, b]
        with_noise = noise.shape[0] > 0
        for e in range(n_edges):
            for b in range(bsz):
                dk = gain * ((1.0 - lam[b]) * sq_f[e, b] - sq_c[e, b])
                if with_noise:
                    dk += noise[s, b, e]
                kt[e, b] = min(max(kt[e, b] + dk, k_min), k_max)
    for b in range(bsz):
        for e in range(n_edges):
            k[b, e] = kt[e, b]
