"""Initialisation κ (power-efficient-physical-learning Sec. II B, Fig. 1c–f): uniform
initial conductance κ (S), learning rate α ∝ κ, every run trained until its error reaches
the threshold, so that the training time and the training energy of every κ are measured
(not bounded by a fixed run length).

The paper's quantities, per task and κ:

* training time T: the first step (epoch, interpolated) at which L ≤ ``threshold``
  (Fig. 1c);
* training energy E = Σ P^F · (1 step) up to T (Fig. 1f; W·step, i.e. J per unit step
  time): "the integral over the free state power during training, until the error
  reaches a certain tolerable level";
* trained free power P^F (Fig. 1d,e; W): the power of the learned solution, taken once the
  error has fallen to ``settle`` (≤ ``threshold``; the paper trains 1e6 steps, by when its
  runs have settled), so that the solution, not the transient, is measured.

Runs proceed in chunks of steps and stop when settled or at ``max_steps`` (the paper's run
length): chunking is exact because the quasistatic rule has no memory beyond k. A run that
never reaches the threshold has NaN time and its whole-run energy, a lower bound.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from labctl.analysis.fits import fit_power_law
from labctl.analysis.load import first_crossing
from labctl.network import Network
from labctl.physics import train_tasks
from labctl.physics.tasks import Task

log = logging.getLogger(__name__)

#: first chunk of steps; later chunks double up to MAX_CHUNK (steps)
FIRST_CHUNK = 500
MAX_CHUNK = 20_000


@dataclass
class KappaRuns:
    """Measured per task (rows) and κ (columns): ``time`` steps to the threshold (NaN if
    not reached within the cap), ``energy`` Σ P^F up to it (W·step; the whole run's, a lower
    bound, where not reached), ``power`` trained free power (W) at the settle level (at the
    run's end where not settled), ``settled`` whether it got there, ``steps`` run length."""

    kappas: np.ndarray
    time: np.ndarray
    energy: np.ndarray
    power: np.ndarray
    settled: np.ndarray
    steps: np.ndarray

    @property
    def reached(self) -> np.ndarray:
        """Whether each run reached the threshold (bool, tasks × κ)."""
        return np.isfinite(self.time)


def two_example_twin(task: Task) -> Task:
    """The floating-input regression ``task`` with its training examples replaced by two of
    the same second moments ⟨x xᵀ⟩ (V²) and the same target map Ã (desired = Ã x).

    For a linear network, the ground at 0 V and noise-free linear labels, the free and
    clamped drops are linear in x, so the error, the free power and the rule's update
    (means over examples of quadratic forms in x) depend on the examples only through
    ⟨x xᵀ⟩: the twin trains identically (tests/physics/test_paper_kappa.py) at a fraction
    of the solves. x_j = √2 · column j of the Cholesky factor of ⟨x xᵀ⟩, so
    ½ Σ_j x_j x_jᵀ = ⟨x xᵀ⟩. ValueError for a task without floating inputs, with held
    sources other than 0 V, or with labels that are not a noise-free linear map of x.
    """
    x = task.input_values
    if x is None or np.any(task.source_values != 0.0):
        raise ValueError("task: a twin needs floating inputs and held sources at 0 V")
    target_map, *_ = np.linalg.lstsq(x, task.desired, rcond=None)
    if not np.allclose(x @ target_map, task.desired, rtol=0.0, atol=1e-12):
        raise ValueError("task: labels are not a noise-free linear map of the inputs")
    pair = np.sqrt(2.0) * np.linalg.cholesky(x.T @ x / len(x)).T
    return Task(task.source_nodes, np.zeros((2, task.source_values.shape[1])),
                task.output_matrix, pair @ target_map, input_matrix=task.input_matrix,
                input_values=pair)


def train_to_threshold(network: Network, tasks: list[Task], kappa: float, *, alpha: float,
                       threshold: float, settle: float, max_steps: int, eta: float,
                       k_min: float, k_max: float) -> tuple[np.ndarray, ...]:
    """Train ``tasks`` (one network) from uniform k = ``kappa`` (S) at λ = 0 with learning
    rate ``alpha`` (S/V² per step) until each task's error L (V², with ½) is ≤ ``settle``
    or ``max_steps`` steps ran.

    Returns per task (time to ``threshold`` in steps or NaN, energy to it in W·step or the
    whole run's, trained power in W, settled flag, steps run).
    """
    if not 0 < settle <= threshold:
        raise ValueError(f"settle: {settle:g} V²; allowed (0, threshold = {threshold:g}] V²")
    n = len(tasks)
    k = np.full((n, network.n_edges), float(kappa))
    time = np.full(n, np.nan)
    energy = np.full(n, np.nan)  # to the threshold (W·step)
    spent = np.zeros(n)  # cumulative Σ P^F through the last step run (W·step)
    power = np.full(n, np.nan)
    settled = np.zeros(n, dtype=bool)
    done = np.zeros(n, dtype=int)
    last_err = np.full(n, np.nan)  # error at step done − 1 (V²)
    active = np.arange(n)
    chunk = FIRST_CHUNK
    kw = {"eta": eta, "alpha": alpha, "lam": 0.0, "k_min": k_min, "k_max": k_max}
    while active.size and done[active[0]] < max_steps:
        s0 = int(done[active[0]])
        m = min(chunk, max_steps - s0)
        r = train_tasks(network, k[active], [tasks[i] for i in active], steps=m, **kw)
        k[active] = r.conductance
        for col, i in enumerate(active):
            err, pf = r.error[:, col], r.power_free[:, col]
            cum = spent[i] + np.cumsum(pf)
            if np.isnan(time[i]):
                steps = np.arange(s0 - (s0 > 0), s0 + m, dtype=float)
                e = np.r_[last_err[i], err] if s0 else err
                c = np.r_[spent[i], cum] if s0 else cum
                time[i] = first_crossing(steps, e, threshold)
                if np.isfinite(time[i]):
                    energy[i] = float(np.interp(time[i], steps, c))
            below = np.flatnonzero(err <= settle)
            stop = int(below[0]) if below.size else m - 1
            settled[i] = bool(below.size)
            power[i] = pf[stop]
            done[i] = s0 + stop + 1
            spent[i] = cum[stop]
            last_err[i] = err[stop]
        active = active[~settled[active]]
        chunk = min(2 * chunk, MAX_CHUNK)
    energy = np.where(np.isfinite(time), energy, spent)
    return time, energy, power, settled, done


def sweep(items: list[tuple[Network, Task]], kappas: np.ndarray, *, alpha_per_kappa: float,
          threshold: float, settle: float, max_steps: int, eta: float, k_min: float,
          k_max: float) -> KappaRuns:
    """Every (network, task) of ``items`` at every κ of ``kappas`` (S), α = alpha_per_kappa ·
    κ; tasks sharing a network are trained as one batch. Rows follow ``items``."""
    shape = (len(items), len(kappas))
    out = [np.empty(shape) for _ in range(3)] + [np.empty(shape, dtype=bool),
                                                  np.empty(shape, dtype=int)]
    groups: dict[int, list[int]] = {}
    for i, (net, _) in enumerate(items):
        groups.setdefault(id(net), []).append(i)
    for rows in groups.values():
        net = items[rows[0]][0]
        for j, kp in enumerate(kappas):
            res = train_to_threshold(net, [items[i][1] for i in rows], float(kp),
                                     alpha=alpha_per_kappa * float(kp), threshold=threshold,
                                     settle=settle, max_steps=max_steps, eta=eta,
                                     k_min=k_min, k_max=k_max)
            for arr, val in zip(out, res):
                arr[rows, j] = val
            log.info("κ = %.3g S: %d task(s), %d reached the threshold, %d steps run",
                     kp, len(rows), int(np.isfinite(res[0]).sum()), int(res[4].sum()))
    return KappaRuns(np.asarray(kappas, dtype=float), *out)


@dataclass
class Minimum:
    """Where the geometric-mean training energy is lowest (``best`` index into κ, −1 if
    no κ reached the threshold in every task) and, on each side (``sides``: below, above),
    the largest rise E(κ)/E(best) (geometric mean over tasks, dimensionless) with the
    standard error of its logarithm (NaN with one task) and its κ index."""

    best: int
    rise: tuple[float, float]
    log_sigma: tuple[float, float]
    at: tuple[int, int]

    @property
    def interior(self) -> bool:
        """True if on both sides some κ costs more energy than the minimum by more than two
        standard errors (with one task: at all)."""
        return self.best >= 0 and all(
            r > 1.0 and (not np.isfinite(s) or np.log(r) > 2.0 * s)
            for r, s in zip(self.rise, self.log_sigma))


def energy_minimum(energy: np.ndarray, reached: np.ndarray) -> Minimum:
    """The minimum of the geometric-mean training energy over κ (columns of ``energy``,
    tasks × κ, W·step), chosen among the κ where every task reached the threshold; a run
    that did not reach it enters through its whole-run energy, a lower bound, which can
    only understate a rise."""
    energy = np.atleast_2d(np.asarray(energy, dtype=float))
    ok = np.all(np.atleast_2d(reached), axis=0)
    if not ok.any():
        return Minimum(-1, (np.nan, np.nan), (np.nan, np.nan), (-1, -1))
    log_e = np.log(energy)
    best = int(np.argmin(np.where(ok, log_e.mean(axis=0), np.inf)))
    ratio = log_e - log_e[:, best:best + 1]  # ln E(κ)/E(best) per task
    mean = ratio.mean(axis=0)
    n = energy.shape[0]
    sem = ratio.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(mean.shape, np.nan)
    score = np.where(np.isfinite(sem), mean - 2.0 * np.nan_to_num(sem), mean)
    rise, sig, at = [], [], []
    for side in (np.arange(best), np.arange(best + 1, energy.shape[1])):
        if side.size == 0:
            rise.append(1.0)
            sig.append(np.nan)
            at.append(-1)
            continue
        j = int(side[np.argmax(score[side])])
        rise.append(float(np.exp(mean[j])))
        sig.append(float(sem[j]))
        at.append(j)
    return Minimum(best, (rise[0], rise[1]), (sig[0], sig[1]), (at[0], at[1]))


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    """Log–log least-squares slope of y(x) (dimensionless)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


@dataclass
class KappaStatistic:
    """The claim's statistic from :class:`KappaRuns` (geometric means over tasks).

    ``power_slope`` ± ``power_sigma``: P^F(κ) for κ ≥ high_kappa (≥ 3 κ; σ bootstrap over
    tasks, the fit's own error with fewer than 3 tasks); ``power_low_slope``: between the
    two smallest κ (the plateau); ``time_high_slope`` (κ ≥ high_kappa; paper: flat) and
    ``time_low_slope`` (paper: −1 near k_min) of the training time, the latter between
    the two smallest κ at which every run reached the threshold (``time_low_kappas``, S);
    ``energy_high_slope`` (κ ≥ high_kappa; paper: 1); the energy ``minimum``. Time and
    energy slopes are NaN where a run of those κ did not reach the threshold.
    """

    n_high: int
    power_slope: float
    power_sigma: float
    power_low_slope: float
    time_high_slope: float
    time_low_slope: float
    time_low_kappas: tuple[float, ...]
    energy_high_slope: float
    minimum: Minimum


def statistic(runs: KappaRuns, high_kappa: float, n_boot: int = 300,
              seed: int = 1) -> KappaStatistic:
    """Compute :class:`KappaStatistic` (``n_boot`` bootstrap resamples over tasks)."""
    kp = runs.kappas
    high = kp >= high_kappa
    all_reached = np.all(runs.reached, axis=0)

    def gslope(values: np.ndarray, cols: np.ndarray) -> float:
        if cols.sum() < 2:
            return float("nan")
        return _slope(kp[cols], np.exp(np.log(values[:, cols]).mean(axis=0)))

    low = np.zeros(kp.size, dtype=bool)
    low[:2] = True
    power_slope, sigma = float("nan"), float("nan")
    n = runs.power.shape[0]
    if high.sum() >= 3:
        fit = fit_power_law(kp[high], np.exp(np.log(runs.power[:, high]).mean(axis=0)))
        power_slope, sigma = fit.exponent, fit.exponent_err
        if n >= 3:
            rng = np.random.default_rng(seed)
            boots = [gslope(runs.power[rng.integers(0, n, n)], high) for _ in range(n_boot)]
            sigma = float(np.std(boots, ddof=1))
    t_high = high & all_reached
    t_low = np.zeros(kp.size, dtype=bool)
    t_low[np.flatnonzero(all_reached)[:2]] = True
    return KappaStatistic(
        n_high=int(high.sum()), power_slope=power_slope, power_sigma=sigma,
        power_low_slope=gslope(runs.power, low),
        time_high_slope=gslope(runs.time, t_high) if t_high.sum() == high.sum() else np.nan,
        time_low_slope=gslope(runs.time, t_low),
        time_low_kappas=tuple(float(x) for x in kp[t_low]),
        energy_high_slope=(gslope(runs.energy, t_high) if t_high.sum() == high.sum()
                           else np.nan),
        minimum=energy_minimum(runs.energy, runs.reached))
