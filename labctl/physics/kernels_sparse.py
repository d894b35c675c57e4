"""Sparse direct factorisations with a fixed pattern, for networks of any size (numba).

A network's Laplacian (and the Jacobian of a MOSFET network) has the network's own sparsity
pattern, the same at every step of a simulation; only the values change. So the expensive
part of a sparse solver, the fill-reducing ordering and the pattern of the factor, is done
once (:func:`symbolic`, plain NumPy/SciPy), and every step runs a compiled numeric
factorisation into that fixed pattern:

* :func:`ldl_factor` / :func:`ldl_solve`: A = L D Lᵀ for a symmetric positive definite A
  (a Laplacian in S with held nodes as identity rows and columns);
* :func:`lu_factor` / :func:`lu_solve`: A = L U without pivoting for a matrix with symmetric
  pattern and column-diagonally-dominant values (a MOSFET network's Jacobian in S: raising
  a node's voltage raises its outflow by at least what it lowers its neighbours' outflows),
  for which partial pivoting would not swap rows anyway.

The ordering is SuperLU's multiple minimum degree on AᵀA + A (``scipy.sparse.linalg.splu``):
on the papers' N = 64 networks the factor has about 270 off-diagonal entries (a reverse
Cuthill–McKee envelope has 430), and on large periodic lattices it grows like N log N, not
like the N^1.5 of an envelope. Storage: ``lval`` (nnz,) holds the strictly lower factor by
columns (``colptr`` (N + 1,), ``rowidx`` (nnz,), rows ascending within a column); ``uval``
(nnz,) holds the strictly upper factor of LU at the transposed positions (``uval[q]`` is
U[j, rowidx[q]] for q in column j); ``diag`` (N,) holds D (LDLᵀ) or U's diagonal (LU). All
indices are positions in the ordering: ``pos[node]`` is a node's position.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from numba import njit

from labctl.network import Network


@dataclass(frozen=True)
class SparsePattern:
    """Fill-reducing ordering and factor pattern of one network (see module docstring).

    ``pos`` (N,): position of each node; ``colptr``/``rowidx``: strictly lower factor
    pattern by columns; ``rowptr``/``rowcol``/``rowat``: the same entries by rows (row j's
    entries L[j, rowcol[r]] sit at ``lval[rowat[r]]``, columns ascending); ``edge_at``
    (E,): index in ``lval`` of each edge's off-diagonal entry.
    """

    pos: np.ndarray
    colptr: np.ndarray
    rowidx: np.ndarray
    rowptr: np.ndarray
    rowcol: np.ndarray
    rowat: np.ndarray
    edge_at: np.ndarray

    @property
    def nnz(self) -> int:
        """Number of off-diagonal entries of the lower factor."""
        return int(self.rowidx.shape[0])


def fill_reducing_order(network: Network) -> np.ndarray:
    """Position of each node (N,) in a multiple-minimum-degree ordering of the Laplacian."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    n = network.n_nodes
    a, b = network.edges[:, 0], network.edges[:, 1]
    ones = np.ones(len(a))
    lap = sp.coo_matrix((np.concatenate([-ones, -ones, np.full(n, 10.0)]),
                         (np.concatenate([a, b, np.arange(n)]),
                          np.concatenate([b, a, np.arange(n)]))), shape=(n, n)).tocsc()
    lu = splu(lap, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
              options={"SymmetricMode": True})
    return np.asarray(lu.perm_c, dtype=np.int64)


#: patterns of the networks in use (a Network is immutable), dropped with the network
_PATTERNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def symbolic(network: Network, pos: np.ndarray | None = None) -> SparsePattern:
    """Pattern of the Cholesky/LU factor of ``network``'s Laplacian under the ordering ``pos``
    (default :func:`fill_reducing_order`): the elimination-tree column-union rule.

    With the default ordering the pattern is computed once per network object and reused
    (its arrays are read-only).
    """
    if pos is None:
        cached = _PATTERNS.get(network)
        if cached is None:
            cached = _PATTERNS[network] = _symbolic(network, fill_reducing_order(network))
        return cached
    return _symbolic(network, np.array(pos, dtype=np.int64))


def _symbolic(network: Network, pos: np.ndarray) -> SparsePattern:
    n = network.n_nodes
    pa, pb = pos[network.edges[:, 0]], pos[network.edges[:, 1]]
    lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
    cols: list[set[int]] = [set() for _ in range(n)]
    for i, j in zip(hi.tolist(), lo.tolist()):
        cols[j].add(i)
    pattern: list[np.ndarray] = []
    for j in range(n):
        rows = np.array(sorted(cols[j]), dtype=np.int64)
        pattern.append(rows)
        if len(rows):
            cols[int(rows[0])].update(rows[1:].tolist())  # fill into the etree parent
        cols[j] = set()
    counts = np.array([len(r) for r in pattern], dtype=np.int64)
    colptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rowidx = np.concatenate(pattern).astype(np.int64) if colptr[-1] else np.zeros(0, np.int64)
    colof = np.repeat(np.arange(n, dtype=np.int64), counts)
    by_row = np.lexsort((colof, rowidx))
    rowptr = np.concatenate([[0], np.cumsum(np.bincount(rowidx, minlength=n))]).astype(np.int64)
    edge_at = np.empty(len(lo), dtype=np.int64)
    for e, (i, j) in enumerate(zip(hi.tolist(), lo.tolist())):
        start = colptr[j]
        edge_at[e] = start + int(np.searchsorted(rowidx[start:colptr[j + 1]], i))
    arrays = dict(pos=pos, colptr=colptr, rowidx=rowidx, rowptr=rowptr,
                  rowcol=colof[by_row], rowat=by_row.astype(np.int64), edge_at=edge_at)
    for value in arrays.values():
        value.setflags(write=False)
    return SparsePattern(**arrays)


@njit(cache=True)
def ldl_factor(lval: np.ndarray, diag: np.ndarray, colptr: np.ndarray, rowidx: np.ndarray,
               rowptr: np.ndarray, rowcol: np.ndarray, rowat: np.ndarray,
               work: np.ndarray) -> None:
    """In place: A (lower part in ``lval``, diagonal in ``diag``) → unit-lower L and D.

    Left-looking: column j gathers the updates of the earlier columns k with L[j, k] ≠ 0.
    ``work`` (N,) is scratch.
    """
    n = diag.shape[0]
    for j in range(n):
        c0, c1 = colptr[j], colptr[j + 1]
        for q in range(c0, c1):
            work[rowidx[q]] = lval[q]
        dj = diag[j]
        for r in range(rowptr[j], rowptr[j + 1]):
            k = rowcol[r]
            p = rowat[r]
            ljk = lval[p]
            t = ljk * diag[k]
            dj -= t * ljk
            for q in range(p + 1, colptr[k + 1]):
                work[rowidx[q]] -= lval[q] * t
        diag[j] = dj
        inv = 1.0 / dj
        for q in range(c0, c1):
            lval[q] = work[rowidx[q]] * inv


@njit(cache=True)
def ldl_solve(lval: np.ndarray, diag: np.ndarray, colptr: np.ndarray, rowidx: np.ndarray,
              x: np.ndarray, start: int) -> None:
    """Solve L D Lᵀ x = b in place for one right-hand side ``x`` (N,) whose entries before
    position ``start`` are zero (the forward sweep starts there)."""
    n = diag.shape[0]
    for j in range(start, n):
        xj = x[j]
        if xj != 0.0:
            for q in range(colptr[j], colptr[j + 1]):
                x[rowidx[q]] -= lval[q] * xj
    for j in range(n):
        x[j] /= diag[j]
    for j in range(n - 1, -1, -1):
        s = x[j]
        for q in range(colptr[j], colptr[j + 1]):
            s -= lval[q] * x[rowidx[q]]
        x[j] = s


@njit(cache=True)
def ldl_solve_many(lval: np.ndarray, diag: np.ndarray, colptr: np.ndarray,
                   rowidx: np.ndarray, x: np.ndarray) -> None:
    """Solve L D Lᵀ X = B in place for the C columns of ``x`` (N, C) at once (each factor
    entry is loaded once per sweep for all columns)."""
    n, c = x.shape
    for j in range(n):
        for q in range(colptr[j], colptr[j + 1]):
            i = rowidx[q]
            lq = lval[q]
            for col in range(c):
                x[i, col] -= lq * x[j, col]
    for j in range(n):
        dj = diag[j]
        for col in range(c):
            x[j, col] /= dj
    for j in range(n - 1, -1, -1):
        for q in range(colptr[j], colptr[j + 1]):
            i = rowidx[q]
            lq = lval[q]
            for col in range(c):
                x[j, col] -= lq * x[i, col]


@njit(cache=True)
def lu_factor(lval: np.ndarray, uval: np.ndarray, diag: np.ndarray, colptr: np.ndarray,
              rowidx: np.ndarray, rowptr: np.ndarray, rowcol: np.ndarray, rowat: np.ndarray,
              work_l: np.ndarray, work_u: np.ndarray) -> None:
    """In place, no pivoting: A (strict lower in ``lval``, strict upper in ``uval`` at the
    transposed positions, diagonal in ``diag``) → unit-lower L, U (diagonal in ``diag``).

    Crout order: column j of L and row j of U from the earlier columns k with
    L[j, k] ≠ 0 (the pattern is symmetric, so then also U[k, j] may be ≠ 0).
    """
    n = diag.shape[0]
    for j in range(n):
        c0, c1 = colptr[j], colptr[j + 1]
        for q in range(c0, c1):
            i = rowidx[q]
            work_l[i] = lval[q]
            work_u[i] = uval[q]
        dj = diag[j]
        for r in range(rowptr[j], rowptr[j + 1]):
            k = rowcol[r]
            p = rowat[r]
            ljk = lval[p]
            ukj = uval[p]
            dj -= ljk * ukj
            for q in range(p + 1, colptr[k + 1]):
                i = rowidx[q]
                work_l[i] -= lval[q] * ukj
                work_u[i] -= ljk * uval[q]
        diag[j] = dj
        inv = 1.0 / dj
        for q in range(c0, c1):
            i = rowidx[q]
            lval[q] = work_l[i] * inv
            uval[q] = work_u[i]


@njit(cache=True)
def lu_solve(lval: np.ndarray, uval: np.ndarray, diag: np.ndarray, colptr: np.ndarray,
             rowidx: np.ndarray, x: np.ndarray) -> None:
    """Solve L U x = b in place for one right-hand side ``x`` (N,)."""
    n = diag.shape[0]
    for j in range(n):
        xj = x[j]
        if xj != 0.0:
            for q in range(colptr[j], colptr[j + 1]):
                x[rowidx[q]] -= lval[q] * xj
    for j in range(n - 1, -1, -1):
        s = x[j]
        for q in range(colptr[j], colptr[j + 1]):
            s -= uval[q] * x[rowidx[q]]
        x[j] = s / diag[j]


@njit(cache=True)
def ldl_factor_batch(lval: np.ndarray, diag: np.ndarray, colptr: np.ndarray,
                     rowidx: np.ndarray, rowptr: np.ndarray, rowcol: np.ndarray,
                     rowat: np.ndarray, work: np.ndarray) -> None:
    """:func:`ldl_factor` of B matrices with one pattern at once: ``lval`` (nnz, B), ``diag``
    (N, B), ``work`` (N, B), the batch axis innermost (contiguous, vectorised); each matrix
    sees exactly the operations of :func:`ldl_factor`."""
    n, bsz = diag.shape
    for j in range(n):
        c0, c1 = colptr[j], colptr[j + 1]
        for q in range(c0, c1):
            i = rowidx[q]
            for b in range(bsz):
                work[i, b] = lval[q, b]
        for r in range(rowptr[j], rowptr[j + 1]):
            k = rowcol[r]
            p = rowat[r]
            for b in range(bsz):
                ljk = lval[p, b]
                t = ljk * diag[k, b]
                diag[j, b] -= t * ljk
                work[j, b] = t  # row j of work is free (not in column j's rows): holds t
            for q in range(p + 1, colptr[k + 1]):
                i = rowidx[q]
                for b in range(bsz):
                    work[i, b] -= lval[q, b] * work[j, b]
        for q in range(c0, c1):
            i = rowidx[q]
            for b in range(bsz):
                lval[q, b] = work[i, b] * (1.0 / diag[j, b])


@njit(cache=True)
def ldl_solve_batch(lval: np.ndarray, diag: np.ndarray, colptr: np.ndarray,
                    rowidx: np.ndarray, x: np.ndarray) -> None:
    """:func:`ldl_solve_many` of B factors at once: ``x`` (N, C, B), ``lval`` (nnz, B),
    ``diag`` (N, B)."""
    n, c, bsz = x.shape
    for j in range(n):
        for q in range(colptr[j], colptr[j + 1]):
            i = rowidx[q]
            for col in range(c):
                for b in range(bsz):
                    x[i, col, b] -= lval[q, b] * x[j, col, b]
    for j in range(n):
        for col in range(c):
            for b in range(bsz):
                x[j, col, b] /= diag[j, b]
    for j in range(n - 1, -1, -1):
        for q in range(colptr[j], colptr[j + 1]):
            i = rowidx[q]
            for col in range(c):
                for b in range(bsz):
                    x[j, col, b] -= lval[q, b] * x[i, col, b]
