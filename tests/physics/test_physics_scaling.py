"""Large networks: the sparse solvers obey Kirchhoff's law and power balance and agree with
dense solves (16×16 lattice, N = 256 jammed packing, N = 1024 disordered network); lattices
of any size keep the 4×4 bench numbering."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.network import Network, jammed_network, periodic_lattice, simulation_network
from labctl.physics import TwinBenchBatch, solve_linear, solve_linear_batch, train_tasks
from labctl.physics.kernels_sparse import (
    ldl_factor,
    ldl_solve_many,
    lu_factor,
    lu_solve,
    symbolic,
)
from labctl.physics.solve import DENSE_MAX_NODES
from labctl.physics.tasks import allostery_task, random_allostery

LATTICE = periodic_lattice(16, 16)
#: the large networks: the 16×16 lattice, a jammed packing of 256 nodes (about 7 s CPU to
#: generate) and a disordered (Delaunay) network of 1024 nodes. A jammed packing of 1024
#: nodes takes about three CPU-minutes to generate: it is timed by
#: benchmarks/bench_physics_scaling.py, not built in the tests.
NETWORKS = ["lattice", "jammed256", "delaunay1024"]


@pytest.fixture(scope="module")
def jammed256() -> Network:
    return jammed_network(256, seed=0)


@pytest.fixture(scope="module")
def delaunay1024() -> Network:
    return simulation_network(1024, seed=0, kind="disordered")


def _network(which: str, request: pytest.FixtureRequest) -> Network:
    return LATTICE if which == "lattice" else request.getfixturevalue(which)


def _laplacian(net: Network, k: np.ndarray) -> np.ndarray:
    """Dense weighted Laplacian (S), built edge by edge (independent of the solvers)."""
    lap = np.zeros((net.n_nodes, net.n_nodes))
    for (a, b), ke in zip(net.edges, k):
        lap[a, a] += ke
        lap[b, b] += ke
        lap[a, b] -= ke
        lap[b, a] -= ke
    return lap


def _held(net: Network, seed: int) -> dict[int, float]:
    rng = np.random.default_rng(seed)
    nodes = rng.choice(net.n_nodes, size=3, replace=False)
    return dict(zip(nodes.tolist(), [0.0, 0.45, 0.2]))


def test_lattice_numbering_generalises_the_bench_board():
    """Every L×L lattice follows the 4×4 board's rule: edge n joins n to its right-hand
    neighbour, edge L² + n to the node below; the 4×4 edges are the bench wiring's."""
    four = periodic_lattice(4, 4)
    assert four.edges[:16, 1].tolist() == [1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15,
                                           12]
    assert four.edges[16:, 1].tolist() == [*range(4, 16), 0, 1, 2, 3]
    for size in (5, 16, 32):
        net = periodic_lattice(size, size)
        n = np.arange(size * size)
        row, col = np.divmod(n, size)
        assert (net.n_nodes, net.n_edges) == (size * size, 2 * size * size)
        assert np.array_equal(net.edges[:size * size, 1], row * size + (col + 1) % size)
        assert np.array_equal(net.edges[size * size:, 1], ((row + 1) % size) * size + col)
        assert np.all(net.degree() == 4)


@pytest.mark.parametrize("which", NETWORKS)
def test_sparse_linear_solve_obeys_kirchhoff_and_power_balance(which, request):
    net = _network(which, request)
    assert net.n_nodes > DENSE_MAX_NODES  # the sparse path is the one tested
    k = np.random.default_rng(1).uniform(0.1, 10.0, net.n_edges)
    held = _held(net, 2)
    v = solve_linear(net, k, held)
    current = k * net.drops(v)  # edge currents (A), from edges[:, 0] to edges[:, 1]
    outflow = np.bincount(net.edges[:, 0], current, net.n_nodes) - np.bincount(
        net.edges[:, 1], current, net.n_nodes)
    free = np.setdiff1d(np.arange(net.n_nodes), list(held))
    scale = np.max(np.abs(current))
    assert np.max(np.abs(outflow[free])) < 1e-10 * scale
    # power balance: what the sources deliver is what the edges dissipate (W)
    supplied = sum(outflow[node] * volts for node, volts in held.items())
    assert supplied == pytest.approx(np.sum(k * net.drops(v) ** 2), rel=1e-10)
    assert all(v[node] == volts for node, volts in held.items())
    assert np.all(v[free] > -1e-12) and np.all(v[free] < 0.45 + 1e-12)  # maximum principle


def test_sparse_and_dense_solves_agree_on_a_16x16_lattice():
    net = LATTICE
    rng = np.random.default_rng(3)
    k = rng.uniform(0.1, 10.0, (2, net.n_edges))
    held = np.array([[0, 100, 200], [5, 77, 250]])
    values = np.array([[0.0, 0.45, 0.3], [0.45, 0.0, 0.1]])
    sparse = solve_linear_batch(net, k, held, values)
    for t in range(2):
        mat = _laplacian(net, k[t])
        mat[held[t]] = 0.0
        mat[held[t], held[t]] = 1.0
        rhs = np.zeros(net.n_nodes)
        rhs[held[t]] = values[t]
        assert np.allclose(sparse[t], np.linalg.solve(mat, rhs), rtol=0, atol=1e-12)


def test_fixed_pattern_factorisations_equal_dense_solves():
    """L D Lᵀ of a Laplacian with held identity rows and columns, and LU of a non-symmetric
    matrix with the same pattern, solve like np.linalg.solve (16×16 lattice)."""
    net = LATTICE
    pat = symbolic(net)
    n = net.n_nodes
    rng = np.random.default_rng(4)
    held = [3, 130]
    sym = _laplacian(net, rng.uniform(0.1, 10.0, net.n_edges))
    sym[held, :] = 0.0
    sym[:, held] = 0.0
    sym[held, held] = 1.0
    unsym = sym + np.where(sym != 0.0, rng.uniform(-0.05, 0.05, (n, n)), 0.0)
    perm = np.empty_like(pat.pos)
    perm[pat.pos] = np.arange(n)  # node at each position
    col = np.repeat(np.arange(n), np.diff(pat.colptr))
    rhs = rng.standard_normal((n, 2))
    a = sym[np.ix_(perm, perm)]
    lval, diag = a[pat.rowidx, col].copy(), np.diag(a).copy()
    ldl_factor(lval, diag, pat.colptr, pat.rowidx, pat.rowptr, pat.rowcol, pat.rowat,
               np.empty(n))
    x = rhs[perm].copy()
    ldl_solve_many(lval, diag, pat.colptr, pat.rowidx, x)
    assert np.allclose(x, np.linalg.solve(a, rhs[perm]), rtol=0, atol=1e-12)
    a = unsym[np.ix_(perm, perm)]
    lval, uval, diag = a[pat.rowidx, col].copy(), a[col, pat.rowidx].copy(), np.diag(a).copy()
    lu_factor(lval, uval, diag, pat.colptr, pat.rowidx, pat.rowptr, pat.rowcol, pat.rowat,
              np.empty(n), np.empty(n))
    x = rhs[perm, 0].copy()
    lu_solve(lval, uval, diag, pat.colptr, pat.rowidx, x)
    assert np.allclose(x, np.linalg.solve(a, rhs[perm, 0]), rtol=0, atol=1e-12)
    # the pattern holds every edge and nothing above the diagonal
    assert np.all(pat.rowidx > col)
    lo = np.minimum(pat.pos[net.edges[:, 0]], pat.pos[net.edges[:, 1]])
    hi = np.maximum(pat.pos[net.edges[:, 0]], pat.pos[net.edges[:, 1]])
    assert np.array_equal(pat.rowidx[pat.edge_at], hi) and np.array_equal(col[pat.edge_at], lo)


@pytest.mark.parametrize("which", NETWORKS)
def test_quasistatic_step_on_large_networks_equals_dense_solves(which, request):
    """One learning step on the sparse pattern: the rule applied to dense free and clamped
    states (clamped: targets held at V_F + η(Ṽ − V_F))."""
    net = _network(which, request)
    src, tgt = random_allostery(net, 5)
    k0 = np.random.default_rng(6).uniform(0.5, 2.0, net.n_edges)
    r = train_tasks(net, k0, allostery_task(net, src, tgt), eta=0.1, alpha=0.3, lam=0.01,
                    steps=1, k_min=1e-3, k_max=10.0)
    v_f = solve_linear(net, k0, src)
    clamp = {node: v_f[node] + 0.1 * (want - v_f[node]) for node, want in tgt.items()}
    v_c = solve_linear(net, k0, {**src, **clamp})
    want = np.clip(k0 + 0.3 / 0.1 * (0.99 * net.drops(v_f) ** 2 - net.drops(v_c) ** 2),
                   1e-3, 10.0)
    assert np.allclose(r.conductance, want, rtol=1e-10, atol=1e-14)
    assert r.power_free[0] == pytest.approx(np.sum(k0 * net.drops(v_f) ** 2), rel=1e-10)


@pytest.mark.parametrize("which", NETWORKS)
def test_twin_bench_on_large_networks_obeys_kirchhoff_and_power_balance(which, request):
    """The sparse-LU twin bench after 20 ms of learning: KCL at every free node of both
    copies and the power the held nodes deliver equal to what the edges dissipate."""
    net = _network(which, request)
    src, tgt = random_allostery(net, 7)
    twin = TwinBenchBatch(net, sources=[src], targets=[tgt])
    twin.set_learning(True)
    v_f, v_c = twin.advance(0.02, 2)
    assert not np.allclose(twin.gates, twin.gates[0, 0])  # the gates learned
    for copy, v, held in (("free", v_f[0, -1], list(src)),
                          ("clamped", v_c[0, -1], [*src, *tgt])):
        current = twin.edge_currents(v[None], copy)[0]
        outflow = np.bincount(net.edges[:, 0], current, net.n_nodes) - np.bincount(
            net.edges[:, 1], current, net.n_nodes)
        free = np.setdiff1d(np.arange(net.n_nodes), held)
        scale = float(np.max(twin.s_free))  # A per V² of overdrive
        assert np.max(np.abs(outflow[free])) < 1e-11 * scale
        supplied = float(np.sum(outflow[held] * v[held]))
        assert supplied == pytest.approx(float(twin.power(v[None], copy)[0]), rel=1e-8)


def test_sparse_and_dense_newton_agree(monkeypatch):
    """The MOSFET steady state (solve_mosfet_batch) and the twin bench's learning on a 6×6
    lattice are the same, to round-off, whether solved densely or with the sparse LU."""
    import labctl.physics.bench_model as bench_model
    import labctl.physics.solve as solve

    net = periodic_lattice(6, 6)
    src, tgt = random_allostery(net, 8)
    gates = np.random.default_rng(9).uniform(1.5, 4.0, (2, net.n_edges))
    held = np.array([list(src)] * 2)
    values = np.array([list(src.values())] * 2)

    def run(dense_max: int) -> tuple[np.ndarray, ...]:
        monkeypatch.setattr(solve, "DENSE_MAX_NODES", dense_max)
        monkeypatch.setattr(bench_model, "DENSE_MAX_NODES", dense_max)
        v = solve.solve_mosfet_batch(net, gates, held, values, 8.5e-4, 0.62, 0.05,
                                     tol=1e-12)
        twin = TwinBenchBatch(net, sources=[src], targets=[tgt])
        assert twin._sparse_args[0] == (net.n_nodes > dense_max)
        twin.set_learning(True)
        v_f, v_c = twin.advance(0.2, 4)
        return v, twin.gates, v_f, v_c

    for dense, sparse in zip(run(10**6), run(0)):
        assert np.allclose(dense, sparse, rtol=0, atol=1e-12)
