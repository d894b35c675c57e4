"""Coupled learning out of equilibrium: node voltages relax at a finite rate while k learns.

Model (out-of-equilibrium-learning paper, Eq. 3), batched over B runs that share one network
and one allosteric task but may differ in learning rate α, relaxation rate γ and time step:

    dV_a/dt = −(γ / k_ref) Σ_i Δ_ia k_i ΔV_i        for every node a not held (both copies)
    dk_i/dt = (α / η) [ (1 − λ) (ΔV_i^F)² − (ΔV_i^C)² ],   k clipped to [k_min, k_max]

i.e. each node carries a capacitance c = k_ref / γ (F) to ground, so γ (1/s) is the physical
relaxation rate of a node joined by conductance k_ref (S, default 1 S). The free copy holds the
sources; the clamped copy holds the sources and every target at the nudged value
V_T^C(t) = V_T^F(t) + η (Ṽ_T − V_T^F(t)) of the *instantaneous* free copy. The learning rule
acts on the instantaneous drops ΔV^F(t), ΔV^C(t), never on steady states. With k in units of
k_ref and V in volts, α (S V⁻² s⁻¹) / γ (s⁻¹) is the papers' dimensionless ratio α/γ.

Integration: per step of length dt (s) the voltages take one backward-Euler step with k
frozen (unconditionally stable, exact steady state as γ·dt → ∞), then k takes one explicit
Euler step on the new drops. Choose dt ≲ 0.1/max(γ, α) for accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from labctl.network import Network
from labctl.physics.validate import (
    check_bounds,
    check_disjoint,
    check_eta,
    check_lam,
    check_network,
    check_node_map,
)


@dataclass
class NonequilibriumResult:
    """Recorded trajectory of B out-of-equilibrium runs (R recorded rows).

    time: (R, B) s; error: L = ½ Σ_T (Ṽ_T − V_T^F)² of the instantaneous free copy, (R, B)
    in V²; power_free: Σ_i k_i (ΔV_i^F)², (R, B) in W; conductance: final k, (B, E) in S;
    v_free, v_clamped: final node voltages, (B, N) in V.
    """

    time: np.ndarray
    error: np.ndarray
    power_free: np.ndarray
    conductance: np.ndarray
    v_free: np.ndarray
    v_clamped: np.ndarray

    @property
    def error_normalised(self) -> np.ndarray:
        """L / L(first recorded row), dimensionless, (R, B)."""
        return self.error / self.error[0]


def first_time_below(time: np.ndarray, values: np.ndarray, threshold: float) -> np.ndarray:
    """Per run, the first recorded time (s) at which ``values`` < ``threshold``; NaN if never.

    ``time`` and ``values`` are (R, B) (or (R,)); returns (B,) (or a 0-d array).
    """
    below = np.asarray(values) < threshold
    first = np.argmax(below, axis=0)
    t = np.take_along_axis(np.asarray(time), np.expand_dims(first, 0), axis=0)[0]
    return np.where(np.any(below, axis=0), t, np.nan)


def largest_rebound(values: np.ndarray) -> np.ndarray:
    """Per run, the largest factor by which ``values`` (R, B) rise above their running minimum.

    1 for a monotonically falling error; a value ≫ 1 marks error oscillations (dimensionless).
    """
    v = np.asarray(values, dtype=float)
    running_min = np.minimum.accumulate(v, axis=0)
    return np.max(v / running_min, axis=0)


def _as_runs(value, name: str, batch: int) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != batch):
        raise ValueError(f"{name}: expected a scalar or one value per run ({batch},), "
                         f"got shape {arr.shape}")
    arr = np.broadcast_to(arr, (batch,))
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name}: must be finite and > 0, got {value}")
    return np.array(arr)


class _Relaxer:
    """Backward-Euler voltage steps of B copies with one set of held nodes (SI units)."""

    def __init__(self, network: Network, held: np.ndarray) -> None:
        self.held = held
        n = network.n_nodes
        self.free_mask = np.ones(n, dtype=bool)
        self.free_mask[held] = False
        self.eye_free = np.diag(self.free_mask.astype(float))

    def step(self, lap: np.ndarray, shunt: np.ndarray, v: np.ndarray,
             held_values: np.ndarray) -> np.ndarray:
        """New voltages (B, N) V after one step: (shunt + L) V⁺ = shunt V on free nodes.

        ``lap`` (B, N, N) S; ``shunt`` (B,) S, = k_ref/(γ dt) (0 gives the steady state);
        ``held_values`` (B, H) V.
        """
        mat = lap + shunt[:, None, None] * self.eye_free
        mat[:, self.held, :] = 0.0
        mat[:, self.held, self.held] = 1.0
        rhs = shunt[:, None] * v * self.free_mask
        rhs[:, self.held] = held_values
        out = np.linalg.solve(mat, rhs[..., None])[..., 0]
        out[:, self.held] = held_values
        return out


def train_nonequilibrium(
    network: Network,
    k0,
    sources: Mapping,
    targets: Mapping,
    *,
    eta: float,
    alpha,
    gamma,
    dt,
    steps: int,
    k_min: float,
    k_max: float,
    lam: float = 0.0,
    k_ref: float = 1.0,
    record_every: int = 1,
    relaxed_start: bool = True,
) -> NonequilibriumResult:
    """Simulate B coupled-learning runs with finite physical relaxation (see module docstring).

    ``sources``/``targets``: node -> V (held source voltage / desired target voltage Ṽ);
    ``k0``: initial conductances, S, scalar, (E,) or (B, E); ``alpha`` (S V⁻² s⁻¹), ``gamma``
    (1/s) and ``dt`` (s): scalars or (B,) arrays, one per run; ``steps``: time steps per run
    (run b lasts steps·dt_b s); ``eta`` ∈ (0, 1]; ``lam`` ∈ [0, 1); bounds in S. With
    ``relaxed_start`` each copy starts from its own steady state at k0 (the network relaxed
    before learning switches on); otherwise every node that is not held starts at 0 V
    (capacitors discharged, sources and clamps switched on at t = 0). Rows are recorded every
    ``record_every`` steps, starting with step 0 (before learning).

    >>> from labctl.network import disordered_network
    >>> net = disordered_network(64, 143, seed=0)
    >>> r = train_nonequilibrium(net, 1.0, {0: 0.0, 1: 1.0}, {30: 0.3, 40: 0.6}, eta=0.1,
    ...                          alpha=[0.3, 3.0], gamma=1.0, dt=0.05, steps=400,
    ...                          k_min=1e-3, k_max=10.0, record_every=100)
    >>> slow, fast = r.error_normalised[-1]  # after 20 s: faster learning, lower error
    >>> r.error.shape, bool(fast < 0.7 < slow < 1.0)
    ((5, 2), True)
    """
    check_network(network)
    eta = check_eta(eta)
    lam = check_lam(lam)
    k_min, k_max = check_bounds(k_min, k_max)
    s_nodes, s_vals = check_node_map(network, sources, "sources")
    t_nodes, t_vals = check_node_map(network, targets, "targets")
    if s_vals.ndim != 1 or t_vals.ndim != 1:
        raise ValueError("sources, targets: one voltage per node expected")
    check_disjoint(s_nodes, t_nodes)
    if int(steps) < 1:
        raise ValueError(f"steps: must be >= 1, got {steps}")
    if int(record_every) < 1:
        raise ValueError(f"record_every: must be >= 1, got {record_every}")
    if not (np.isfinite(k_ref) and k_ref > 0):
        raise ValueError(f"k_ref: must be a finite conductance > 0 S, got {k_ref}")
    sizes = [np.size(x) for x in (alpha, gamma, dt)] + [
        np.shape(k0)[0] if np.ndim(k0) == 2 else 1]
    batch = max(sizes)
    alpha_b = _as_runs(alpha, "alpha", batch)
    gamma_b = _as_runs(gamma, "gamma", batch)
    dt_b = _as_runs(dt, "dt", batch)
    k = np.array(np.broadcast_to(np.asarray(k0, dtype=float), (batch, network.n_edges)))
    if not np.all(np.isfinite(k)) or np.any(k <= 0):
        raise ValueError("k0: conductances must be finite and > 0 S")
    k = np.clip(k, k_min, k_max)

    inc = network.incidence
    free_relax = _Relaxer(network, s_nodes)
    clamp_relax = _Relaxer(network, np.concatenate([s_nodes, t_nodes]))
    src_vals = np.broadcast_to(s_vals, (batch, len(s_nodes)))
    shunt = k_ref / (gamma_b * dt_b)
    zero = np.zeros(batch)

    n = network.n_nodes
    a, b = network.edges[:, 0], network.edges[:, 1]
    # sparse map from edge conductances to the flattened Laplacian: +k at (a,a), (b,b),
    # −k at (a,b), (b,a)
    scatter = sp.csr_matrix(
        (np.repeat([1.0, 1.0, -1.0, -1.0], network.n_edges),
         (np.concatenate([a * n + a, b * n + b, a * n + b, b * n + a]),
          np.tile(np.arange(network.n_edges), 4))), shape=(n * n, network.n_edges))

    def laplacian(kk: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((scatter @ kk.T).T).reshape(batch, n, n)

    def clamp_values(v_free: np.ndarray) -> np.ndarray:
        y = v_free[:, t_nodes]
        return np.concatenate([src_vals, y + eta * (t_vals - y)], axis=1)

    lap = laplacian(k)
    v_free = np.zeros((batch, n))
    if relaxed_start:
        v_free = free_relax.step(lap, zero, v_free, src_vals)
    else:
        v_free[:, s_nodes] = src_vals
    v_clamp = v_free.copy()
    v_clamp[:, clamp_relax.held] = clamp_values(v_free)
    if relaxed_start:
        v_clamp = clamp_relax.step(lap, zero, v_clamp, clamp_values(v_free))
    gain = alpha_b[:, None] * dt_b[:, None] / eta
    steps, every = int(steps), int(record_every)
    rows = steps // every + 1
    err = np.empty((rows, batch))
    pwr = np.empty((rows, batch))
    times = np.empty((rows, batch))

    def record(row: int, s: int, d_free: np.ndarray) -> None:
        times[row] = s * dt_b
        err[row] = 0.5 * np.sum((t_vals - v_free[:, t_nodes]) ** 2, axis=1)
        pwr[row] = np.sum(k * d_free * d_free, axis=1)

    record(0, 0, v_free @ inc.T)
    for s in range(1, steps + 1):
        lap = laplacian(k)
        v_free = free_relax.step(lap, shunt, v_free, src_vals)
        v_clamp = clamp_relax.step(lap, shunt, v_clamp, clamp_values(v_free))
        d_free = v_free @ inc.T
        d_clamp = v_clamp @ inc.T
        if s % every == 0:
            record(s // every, s, d_free)
        k = np.clip(k + gain * ((1.0 - lam) * d_free * d_free - d_clamp * d_clamp),
                    k_min, k_max)
    return NonequilibriumResult(times, err, pwr, k, v_free, v_clamp)
