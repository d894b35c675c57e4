"""Plain NumPy references: the baselines of benchmarks/bench_physics_*.py and test oracles.

Deliberately simple. Quasistatic coupled learning: per step build the dense Laplacian
Δᵀ diag(k) Δ, solve the free state with the sources held and the clamped state with sources
and nudged targets held. Twin bench: explicit Euler on the gates with the batched dense
Newton solver of :mod:`labctl.physics.solve` for both copies after every step.
"""

from __future__ import annotations

import numpy as np

from labctl.network import Network
from labctl.physics.bench_model import BenchParams
from labctl.physics.solve import solve_mosfet_batch


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


def twin_bench_reference(
    network: Network, params: BenchParams, sources: list[dict], targets: list[dict],
    lam: np.ndarray, gates0: np.ndarray, seconds: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Twin bench with learning on, plain loop: B tasks for ``seconds`` s of explicit Euler.

    Each step of ``params.dt`` s moves the gates (V) by the rule (α/η)[(1 − λ)ΔV_F² − ΔV_C²]
    (rails clipped), then re-solves both copies with the batched dense Newton solver warm-
    started from the previous step (quasistatic nodes; no leak, no noise). Returns the final
    (gates (B, E) V, free voltages (B, N) V, clamped voltages (B, N) V).
    """
    p = params.mosfet
    (s_f, vt_f), (s_c, vt_c) = p.edge_constants(network.n_edges, params.seed)
    src = np.array([list(s) for s in sources], dtype=int)
    src_v = np.array([list(s.values()) for s in sources], dtype=float)
    tgt = np.array([list(t) for t in targets], dtype=int)
    want = np.array([list(t.values()) for t in targets], dtype=float)
    held_c = np.concatenate([src, tgt], axis=1)
    a, b = network.edges[:, 0], network.edges[:, 1]
    g = np.array(np.broadcast_to(gates0, (len(sources), network.n_edges)), dtype=float)
    keep = (1.0 - np.broadcast_to(lam, (len(sources),)))[:, None]

    def solve(v_f, v_c):
        v_f = solve_mosfet_batch(network, g, src, src_v, s_f, vt_f, p.smoothing, v0=v_f,
                                 tol=1e-12)
        v_t = np.take_along_axis(v_f, tgt, axis=1)
        vals = np.concatenate([src_v, v_t + params.eta * (want - v_t)], axis=1)
        v_c = solve_mosfet_batch(network, g, held_c, vals, s_c, vt_c, p.smoothing,
                                 v0=v_f if v_c is None else v_c, tol=1e-12)
        return v_f, v_c

    v_f, v_c = solve(None, None)
    for _ in range(max(1, round(seconds / params.dt))):
        d_f, d_c = v_f[:, a] - v_f[:, b], v_c[:, a] - v_c[:, b]
        rate = params.alpha / params.eta * (keep * d_f**2 - d_c**2)
        g = np.clip(g + params.dt * rate, p.gate_min, p.gate_max)
        v_f, v_c = solve(v_f, v_c)
    return g, v_f, v_c
