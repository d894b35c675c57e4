"""Steady states of linear and twin-MOSFET networks (Kirchhoff's current law), batched.

Node voltages are in V, conductances in S, currents in A, power in W. Held nodes (sources,
clamped targets) are fixed; every other node satisfies KCL. Systems are solved densely with
the held rows replaced by identity rows, so a batch may hold different nodes in each task;
networks larger than :data:`DENSE_MAX_NODES` nodes are solved with sparse LU instead
(:func:`sparse_solve`), which gives the same voltages to round-off.
Power convention: P = Σ_i I_i ΔV_i (no factor ½), i.e. the power actually dissipated; for
linear edges P = Σ_i k_i ΔV_i².
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from labctl.network import Network
from labctl.physics.edges import mosfet_current
from labctl.physics.params import MosfetParams
from labctl.physics.validate import check_conductance, check_network, check_node_map

#: networks with more nodes than this are solved with sparse LU (one factorisation per task
#: and Newton iteration, :func:`sparse_solve`) instead of dense batched LU; the 16-node bench
#: and the N = 64 papers' networks stay dense
DENSE_MAX_NODES = 64


class Assembler:
    """Builds dense (B, N, N) Jacobians of the node outflow currents from edge derivatives.

    The (N², E) assembly matrices are built on first use of :meth:`jacobian`, so a large
    network solved sparsely never allocates them.
    """

    def __init__(self, network: Network) -> None:
        n, e = network.n_nodes, network.n_edges
        a, b = network.edges[:, 0], network.edges[:, 1]
        self.n = n
        self.network = network
        cols = np.arange(e)
        ones = np.ones(e)
        self.inc_t = sp.csr_matrix((np.concatenate([ones, -ones]),
                                    (np.concatenate([a, b]), np.concatenate([cols, cols]))),
                                   shape=(n, e))
        self._q: tuple[sp.csr_matrix, sp.csr_matrix] | None = None

    @property
    def q_a(self) -> sp.csr_matrix:
        """(N², E): Jacobian entries weighted by dI/dV_a, +(a, a) and −(b, a)."""
        return self._assembly()[0]

    @property
    def q_b(self) -> sp.csr_matrix:
        """(N², E): Jacobian entries weighted by dI/dV_b, +(a, b) and −(b, b)."""
        return self._assembly()[1]

    def _assembly(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        if self._q is None:
            n, e = self.n, self.network.n_edges
            a, b = self.network.edges[:, 0], self.network.edges[:, 1]
            cols = np.concatenate([np.arange(e), np.arange(e)])
            vals = np.concatenate([np.ones(e), -np.ones(e)])
            self._q = (
                sp.csr_matrix((vals, (np.concatenate([a * n + a, b * n + a]), cols)),
                              shape=(n * n, e)),
                sp.csr_matrix((vals, (np.concatenate([a * n + b, b * n + b]), cols)),
                              shape=(n * n, e)))
        return self._q

    def jacobian(self, d_a: np.ndarray, d_b: np.ndarray) -> np.ndarray:
        """Jacobian dF/dV (B, N, N) in S from per-edge dI/dV_a and dI/dV_b, each (B, E)."""
        flat = (self.q_a @ d_a.T + self.q_b @ d_b.T).T
        return np.ascontiguousarray(flat).reshape(-1, self.n, self.n)

    def laplacian(self, k: np.ndarray) -> np.ndarray:
        """Weighted Laplacian (B, N, N) in S for conductances k (B, E)."""
        return self.jacobian(k, -k)

    def outflow(self, currents: np.ndarray) -> np.ndarray:
        """Net current (A) leaving each node into the edges, (B, N), from edge currents (B, E)."""
        return (self.inc_t @ currents.T).T


#: each network's assembler (an assembler depends only on its network and never changes
#: once built), kept while the network lives
_ASSEMBLERS: weakref.WeakKeyDictionary[Network, Assembler] = weakref.WeakKeyDictionary()


def assembler_for(network: Network) -> Assembler:
    """The :class:`Assembler` of ``network``, built once (a bench opens a new twin per task
    on the same network: its sparse assembly matrices are built once, not per task)."""
    asm = _ASSEMBLERS.get(network)
    if asm is None:
        asm = _ASSEMBLERS[network] = Assembler(network)
    return asm


def hold_rows(matrix: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Replace the rows of held nodes (B, H) by identity rows, in place; returns ``matrix``."""
    bidx = np.arange(matrix.shape[0])[:, None]
    matrix[bidx, held, :] = 0.0
    matrix[bidx, held, held] = 1.0
    return matrix


def sparse_solve(network: Network, d_a: np.ndarray, d_b: np.ndarray, held: np.ndarray,
                 rhs: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Solve J x = rhs for each task with SciPy's sparse LU: x (B, N).

    J is the Jacobian of the node outflows (S) from per-edge dI/dV_a ``d_a`` and dI/dV_b
    ``d_b`` (B, E) (a weighted Laplacian for ``d_b = −d_a``), plus ``floor`` (S) on the
    diagonal, with the rows of the ``held`` nodes (B, H) replaced by identity rows: the
    sparse equivalent of ``np.linalg.solve(hold_rows(asm.jacobian(d_a, d_b), held), rhs)``.
    """
    from scipy.sparse.linalg import spsolve

    n = network.n_nodes
    a, b = network.edges[:, 0], network.edges[:, 1]
    rows = np.concatenate([a, b, a, b, np.arange(n)])
    cols = np.concatenate([a, a, b, b, np.arange(n)])
    out = np.empty((d_a.shape[0], n))
    for t in range(d_a.shape[0]):
        vals = np.concatenate([d_a[t], -d_a[t], d_b[t], -d_b[t], np.full(n, floor)])
        keep = np.ones(n, dtype=bool)
        keep[held[t]] = False
        mask = keep[rows]
        r = np.concatenate([rows[mask], held[t]])
        c = np.concatenate([cols[mask], held[t]])
        v = np.concatenate([vals[mask], np.ones(len(held[t]))])
        mat = sp.csc_matrix((v, (r, c)), shape=(n, n))
        out[t] = spsolve(mat, rhs[t], permc_spec="MMD_AT_PLUS_A")
    return out


def _broadcast_held(held_nodes: np.ndarray, held_values: np.ndarray, batch: int):
    nodes = np.broadcast_to(np.atleast_2d(held_nodes), (batch, np.shape(held_nodes)[-1]))
    values = np.broadcast_to(np.atleast_2d(held_values), nodes.shape)
    return nodes, values


def solve_linear_batch(
    network: Network,
    conductance: np.ndarray,
    held_nodes: np.ndarray,
    held_values: np.ndarray,
    assembler: Assembler | None = None,
) -> np.ndarray:
    """Exact steady state of B linear networks: voltages (B, N) in V.

    ``conductance`` (B, E) in S; ``held_nodes`` (H,) or (B, H) node indices and
    ``held_values`` (H,) or (B, H) their voltages in V. Dense batched LU up to
    :data:`DENSE_MAX_NODES` nodes, sparse LU per task above.
    """
    k = np.atleast_2d(conductance)
    nodes, values = _broadcast_held(np.asarray(held_nodes), np.asarray(held_values), k.shape[0])
    rhs = np.zeros((k.shape[0], network.n_nodes))
    np.put_along_axis(rhs, nodes, values, axis=1)
    if network.n_nodes > DENSE_MAX_NODES:
        v = sparse_solve(network, k, -k, nodes, rhs)
    else:
        asm = assembler or assembler_for(network)
        mat = hold_rows(asm.laplacian(k), nodes)
        v = np.linalg.solve(mat, rhs[..., None])[..., 0]
    np.put_along_axis(v, nodes, values, axis=1)  # held nodes exactly at their set voltage
    return v


def solve_linear(network: Network, conductance: np.ndarray, held: Mapping) -> np.ndarray:
    """Node voltages (V) of a linear resistor network with the ``held`` nodes fixed.

    ``conductance``: (E,) in S, or (B, E) for a batch; ``held``: dict node -> V (a value may
    be a length-B array in the batched case). Returns (N,) or (B, N) volts, exact up to
    round-off (dense LU of the Laplacian with the held rows replaced).

    >>> from labctl.network import Network
    >>> net = Network([[0, 1], [1, 2]], 3)
    >>> solve_linear(net, np.array([1.0, 3.0]), {0: 1.0, 2: 0.0}).round(3).tolist()
    [1.0, 0.25, 0.0]
    """
    check_network(network)
    k = check_conductance(network, conductance)
    nodes, values = check_node_map(network, held, "held")
    batch = k.shape[0] if k.ndim == 2 else (values.shape[0] if values.ndim == 2 else 1)
    k2 = np.broadcast_to(np.atleast_2d(k), (batch, network.n_edges))
    v = solve_linear_batch(network, k2, nodes, values)
    return v if (k.ndim == 2 or values.ndim == 2) else v[0]


def solve_linear_constrained(
    network: Network,
    conductance: np.ndarray,
    held: Mapping,
    constraints: np.ndarray,
    values: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Steady state with held nodes *and* floating linear constraints C V = b (dense).

    Minimises the power Σ_i k_i ΔV_i² subject to the ``held`` nodes (dict node -> V, one
    value each) and ``constraints`` (R, N) @ V = ``values`` (R,) V, e.g. the rows of input
    edges (incidence rows) driven by floating sources, solving the bordered (KKT) system

        [L_ff  C_fᵀ] [V_f]   [−L_fh V_h      ]
        [C_f   0   ] [μ  ] = [b − C_h V_h    ]

    with L the weighted Laplacian (S) split into free (f) and held (h) nodes. Returns
    (V (N,) in V, μ (R,) in A): the sources inject the node currents −Cᵀ μ (KCL:
    L V + Cᵀ μ = 0 on the free nodes). A floating source on an edge injects +I at one end
    and −I at the other, so no current leaves through the held nodes. Raises ValueError if
    the constraints are dependent once the held nodes are fixed.

    Path 0-1-2-3 of 1 S edges, node 3 grounded, 1 V imposed across edge 0-1: 1 A circulates
    through that edge and back through the source; nodes 1-3 stay at 0 V.

    >>> from labctl.network import Network
    >>> net = Network([[0, 1], [1, 2], [2, 3]], 4)
    >>> v, mu = solve_linear_constrained(net, np.ones(3), {3: 0.0}, net.incidence[:1], [1.0])
    >>> v.round(3).tolist(), mu.round(3).tolist()
    ([1.0, 0.0, 0.0, 0.0], [-1.0])
    """
    check_network(network)
    k = check_conductance(network, conductance)
    if k.ndim != 1:
        raise ValueError("conductance: one network (E,) expected")
    nodes, hv = check_node_map(network, held, "held")
    c = np.atleast_2d(np.asarray(constraints, dtype=float))
    b = np.atleast_1d(np.asarray(values, dtype=float))
    if c.shape[1:] != (network.n_nodes,) or b.shape != (c.shape[0],):
        raise ValueError(f"constraints: expected (R, {network.n_nodes}) rows and R values, "
                         f"got {c.shape} and {b.shape}")
    free = np.ones(network.n_nodes, dtype=bool)
    free[nodes] = False
    lap = network.incidence.T @ (k[:, None] * network.incidence)
    nf, r = int(free.sum()), c.shape[0]
    kkt = np.zeros((nf + r, nf + r))
    kkt[:nf, :nf] = lap[np.ix_(free, free)]
    kkt[:nf, nf:] = c[:, free].T
    kkt[nf:, :nf] = c[:, free]
    rhs = np.concatenate([-lap[np.ix_(free, ~free)] @ _held_in_order(nodes, hv, free),
                          b - c[:, ~free] @ _held_in_order(nodes, hv, free)])
    if np.linalg.matrix_rank(c[:, free]) < r:
        raise ValueError("constraints: rows are dependent once the held nodes are fixed")
    sol = np.linalg.solve(kkt, rhs)
    v = np.zeros(network.n_nodes)
    v[free] = sol[:nf]
    v[nodes] = hv
    return v, sol[nf:]


def _held_in_order(nodes: np.ndarray, values: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Held voltages ordered like the held (non-free) nodes in ascending node order."""
    held_sorted = np.flatnonzero(~free)
    lookup = dict(zip(nodes.tolist(), np.asarray(values, dtype=float).tolist()))
    return np.array([lookup[int(n)] for n in held_sorted])


def edge_power(drop: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Dissipated power P = Σ_i I_i ΔV_i (W) over the last axis."""
    return np.sum(drop * current, axis=-1)


def linear_start(network: Network, gates: np.ndarray, held_nodes: np.ndarray,
                 held_values: np.ndarray, S: np.ndarray | float, V_T: np.ndarray | float,
                 assembler: Assembler | None = None) -> np.ndarray:
    """Node voltages (B, N) V of the linear networks whose edges have the small-signal
    conductances S·(G − V_T − V_mid) (at least 1e-9·S_max) at the mean held voltage
    V_mid: the start of a Newton steady-state solve with gates (B, E) V and held nodes
    (B, H) at held values (B, H) V."""
    vmid = float(np.mean(held_values))
    k0 = np.maximum(np.asarray(S) * (gates - V_T - vmid), 1e-9 * np.max(S))
    return solve_linear_batch(network, k0, held_nodes, held_values, assembler)


def solve_mosfet_batch(
    network: Network,
    gates: np.ndarray,
    held_nodes: np.ndarray,
    held_values: np.ndarray,
    S: np.ndarray | float,
    V_T: np.ndarray | float,
    smoothing: float,
    v0: np.ndarray | None = None,
    tol: float = 1e-13,
    max_iter: int = 60,
    assembler: Assembler | None = None,
) -> np.ndarray:
    """Newton steady state of B MOSFET networks with gates (B, E) in V: voltages (B, N).

    Warm-started from ``v0`` (B, N) if given, else from the linear network with the
    small-signal conductances at mid node voltage. Converges when every KCL residual is
    below ``tol`` times the current scale S·(1 V)², or raises RuntimeError. Dense batched
    LU up to :data:`DENSE_MAX_NODES` nodes, sparse LU per task above.
    """
    g = np.atleast_2d(np.asarray(gates, dtype=float))
    batch = g.shape[0]
    asm = assembler or assembler_for(network)
    nodes, values = _broadcast_held(np.asarray(held_nodes), np.asarray(held_values), batch)
    a, b = network.edges[:, 0], network.edges[:, 1]
    if v0 is None:
        v = linear_start(network, g, nodes, values, S, V_T, asm)
    else:
        v = np.array(np.broadcast_to(v0, (batch, network.n_nodes)), dtype=float)
        np.put_along_axis(v, nodes, values, axis=1)
    scale = float(np.max(S))
    bidx = np.arange(batch)[:, None]
    for _ in range(max_iter):
        cur, da, db = mosfet_current(v[:, a], v[:, b], g, S, V_T, smoothing)
        res = asm.outflow(cur)
        res[bidx, nodes] = 0.0
        if np.max(np.abs(res)) < tol * scale:
            return v
        # tiny diagonal floor keeps nodes isolated by cut-off edges solvable
        if network.n_nodes > DENSE_MAX_NODES:
            step = sparse_solve(network, da, db, nodes, res, 1e-12 * scale)
        else:
            jac = hold_rows(asm.jacobian(da, db + 0.0), nodes)
            jac += 1e-12 * scale * np.eye(network.n_nodes)
            step = np.linalg.solve(jac, res[..., None])[..., 0]
        step = np.clip(step, -0.25, 0.25)
        v = v - step
    raise RuntimeError("solve_mosfet: Newton did not converge; check gates and held voltages")


def solve_mosfet(
    network: Network,
    gates: np.ndarray,
    held: Mapping,
    params: MosfetParams | None = None,
    v0: np.ndarray | None = None,
) -> np.ndarray:
    """Node voltages (V) of a MOSFET network with gate voltages ``gates`` (E,) or (B, E) in V.

    Edges follow :func:`labctl.physics.edges.mosfet_current` with the bench constants of
    ``params`` (default :class:`MosfetParams`, no mismatch). ``held``: dict node -> V.

    >>> from labctl.network import periodic_lattice
    >>> net = periodic_lattice(4, 4)
    >>> v = solve_mosfet(net, np.full(32, 2.0), {0: 0.0, 5: 0.45})
    >>> float(v[0]), float(v[5]), bool(0.0 < v[10] < 0.45)
    (0.0, 0.45, True)
    """
    check_network(network)
    p = params or MosfetParams()
    g = np.asarray(gates, dtype=float)
    if g.shape[-1:] != (network.n_edges,) or g.ndim not in (1, 2) or not np.all(np.isfinite(g)):
        raise ValueError(f"gates: expected finite volts of shape ({network.n_edges},) or (B, E)")
    nodes, values = check_node_map(network, held, "held")
    batch = g.shape[0] if g.ndim == 2 else (values.shape[0] if values.ndim == 2 else 1)
    g2 = np.broadcast_to(np.atleast_2d(g), (batch, network.n_edges))
    v = solve_mosfet_batch(network, g2, nodes, values, p.S, p.V_T, p.smoothing, v0=v0)
    return v if (g.ndim == 2 or values.ndim == 2) else v[0]
