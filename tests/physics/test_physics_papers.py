"""The power-efficient-learning paper reproduced on the quasistatic engine (N = 64, App. B).

Realisations: regression tasks with floating inputs and one ground (the authors' drive) on
periodic jammed N = 64 networks (``jammed64`` fixture, cached for the session). The papers
keep only the tasks that learn at λ = 0 and average over them with a geometric mean
(labctl.physics.selection); so do these tests.

Small λ and the noise floor (Fig. 2a / Eq. 16, App. C) at the papers' statistics, ≥ 10
tasks, with two deviations for CI time, stated: α = 1 instead of 0.33–0.5 (α = 2 is already
unstable at η = 1e-3, so the time cannot be bought with a larger α) and 1e4 steps instead of
1e5. The λ = 0 run must then converge far below the λ-induced error shift (an unconverged
floor adds a cross term ∝ λ to L(λ) − L(0)), which only the fastest-learning tasks do in
1e4 steps. ``SMALL_LAMBDA_TASKS`` is a cached selection, measured once: of the first eight
tasks of each of the networks 0–10 (task seed 1000·net + t, 88 candidates), 15 reach
L/L0 < 1e-10 within 1e4 steps at α = 1 (the papers' criterion, in a tenth of their steps);
the 10 kept are those whose λ = 0 run ends below 1 % of the error shift at the smallest λ
of ``LAMS`` (a fast-learning subset of the learnable tasks). Each test re-asserts what it
needs of the λ = 0 run, so a change in the engine or the generators that breaks the
selection fails instead of passing vacuously. Exponents and their bootstrap standard errors
over tasks are asserted with tolerances of 3 standard errors.
"""

from collections.abc import Callable

import numpy as np
import pytest

from labctl.network import Network
from labctl.physics import LambdaController, train_tasks
from labctl.physics.selection import geometric_mean, geometric_spread
from labctl.physics.tasks import Task, regression_task

#: (network seed, task seed) of the fast-learning tasks (see the module docstring)
SMALL_LAMBDA_TASKS = [(0, 4), (1, 1000), (2, 2000), (2, 2007), (3, 3006), (4, 4003), (4, 4005),
                      (6, 6005), (6, 6007), (7, 7007)]
#: quasistatic steps of every small-λ and noise-floor run, and their learning rate (S/V²)
STEPS = 10000
ALPHA = 1.0
#: λ grid inside the small-λ window (its lower edge: the shift ≫ the λ = 0 floor; upper
#: edge: free-power drop ≤ 10 % of P(0), linear response)
LAMS = np.array([3e-9, 1e-8, 3e-8])
#: bootstrap resamples over tasks (seeded)
N_BOOT = 2000
#: realisations (network seed = task seed) of the λ-control test
REALISATIONS = [0, 6]
KW = dict(eta=1e-3, k_min=1e-4, k_max=1e6)


def _fit_slope(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def _boot_slope(x: np.ndarray, per_task: np.ndarray, seed: int) -> tuple[float, float]:
    """Slope of log(geometric mean over tasks) against log x, and its bootstrap standard
    error over tasks (rows of ``per_task``)."""
    rng = np.random.default_rng(seed)
    n = per_task.shape[0]
    boot = [_fit_slope(x, geometric_mean(per_task[rng.integers(0, n, n)]))
            for _ in range(N_BOOT)]
    return _fit_slope(x, geometric_mean(per_task)), float(np.std(boot, ddof=1))


@pytest.fixture(scope="module")
def fast_tasks(jammed64: Callable[[int], Network]) -> list[tuple[Network, Task]]:
    """(network, task) of every SMALL_LAMBDA_TASKS entry."""
    return [(jammed64(n), regression_task(jammed64(n), seed=t)) for n, t in SMALL_LAMBDA_TASKS]


@pytest.fixture(scope="module")
def sweep(fast_tasks: list[tuple[Network, Task]]) -> dict[str, np.ndarray]:
    """Noise-free λ sweep (λ = 0 and LAMS) of every fast task from k0 = 1 S: initial error
    (V²), final error (V²) and final free power (W), one row per task."""
    init, err, power = [], [], []
    for net, task in fast_tasks:
        r = train_tasks(net, 1.0, [task] * (1 + LAMS.size), lam=np.r_[0.0, LAMS],
                        alpha=ALPHA, steps=STEPS, **KW)
        init.append(r.error[0, 0])
        err.append(r.error[-1])
        power.append(r.power_free[-1])
    return {"init": np.array(init), "error": np.array(err), "power": np.array(power)}


def test_small_lambda_error_squared_power_linear(sweep: dict[str, np.ndarray]) -> None:
    """Fig. 2a / Eq. 16: L(λ) − L(0) ∝ λ^a, a ≈ 2, and P_F(0) − P_F(λ) ∝ λ^b, b ≈ 1 at small
    λ, geometric means over ≥ 10 selected tasks (paper: 50 realisations, 1e5 steps).

    Paper: k0 = 1, η = 1e-3, k_min = 1e-4, α = 0.33, 1e5 steps; here α = 1, STEPS steps
    (module docstring). Window, asserted task by task: the λ = 0 floor is below 1 % of the
    error shift at the smallest λ (lower edge) and the free power falls by at most 10 % at
    the largest (upper edge: linear response).
    """
    err, power, init = sweep["error"], sweep["power"], sweep["init"]
    n_tasks = err.shape[0]
    assert n_tasks >= 10
    assert np.all(err[:, 0] < 1e-10 * init), "the selected tasks learn at λ = 0"
    d_err = err[:, 1:] - err[:, :1]
    d_pow = power[:, :1] - power[:, 1:]
    assert np.all(d_err > 0) and np.all(d_pow > 0)
    assert np.all(err[:, 0] < 0.01 * d_err[:, 0]), "λ = 0 floor masks the smallest shift"
    assert np.all(d_pow[:, -1] <= 0.10 * power[:, 0]), "largest λ beyond linear response"
    a, sa = _boot_slope(LAMS, d_err, seed=1)
    b, sb = _boot_slope(LAMS, d_pow, seed=2)
    print(f"{n_tasks} tasks: a = {a:.3f} ± {sa:.3f}, b = {b:.4f} ± {sb:.4f}")
    assert abs(a - 2.0) <= 3 * sa, f"error exponent a = {a:.3f} ± {sa:.3f}"
    assert abs(b - 1.0) <= 3 * sb, f"power exponent b = {b:.4f} ± {sb:.4f}"
    assert sa < 0.15 and sb < 0.05, "standard errors too wide for a test"


#: App. C: white noise δ (S per step) on every update; λ below and above the noise floor
NOISE = 5e-4
NOISE_STEPS = 6000
NOISE_AVERAGE = 2000
LAM_BELOW = 3e-8
LAM_ABOVE = 1e-6


def test_noise_floor_and_free_power_saving(fast_tasks: list[tuple[Network, Task]],
                                           sweep: dict[str, np.ndarray]) -> None:
    """App. C / Fig. 3d: rule noise δ = 5e-4 makes an error floor; λ below the floor lowers
    the free power at almost no error cost, λ above it raises the error.

    Same ≥ 10 selected tasks (their noise-free λ = 0 runs, ``sweep``, are the selection);
    α = 1, NOISE_STEPS steps, error and power averaged over the last NOISE_AVERAGE steps
    (the paper states neither its α nor its η here, so the floor's value, ~1e-5 in the
    paper, is printed, not compared). Asserted on geometric means over tasks: the floor is
    the noise's (≥ 1e3 × the noise-free λ = 0 error); at λ = LAM_BELOW the error stays
    within 20 % of the floor while the mean free-power drop exceeds 3 standard errors; at
    λ = LAM_ABOVE the error is above the floor by more than 3 standard errors.
    """
    err = np.empty((len(fast_tasks), 3))
    power = np.empty_like(err)
    for i, (net, task) in enumerate(fast_tasks):
        for j, lam in enumerate((0.0, LAM_BELOW, LAM_ABOVE)):
            # the same noise seed at every λ of a task: λ is compared under the same kicks
            r = train_tasks(net, 1.0, task, lam=lam, alpha=ALPHA, steps=NOISE_STEPS,
                            noise=NOISE, seed=i, **KW)
            err[i, j] = r.error[-NOISE_AVERAGE:].mean()
            power[i, j] = r.power_free[-NOISE_AVERAGE:].mean()
    assert err.shape[0] >= 10
    floor = geometric_mean(err[:, 0])
    assert np.all(err[:, 0] > 1e3 * sweep["error"][:, 0]), "the floor is the noise's"
    ratio = err[:, 1:] / err[:, :1]
    g_ratio = geometric_mean(ratio)
    s_ratio = geometric_spread(ratio)  # standard error of ln(geometric mean)
    drop = 1.0 - power[:, 1] / power[:, 0]
    sem = drop.std(ddof=1) / np.sqrt(drop.size)
    print(f"{err.shape[0]} tasks: floor {floor:.3g} V²; λ = {LAM_BELOW:g}: L/L(0) = "
          f"{g_ratio[0]:.3f} (×/÷ {np.exp(s_ratio[0]):.3f}), power drop "
          f"{100 * drop.mean():.2f} ± {100 * sem:.2f} %; λ = {LAM_ABOVE:g}: L/L(0) = "
          f"{g_ratio[1]:.3g} (×/÷ {np.exp(s_ratio[1]):.3f})")
    assert g_ratio[0] <= 1.2, "error cost below the floor"
    assert drop.mean() > 3 * sem and drop.mean() > 0, "no free-power saving below the floor"
    assert np.log(g_ratio[1]) > 3 * s_ratio[1], "λ above the floor should raise the error"


@pytest.mark.parametrize("seed", REALISATIONS)
def test_dynamical_lambda_beats_early_stopping(
        seed: int, jammed64: Callable[[int], Network]) -> None:
    """Sec. IV, Eq. 18: λ control reaches L̃ and ends below the early-stopping power.

    The paper's parameters: k0 = k_min = 1e-3, α = 0.03, ρ = 1, p = 0.02, L̃ = 1e-3 (labctl's
    L with ½, as in the paper's text), η = 1e-3, λ0 = 1e-6, one step = unit time; 20000 steps
    instead of 1e5. Early stopping: the λ = 0 run stopped at its first step with L < L̃.
    """
    net = jammed64(seed)
    task = regression_task(net, seed=seed)
    tolerated = 1e-3
    kw = dict(eta=1e-3, alpha=0.03, k_min=1e-3, k_max=1e6, steps=20000)
    plain = train_tasks(net, 1e-3, task, lam=0.0, **kw)
    assert np.any(plain.error < tolerated)
    stop = int(np.argmax(plain.error < tolerated))
    controller = LambdaController(target_error=tolerated, rho=1.0, p=0.02, lam0=1e-6)
    ctl = train_tasks(net, 1e-3, task, lam=controller, **kw)
    print(f"realisation {seed}: L = {ctl.error[-1]:.4e}, P = {ctl.power_free[-1]:.3e} vs "
          f"early stopping {plain.power_free[stop]:.3e}")
    assert abs(ctl.error[-1] / tolerated - 1.0) < 0.05
    assert ctl.lam[-1] > 1e-6
    assert ctl.power_free[-1] < 0.9 * plain.power_free[stop]
