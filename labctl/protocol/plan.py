"""Compiling a validated :class:`Protocol` into plans: one :class:`TaskPlan` per run task.

A plan is plain data – frozen dataclasses of steps – that the run engine executes in
order against the bench interfaces; nothing here talks to an instrument or does physics.
Step semantics (all values SI):

* :class:`RouteOutputs` – connect analog-output lines to nodes (line name -> node);
* :class:`ConfigureSim` – simulated bench only: physics settings for this task;
* :class:`SetGates` – uniform initial gates, in volts or as a conductance κ (S);
* :class:`SetEta`, :class:`SetLambda` – nudge amplitude η and power-trade-off λ;
* :class:`SetOutputs` – source voltages and target set-points (line name -> V);
* :class:`Measure` – one reading of both network copies, recorded with ``label``;
* :class:`Learn` – learning switch closed for ``duration_s`` while recording;
* :class:`StepwiseTrain` – ``steps`` × (free measurement, clamped measurement, window),
  every wait on the bench's clock;
* :class:`ControlLambda` – continuous learning for ``duration_s`` with λ driven by the
  closed-loop controller (Eq. 18) at ``update_rate_hz``;
* :class:`TrainOnDataset` – regression/classification: the engine draws the examples
  from the task description (generators of the physics engine) and presents them;
* :class:`SafeState` – sources 0 V, learning off.

Expansion order: repeats × tasks (random generators expanded) × initial gates × α × γ × λ.

Every field of a step is what the engine uses (``labctl.runner.executor`` registers one
handler per step type): adding a step kind is one dataclass here, in :data:`Step`, and one
handler there.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labctl.protocol.errors import ProtocolError
from labctl.protocol.model import (
    AllosteryTask,
    ClassificationTask,
    ContinuousLearning,
    FaultPolicy,
    LambdaControl,
    LambdaSweep,
    LearningSpec,
    NodeVolts,
    NonlinearRegressionTask,
    Protocol,
    RandomAllosteryTasks,
    RegressionTask,
    StepwiseLearning,
    TaskSpec,
)
from labctl.protocol.routing import reachable, route


@dataclass(frozen=True)
class RouteOutputs:
    """Connect output lines to nodes: ``routing`` is ((line name, node), ...)."""

    routing: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ConfigureSim:
    """Simulated-bench physics for this task; None keeps the bench's default.

    ``alpha`` learning rate (1/s), ``gamma`` node relaxation rate (1/s), ``noise`` rule
    noise (V), ``label_noise`` desired-output noise (V), ``seed`` noise seed.
    """

    alpha: float | None = None
    gamma: float | None = None
    noise: float | None = None
    label_noise: float | None = None
    seed: int | None = None


@dataclass(frozen=True)
class SetGates:
    """Uniform initial gates: ``volts`` (V) or the gate giving conductance ``kappa`` (S)."""

    volts: float | None = None
    kappa: float | None = None


@dataclass(frozen=True)
class SetEta:
    """Nudge amplitude η in (0, 1]."""

    eta: float


@dataclass(frozen=True)
class SetLambda:
    """Power-trade-off λ in [0, 1)."""

    lam: float


@dataclass(frozen=True)
class SetOutputs:
    """Analog outputs: ((line name, volts), ...) for sources and target set-points."""

    volts: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Measure:
    """One reading of both network copies, recorded under ``label``."""

    label: str


@dataclass(frozen=True)
class Learn:
    """Continuous learning for ``duration_s`` seconds, recording at ``record_rate_hz``."""

    duration_s: float
    record_rate_hz: float


@dataclass(frozen=True)
class StepwiseTrain:
    """``steps`` × (free measurement, clamped measurement, update window of ``window_s``)
    with ``settle_s`` settling (bench time) before each measurement: the free copy is read
    after the first settle, the clamped copy (whose clamp follows the free outputs) after
    the second, then the gate controller's timed window; one row per step. Duration per
    step: 2·settle_s + window_s."""

    steps: int
    window_s: float
    settle_s: float


@dataclass(frozen=True)
class ControlLambda:
    """Continuous learning for ``duration_s`` with λ under closed-loop control.

    dλ/dt = ρ⁻¹ [(L̃/L)^p − 1] λ: ``target_error`` L̃ (V²), ``rho`` ρ (s), ``p``,
    starting at ``lam0``, never above ``lam_max``, updated at ``update_rate_hz``.
    """

    duration_s: float
    record_rate_hz: float
    target_error: float
    rho: float
    p: float
    lam0: float
    lam_max: float
    update_rate_hz: float


@dataclass(frozen=True)
class TrainOnDataset:
    """Present the examples of ``task`` (drawn with ``seed``) for its epochs; each
    example is learned according to ``learning``; ``record_rate_hz`` rows per second."""

    task: RegressionTask | ClassificationTask | NonlinearRegressionTask
    learning: LearningSpec
    seed: int
    record_rate_hz: float


@dataclass(frozen=True)
class SafeState:
    """Sources 0 V, target set-points 0 V, learning off."""


Step = (RouteOutputs | ConfigureSim | SetGates | SetEta | SetLambda | SetOutputs | Measure
        | Learn | StepwiseTrain | ControlLambda | TrainOnDataset | SafeState)


@dataclass(frozen=True)
class TaskPlan:
    """One task of a run: its index in the run file, a unique name, its parameters (flat,
    HDF5-attribute friendly: numbers, strings and lists of numbers), the source and
    target nodes with volts, the steps, and the expected duration in seconds.
    ``fault_policy`` is the protocol's answer to this task failing (the executor reads it).
    """

    index: int
    name: str
    kind: str
    params: dict[str, Any] = field(compare=True)
    sources: NodeVolts
    targets: NodeVolts
    steps: tuple[Step, ...]
    expected_duration_s: float
    fault_policy: FaultPolicy = field(default_factory=FaultPolicy)


#: bounds of one campaign, checked before anything is expanded (check_plan_size)
MAX_TASK_RUNS = 20_000
MAX_BENCH_S = 14 * 86400.0
MAX_RUN_FILE_BYTES = 64 * 2**30
#: memory of one compiled TaskPlan (bytes, measured on the shipped protocols: ~3 KiB)
PLAN_BYTES = 4096


@dataclass(frozen=True)
class PlanSize:
    """What a protocol asks for, computed without expanding it: task runs, bench time (s),
    rows and bytes of the run file, and memory of the compiled plans (bytes)."""

    task_runs: int
    bench_s: float
    rows: float
    file_bytes: float
    plan_bytes: int
    factors: tuple[tuple[str, int], ...]


def plan_size(protocol: Protocol) -> PlanSize:
    """The size of ``protocol``'s campaign, by counting (no expansion, no allocation)."""
    tasks = sum(s.count if isinstance(s, RandomAllosteryTasks) else 1 for s in protocol.tasks)
    sim, lam = protocol.sim, protocol.lam
    factors = [("repeats", protocol.repeats), ("tasks", tasks),
               ("initial gates", len(protocol.init.kappas or protocol.init.gate_voltages)),
               ("sim.alpha values", len(sim.alpha) if sim and sim.alpha else 1),
               ("sim.gamma values", len(sim.gamma) if sim and sim.gamma else 1),
               ("lambda values", len(lam.values) if isinstance(lam, LambdaSweep)
                and lam.assign == "product" else 1),
               ("runs per task (λ control + λ = 0 baseline)",
                2 if isinstance(lam, LambdaControl) and lam.baseline else 1)]
    runs = 1
    for _, n in factors:
        runs *= n
    learning = protocol.learning
    per_example = (learning.duration if isinstance(learning, ContinuousLearning)
                   else learning.steps * (learning.window + 2 * learning.settle))
    task_s = sum((s.count if isinstance(s, RandomAllosteryTasks) else 1)
                 * _n_presentations(s) * per_example for s in protocol.tasks)
    bench_s = task_s * runs / max(1, tasks)
    if isinstance(learning, ContinuousLearning):
        rows = bench_s * protocol.record_rate
    else:  # one row per step
        rows = bench_s / per_example * learning.steps
    net = protocol.bench.network
    row_bytes = 8 * (8 + 2 * int(net.n_edges) + 2 * int(net.n_nodes))
    return PlanSize(runs, bench_s, rows, rows * row_bytes, runs * PLAN_BYTES,
                    tuple((k, n) for k, n in factors if n > 1))


def check_plan_size(protocol: Protocol) -> PlanSize:
    """Refuse (ProtocolError, field ``plan``) a campaign beyond the limits above; the
    message says which factors to reduce."""
    size = plan_size(protocol)
    made_of = " × ".join(f"{n} {k}" for k, n in size.factors) or "1 task"
    problems = []
    if size.task_runs > MAX_TASK_RUNS:
        problems.append(f"{size.task_runs} task runs ({made_of}); allowed at most "
                        f"{MAX_TASK_RUNS}: reduce repeats, tasks (count) or sweep values "
                        "(lambda.values, init, sim.alpha/gamma)")
    if size.bench_s > MAX_BENCH_S:
        problems.append(f"{size.bench_s:.4g} s of bench time ({made_of}); allowed at most "
                        f"{MAX_BENCH_S:.4g} s (14 days): reduce learning.duration (or steps), "
                        "epochs, repeats, tasks or sweep values")
    if size.file_bytes > MAX_RUN_FILE_BYTES:
        problems.append(f"about {size.file_bytes / 2**30:.3g} GiB of run file "
                        f"({size.rows:.4g} rows); allowed at most "
                        f"{MAX_RUN_FILE_BYTES / 2**30:.0f} GiB: reduce record_rate or the "
                        "bench time")
    if problems:
        raise ProtocolError(protocol.path, "plan", problems[0],
                            problems=[("plan", p) for p in problems])
    return size


def compile_plan(protocol: Protocol) -> list[TaskPlan]:
    """Expand ``protocol`` into the list of task plans, indexed from 0 in run order
    (after :func:`check_plan_size`: nothing large is ever expanded)."""
    check_plan_size(protocol)
    bench = protocol.bench
    concrete = [c for spec in protocol.tasks for c in _expand(spec, bench)]
    inits: list[tuple[str, float]] = (
        [("kappa", k) for k in protocol.init.kappas]
        or [("gate_voltage", v) for v in protocol.init.gate_voltages])
    sim = protocol.sim
    alphas: list[float | None] = list(sim.alpha) if sim and sim.alpha else [None]
    gammas: list[float | None] = list(sim.gamma) if sim and sim.gamma else [None]
    lam = protocol.lam
    plans: list[TaskPlan] = []
    for repeat, (ci, (base_name, spec_params, task)) in itertools.product(
            range(protocol.repeats), enumerate(concrete)):
        if isinstance(lam, LambdaSweep):
            lams = list(lam.values) if lam.assign == "product" else [
                lam.values[ci % len(lam.values)]]
        elif isinstance(lam, LambdaControl):
            lams = [lam.lam0]
        else:
            lams = [lam.value]
        seed = int(np.random.SeedSequence([protocol.seed, repeat, ci]).generate_state(1)[0])
        for init, alpha, gamma, lam_value in itertools.product(inits, alphas, gammas, lams):
            suffix = []
            if len(inits) > 1:
                suffix.append(f"{init[0]}={init[1]:g}")
            if len(alphas) > 1:
                suffix.append(f"alpha={alpha:g}")
            if len(gammas) > 1:
                suffix.append(f"gamma={gamma:g}")
            if isinstance(lam, LambdaSweep) and lam.assign == "product" and len(lams) > 1:
                suffix.append(f"lambda={lam_value:g}")
            if protocol.repeats > 1:
                suffix.append(f"r{repeat}")
            name = " ".join([base_name, *suffix])
            plans.append(_task_plan(protocol, len(plans), name, spec_params, task, init,
                                    alpha, gamma, lam_value, seed, repeat))
            if isinstance(lam, LambdaControl) and lam.baseline:
                # the same task at λ = 0: its early-stopping baseline (analysis pairs them)
                plans.append(_task_plan(protocol, len(plans), f"{name} baseline",
                                        {**spec_params, "baseline_of": name}, task, init,
                                        alpha, gamma, 0.0, seed, repeat, control=False))
    return plans


def _expand(spec: TaskSpec, bench: Any) -> list[tuple[str, dict[str, Any], TaskSpec]]:
    """Concrete tasks of one [[task]] entry: random generators become allostery tasks."""
    if not isinstance(spec, RandomAllosteryTasks):
        return [(spec.name, {}, spec)]
    src_pool = sorted(reachable(bench.output_lines, "source"))
    tgt_pool = sorted(reachable(bench.output_lines, "target"))
    out = []
    width = len(str(spec.count - 1))
    for k in range(spec.count):
        rng = np.random.default_rng([spec.seed, k])
        for _attempt in range(1000):
            src = [int(n) for n in rng.choice(src_pool, len(spec.source_voltages),
                                              replace=False)]
            free = [n for n in tgt_pool if n not in src]
            n_tgt = len(spec.target_voltages[0])
            if len(free) < n_tgt:
                continue
            tgt = [int(n) for n in rng.choice(free, n_tgt, replace=False)]
            alt = spec.target_voltages[int(rng.integers(len(spec.target_voltages)))]
            if (route(src, bench.output_lines, "source") is not None
                    and route(tgt, bench.output_lines, "target") is not None):
                break
        else:  # pragma: no cover - validation guarantees enough routable nodes
            raise ValueError(f"task {spec.name!r}: no routable random task found for k={k}")
        task = AllosteryTask(f"{spec.name}_{k:0{width}d}",
                             tuple(zip(src, spec.source_voltages)), tuple(zip(tgt, alt)))
        params = {"generator": "random_allostery", "generator_seed": spec.seed,
                  "generator_index": k}
        out.append((task.name, params, task))
    return out


def _held_nodes(task: TaskSpec) -> tuple[NodeVolts, NodeVolts]:
    """Source and target nodes (with their initial volts) of a concrete task."""
    if isinstance(task, AllosteryTask):
        return task.sources, task.targets
    if isinstance(task, RegressionTask):
        return (tuple((n, 0.0) for e in task.input_edges for n in e),
                tuple((n, 0.0) for e in task.output_edges for n in e))
    if isinstance(task, ClassificationTask):
        return (tuple((n, 0.0) for n in (*task.input_nodes, task.ground_node)),
                tuple((n, 0.0) for n in task.target_nodes))
    assert isinstance(task, NonlinearRegressionTask)
    bias = () if task.bias_node is None else ((task.bias_node, task.bias_volts),)
    return (((task.input_node, 0.0), (task.ground_node, 0.0), *bias),
            ((task.target_node, 0.0),))


def _dataset_params(task: TaskSpec) -> dict[str, Any]:
    if isinstance(task, RegressionTask):
        return {"input_edges": [n for e in task.input_edges for n in e],
                "output_edges": [n for e in task.output_edges for n in e],
                "n_train": task.n_train, "n_test": task.n_test, "epochs": task.epochs,
                "dataset_seed": task.seed, "input_scale": task.input_scale}
    if isinstance(task, ClassificationTask):
        return {"dataset": task.dataset, "input_nodes": list(task.input_nodes),
                "ground_node": task.ground_node, "target_nodes": list(task.target_nodes),
                "n_train_per_class": task.n_train_per_class,
                "n_test_per_class": task.n_test_per_class, "epoch_steps": task.epoch_steps,
                "epochs": task.epochs, "dataset_seed": task.seed,
                "input_scale": task.input_scale, "target_low": task.target_low,
                "target_high": task.target_high}
    if isinstance(task, NonlinearRegressionTask):
        out = {"input_node": task.input_node, "ground_node": task.ground_node,
                "target_node": task.target_node, "coefficients": list(task.coefficients),
                "x_range": list(task.x_range), "n_train": task.n_train, "n_test": task.n_test,
                "epochs": task.epochs, "dataset_seed": task.seed}
        if task.bias_node is not None:
            out |= {"bias_node": task.bias_node, "bias_volts": task.bias_volts}
        return out
    return {}


def _n_presentations(task: TaskSpec) -> int:
    if isinstance(task, RegressionTask | NonlinearRegressionTask):
        return task.n_train * task.epochs
    if isinstance(task, ClassificationTask):
        return task.epoch_steps * task.epochs
    return 1


def _task_plan(protocol: Protocol, index: int, name: str, extra: dict[str, Any],
               task: TaskSpec, init: tuple[str, float], alpha: float | None,
               gamma: float | None, lam_value: float, seed: int, repeat: int,
               control: bool = True) -> TaskPlan:
    bench = protocol.bench
    sources, targets = _held_nodes(task)
    src_routes = route([n for n, _ in sources], bench.output_lines, "source") or {}
    tgt_routes = route([n for n, _ in targets], bench.output_lines, "target") or {}
    line_of = {**{n: ln for ln, n in src_routes.items()},
               **{-1 - n: ln for ln, n in tgt_routes.items()}}
    learning = protocol.learning
    sim = protocol.sim
    kind = "allostery" if isinstance(task, AllosteryTask) else _kind(task)
    steps: list[Step] = [RouteOutputs(tuple(src_routes.items()) + tuple(tgt_routes.items()))]
    if sim is not None:
        steps.append(ConfigureSim(alpha, gamma, sim.noise, sim.label_noise, sim.seed))
    steps.append(SetGates(volts=init[1]) if init[0] == "gate_voltage"
                 else SetGates(kappa=init[1]))
    steps += [SetEta(protocol.eta), SetLambda(lam_value)]
    if isinstance(learning, ContinuousLearning):
        per_example = learning.duration
    else:
        per_example = learning.steps * (learning.window + 2 * learning.settle)
    params: dict[str, Any] = {
        "kind": kind, "repeat": repeat, "seed": seed, "eta": protocol.eta,
        "lambda": lam_value, init[0]: init[1],
        "source_nodes": [n for n, _ in sources], "target_nodes": [n for n, _ in targets],
        "learning_mode": "continuous" if isinstance(learning, ContinuousLearning)
        else "stepwise", "record_rate": protocol.record_rate,
    }
    if isinstance(learning, StepwiseLearning):
        params |= {"steps": learning.steps, "window_s": learning.window,
                   "settle_s": learning.settle}
    else:
        params["duration_s"] = learning.duration
    if alpha is not None:
        params["alpha"] = alpha
    if gamma is not None:
        params["gamma"] = gamma
    if isinstance(task, AllosteryTask):
        params |= {"source_voltages": [v for _, v in sources],
                   "target_voltages": [v for _, v in targets]}
        steps.append(SetOutputs(tuple((line_of[n], v) for n, v in sources)
                                + tuple((line_of[-1 - n], v) for n, v in targets)))
        steps.append(Measure("initial"))
        lam = protocol.lam
        if isinstance(lam, LambdaControl) and control:
            assert isinstance(learning, ContinuousLearning)
            steps.append(ControlLambda(learning.duration, protocol.record_rate,
                                       lam.target_error, lam.rho, lam.p, lam.lam0,
                                       lam.lam_max, lam.update_rate))
            params |= {"lambda_control": "on", "target_error": lam.target_error,
                       "rho": lam.rho, "p": lam.p, "lam_max": lam.lam_max,
                       "update_rate": lam.update_rate}
        elif isinstance(learning, ContinuousLearning):
            steps.append(Learn(learning.duration, protocol.record_rate))
        else:
            steps.append(StepwiseTrain(learning.steps, learning.window, learning.settle))
        steps.append(Measure("final"))
    else:
        assert isinstance(task, RegressionTask | ClassificationTask | NonlinearRegressionTask)
        params |= _dataset_params(task)
        steps.append(TrainOnDataset(task, learning, seed, protocol.record_rate))
    steps.append(SafeState())
    params |= extra
    return TaskPlan(index=index, name=name, kind=kind, params=params, sources=sources,
                    targets=targets, steps=tuple(steps),
                    expected_duration_s=per_example * _n_presentations(task),
                    fault_policy=protocol.fault_policy)


def _kind(task: TaskSpec) -> str:
    return {RegressionTask: "regression", ClassificationTask: "classification",
            NonlinearRegressionTask: "nonlinear_regression"}[type(task)]
