"""The power-efficient-learning paper reproduced on the quasistatic engine (N = 64, App. B).

Realisations: ``regression_task`` (App. B) on ``disordered_network(64, 143, seed)``. With the
engine's task geometry (both input edges grounded at one end) most realisations cannot be
learned to zero error (the error stalls at 1e-4..1e-1, not a k_min effect: it stalls the same
with k_min = 1e-9); the paper's noiseless tasks all reach zero error. We therefore use two
realisations that do learn exactly (network seed 5 / task seed 5 and 4 / 6: L → 1e-27 at
λ = 0); the λ = 0 run of each is asserted to converge, so a change in the engine or task
generator that breaks this makes the tests fail rather than pass vacuously. Driving the
input edges symmetrically (±ΔV/2) was tried and learns no more realisations (6/48 either
way; docs/PHYSICS_API.md, "Known mismatches").
"""

import numpy as np
import pytest

from labctl.network import disordered_network
from labctl.physics import LambdaController, train_tasks
from labctl.physics.tasks import regression_task

#: (network seed, regression task seed) of realisations that learn to zero error at λ = 0.
REALISATIONS = [(5, 5), (4, 6)]


def _fit_slope(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


@pytest.mark.parametrize(("net_seed", "task_seed"), REALISATIONS)
def test_small_lambda_error_squared_power_linear(net_seed: int, task_seed: int) -> None:
    """Fig. 2a / Eq. 16: L(λ) − L(0) ∝ λ² and P_F(0) − P_F(λ) ∝ λ at small λ.

    Paper: k0 = 1, η = 1e-3 (weak nudge), k_min = 1e-4, α = 0.33, τ = 1e5 steps, λ down to
    1e-10. Here α = 1.0 and τ = 6000 steps (runtime; λ = 0 is converged to L < 1e-20 by then,
    asserted) and λ ∈ [1e-9, 3e-8]: with η = 1e-3 the power term of the rule is α λ / η, so
    λ ≳ 1e-7 already leaves the small-λ regime (the error jumps by 1e6 in realisation 4/6).
    Measured exponents are printed (pytest -s) and listed in docs/PHYSICS_API.md.
    """
    net = disordered_network(64, 143, seed=net_seed)
    task = regression_task(net, seed=task_seed)
    kw = dict(eta=1e-3, alpha=1.0, k_min=1e-4, k_max=1e3, steps=6000)
    lams = np.logspace(-9, -7.5, 4)
    # one batched call: λ = 0 (the floor) and the four small λ (one λ per task)
    runs = train_tasks(net, 1.0, [task] * 5, lam=np.concatenate([[0.0], lams]), **kw)
    err, power = runs.error, runs.power_free
    assert err[-1, 0] < 1e-20 * err[0, 0]
    d_err = err[-1, 1:] - err[-1, 0]
    d_pow = power[-1, 0] - power[-1, 1:]
    assert np.all(d_err > 0) and np.all(d_pow > 0)
    a, b = _fit_slope(lams, d_err), _fit_slope(lams, d_pow)
    print(f"realisation {net_seed}/{task_seed}: a = {a:.3f}, b = {b:.3f}")
    assert abs(a - 2.0) <= 0.3, f"error exponent a = {a:.3f}"
    assert abs(b - 1.0) <= 0.2, f"power exponent b = {b:.3f}"


@pytest.mark.parametrize(("net_seed", "task_seed"), REALISATIONS)
def test_initialisation_power_scales_with_kappa_then_plateaus(net_seed: int,
                                                              task_seed: int) -> None:
    """Fig. 1d,e: trained free power ∝ κ at high κ, flat near k_min (uniform k0 = κ).

    Paper: κ from 1e-4 to 1e1, k_min = 1e-4, α = 0.33 κ, 1e6 steps. Deviation: 4000 steps
    (runtime), so α = 0.33 max(κ, 1e-2): with α ∝ κ down to k_min the training time grows as
    1/κ (Fig. 1c) and κ = 1e-4 would still be untrained (L/L0 ≈ 0.5) after 4000 steps.
    Measured log-log slopes: 1.00 for κ ≥ 1e-2; 0.16–0.22 between κ = 1e-4 and 3e-4.
    """
    net = disordered_network(64, 143, seed=net_seed)
    task = regression_task(net, seed=task_seed)
    kappas = np.array([1e-4, 3e-4, 1e-2, 1e-1, 1.0, 10.0])
    runs = [train_tasks(net, float(kp), task, eta=1e-3, alpha=0.33 * max(kp, 1e-2), lam=0.0,
                        steps=4000, k_min=1e-4, k_max=1e3) for kp in kappas]
    assert all(r.error_normalised[-1] < 0.1 for r in runs)  # every κ has been trained
    power = np.array([r.power_free[-1] for r in runs])
    high = _fit_slope(kappas[2:], power[2:])
    low = _fit_slope(kappas[:2], power[:2])
    print(f"realisation {net_seed}/{task_seed}: slopes high {high:.3f}, low {low:.3f}")
    assert abs(high - 1.0) <= 0.1, f"high-κ slope {high:.3f}"
    assert low < 0.35, f"near-k_min slope {low:.3f} (plateau expected)"
    assert power[0] > 3.0 * kappas[0] / kappas[2] * power[2]  # well above the ∝ κ line


@pytest.mark.parametrize(("net_seed", "task_seed"), REALISATIONS)
def test_dynamical_lambda_beats_early_stopping(net_seed: int, task_seed: int) -> None:
    """Sec. IV, Eq. 18: λ control reaches L̃ and ends below the early-stopping power.

    The paper's parameters exactly: k0 = k_min = 1e-3, α = 0.03, ρ = 1, p = 0.02,
    L̃ = 1e-3 (η = 1e-3, λ0 = 1e-6, one step = unit time). 20000 steps instead of 1e5.
    Early stopping: the λ = 0 run stopped at its first step with L < L̃.
    """
    net = disordered_network(64, 143, seed=net_seed)
    task = regression_task(net, seed=task_seed)
    tolerated = 1e-3
    kw = dict(eta=1e-3, alpha=0.03, k_min=1e-3, k_max=1e3, steps=20000)
    plain = train_tasks(net, 1e-3, task, lam=0.0, **kw)
    assert np.any(plain.error < tolerated)
    stop = int(np.argmax(plain.error < tolerated))
    controller = LambdaController(target_error=tolerated, rho=1.0, p=0.02, lam0=1e-6)
    ctl = train_tasks(net, 1e-3, task, lam=controller, **kw)
    assert abs(ctl.error[-1] / tolerated - 1.0) < 0.05
    assert ctl.lam[-1] > 1e-6
    assert ctl.power_free[-1] < 0.9 * plain.power_free[stop]
