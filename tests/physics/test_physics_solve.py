"""Kirchhoff's law and power balance of the steady-state solvers; input validation."""

import numpy as np
import pytest

from labctl.network import disordered_network, periodic_lattice
from labctl.physics import MosfetParams, solve_linear, solve_mosfet, train_quasistatic
from labctl.physics.edges import mosfet_current
from labctl.physics.solve import Assembler


def _balance(net, v, current, held):
    out = Assembler(net).outflow(current[None])[0]
    free = np.setdiff1d(np.arange(net.n_nodes), held)
    scale = Assembler(net).outflow(np.abs(current)[None])[0] + np.abs(current).max()
    kcl = np.max(np.abs(out[free]) / scale[free])
    delivered = np.sum(v[held] * out[held])
    dissipated = np.sum(current * net.drops(v))
    return kcl, abs(delivered - dissipated) / dissipated


def test_linear_kcl_and_power_batched():
    net = disordered_network(64, 143, seed=3)
    rng = np.random.default_rng(0)
    k = rng.uniform(1e-3, 10.0, size=(5, net.n_edges))
    v = solve_linear(net, k, {0: 1.0, 7: 0.0, 20: np.linspace(0.1, 0.5, 5)})
    for b in range(5):
        kcl, pw = _balance(net, v[b], k[b] * net.drops(v[b]), np.array([0, 7, 20]))
        assert kcl < 1e-9 and pw < 1e-9


def test_mosfet_kcl_power_with_mismatch():
    net = periodic_lattice(4, 4)
    p = MosfetParams(mismatch_S=0.05, mismatch_V_T=0.02)
    (s, vt), _ = p.edge_constants(net.n_edges, seed=1)
    gates = np.random.default_rng(2).uniform(1.0, 5.5, size=(3, net.n_edges))
    from labctl.physics.solve import solve_mosfet_batch
    v = solve_mosfet_batch(net, gates, np.array([0, 5]), np.array([0.0, 0.45]), s, vt,
                           p.smoothing)
    a, b = net.edges.T
    for i in range(3):
        cur = mosfet_current(v[i, a], v[i, b], gates[i], s, vt, p.smoothing)[0]
        kcl, pw = _balance(net, v[i], cur, np.array([0, 5]))
        assert kcl < 1e-9 and pw < 1e-9


def test_mosfet_law_regions():
    p = MosfetParams(smoothing=0.0)
    g = np.array([2.0])
    tri = mosfet_current(np.array([0.3]), np.array([0.1]), g, p.S, p.V_T, 0.0)[0]
    assert tri[0] == pytest.approx(p.S * (2.0 - 0.62 - 0.2) * 0.2)
    sat = mosfet_current(np.array([2.0]), np.array([0.1]), g, p.S, p.V_T, 0.0)[0]
    assert sat[0] == pytest.approx(0.5 * p.S * (2.0 - 0.62 - 0.1) ** 2)
    off = mosfet_current(np.array([2.0]), np.array([1.9]), g, p.S, p.V_T, 0.0)[0]
    assert off[0] == 0.0
    soft = mosfet_current(np.array([0.3]), np.array([0.1]), g, p.S, p.V_T,
                          MosfetParams().smoothing)[0]
    assert soft[0] == pytest.approx(tri[0], rel=1e-3)


def test_mosfet_solution_in_range():
    net = periodic_lattice(4, 4)
    v = solve_mosfet(net, np.full(32, 1.0), {0: 0.0, 5: 0.45})
    assert np.all((v >= -1e-12) & (v <= 0.45 + 1e-12))


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"sources": {99: 0.0, 1: 1.0}}, "sources"),
        ({"targets": {1: 0.5}}, "targets"),
        ({"eta": 0.0}, "eta"),
        ({"eta": 1.5}, "eta"),
        ({"lam": 1.0}, "lam"),
        ({"lam": -0.1}, "lam"),
        ({"k_min": 0.0}, "k_min"),
        ({"k_max": -1.0}, "k_max"),
    ],
)
def test_validation(kwargs, word):
    net = periodic_lattice(4, 4)
    args = {"sources": {0: 0.0, 1: 1.0}, "targets": {5: 0.3}, "eta": 0.1, "lam": 0.0,
            "k_min": 1e-3, "k_max": 10.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=word):
        train_quasistatic(net, 1.0, args["sources"], args["targets"], eta=args["eta"],
                          alpha=0.1, lam=args["lam"], steps=2, k_min=args["k_min"],
                          k_max=args["k_max"])


def test_disconnected_and_bad_held():
    from labctl.network import Network
    with pytest.raises(ValueError, match="disconnected"):
        Network([[0, 1], [2, 3]], 4)
    net = periodic_lattice(4, 4)
    with pytest.raises(ValueError, match="held"):
        solve_linear(net, np.ones(32), {16: 0.0})
    with pytest.raises(ValueError, match="conductance"):
        solve_linear(net, -np.ones(32), {0: 0.0})


def test_disordered_network_seeded_and_planar_size():
    a, b = disordered_network(seed=5), disordered_network(seed=5)
    assert np.array_equal(a.edges, b.edges)
    assert (a.n_nodes, a.n_edges) == (64, 143)
    assert not np.array_equal(a.edges, disordered_network(seed=6).edges)


def test_envelope_order_covers_every_edge():
    from labctl.physics.kernels_linear import envelope_order
    net = disordered_network(seed=0)
    pos, first, row_ptr = envelope_order(net)
    assert sorted(pos) == list(range(net.n_nodes))
    pa, pb = pos[net.edges[:, 0]], pos[net.edges[:, 1]]
    hi, lo = np.maximum(pa, pb), np.minimum(pa, pb)
    assert np.all(first[hi] <= lo)
    assert row_ptr[-1] == np.sum(np.arange(net.n_nodes) - first + 1)
    # RCM must beat the natural numbering's envelope on this network
    natural = np.arange(net.n_nodes)
    np.minimum.at(natural, net.edges.max(1), net.edges.min(1))
    assert row_ptr[-1] < np.sum(np.arange(net.n_nodes) - natural + 1)


def test_observe_kernel_matches_dense_solves():
    """Free and clamped states of the compiled kernel equal dense solves (30 examples, T=3)."""
    from labctl.physics.quasistatic import QuasistaticEngine
    from labctl.physics.tasks import iris_task
    net = disordered_network(seed=4)
    task = iris_task(net, seed=0)
    eng = QuasistaticEngine(net, [task])
    k = np.random.default_rng(1).uniform(1e-3, 10.0, net.n_edges)
    n_ex = task.desired.shape[0]
    sq_f, sq_c = np.empty(net.n_edges), np.empty(net.n_edges)
    err, p_f, p_c = eng.observe(0, k, 0.3, sq_f, sq_c, eng.scratch())
    tgt = np.flatnonzero(task.output_matrix.any(0))
    held = dict(zip(task.source_nodes.tolist(), task.source_values.T))
    v_f = solve_linear(net, np.broadcast_to(k, (n_ex, net.n_edges)), held)
    y_f = v_f @ task.output_matrix.T
    clamp = y_f + 0.3 * (task.desired - y_f)
    for col, node in enumerate(np.argmax(task.output_matrix, axis=1)):
        held[int(node)] = clamp[:, col]
    assert sorted(tgt) == sorted(np.argmax(task.output_matrix, axis=1))
    v_c = solve_linear(net, np.broadcast_to(k, (n_ex, net.n_edges)), held)
    want_f, want_c = np.mean(net.drops(v_f) ** 2, 0), np.mean(net.drops(v_c) ** 2, 0)
    assert np.allclose(sq_f, want_f, rtol=1e-10, atol=1e-14)
    assert np.allclose(sq_c, want_c, rtol=1e-10, atol=1e-14)
    assert err == pytest.approx(0.5 * np.mean(np.sum((task.desired - y_f) ** 2, 1)), rel=1e-10)
    assert p_f == pytest.approx(np.sum(k * want_f), rel=1e-10)
    assert p_c == pytest.approx(np.sum(k * want_c), rel=1e-10)
