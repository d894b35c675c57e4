"""labctl.physics.nonequilibrium: limits, conservation and input checks of the simulator."""

import numpy as np
import pytest

from labctl.network import Network, disordered_network, periodic_lattice
from labctl.physics import solve_linear, train_quasistatic
from labctl.physics.nonequilibrium import (
    AUTHORS_MODEL,
    first_time_below,
    largest_rebound,
    train_nonequilibrium,
)

SRC, TGT = {0: 0.0, 1: 1.0}, {30: 0.3, 40: 0.6}
SRC_L, TGT_L = {0: 0.0, 5: 1.0}, {10: 0.2, 7: 0.7}  # on the 4x4 lattice


def test_fast_relaxation_is_the_quasistatic_rule() -> None:
    """γ·dt → ∞: every step sees steady states, so k follows train_quasistatic (α → α·dt)."""
    net = disordered_network(64, 143, seed=0)
    kw = dict(eta=0.1, lam=0.01, k_min=1e-3, k_max=10.0)
    quasi = train_quasistatic(net, 1.0, SRC, TGT, alpha=0.3, steps=100, **kw)
    noneq = train_nonequilibrium(net, 1.0, SRC, TGT, alpha=0.15, gamma=1e12, dt=2.0,
                                 steps=100, **kw)
    assert np.allclose(noneq.conductance[0], quasi.conductance, rtol=1e-9, atol=1e-12)
    assert np.allclose(noneq.error[1:, 0], quasi.error, rtol=1e-9)
    assert np.allclose(noneq.time[:, 0], 2.0 * np.arange(101))


def test_nodes_charge_at_rate_gamma() -> None:
    """Path 0-1-2-3, sources 0 (0 V) and 2 (1 V), target 3 hanging off node 2; nodes start
    discharged. Free copy, k = 1 S: dV1/dt = −γ(2 V1 − 1) and dV3/dt = −γ(V3 − 1), so
    V1 = ½(1 − e^(−2γt)) and V3 = 1 − e^(−γt); learning is off (α ≈ 0).
    """
    net = Network([[0, 1], [1, 2], [2, 3]], 4)
    gammas = np.array([0.5, 2.0])
    r = train_nonequilibrium(net, 1.0, {0: 0.0, 2: 1.0}, {3: 0.2}, eta=0.5, alpha=1e-15,
                             gamma=gammas, dt=1e-4, steps=5000, k_min=1e-3, k_max=10.0,
                             record_every=1000, relaxed_start=False)
    t = 0.5
    assert np.allclose(r.v_free[:, 1], 0.5 * (1 - np.exp(-2 * gammas * t)), atol=1e-4)
    v3 = 1 - np.exp(-gammas[None, :] * r.time)
    assert np.allclose(np.sqrt(2 * r.error), np.abs(0.2 - v3), atol=1e-4)
    # the clamped copy holds node 3 at the nudged value of the instantaneous free copy
    assert np.isclose(r.v_clamped[0, 3], r.v_free[0, 3] + 0.5 * (0.2 - r.v_free[0, 3]))


def test_relaxed_start_is_steady() -> None:
    """Relaxed start, learning off: both copies sit at their steady states, error constant."""
    net = periodic_lattice(4, 4)
    r = train_nonequilibrium(net, 1.0, {0: 0.0, 5: 1.0}, {10: 0.2}, eta=0.5, alpha=1e-15,
                             gamma=0.3, dt=0.1, steps=20, k_min=1e-3, k_max=10.0)
    steady = solve_linear(net, np.ones(32), {0: 0.0, 5: 1.0})
    assert np.allclose(r.v_free[0], steady, atol=1e-12)
    clamped = solve_linear(net, np.ones(32), {0: 0.0, 5: 1.0, 10: r.v_clamped[0, 10]})
    assert np.allclose(r.v_clamped[0], clamped, atol=1e-12)
    assert np.allclose(r.error, r.error[0], rtol=1e-12)


def test_helpers() -> None:
    t = np.arange(5.0)[:, None] * np.array([1.0, 2.0])
    v = np.array([[1.0, 1.0], [0.5, 0.9], [0.05, 0.8], [0.5, 0.7], [0.01, 0.6]])
    assert np.allclose(first_time_below(t, v, 0.1), [2.0, np.nan], equal_nan=True)
    assert np.allclose(largest_rebound(v), [10.0, 1.0])


@pytest.mark.parametrize(("kwargs", "word"), [
    (dict(alpha=-1.0), "alpha"),
    (dict(gamma=[1.0, 2.0, 3.0], alpha=[1.0, 2.0]), "alpha"),
    (dict(dt=0.0), "dt"),
    (dict(eta=1.5), "eta"),
    (dict(lam=1.0), "lam"),
    (dict(steps=0), "steps"),
    (dict(k_min=-1.0), "k_min"),
    (dict(k_ref=0.0), "k_ref"),
])
def test_bad_input_names_the_argument(kwargs: dict, word: str) -> None:
    net = periodic_lattice(4, 4)
    args = dict(eta=0.1, alpha=1.0, gamma=1.0, dt=0.1, steps=5, k_min=1e-3, k_max=10.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=word):
        train_nonequilibrium(net, 1.0, {0: 0.0, 5: 1.0}, {10: 0.2}, **args)


def test_target_that_is_a_source_is_refused() -> None:
    with pytest.raises(ValueError, match="targets"):
        train_nonequilibrium(periodic_lattice(4, 4), 1.0, {0: 0.0, 5: 1.0}, {5: 0.2}, eta=0.1,
                             alpha=1.0, gamma=1.0, dt=0.1, steps=5, k_min=1e-3, k_max=10.0)


def test_continuation_and_equilibrium_error() -> None:
    """A run continued from its final state (v0) equals one long run; the equilibrium error
    is the error of the steady state at the recorded conductances."""
    net = periodic_lattice(4, 4)
    kw = dict(eta=0.1, alpha=2.0, gamma=1.0, dt=0.05, k_min=1e-3, k_max=10.0)
    whole = train_nonequilibrium(net, 1.0, SRC_L, TGT_L, steps=200, **kw)
    half = train_nonequilibrium(net, 1.0, SRC_L, TGT_L, steps=100, **kw)
    rest = train_nonequilibrium(net, half.conductance, SRC_L, TGT_L, steps=100,
                                v0=(half.v_free, half.v_clamped), **kw)
    assert np.allclose(rest.conductance, whole.conductance, rtol=1e-12)
    assert np.allclose(rest.error[:, 0], whole.error[100:, 0], rtol=1e-10)
    steady = solve_linear(net, whole.conductance[0], SRC_L)
    want = 0.5 * sum((v - steady[n]) ** 2 for n, v in TGT_L.items())
    assert whole.error_equilibrium[-1, 0] != pytest.approx(whole.error[-1, 0], rel=1e-3)
    # the last row is recorded before the last update: recompute with one more step
    one = train_nonequilibrium(net, whole.conductance, SRC_L, TGT_L, steps=1,
                               v0=(whole.v_free, whole.v_clamped), **kw)
    assert one.error_equilibrium[0, 0] == pytest.approx(want, rel=1e-10)


def test_authors_model_ground_and_rate_limited_floor() -> None:
    """AUTHORS_MODEL: the last node is held at 0 V in both copies; conductances approach
    k_min without crossing it and are not bounded above."""
    net = periodic_lattice(4, 4)
    r = train_nonequilibrium(net, 1.0, SRC_L, TGT_L, eta=0.1, alpha=20.0, gamma=1.0,
                             dt=0.005, steps=4000, k_min=0.5, record_every=100,
                             **AUTHORS_MODEL)
    assert r.v_free[0, 15] == 0.0 and r.v_clamped[0, 15] == 0.0
    clipped = train_nonequilibrium(net, 1.0, SRC_L, TGT_L, eta=0.1, alpha=20.0, gamma=1.0,
                                   dt=0.005, steps=4000, k_min=0.5, k_max=1.5,
                                   record_every=100, ground="last")
    assert np.sum(clipped.conductance == 0.5) >= 5  # the clip pins edges at the floor
    assert np.all(r.conductance > 0.5)  # the relaxation approaches it from above
    assert np.min(r.conductance) < 0.5 + 1e-6
    assert np.max(r.conductance) > 3.0  # no upper bound
    with pytest.raises(ValueError, match="k_max"):
        train_nonequilibrium(net, 1.0, SRC_L, TGT_L, eta=0.1, alpha=1.0, gamma=1.0, dt=0.1,
                             steps=2, k_min=0.2, k_max=None)
    with pytest.raises(ValueError, match="floor_rate"):
        train_nonequilibrium(net, 1.0, SRC_L, TGT_L, eta=0.1, alpha=1.0, gamma=1.0, dt=0.1,
                             steps=2, k_min=0.2, floor_rate=20.0, **AUTHORS_MODEL)


def test_training_time_caps() -> None:
    """training_time: the papers' task learns; an impossible target (outside the sources'
    range) returns NaN once the step budget is spent."""
    from labctl.physics.nonequilibrium import training_time
    net = periodic_lattice(4, 4)
    t = training_time(net, SRC_L, TGT_L, 3.0, eta=0.1, k_min=1e-3, max_time=1e3)
    assert 0 < t < 1e3
    never = training_time(net, SRC_L, {10: 2.0}, 3.0, eta=0.1, max_steps=4000)
    assert np.isnan(never)
