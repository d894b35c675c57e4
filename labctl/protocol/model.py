"""The validated content of a protocol file, as frozen dataclasses (SI units throughout).

A :class:`Protocol` is produced only by :func:`labctl.protocol.load_protocol`, after every
check has passed; the plan compiler (:mod:`labctl.protocol.plan`) turns it into tasks.
Node-voltage maps are tuples of ``(node, volts)`` pairs in file order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# what a task that still fails does (re-exported; see docs/PROTOCOLS.md)
from labctl.protocol.fields import FAULT_POLICIES as FAULT_POLICIES

NodeVolts = tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class FaultPolicy:
    """The protocol's answer to a task that fails after instrument-level recovery.

    ``on_task_fault``: ``"abort"`` (default) ends the campaign with the bench in its safe
    state; ``"skip"`` records the task as failed, goes to the safe state and runs the next
    task; ``"retry"`` runs the failed task again from the safe state up to
    ``max_task_retries`` more times, then aborts the campaign. ``max_task_retries`` is 0
    unless the policy is ``"retry"``.
    """

    on_task_fault: str = "abort"
    max_task_retries: int = 0


@dataclass(frozen=True)
class LambdaFixed:
    """One λ (dimensionless, in [0, 1)) for every task."""

    value: float


@dataclass(frozen=True)
class LambdaSweep:
    """Several λ values. ``assign="product"`` runs every task at every λ;
    ``"cycle"`` gives task *i* the value ``values[i % len(values)]`` (one run per task)."""

    values: tuple[float, ...]
    assign: str = "product"


@dataclass(frozen=True)
class LambdaControl:
    """Closed-loop λ (Eq. 18): dλ/dt = ρ⁻¹ [(L̃/L)^p − 1] λ, evaluated at ``update_rate`` Hz.

    ``target_error`` L̃ in V², ``rho`` ρ in s, ``p`` dimensionless, ``lam0`` the initial λ,
    ``lam_max`` the ceiling the controller may not exceed (< 1). ``baseline``: every task
    also runs at λ = 0 with the same settings (its early-stopping baseline, right after it).
    """

    target_error: float
    rho: float
    p: float
    lam0: float
    update_rate: float
    lam_max: float
    baseline: bool = False


LambdaSpec = LambdaFixed | LambdaSweep | LambdaControl


@dataclass(frozen=True)
class ContinuousLearning:
    """Learning switch closed for ``duration`` seconds per task (or per example)."""

    duration: float


@dataclass(frozen=True)
class StepwiseLearning:
    """``steps`` repetitions of: free measurement, clamped measurement, update window.

    ``window`` is the time the learning switch is closed per step (s); ``settle`` the time
    left for the network to settle before each measurement (s).
    """

    steps: int
    window: float
    settle: float


LearningSpec = ContinuousLearning | StepwiseLearning


@dataclass(frozen=True)
class GateInit:
    """Initial gates: uniform ``gate_voltages`` (V) or uniform conductances ``kappas`` (S).

    Exactly one of the two tuples is non-empty; more than one value is a scan.
    """

    gate_voltages: tuple[float, ...] = ()
    kappas: tuple[float, ...] = ()


@dataclass(frozen=True)
class SimOverrides:
    """Settings of the simulated bench's physics (refused on hardware benches).

    ``alpha`` learning rate (1/s), ``gamma`` node relaxation rate (1/s, out-of-equilibrium
    physics; empty = quasi-static), both scannable; ``noise`` white noise on the rule (V),
    ``label_noise`` noise on the desired outputs (V); ``seed`` of the simulator's noise.
    """

    alpha: tuple[float, ...] = ()
    gamma: tuple[float, ...] = ()
    noise: float | None = None
    label_noise: float | None = None
    seed: int | None = None


@dataclass(frozen=True)
class AllosteryTask:
    """Hold ``sources`` at their volts; train ``targets`` toward their desired volts."""

    name: str
    sources: NodeVolts
    targets: NodeVolts


@dataclass(frozen=True)
class RandomAllosteryTasks:
    """``count`` random allostery tasks drawn reproducibly from ``seed``.

    Each task puts ``source_voltages`` (V) on distinct random nodes and one of the
    ``target_voltages`` alternatives (V, one value per target) on other random nodes.
    """

    name: str
    count: int
    seed: int
    source_voltages: tuple[float, ...]
    target_voltages: tuple[tuple[float, ...], ...]
    nodes: tuple[int, ...]


@dataclass(frozen=True)
class RegressionTask:
    """Linear regression of App. B: ΔV_O = Ã ΔV_I between input and output edges.

    Edges are node pairs; ``input_scale`` (V) scales the U(0,1) input drops.
    """

    name: str
    input_edges: tuple[tuple[int, int], ...]
    output_edges: tuple[tuple[int, int], ...]
    n_train: int
    n_test: int
    epochs: int
    seed: int
    input_scale: float


@dataclass(frozen=True)
class ClassificationTask:
    """Classification (Iris): measurements on ``input_nodes`` scaled to [0, input_scale] V,
    ``ground_node`` at 0 V, one target node per class (``target_high`` V for the right class,
    ``target_low`` V for the others)."""

    name: str
    dataset: str
    input_nodes: tuple[int, ...]
    ground_node: int
    target_nodes: tuple[int, ...]
    n_train_per_class: int
    n_test_per_class: int
    epoch_steps: int
    epochs: int
    seed: int
    input_scale: float
    target_low: float
    target_high: float


@dataclass(frozen=True)
class NonlinearRegressionTask:
    """Learn V_target = c0 + c1 x + c2 x² + … (volts) of the input x (V) on ``input_node``;
    ``ground_node`` is held at 0 V and, if given, ``bias_node`` at ``bias_volts`` (V) in every
    example (a passive network's nodes stay between its held voltages: with x and 0 V alone
    V(0) = 0 and V(x) ≤ x, so an offset c0 > 0 needs a higher fixed source)."""

    name: str
    input_node: int
    ground_node: int
    target_node: int
    coefficients: tuple[float, ...]
    x_range: tuple[float, float]
    n_train: int
    n_test: int
    epochs: int
    seed: int
    bias_node: int | None = None
    bias_volts: float = 0.0


TaskSpec = (AllosteryTask | RandomAllosteryTasks | RegressionTask | ClassificationTask
            | NonlinearRegressionTask)


@dataclass(frozen=True)
class Protocol:
    """A validated experiment description.

    ``eta`` η in (0, 1]; ``record_rate`` rows per second written to the run file (Hz);
    ``repeats`` how many times each task is run, with seeds derived from ``seed``.
    ``bench`` is the loaded BenchConfig (``bench_ref`` is what the file said).
    ``metadata`` is the free-form ``[metadata]`` table (operator, sample, notes...), every
    value as text; ``fault_policy`` what to do with a task that fails (see
    :class:`FaultPolicy`).
    """

    path: str
    text: str
    name: str
    description: str
    bench_ref: str
    bench: Any
    eta: float
    lam: LambdaSpec
    learning: LearningSpec
    init: GateInit
    tasks: tuple[TaskSpec, ...]
    record_rate: float
    repeats: int
    seed: int
    sim: SimOverrides | None
    metadata: dict[str, str] = field(default_factory=dict, hash=False)
    fault_policy: FaultPolicy = field(default_factory=FaultPolicy)
