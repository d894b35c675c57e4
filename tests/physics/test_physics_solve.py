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
