"""Continuous-time twin bench: learns the bench tasks; λ lowers free power; dt converges."""

import math

import numpy as np
import pytest

from labctl.network import periodic_lattice
from labctl.physics import BenchParams, MosfetParams, TwinBench, TwinBenchBatch
from labctl.physics.tasks import random_allostery

NET = periodic_lattice(4, 4)


def _batch(lam, fractions=(0.2, 0.8), n=2, dt=2e-3, seconds=20.0):
    tasks = [random_allostery(NET, s, fractions) for s in range(n)]
    bench = TwinBenchBatch(NET, BenchParams(dt=dt), [s for s, _ in tasks],
                           [t for _, t in tasks], lam=lam, gates0=np.full(32, 2.5))
    err0 = bench.error()
    bench.set_learning(True)
    v_free, _ = bench.advance(seconds, 1)
    return bench.error() / err0, bench.power(v_free[:, -1]), bench


@pytest.mark.parametrize("fractions", [(0.2, 0.8), (0.1, 0.9)])
def test_bench_learns_both_target_sets(fractions):
    """The paper's bench (η = 0.22, α = 1/24 ms, 20 s, sources 0 and 0.45 V): each task's
    normalised error falls below 1e-2, or the gate range is what stops it: the same task
    with the lower gate rail at 0.8 V instead of 1.0 V gets there (seen for two of the
    four 10/90 % tasks, which stall at L/L0 ≈ 1.5–1.8e-2 on the 1.0–5.5 V bench)."""
    norm_err, _, bench = _batch(0.0, fractions, n=4)
    gates = np.atleast_2d(bench.gates)
    assert np.all(gates >= 1.0) and np.all(gates <= 5.5)
    assert np.mean(norm_err < 1e-2) >= 0.5
    stalled = np.flatnonzero(norm_err >= 1e-2)
    if stalled.size:
        wider = BenchParams(mosfet=MosfetParams(gate_min=0.8))
        tasks = [random_allostery(NET, int(s), fractions) for s in stalled]
        twin = TwinBenchBatch(NET, wider, [s for s, _ in tasks], [t for _, t in tasks],
                              lam=0.0, gates0=np.full(32, 2.5))
        err0 = twin.error()
        twin.set_learning(True)
        twin.advance(20.0, 1)
        assert np.all(twin.error() / err0 < 1e-2)


def test_free_power_falls_with_lambda():
    p0 = _batch(0.0)[1]
    p1 = _batch(0.055)[1]
    assert np.all(p1 < p0)


def test_halving_the_step_converges():
    e1, p1, _ = _batch(0.0, n=1, dt=4e-3, seconds=3.0)
    e2, p2, _ = _batch(0.0, n=1, dt=2e-3, seconds=3.0)
    assert e1 == pytest.approx(e2, rel=0.05)
    assert p1 == pytest.approx(p2, rel=1e-3)


def test_single_bench_contract():
    bench = TwinBench(NET, BenchParams(gamma=200.0), gates0=np.full(32, 2.5))
    bench.set_sources({0: 0.0, 10: 0.45})
    bench.set_targets({5: 0.091, 15: 0.363})
    bench.set_learning(True)
    v_f, v_c = bench.advance(0.1, 5)
    assert v_f.shape == v_c.shape == (5, 16)
    assert math.isclose(bench.t, 0.1)
    assert bench.power(v_f[-1]) > 0 and bench.conductance().shape == (32,)
    assert bench.edge_currents(v_f[-1]).shape == (32,)
    with pytest.raises(ValueError, match="eta"):
        bench.set_eta(0.0)
    with pytest.raises(ValueError, match="targets"):
        bench.set_targets({0: 0.1})


def test_compiled_dynamics_match_plain_reference_loop():
    from labctl.physics.reference import twin_bench_reference
    tasks = [random_allostery(NET, s) for s in range(3)]
    lam = np.array([0.0, 0.02, 0.055])
    params = BenchParams(mosfet=MosfetParams(mismatch_S=0.05, mismatch_V_T=0.01,
                                             twin_mismatch_S=0.02))
    srcs, tgts = [s for s, _ in tasks], [t for _, t in tasks]
    bench = TwinBenchBatch(NET, params, srcs, tgts, lam=lam, gates0=np.full(32, 2.5))
    bench.set_learning(True)
    v_f, v_c = bench.advance(0.4, 4)
    g_ref, vf_ref, vc_ref = twin_bench_reference(NET, params, srcs, tgts, lam,
                                                 np.full(32, 2.5), 0.4)
    assert np.max(np.abs(bench.gates - 2.5)) > 0.05  # the gates really moved
    assert np.allclose(bench.gates, g_ref, rtol=1e-9, atol=0)
    assert np.allclose(v_f[:, -1], vf_ref, rtol=0, atol=1e-10)
    assert np.allclose(v_c[:, -1], vc_ref, rtol=0, atol=1e-10)


def _assert_kirchhoff(bench: TwinBenchBatch) -> None:
    """Every free node of both copies of every task has KCL residual below the Newton
    tolerance, 1e-12 × the largest S (A)."""
    a, b = bench.network.edges.T
    scale = np.max(bench.s_free)
    for copy, v, held in (("free", bench.v_free, bench._src),
                          ("clamped", bench.v_clamp, np.hstack([bench._src, bench._tgt]))):
        cur = bench.edge_currents(v, copy)
        out = np.zeros_like(v)
        np.add.at(out, (slice(None), a), cur)
        np.subtract.at(out, (slice(None), b), cur)
        np.put_along_axis(out, held, 0.0, axis=1)
        assert np.max(np.abs(out)) < 1e-12 * scale


def test_compiled_states_meet_the_newton_tolerance():
    """KCL residuals after many one-iteration (bounded-remainder) Newton solves stay < tol."""
    tasks = [random_allostery(NET, s) for s in range(4)]
    bench = TwinBenchBatch(NET, BenchParams(), [s for s, _ in tasks], [t for _, t in tasks],
                           gates0=np.full(32, 2.5))
    bench.set_learning(True)
    bench.advance(1.0, 2)
    _assert_kirchhoff(bench)


@pytest.mark.parametrize("net", [NET, periodic_lattice(6, 6)], ids=["4x4 dense", "6x6 sparse"])
def test_a_new_twin_settles_where_the_numpy_solver_does(net):
    """The first steady state of a twin (compiled Newton from the linear networks'
    solution) is the NumPy solver's to its tolerance, Kirchhoff's law holds at every free
    node of both copies, and twins on one network share one assembler."""
    tasks = [random_allostery(net, s) for s in range(3)]
    bench = TwinBenchBatch(net, BenchParams(), [s for s, _ in tasks], [t for _, t in tasks],
                           gates0=np.full(net.n_edges, 2.5))
    bench._states(0.0)
    v_free = bench._steady("free", None)
    bench2 = TwinBenchBatch(net, BenchParams(), [s for s, _ in tasks], [t for _, t in tasks],
                            gates0=np.full(net.n_edges, 2.5))
    assert bench2.asm is bench.asm
    bench2.v_free = v_free
    v_clamp = bench2._steady("clamped", v_free)
    assert np.allclose(bench.v_free, v_free, rtol=0, atol=1e-12)
    assert np.allclose(bench.v_clamp, v_clamp, rtol=0, atol=1e-12)
    _assert_kirchhoff(bench)


def test_leak_noise_and_call_boundaries():
    """Gate leak follows (1 − h·leak)^n; noise is seeded; split calls equal one long call."""
    src, tgt = random_allostery(NET, 0)
    quiet = TwinBench(NET, BenchParams(gate_leak=2.0, gate_rest=1.5), gates0=np.full(32, 2.5))
    quiet.set_sources(src)
    quiet.set_targets(tgt)
    quiet.advance(0.5, 1)
    assert np.allclose(quiet.gates, 1.5 + (1.0 - 2e-3 * 2.0) ** 250, rtol=1e-12)

    def noisy(splits):
        bench = TwinBench(NET, BenchParams(rule_noise=0.05, seed=3), gates0=np.full(32, 2.5))
        bench.set_sources(src)
        bench.set_targets(tgt)
        bench.set_learning(True)
        handed_out = bench._b.gates
        for _ in range(splits):
            bench.advance(0.5 / splits, 1)
        assert np.all(handed_out == 2.5)  # arrays handed out before are never mutated
        return bench.gates

    one, two = noisy(1), noisy(2)
    assert np.allclose(one, two, rtol=1e-9, atol=0)
    clean = TwinBench(NET, BenchParams(seed=3), gates0=np.full(32, 2.5))
    clean.set_sources(src)
    clean.set_targets(tgt)
    clean.set_learning(True)
    clean.advance(0.5, 1)
    assert np.max(np.abs(one - clean.gates)) > 1e-3


@pytest.mark.parametrize("gamma", [math.inf, 200.0])
def test_new_targets_mid_run_resettle(gamma):
    bench = TwinBench(NET, BenchParams(gamma=gamma), gates0=np.full(32, 2.5))
    bench.set_sources({0: 0.0, 10: 0.45})
    bench.set_targets({5: 0.091, 15: 0.363})
    bench.set_learning(True)
    bench.advance(0.05, 1)
    bench.set_targets({6: 0.2, 12: 0.3})
    v_f, v_c = bench.advance(0.05, 2)
    assert np.all(np.isfinite(v_c)) and np.all(np.isfinite(bench.gates))
    assert v_f[-1, 6] != pytest.approx(v_c[-1, 6], abs=1e-6)  # clamped copy nudged at node 6
