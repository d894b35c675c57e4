"""Plain NumPy reference of quasistatic coupled learning: one dense solve per state.

Deliberately simple (the baseline of benchmarks/bench_physics_quasistatic.py and the
oracle of the tests): per step build the dense Laplacian Δᵀ diag(k) Δ, solve the free state
with the sources held and the clamped state with sources and nudged targets held.
"""

from __future__ import annotations

import numpy as np

from labctl.network import Network


def _solve_held(lap: np.ndarray, held: np.ndarray, values: np.ndarray) -> np.ndarray:
    n = lap.shape[0]
    free = np.setdiff1d(np.arange(n), held)
    v = np.zeros(n)
    v[held] = values
    v[free] = np.linalg.solve(lap[np.ix_(free, free)], -lap[np.ix_(free, held)] @ values)
    return v


def train_reference(
    network: Network, k0: np.ndarray, sources: dict, targets: dict, *, eta: float,
    alpha: float, lam: float, steps: int, k_min: float, k_max: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Allosteric training, plain loop: returns (final k (S), error (V²), free power (W))."""
    inc = network.incidence
    s_nodes = np.array(list(sources), dtype=int)
    s_vals = np.array(list(sources.values()), dtype=float)
    t_nodes = np.array(list(targets), dtype=int)
    t_want = np.array(list(targets.values()), dtype=float)
    k = np.clip(np.broadcast_to(np.asarray(k0, float), (network.n_edges,)).copy(), k_min, k_max)
    errors, powers = np.empty(steps), np.empty(steps)
    for s in range(steps):
        lap = inc.T @ (k[:, None] * inc)
        v_f = _solve_held(lap, s_nodes, s_vals)
        clamp = v_f[t_nodes] + eta * (t_want - v_f[t_nodes])
        v_c = _solve_held(lap, np.concatenate([s_nodes, t_nodes]), np.concatenate([s_vals, clamp]))
        d_f, d_c = inc @ v_f, inc @ v_c
        errors[s] = 0.5 * np.sum((t_want - v_f[t_nodes]) ** 2)
        powers[s] = np.sum(k * d_f**2)
        k = np.clip(k + alpha / eta * ((1 - lam) * d_f**2 - d_c**2), k_min, k_max)
    return k, errors, powers
