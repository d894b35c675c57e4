"""Continuous-time twin bench: learns the bench tasks; λ lowers free power; dt converges."""

import math

import numpy as np
import pytest

from labctl.network import periodic_lattice
from labctl.physics import BenchParams, TwinBench, TwinBenchBatch
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


@pytest.mark.parametrize(("fractions", "limit"), [((0.2, 0.8), 1e-2), ((0.1, 0.9), 3e-2)])
def test_bench_learns_both_target_sets(fractions, limit):
    # 10/90 % targets: one task's gates hit the 1.0 V rail, its error stalls at ~1.8e-2
    norm_err, _, bench = _batch(0.0, fractions)
    assert np.all(norm_err < limit)
    assert np.all(bench.gates >= 1.0) and np.all(bench.gates <= 5.5)


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
