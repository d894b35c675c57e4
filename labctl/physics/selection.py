"""Task selection and averaging as in the coupled-learning simulation papers.

The authors keep only the regression tasks that coupled learning solves at λ = 0 and report
geometric means over the kept tasks (PHYSICS.md §4.6). Conventions: the error is
L = ½ Σ_T (ỹ_T − y_T)² (V², with the factor ½; labctl's convention); the selection criterion
is on the *ratio* L/L0, so it is the same in the authors' convention (no ½).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labctl.network import Network
from labctl.physics.quasistatic import train_tasks
from labctl.physics.tasks import Task

#: The papers' selection run (power-efficient-physical-learning, App. B; authors' code).
SELECTION_STEPS = 100_000
SELECTION_ALPHA = 0.5  # S/V² per step
SELECTION_ETA = 1e-3
SELECTION_K0 = 1.0  # S
SELECTION_K_MIN = 1e-4  # S
SELECTION_K_MAX = 1e6  # S
#: A task is learnable if L/L0 < this after SELECTION_STEPS steps (ratio: convention-free).
SELECTION_THRESHOLD = 1e-10


def geometric_mean(values, axis: int | None = 0) -> np.ndarray:
    """exp(mean(log x)) along ``axis``: the papers' average over tasks (values must be > 0).

    >>> round(float(geometric_mean([1e-2, 1e-4])), 12)
    0.001
    """
    x = np.asarray(values, dtype=float)
    if np.any(~np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("values: a geometric mean needs finite values > 0")
    return np.exp(np.mean(np.log(x), axis=axis))


def geometric_spread(values, axis: int = 0) -> np.ndarray:
    """Standard error of log x along ``axis`` (the uncertainty of ln geometric_mean)."""
    logs = np.log(np.asarray(values, dtype=float))
    n = logs.shape[axis]
    return np.std(logs, axis=axis, ddof=1) / np.sqrt(n)


@dataclass
class Selection:
    """Outcome of :func:`select_learnable`: per task, L/L0 at the end (dimensionless), the
    step at which the run stopped, and whether the task counts as learnable."""

    ratio: np.ndarray
    stopped_at: np.ndarray
    learnable: np.ndarray

    @property
    def fraction(self) -> tuple[int, int]:
        """(learnable tasks, tasks tried)."""
        return int(self.learnable.sum()), int(self.learnable.size)


def select_learnable(
    networks: Network | Sequence[Network],
    tasks: Sequence[Task],
    *,
    steps: int = SELECTION_STEPS,
    threshold: float = SELECTION_THRESHOLD,
    alpha: float = SELECTION_ALPHA,
    eta: float = SELECTION_ETA,
    k0: float = SELECTION_K0,
    k_min: float = SELECTION_K_MIN,
    k_max: float = SELECTION_K_MAX,
    chunk: int = 5000,
    stop_below: float | None = None,
) -> Selection:
    """Which ``tasks`` coupled learning solves at λ = 0 (the papers' selection, defaults).

    Task i runs on ``networks[i]`` (or on one shared network) from uniform k0 (S) for
    ``steps`` quasistatic steps and is learnable if L/L0 < ``threshold`` at the end. The run
    proceeds in chunks of ``chunk`` steps (exact: the rule has no memory beyond k); with
    ``stop_below`` (e.g. 1e-3 × threshold) a task whose ratio is already below it stops
    early and counts as learnable (a saving only; at λ = 0 and η ≪ 1 the error keeps
    falling once it is that low).
    """
    nets = [networks] * len(tasks) if isinstance(networks, Network) else list(networks)
    if len(nets) != len(tasks) or not tasks:
        raise ValueError(f"networks: one network per task expected ({len(tasks)} tasks), "
                         f"got {len(nets)}")
    if int(steps) < 1 or int(chunk) < 1:
        raise ValueError(f"steps, chunk: must be >= 1, got {steps}, {chunk}")
    n = len(tasks)
    ratio = np.ones(n)
    stopped = np.full(n, int(steps))
    kw = dict(eta=eta, alpha=alpha, lam=0.0, k_min=k_min, k_max=k_max)
    for i, (net, task) in enumerate(zip(nets, tasks)):
        k = np.full(net.n_edges, float(k0))
        done, e0 = 0, None
        while done < steps:
            run = min(int(chunk), int(steps) - done)
            r = train_tasks(net, k, task, steps=run, **kw)
            e0 = r.error[0] if e0 is None else e0
            k = r.conductance
            done += run
            ratio[i] = r.error[-1] / e0
            if stop_below is not None and ratio[i] < stop_below:
                stopped[i] = done
                break
        else:  # the error after the last update
            ratio[i] = train_tasks(net, k, task, steps=1, **kw).error[0] / e0
    return Selection(ratio, stopped, ratio < threshold)
