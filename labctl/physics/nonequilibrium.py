"""Coupled learning out of equilibrium: node voltages relax at a finite rate while k learns.

Model (out-of-equilibrium-learning paper, Eq. 3), B runs that share one network and one
allosteric task but may differ in learning rate α, relaxation rate γ and time step:

    dV_a/dt = −(γ / k_ref) Σ_i Δ_ia k_i ΔV_i        for every node a not held (both copies)
    dk_i/dt = (α / η) [ (1 − λ) (ΔV_i^F)² − (ΔV_i^C)² ]

i.e. each node carries a capacitance c = k_ref / γ (F) to ground, so γ (1/s) is the physical
relaxation rate of a node joined by conductance k_ref (S, default 1 S). The free copy holds the
sources; the clamped copy holds the sources and every target at the nudged value
V_T^C(t) = V_T^F(t) + η (Ṽ_T − V_T^F(t)) of the *instantaneous* free copy. The learning rule
acts on the instantaneous drops ΔV^F(t), ΔV^C(t), never on steady states. With k in units of
k_ref and V in volts, α (S V⁻² s⁻¹) / γ (s⁻¹) is the papers' dimensionless ratio α/γ.

Two documented variants of the model (PHYSICS.md §4.5):

* labctl's (defaults): no extra held node; k clipped to [k_min, k_max] after every step.
* the authors' code (:data:`AUTHORS_MODEL`, e.g. ``train_nonequilibrium(..., **AUTHORS_MODEL)``):
  one ``ground`` node (the last node) held at 0 V in both copies; near the lower bound the
  rule is replaced by a relaxation toward the floor, dk/dt = max(rule, −ρ (k − k_min)) with
  ρ = ``floor_rate`` (1/s): a rate-limited floor that k approaches but never crosses, and no
  upper bound. Training time is then read from the *equilibrium* error of the current
  conductances (``NonequilibriumResult.error_equilibrium``), not the instantaneous one.

Errors are L = ½ Σ_T (Ṽ_T − V_T)² (V², with ½: labctl's convention; the authors' C has no ½),
so an absolute error threshold here is half the authors'; thresholds on the *normalised* error
L/L0 (the papers' C̃ = 1e-3) are convention-free. Power Σ_i k_i ΔV_i² (W, no ½).

Integration: per step of length dt (s) the voltages take one backward-Euler step with k
frozen (unconditionally stable, exact steady state as γ·dt → ∞), then k takes one explicit
Euler step on the new drops. Choose dt ≲ 0.1/max(γ, α) for accuracy. The step loop is
compiled (:mod:`labctl.physics.kernels_noneq`, envelope Cholesky per copy and step).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from labctl.network import Network
from labctl.physics.kernels_linear import envelope_order
from labctl.physics.kernels_noneq import (
    FLOOR_CLIP,
    FLOOR_RELAX,
    relax_copy,
    run_nonequilibrium,
)
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
    in V²; error_equilibrium: the same L for the steady state of the free copy at the
    recorded conductances, (R, B) in V²; power_free: Σ_i k_i (ΔV_i^F)², (R, B) in W;
    conductance: final k, (B, E) in S; v_free, v_clamped: final node voltages, (B, N) in V.
    """

    time: np.ndarray
    error: np.ndarray
    error_equilibrium: np.ndarray
    power_free: np.ndarray
    conductance: np.ndarray
    v_free: np.ndarray
    v_clamped: np.ndarray

    @property
    def error_normalised(self) -> np.ndarray:
        """L / L(first recorded row), dimensionless, (R, B)."""
        return self.error / self.error[0]

    @property
    def equilibrium_error_normalised(self) -> np.ndarray:
        """Equilibrium L / its first recorded value, dimensionless, (R, B)."""
        return self.error_equilibrium / self.error_equilibrium[0]

    def training_time(self, threshold: float = 1e-3, equilibrium: bool = True) -> np.ndarray:
        """Per run, the first recorded time (s) at which the normalised error is below
        ``threshold`` (the papers' C̃ = 1e-3; a ratio, so convention-free), NaN if never.
        ``equilibrium`` (default, the authors' timing) uses the equilibrium error of the
        current conductances, otherwise the instantaneous error."""
        norm = self.equilibrium_error_normalised if equilibrium else self.error_normalised
        return first_time_below(self.time, norm, threshold)


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


#: The authors' variant (PHYSICS.md §4.5): pass as keyword arguments of
#: :func:`train_nonequilibrium`; the ground is the network's last node.
AUTHORS_MODEL = {"ground": "last", "floor": "relax", "k_max": None}


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
    k_max: float | None,
    lam: float = 0.0,
    k_ref: float = 1.0,
    record_every: int = 1,
    relaxed_start: bool = True,
    ground: int | str | None = None,
    floor: str = "clip",
    floor_rate=None,
    v0: tuple[np.ndarray, np.ndarray] | None = None,
) -> NonequilibriumResult:
    """Simulate B coupled-learning runs with finite physical relaxation (see module docstring).

    ``sources``/``targets``: node -> V (held source voltage / desired target voltage Ṽ);
    ``k0``: initial conductances, S, scalar, (E,) or (B, E); ``alpha`` (S V⁻² s⁻¹), ``gamma``
    (1/s) and ``dt`` (s): scalars or (B,) arrays, one per run; ``steps``: time steps per run
    (run b lasts steps·dt_b s); ``eta`` ∈ (0, 1]; ``lam`` ∈ [0, 1); bounds in S. With
    ``relaxed_start`` each copy starts from its own steady state at k0 (the network relaxed
    before learning switches on); otherwise every node that is not held starts at 0 V
    (capacitors discharged, sources and clamps switched on at t = 0). Rows are recorded every
    ``record_every`` steps, starting with step 0 (before learning). ``v0`` = (free, clamped)
    node voltages, (N,) or (B, N) V, starts from a given state instead (a previous run's
    final voltages and conductances continue that run exactly; ``relaxed_start`` ignored).

    The authors' variant: ``ground`` (a node index, or ``"last"`` for node N − 1) is held at
    0 V in both copies; ``floor="relax"`` replaces the clip by the rate-limited floor
    dk/dt = max(rule, −ρ (k − k_min)), ρ = ``floor_rate`` (1/s, scalar or one per run;
    default γ, must satisfy ρ·dt ≤ 1), with ``k_max=None`` (no upper bound; ``floor="clip"``
    needs a finite k_max). :data:`AUTHORS_MODEL` bundles these.

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
    if floor not in ("clip", "relax"):
        raise ValueError(f"floor: must be 'clip' or 'relax', got {floor!r}")
    if k_max is None:
        if floor == "clip":
            raise ValueError("k_max: a finite upper bound is needed with floor='clip'")
        k_min = check_bounds(k_min, 2.0 * abs(float(k_min)) + 1.0)[0]
        k_hi = np.inf
    else:
        k_min, k_hi = check_bounds(k_min, k_max)
    s_nodes, s_vals = check_node_map(network, sources, "sources")
    t_nodes, t_vals = check_node_map(network, targets, "targets")
    if s_vals.ndim != 1 or t_vals.ndim != 1:
        raise ValueError("sources, targets: one voltage per node expected")
    if ground is not None:
        gnd = network.n_nodes - 1 if ground == "last" else network.check_node(ground, "ground")
        if gnd in s_nodes.tolist() or gnd in t_nodes.tolist():
            raise ValueError(f"ground: node {gnd} is already a source or target")
        s_nodes = np.append(s_nodes, gnd)
        s_vals = np.append(s_vals, 0.0)
    check_disjoint(s_nodes, t_nodes)
    if int(steps) < 1:
        raise ValueError(f"steps: must be >= 1, got {steps}")
    if int(record_every) < 1:
        raise ValueError(f"record_every: must be >= 1, got {record_every}")
    if not (np.isfinite(k_ref) and k_ref > 0):
        raise ValueError(f"k_ref: must be a finite conductance > 0 S, got {k_ref}")
    sizes = [np.size(x) for x in (alpha, gamma, dt, floor_rate)] + [
        np.shape(k0)[0] if np.ndim(k0) == 2 else 1]
    batch = max(sizes)
    alpha_b = _as_runs(alpha, "alpha", batch)
    gamma_b = _as_runs(gamma, "gamma", batch)
    dt_b = _as_runs(dt, "dt", batch)
    rho_b = gamma_b if floor_rate is None else _as_runs(floor_rate, "floor_rate", batch)
    if floor == "relax" and np.any(rho_b * dt_b > 1.0):
        raise ValueError(f"floor_rate: ρ·dt must be <= 1 (ρ = {rho_b.max():g} /s, "
                         f"dt = {dt_b.max():g} s); lower dt")
    k = np.array(np.broadcast_to(np.asarray(k0, dtype=float), (batch, network.n_edges)))
    if not np.all(np.isfinite(k)) or np.any(k <= 0):
        raise ValueError("k0: conductances must be finite and > 0 S")
    k = np.clip(k, k_min, k_hi)

    n = network.n_nodes
    pos, first, row_ptr = envelope_order(network)
    pa, pb = pos[network.edges[:, 0]], pos[network.edges[:, 1]]
    held_f = np.zeros(n, dtype=np.bool_)
    held_f[pos[s_nodes]] = True
    held_c = held_f.copy()
    held_c[pos[t_nodes]] = True
    tgt = pos[t_nodes]
    steps, every = int(steps), int(record_every)
    rows = steps // every + 1
    err, err_eq, pwr = (np.empty((rows, batch)) for _ in range(3))
    v_free_out, v_clamp_out = np.empty((batch, n)), np.empty((batch, n))
    env, inv_diag, rhs = np.empty(row_ptr[n]), np.empty(n), np.empty((n, 1))
    mode = FLOOR_RELAX if floor == "relax" else FLOOR_CLIP
    if v0 is not None:
        start = [np.broadcast_to(np.asarray(v, dtype=float), (batch, n)) for v in v0]
        if len(start) != 2 or not all(np.all(np.isfinite(v)) for v in start):
            raise ValueError(f"v0: expected (free, clamped) finite voltages of shape ({n},) "
                             f"or ({batch}, {n})")
    for b in range(batch):
        v_f, v_c = np.zeros(n), np.zeros(n)
        if v0 is not None:  # node order -> positions
            v_f[pos], v_c[pos] = start[0][b], start[1][b]
        v_f[pos[s_nodes]] = s_vals
        if v0 is None and relaxed_start:
            relax_copy(k[b], pa, pb, first, row_ptr, held_f, 0.0, v_f, env, inv_diag, rhs)
        if v0 is None:
            v_c[:] = v_f
            v_c[tgt] = v_f[tgt] + eta * (t_vals - v_f[tgt])
        else:
            v_c[pos[s_nodes]] = s_vals
        if v0 is None and relaxed_start:
            relax_copy(k[b], pa, pb, first, row_ptr, held_c, 0.0, v_c, env, inv_diag, rhs)
        out = (np.empty(rows), np.empty(rows), np.empty(rows))
        run_nonequilibrium(k[b], pa, pb, first, row_ptr, held_f, held_c, tgt, t_vals, eta,
                           alpha_b[b] * dt_b[b] / eta, k_ref / (gamma_b[b] * dt_b[b]), lam,
                           k_min, k_hi, mode, rho_b[b] * dt_b[b], steps, every, v_f, v_c, *out)
        err[:, b], err_eq[:, b], pwr[:, b] = out
        v_free_out[b], v_clamp_out[b] = v_f[pos], v_c[pos]
    times = np.arange(rows)[:, None] * every * dt_b[None, :]
    return NonequilibriumResult(times, err, err_eq, pwr, k, v_free_out, v_clamp_out)


def allosteric_task(n_nodes: int, seed: int, n_sources: int = 5, n_targets: int = 3,
                    exclude: int | None = None) -> tuple[dict[int, float], dict[int, float]]:
    """The paper's allosteric task (Fig. 2): ``n_sources`` source nodes at V_S ~ N(0, 1) V
    and ``n_targets`` target nodes wanting Ṽ_T ~ 0.2 N(0, 1) V, on distinct random nodes
    (never ``exclude``, e.g. the ground). Returns (sources, targets) dicts node -> V."""
    rng = np.random.default_rng(seed)
    pool = np.setdiff1d(np.arange(n_nodes), [] if exclude is None else [exclude])
    nodes = rng.choice(pool, n_sources + n_targets, replace=False)
    sources = {int(a): float(v) for a, v in zip(nodes[:n_sources],
                                                 rng.standard_normal(n_sources))}
    targets = {int(a): float(v) for a, v in zip(nodes[n_sources:],
                                                 0.2 * rng.standard_normal(n_targets))}
    return sources, targets


def training_time(
    network: Network,
    sources: Mapping,
    targets: Mapping,
    ratio: float,
    *,
    eta: float = 1e-3,
    gamma: float = 1.0,
    k0: float = 1.0,
    k_min: float = 1e-3,
    threshold: float = 1e-3,
    max_time: float = 1e5,
    authors: bool = True,
    k_max: float = 1e3,
    chunk_time: float | None = None,
    max_steps: int | None = None,
) -> float:
    """Time (s) until the normalised error falls below ``threshold`` at α/γ = ``ratio``.

    The paper's training time (Fig. 3B): γ (1/s) sets the time unit, α = ratio·γ, uniform
    k0 (S). ``authors=True``: the authors' model (:data:`AUTHORS_MODEL`, floor rate ρ = γ)
    timed on the equilibrium error of the current conductances; ``False``: labctl's model
    (clip to [k_min, k_max]) timed on the instantaneous error. The threshold is on L/L0, so
    it is the same in either error convention. Time step dt = min(0.5/γ, 0.1/α) (resolves the
    oscillations above α_c); the run proceeds in chunks (``chunk_time``, default
    max(50/α, 500 dt)) and stops as soon as the threshold is crossed, or returns NaN after
    ``max_time`` s or (if given) about ``max_steps`` steps, whichever comes first (a time cap
    alone costs max_time·10α steps at large α: scale it with α/γ or cap the steps).
    Resolution: 5 steps.
    """
    alpha = float(ratio) * float(gamma)
    dt = min(0.5 / gamma, 0.1 / alpha)
    every = 5
    chunk = chunk_time or max(50.0 / alpha, 500 * dt)
    steps = max(every, round(chunk / dt / every) * every)
    kw = dict(AUTHORS_MODEL) if authors else {"k_max": k_max}
    k = np.asarray(k0, dtype=float)
    done, e0 = 0.0, None
    v_state = None
    budget = np.inf if max_steps is None else int(max_steps)
    taken = 0
    while done < max_time and taken < budget:
        r = train_nonequilibrium(network, k, sources, targets, eta=eta, alpha=alpha,
                                 gamma=gamma, dt=dt, steps=steps, k_min=k_min,
                                 record_every=every, v0=v_state, **kw)
        norm_src = r.error_equilibrium if authors else r.error
        e0 = norm_src[0, 0] if e0 is None else e0
        below = np.flatnonzero(norm_src[:, 0] / e0 < threshold)
        if below.size:
            return done + float(r.time[below[0], 0])
        done += steps * dt
        taken += steps
        k = r.conductance[0]
        v_state = (r.v_free[0], r.v_clamped[0])
    return float("nan")
