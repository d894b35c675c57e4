"""Quasistatic coupled learning of linear resistor networks (the papers' simulations).

One step (one epoch): for every training example solve the free state (sources held, floating
input constraints imposed if the task has them) and the clamped state (outputs nudged to
y_F + η(ỹ − y_F), inputs unchanged), then
k += α/η · mean_examples[(1 − λ) ΔV_F² − ΔV_C²] (+ white noise δ·N(0,1)), clipped to
[k_min, k_max]. Error L = ½ Σ_T (ỹ_T − y_T^F)² and free power P_F = Σ k ΔV_F² (W) are taken
at that step's free state (averaged over examples). Outputs y = M V are node voltages or
edge drops (rows of M). Speed: both states come from ONE factorisation per step: the
clamped state is the free state plus the response to currents injected at the outputs,
V_C = V_F + Z (M Z)⁻¹ η(ỹ − y_F) with Z = A⁻¹ Mᵀ (a rank-|T| correction); the whole step
loop over all tasks is compiled (:mod:`labctl.physics.kernels_linear`: a sparse L D Lᵀ
factorisation into a pattern fixed once per network after a minimum-degree ordering,
:mod:`labctl.physics.kernels_sparse`), so its cost grows with the factor's size, about
N log N on lattices, not N³.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from labctl.network import Network
from labctl.physics.control import LambdaController
from labctl.physics.kernels_linear import (
    observe_task,
    train_batch,
    train_chunk,
    update_conductance,
)
from labctl.physics.kernels_sparse import symbolic
from labctl.physics.tasks import Task, allostery_task
from labctl.physics.validate import (
    check_bounds,
    check_eta,
    check_lam,
    check_network,
    check_positive,
)

#: batches of tasks with at most this many examples each are advanced in lockstep (with more
#: examples the per-task dense work dominates and the task-by-task loop is faster)
LOCKSTEP_MAX_EXAMPLES = 4


@dataclass
class TrainResult:
    """Outcome of quasistatic training (one row per step; a trailing task axis if batched).

    conductance: final k (S); error: L = ½ Σ_T (ỹ_T − y_T)², mean over examples (V², with ½);
    power_free, power_clamped: Σ k ΔV² (W, no ½); energy: cumulative
    Σ P_F · (1 step), J per unit step time; lam: λ used at each step, (steps,), or
    (steps, B) when a λ per task was given; k_history: k every ``record_every`` steps (S) or
    None.
    """

    conductance: np.ndarray
    error: np.ndarray
    power_free: np.ndarray
    power_clamped: np.ndarray
    energy: np.ndarray
    lam: np.ndarray
    k_history: np.ndarray | None = None

    @property
    def error_normalised(self) -> np.ndarray:
        """L / L(step 0) (dimensionless)."""
        return self.error / self.error[0]


class QuasistaticEngine:
    """B tasks on one linear network, laid out for :mod:`labctl.physics.kernels_linear`.

    Node-indexed task data are renumbered once into the network's fill-reducing order
    (:func:`labctl.physics.kernels_sparse.symbolic`, which also fixes the factor's pattern);
    the compiled kernels then solve both states of every task per step (SI units).
    """

    def __init__(self, network: Network, tasks: list[Task]) -> None:
        self.network = check_network(network)
        shapes = {(t.source_values.shape, t.desired.shape, t.n_inputs) for t in tasks}
        if len(shapes) != 1:
            raise ValueError("tasks: every task of a batch needs the same numbers of "
                             "examples, sources, floating inputs and outputs")
        self.pattern = pat = symbolic(network)
        pos = pat.pos
        self._pattern_args = (pat.edge_at, pat.colptr, pat.rowidx, pat.rowptr, pat.rowcol,
                              pat.rowat)
        self.pa = pos[network.edges[:, 0]]
        self.pb = pos[network.edges[:, 1]]
        bsz, n = len(tasks), network.n_nodes
        self.src = np.stack([pos[t.source_nodes] for t in tasks])  # (B, S) positions
        self.held = np.zeros((bsz, n), dtype=np.bool_)
        self.held[np.arange(bsz)[:, None], self.src] = True
        self.src_val = np.ascontiguousarray(np.stack([t.source_values for t in tasks]))
        self.m = np.zeros((bsz, tasks[0].output_matrix.shape[0], n))  # (B, T, N) positions
        for i, t in enumerate(tasks):
            self.m[i][:, pos] = t.output_matrix
        self.desired = np.ascontiguousarray(np.stack([t.desired for t in tasks]))  # (B, X, T)
        n_in, n_ex = tasks[0].n_inputs, tasks[0].desired.shape[0]
        self.c_in = np.zeros((bsz, n_in, n))  # (B, I, N) floating input rows, positions
        self.b_in = np.zeros((bsz, n_ex, n_in))  # (B, X, I) V
        for i, t in enumerate(tasks):
            if n_in:
                self.c_in[i][:, pos] = t.input_matrix
                self.b_in[i] = t.input_values

    def run(self, k: np.ndarray, eta: float, gain: float, lam: float | np.ndarray,
            k_min: float, k_max: float, noise: np.ndarray, step0: int, record_every: int,
            hist: np.ndarray, out: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """Advance k (B, E) in S by ``len(out[0])`` steps at fixed λ (compiled loop).

        ``lam``: one λ for every task, or (B,) values, one per task. Several tasks with at
        most :data:`LOCKSTEP_MAX_EXAMPLES` examples each run in lockstep
        (:func:`~labctl.physics.kernels_linear.train_batch`, vectorised over the tasks),
        otherwise task by task (:func:`~labctl.physics.kernels_linear.train_chunk`); both
        give the same numbers.
        """
        lam_b = np.ascontiguousarray(np.broadcast_to(np.asarray(lam, float), (k.shape[0],)))
        lockstep = k.shape[0] > 1 and self.desired.shape[1] <= LOCKSTEP_MAX_EXAMPLES
        kernel = train_batch if lockstep else train_chunk
        kernel(k, self.pa, self.pb, *self._pattern_args, self.held, self.src, self.src_val,
               self.m, self.desired, self.c_in, self.b_in, eta, gain, lam_b, k_min, k_max,
               noise, step0, record_every, hist, *out)

    def scratch(self) -> tuple[np.ndarray, ...]:
        """Fresh scratch buffers for :func:`observe_task` (lval … mu, in its order)."""
        n = self.network.n_nodes
        n_ex, n_out = self.desired.shape[1:]
        n_in = self.c_in.shape[1]
        return (np.empty(self.pattern.nnz), np.empty(n), np.empty(n),
                np.empty((n, n_ex + n_in + n_out)), np.empty((n, n_ex)),
                np.empty((n_in + n_out, n_in + n_out)), np.empty((n_in + n_out, n_ex)),
                np.empty((n_in, n_in)), np.empty((n_in, n_ex)))

    def observe(self, b: int, k: np.ndarray, eta: float, sq_free: np.ndarray,
                sq_clamp: np.ndarray, scratch: tuple[np.ndarray, ...]
                ) -> tuple[float, float, float]:
        """Task ``b``'s (error V², free power W, clamped power W) at k (E,) in S; fills the
        example-averaged squared drops (V²) of both states (see :func:`observe_task`)."""
        return observe_task(k, self.pa, self.pb, *self._pattern_args, self.held[b],
                            self.src[b], self.src_val[b], self.m[b], self.desired[b],
                            self.c_in[b], self.b_in[b], eta, *scratch, sq_free, sq_clamp)


def _to_batch(k0, network: Network, batch: int) -> np.ndarray:
    k = np.asarray(k0, dtype=float)
    k = np.broadcast_to(k, (batch, network.n_edges)) if k.ndim < 2 else k
    if k.shape != (batch, network.n_edges):
        raise ValueError(f"k0: expected a scalar, ({network.n_edges},) or "
                         f"({batch}, {network.n_edges}) conductances in S, got {k.shape}")
    if not np.all(np.isfinite(k)) or np.any(k <= 0):
        raise ValueError("k0: conductances must be finite and > 0 S")
    return np.array(k)


def _train_controlled(
    engine: QuasistaticEngine, k: np.ndarray, eta: float, gain: float,
    controller: LambdaController, k_min: float, k_max: float, noise: float,
    rng: np.random.Generator, every: int, hist: np.ndarray,
    out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Step loop with λ from ``controller`` (updated from task 0's error each step, dt = 1)."""
    err, pf, pc, lams = out
    bsz, n_edges = k.shape
    scratch = engine.scratch()
    sq_f, sq_c = np.empty((bsz, n_edges)), np.empty((bsz, n_edges))
    no_noise = np.empty(0)
    for s in range(len(err)):
        for b in range(bsz):
            err[s, b], pf[s, b], pc[s, b] = engine.observe(b, k[b], eta, sq_f[b], sq_c[b],
                                                           scratch)
        lams[s] = controller.update(float(err[s, 0]), 1.0)
        if every and s % every == 0:
            hist[s // every] = k
        kicks = noise * rng.standard_normal((bsz, n_edges)) if noise else None
        for b in range(bsz):
            update_conductance(k[b], sq_f[b], sq_c[b], gain, lams[s],
                               no_noise if kicks is None else kicks[b], k_min, k_max)


def train_tasks(
    network: Network,
    k0,
    tasks: Task | list[Task],
    *,
    eta: float,
    alpha: float,
    lam: float | np.ndarray | LambdaController = 0.0,
    steps: int,
    k_min: float,
    k_max: float,
    noise: float = 0.0,
    seed: int = 0,
    record_every: int = 0,
) -> TrainResult:
    """Quasistatic coupled learning of one task or a batch of tasks (see module docstring).

    ``k0``: initial conductances (S): scalar, (E,) or (B, E). ``alpha``: learning rate per
    step in S/V² (rule units); ``noise``: std δ of white noise added to each update (S).
    ``lam``: λ ∈ [0, 1) for every task, an array (B,) with one λ per task of the batch (a λ
    sweep is ``[task] * B`` with ``lam=lams``), or a :class:`LambdaController` (single task),
    updated every step with dt = 1.
    """
    batch = [tasks] if isinstance(tasks, Task) else list(tasks)
    eta = check_eta(eta)
    alpha = check_positive(alpha, "alpha")
    k_min, k_max = check_bounds(k_min, k_max)
    controller = lam if isinstance(lam, LambdaController) else None
    per_task = controller is None and np.ndim(lam) > 0
    if controller:
        lam_now: float | np.ndarray = controller.lam
    elif per_task:
        lam_now = np.asarray(lam, dtype=float)
        if lam_now.shape != (len(batch),) or isinstance(tasks, Task):
            raise ValueError(f"lam: one value per task expected, shape ({len(batch)},) for a "
                             f"list of {len(batch)} tasks, got shape {lam_now.shape}")
        lam_now = np.array([check_lam(v) for v in lam_now])
    else:
        lam_now = check_lam(lam)
    if int(steps) < 1:
        raise ValueError(f"steps: must be >= 1, got {steps}")
    if noise < 0:
        raise ValueError(f"noise: must be >= 0, got {noise}")
    for t in batch:
        t.check(network)
    engine = QuasistaticEngine(network, batch)
    k = np.clip(_to_batch(k0, network, len(batch)), k_min, k_max)
    rng = np.random.default_rng(seed)
    steps = int(steps)
    bsz, n_edges = k.shape
    err = np.empty((steps, bsz))
    pf = np.empty_like(err)
    pc = np.empty_like(err)
    lams = np.empty((steps, bsz) if per_task else steps)
    every = int(record_every)
    hist = np.empty(((steps - 1) // every + 1 if every else 0, bsz, n_edges))
    gain = alpha / eta
    if controller is None:
        lams[:] = lam_now
        # noise is drawn in chunks of whole steps: the same stream as one draw per step
        chunk = steps if not noise else max(1, (1 << 20) // (bsz * n_edges))
        for s0 in range(0, steps, chunk):
            s1 = min(steps, s0 + chunk)
            kicks = (noise * rng.standard_normal((s1 - s0, bsz, n_edges)) if noise
                     else np.empty((0, bsz, n_edges)))
            engine.run(k, eta, gain, lam_now, k_min, k_max, kicks, s0, every, hist,
                       (err[s0:s1], pf[s0:s1], pc[s0:s1]))
    else:
        _train_controlled(engine, k, eta, gain, controller, k_min, k_max, noise, rng, every,
                          hist, (err, pf, pc, lams))
    single = isinstance(tasks, Task)
    pick = (lambda x: x[..., 0]) if single else (lambda x: x)
    return TrainResult(
        conductance=k[0] if single else k,
        error=pick(err),
        power_free=pick(pf),
        power_clamped=pick(pc),
        energy=pick(np.cumsum(pf, axis=0)),
        lam=lams,
        k_history=(hist[:, 0] if single else hist) if every else None,
    )


def train_quasistatic(
    network: Network,
    k0,
    sources: Mapping,
    targets: Mapping,
    *,
    eta: float,
    alpha: float,
    lam: float | LambdaController,
    steps: int,
    k_min: float,
    k_max: float,
    noise: float = 0.0,
    seed: int = 0,
    record_every: int = 0,
) -> TrainResult:
    """Quasistatic coupled learning of an allosteric task on a linear resistor network.

    ``sources``: node -> held voltage (V); ``targets``: node -> desired voltage Ṽ (V);
    ``k0``: initial conductances (S, scalar or (E,)); ``eta`` ∈ (0, 1]; ``lam`` ∈ [0, 1) or a
    :class:`LambdaController`; ``alpha`` learning rate (S/V² per step); conductances clipped
    to [k_min, k_max] (S). Returns a :class:`TrainResult` with one value per step.

    >>> from labctl.network import periodic_lattice
    >>> net = periodic_lattice(4, 4)
    >>> r = train_quasistatic(net, 1.0, {0: 0.0, 5: 1.0}, {2: 0.3, 10: 0.6}, eta=0.1,
    ...                       alpha=0.3, lam=0.0, steps=2000, k_min=1e-3, k_max=10.0)
    >>> bool(r.error[-1] < 1e-6 * r.error[0]), r.conductance.shape
    (True, (32,))
    """
    task = allostery_task(network, sources, targets)
    return train_tasks(network, k0, task, eta=eta, alpha=alpha, lam=lam, steps=steps,
                       k_min=k_min, k_max=k_max, noise=noise, seed=seed,
                       record_every=record_every)
