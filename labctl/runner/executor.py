"""Executes one task plan (steps as data) against the bench interfaces.

The executor is the only code that talks to instruments during a run, and it runs on one
thread (the acquisition thread). It turns DAQ blocks into run-file rows
(:class:`labctl.runner.observe.RowBuilder`), hands them to a sink (the HDF5 writer, or a
collector on a Dask worker) and to the event queue, applies operator commands between
blocks, and runs the closed-loop λ controller on the live error.

Faults: instruments cure transient faults themselves (:mod:`labctl.bench.interfaces`);
the executor writes what they report (``fault``/``recovered`` events, and a ``daq_gap``
event where an overflow lost samples: the task clock jumps over the gap, learning went
on). A task that still fails follows the protocol's ``on_task_fault`` policy
(:meth:`TaskExecutor.run_task_with_policy`): bench safe first, then abort, skip (task
marked failed) or retry (the failed attempt's rows are discarded, see
docs/ARCHITECTURE.md "Safe state").

Steps are dispatched through a registry (:data:`STEP_HANDLERS`, filled by the
:func:`handles` decorator): adding a step kind is one plan type in
:mod:`labctl.protocol.plan` and one handler here. Every field of a step is what its handler
uses (a learning step's ``record_rate_hz`` is the rows' rate).

Supply power: where the bench has an SMU on a source line, writing that line's voltage
also sources it from the SMU (output on), and the SMU is read between DAQ blocks every
:data:`SMU_READ_INTERVAL_S` of bench time while learning (one SCPI query between two
blocks; the DAQ's buffer holds 2 s, so the reading never loses samples unless the SMU
itself stalls, which the overflow recovery then records as a gap; a reading gets at most
two attempts, a failed one is an event and NaN, learning goes on). The reading is the rows'
``power_supply`` (W) beside ``power_supply_model`` (observe.py).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np

from labctl.bench.config import BenchConfig
from labctl.bench.interfaces import (
    Bench,
    BenchError,
    FaultLog,
    InstrumentFaultError,
    SampleBlock,
)
from labctl.physics.control import LambdaController
from labctl.protocol import plan as pl
from labctl.protocol.model import FaultPolicy
from labctl.runner.control import RunControl
from labctl.runner.datasets import Example, build_examples
from labctl.runner.events import EventQueue, LogMessage, Progress, Rows, StateChanged
from labctl.runner.observe import EdgeLaw, RowBuilder
from labctl.store.writer import PRODUCER_BACKLOG_BYTES

#: smallest λ the closed-loop controller goes down to (dimensionless)
LAMBDA_FLOOR = 5e-5
#: bench time (s) of learning whose rows are built and handed over together when the DAQ
#: waits for its reader (the simulator's fast clock, where a second of bench time takes
#: milliseconds; the rows are the same as block by block); a free-running DAQ hands over
#: every block's rows at once
ROW_BATCH_S = 5.0
#: bench time between two SMU readings while learning (s): 2 Hz, above the 1 Hz asked for
SMU_READ_INTERVAL_S = 0.5
#: tries of one SMU reading between two DAQ blocks (one recovery, as for every instrument
#: operation, but no more: a stalled SMU costs at most two SMU timeouts of acquisition)
SMU_READ_ATTEMPTS = 2

#: plan step type -> the TaskExecutor method that executes it (see :func:`handles`)
STEP_HANDLERS: dict[type, Callable[[Any, Any], None]] = {}


def handles(step_type: type) -> Callable[[Callable[[Any, Any], None]],
                                         Callable[[Any, Any], None]]:
    """Register the decorated TaskExecutor method as the handler of ``step_type``."""
    def register(method: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        if step_type in STEP_HANDLERS:
            raise TypeError(f"{step_type.__name__}: two handlers")
        STEP_HANDLERS[step_type] = method
        return method
    return register


class RowSink(Protocol):
    """Where rows go: the run-file writer, or a collector in a parallel worker."""

    def begin_task(self, index: int) -> None: ...
    def append(self, index: int, rows: Mapping[str, Any]) -> None: ...
    def end_task(self, index: int, status: str = "completed",
                 final: Mapping[str, float] | None = None) -> None: ...
    def log_event(self, kind: str, message: str = "", task: int = -1) -> None: ...


class RawSink(RowSink, Protocol):
    """A sink that also keeps the full-rate DAQ stream (the run-file writer with
    ``raw_channels``)."""

    raw_channels: tuple[str, ...]

    def append_raw(self, index: int, time_s: Any, samples: Any) -> None: ...


class WaitableSink(RowSink, Protocol):
    """A sink whose producer may wait for it to catch up (the run-file writer)."""

    def wait_for_room(self, max_bytes: int, timeout: float | None = None) -> bool: ...


class RetryableSink(RowSink, Protocol):
    """A sink that can drop a failed attempt's rows (the run-file writer)."""

    def discard_task_rows(self, index: int, reason: str) -> None: ...


class TaskFaultError(BenchError):
    """A task failed for good under the protocol's fault policy (the run aborts)."""


@dataclass
class TaskOutcome:
    """How a task ended under the fault policy: ``status`` "completed" or "failed"
    (skipped), its final values (SI), the attempts made and the last fault."""

    status: str
    final: dict[str, float] = field(default_factory=dict)
    attempts: int = 1
    reason: str = ""


def record_faults(log: FaultLog, sink: RowSink, task: int = -1) -> list[str]:
    """Write the instruments' fault and recovery records as run-file events (kind
    "fault" or "recovered"); returns their texts."""
    texts = []
    for record in log.drain():
        sink.log_event(record.event, record.text(), task=task)
        texts.append(f"{record.event}: {record.text()}")
    if log.dropped:
        sink.log_event("fault", f"{log.dropped} fault records dropped (too many)", task=task)
        log.dropped = 0
    return texts


class TaskExecutor:
    """Runs task plans on ``bench`` (wired as ``config`` says), writing rows to ``sink``.

    ``control`` carries operator commands; ``events`` (optional) receives display events;
    ``total_s`` is the expected bench time of the whole run (s), for progress reports;
    ``on_state`` is told "paused" and "running" when a pause starts and ends.
    """

    def __init__(self, bench: Bench, config: BenchConfig, sink: RowSink,
                 control: RunControl | None = None, events: EventQueue | None = None,
                 total_s: float = 0.0, on_state: Callable[[str], None] | None = None) -> None:
        self.bench = bench
        self.config = config
        self.sink = sink
        self.control = control or RunControl()
        self.events = events
        self.network = config.network
        self.law = EdgeLaw(self.network, config.calibration.S, config.calibration.V_T)
        self.roles = {line.name: line.role for line in config.output_lines}
        self.total_s = total_s
        self.on_state = on_state or (lambda state: self._publish(StateChanged(state)))
        self.done_s = 0.0
        self._wall0 = time.monotonic()
        self._samples = 0
        #: the sink keeps the full-rate DAQ stream of learning steps (RunWriter raw_channels)
        self._raw = bool(getattr(sink, "raw_channels", ()))
        #: the DAQ waits for its reader (the simulator's fast clock), so rows wait for the
        #: writer thread when it falls behind instead of piling up in memory; a free-running
        #: DAQ (hardware, paced) is never held up
        self._offsets, self._offsets_rate = np.empty(0), 0.0  # see _sample_offsets
        self._daq_waits = not bench.daq.free_running
        self._wait_for_sink = self._daq_waits and hasattr(sink, "wait_for_room")

    # ------------------------------------------------------------------ fault policy
    def run_task_with_policy(self, plan: pl.TaskPlan, policy: FaultPolicy | None = None,
                             before_attempt: Callable[[], None] | None = None) -> TaskOutcome:
        """Run ``plan`` under ``policy`` (default: the plan's ``fault_policy``).

        A task fault is an instrument error that outlasted the instruments' own recovery
        (:class:`BenchError`); operator aborts and run-file errors always end the run. After
        a fault the bench is driven safe (learning off, outputs 0 V, SMU off; if that is
        not confirmed the run aborts whatever the policy), then: "abort" re-raises;
        "skip" ends the task as failed (its rows so far stay, a ``task_skipped`` event says
        why) and returns; "retry" discards the attempt's rows (``task_retry`` event) and
        runs the task again from its first step, at most ``max_task_retries`` times, then
        raises :class:`TaskFaultError`. ``before_attempt`` is called before every attempt.
        """
        policy = policy or plan.fault_policy
        attempt = 0
        done_before = self.done_s  # progress (bench s) before the task
        while True:
            attempt += 1
            self.done_s = done_before  # a re-run's progress counts once
            if before_attempt is not None:
                before_attempt()
            try:
                return TaskOutcome("completed", self.run_task(plan, begin=attempt == 1),
                                   attempt)
            except BenchError as exc:
                reason = f"{type(exc).__name__}: {exc}"
                self._record_faults()
                self.sink.log_event("task_fault", f"attempt {attempt}: {reason}",
                                    task=plan.index)
                self._log(f"task {plan.index}: {reason}", "error")
                with contextlib.suppress(Exception):  # the next attempt starts afresh
                    self.bench.daq.stop_acquisition()
                failures = self.bench.safe_state()
                if failures:
                    raise BenchError(f"{reason}; safe state not confirmed after the fault: "
                                     f"{'; '.join(failures)}") from exc
                where = (f"after {self._rows_written} rows at task time {self.clock:.6g} s")
                if policy.on_task_fault == "skip":
                    self.sink.log_event("task_skipped", f"{where}: {reason}", task=plan.index)
                    self.sink.end_task(plan.index, "failed", {"duration": self.clock})
                    self.done_s = done_before + plan.expected_duration_s
                    return TaskOutcome("failed", {"duration": self.clock}, attempt, reason)
                if policy.on_task_fault == "retry":
                    if attempt <= policy.max_task_retries:
                        if not hasattr(self.sink, "discard_task_rows"):
                            raise TaskFaultError(f"task {plan.index}: {reason}; this sink "
                                                 "cannot discard rows to retry") from exc
                        cast(RetryableSink, self.sink).discard_task_rows(
                            plan.index, f"attempt {attempt} failed {where}; its rows "
                                        f"discarded, task run again: {reason}")
                        self._log(f"task {plan.index}: retrying from its start "
                                  f"(attempt {attempt + 1} of "
                                  f"{policy.max_task_retries + 1})", "warning")
                        continue
                    raise TaskFaultError(f"task {plan.index} failed {attempt} times; "
                                         f"last: {reason}") from exc
                raise

    def _record_faults(self) -> None:
        """Write the instruments' fault/recovery records to the sink (and the log)."""
        for text in record_faults(self.bench.fault_log, self.sink, self.index):
            self._log(text, "warning")

    def _gap(self, block: SampleBlock, expected: int) -> float:
        """Seconds of samples lost before ``block`` (an overflow restart), recorded as a
        ``daq_gap`` event; 0 if none. ``expected`` is the index the block should start at
        (a smaller index is a new acquisition, not a gap)."""
        lost = block.first_index - expected
        if lost <= 0:
            return 0.0
        gap = lost / self.bench.daq.sample_rate
        self.sink.log_event("daq_gap", f"{lost} samples ({gap:.6g} s) lost from task time "
                                       f"{self.clock:.6g} s; the bench ran on",
                            task=self.index)
        return gap

    # ------------------------------------------------------------------ one task
    def run_task(self, plan: pl.TaskPlan, *, begin: bool = True) -> dict[str, float]:
        """Execute every step of ``plan``; returns the task's final values (SI units).

        ``begin`` False continues a task the sink already has running (a retry). The
        bench is left with learning off; on an exception the caller drives it safe.
        """
        self.index = plan.index
        self.clock = 0.0  # task time: bench seconds since the task started (s)
        self.eta = float("nan")
        self.lam = float("nan")
        self.gates_now = np.full(self.network.n_edges, np.nan)
        self.line_of: dict[tuple[str, int], str] = {}
        self.node_of: dict[str, int] = {}
        # each learning step sets its own record rate; until then a row per DAQ block
        self.rows = RowBuilder(self.network, self.law, self.bench.daq.channels,
                               self.bench.daq.sample_rate, self.config.block_duration,
                               dict(plan.targets))
        self.last: dict[str, float] = {}
        self.final: dict[str, float] = {}
        self._rows_written = 0
        if begin:
            self.sink.begin_task(plan.index)
        for step in plan.steps:
            self.control.check_abort()
            self._step(step)
            self._record_faults()
        self.final.update({
            "error": self.last.get("error", float("nan")),
            "error_normalized": self.last.get("error_normalized", float("nan")),
            "power_free": self.last.get("power_free", float("nan")),
            "power_clamped": self.last.get("power_clamped", float("nan")),
            "energy": self.rows.energy,
            "lambda": self.lam,
            "eta": self.eta,
            "duration": self.clock,
        })
        self.sink.end_task(plan.index, "completed", self.final)
        return self.final

    def _step(self, step: Any) -> None:
        """Run one plan step through its registered handler."""
        handler = STEP_HANDLERS.get(type(step))
        if handler is None:
            raise TypeError(f"unknown plan step {step!r}; registered: "
                            f"{', '.join(t.__name__ for t in STEP_HANDLERS)}")
        handler(self, step)

    @handles(pl.RouteOutputs)
    def _route(self, step: pl.RouteOutputs) -> None:
        routing = dict(step.routing)
        # lines this task does not use are opened, so no earlier task's line keeps
        # holding a node (a fixed wire cannot open: it is held at 0 V instead)
        self.bench.daq.route_outputs({line: routing.get(line) for line in self.roles})
        self.line_of = {(self.roles[line], node): line for line, node in routing.items()}
        self.node_of = dict(routing)

    @handles(pl.SetGates)
    def _set_gates(self, step: pl.SetGates) -> None:
        gates = self.bench.gates
        if step.volts is not None:
            gates.set_gates(np.full(self.network.n_edges, step.volts))
        else:  # uniform conductance κ: each edge's gate from its own calibration
            assert step.kappa is not None
            gates.set_gates(self.config.gates_for_conductance(step.kappa))
        self.gates_now = gates.read_gates()

    @handles(pl.SetEta)
    def _set_eta(self, step: pl.SetEta) -> None:
        self.eta = self.bench.gates.set_eta(step.eta)

    @handles(pl.SetLambda)
    def _set_lambda(self, step: pl.SetLambda) -> None:
        self.lam = self.bench.gates.set_lambda(step.lam)

    @handles(pl.SetOutputs)
    def _set_outputs(self, step: pl.SetOutputs) -> None:
        self._write_outputs(dict(step.volts))

    @handles(pl.Measure)
    def _measure_step(self, step: pl.Measure) -> None:
        self._measure()
        self.sink.log_event("reading", f"{step.label} reading at task time {self.clock:.6g} s "
                                       f"(row {self._rows_written - 1})", task=self.index)

    @handles(pl.Learn)
    def _learn_step(self, step: pl.Learn) -> None:
        self.rows.set_record_interval(1.0 / step.record_rate_hz)
        self._learn(step.duration_s)

    @handles(pl.ControlLambda)
    def _control_lambda(self, step: pl.ControlLambda) -> None:
        lam_max = min(step.lam_max, self.bench.gates.lambda_max)
        lam0 = min(step.lam0, lam_max)
        # below a tenth of the gain stage's resolution (5e-4) λ is 0 on the bench;
        # a floor there lets the controller climb back within seconds
        controller = LambdaController(step.target_error, step.rho, step.p, lam0=lam0,
                                      lam_min=min(LAMBDA_FLOOR, lam0), lam_max=lam_max)
        self.rows.set_record_interval(1.0 / step.record_rate_hz)
        self._learn(step.duration_s, controller, 1.0 / step.update_rate_hz)

    @handles(pl.StepwiseTrain)
    def _stepwise_step(self, step: pl.StepwiseTrain) -> None:
        self._stepwise(step.steps, step.window_s, step.settle_s)

    @handles(pl.TrainOnDataset)
    def _train_dataset_step(self, step: pl.TrainOnDataset) -> None:
        self.rows.set_record_interval(1.0 / step.record_rate_hz)
        self._train_dataset(step)

    @handles(pl.SafeState)
    def _safe_state_step(self, step: pl.SafeState) -> None:
        """The bench's one safe state, between tasks (the SMU's output goes off too)."""
        failures = self.bench.safe_state()
        self.rows.set_supply(None)
        if failures:
            raise BenchError(f"safe state not confirmed: {'; '.join(failures)}")

    @handles(pl.ConfigureSim)
    def _configure_sim(self, step: pl.ConfigureSim) -> None:
        configure = getattr(self.bench.daq, "configure_physics", None)
        if configure is None:
            raise ValueError("sim: physics overrides need the simulated bench")
        configure(alpha=step.alpha, gamma=step.gamma, noise=step.noise,
                  label_noise=step.label_noise, seed=step.seed)

    def _write_outputs(self, volts: dict[str, float]) -> None:
        """Set output lines (V); the SMU's line is also sourced by the SMU (output on), so
        the supply power it measures is that line's."""
        self.bench.daq.write_outputs(volts)
        power, line = self.bench.power, self.config.smu_line
        if power is None or line not in volts:
            return
        node = self.node_of.get(line)
        power.set_voltage(volts[line])
        power.set_output(node is not None)
        self.rows.set_supply(node, volts[line])

    # ------------------------------------------------------------------ settings
    def _apply_live_settings(self) -> None:
        for name, value in self.control.pending_settings():
            try:
                if name == "eta":
                    self.eta = self.bench.gates.set_eta(value)
                else:
                    self.lam = self.bench.gates.set_lambda(value)
                    self._controller = None  # an operator's λ overrides the controller
            except ValueError as exc:  # refused by the instrument: the run goes on
                self.sink.log_event(f"refused_{name}", str(exc), task=self.index)
                self._log(f"{name} = {value:g} refused: {exc}", "warning")
                continue
            actual = self.eta if name == "eta" else self.lam
            self.sink.log_event(f"set_{name}", f"{name} requested {value:g}, set {actual:g}",
                                task=self.index)
            self._log(f"{name} set to {actual:g} (requested {value:g})")

    def _pause_if_asked(self, learning: bool) -> None:
        """Honour a pause: learning off, acquisition stopped, sources held, until resumed."""
        if not self.control.paused:
            return
        daq, gates = self.bench.daq, self.bench.gates
        gates.set_learning(False)
        daq.stop_acquisition()
        self.sink.log_event("pause", "paused by operator", task=self.index)
        self.on_state("paused")
        while not self.control.wait_resumed(0.1):
            pass
        self.control.check_abort()
        self.sink.log_event("resume", "resumed", task=self.index)
        self.on_state("running")
        daq.start_acquisition()
        if learning:
            gates.set_learning(True)

    # ------------------------------------------------------------------ measuring
    def _emit(self, rows: dict[str, np.ndarray] | None) -> None:
        if rows is None:
            return
        if self._wait_for_sink:
            cast(WaitableSink, self.sink).wait_for_room(PRODUCER_BACKLOG_BYTES)
        self.sink.append(self.index, rows)
        self._rows_written += len(rows["time"])
        self.last = {k: float(v[-1]) for k, v in rows.items() if v.ndim == 1}
        self._publish(Rows(self.index, rows))

    def _measure(self) -> None:
        """One reading of both copies with learning off, averaged over one DAQ block
        (about 0.1 s, which averages the measurement noise away), recorded as one row;
        the last one is the task's final state."""
        daq = self.bench.daq
        daq.start_acquisition()
        try:
            block = daq.read_block(average=daq.block_size)  # the whole block's mean
            self._record_faults()
            self._gap(block, 0)  # recorded; the reading is one row at the present time
            reading = block.data[0]
        finally:
            daq.stop_acquisition()
        self.gates_now = self.bench.gates.read_gates()
        if self.rows.supply is not None:
            self._read_supply()
        rows = self.rows.from_voltages(np.array([self.clock]), reading[None, :], self.gates_now,
                                       self.lam, self.eta, 0.0)
        self._emit(rows)

    def _learn(self, duration: float, controller: LambdaController | None = None,
               update_interval: float = 0.0) -> None:
        """Learning switch closed for ``duration`` s of bench time while recording; a λ
        ``controller`` is updated from the newest error every ``update_interval`` s of bench
        time (at most once per DAQ block)."""
        daq, gates = self.bench.daq, self.bench.gates
        self._controller = controller
        rate = daq.sample_rate
        end = self.clock + duration
        since_update = 0.0
        since_smu = SMU_READ_INTERVAL_S  # read the SMU after the first block
        expected = 0  # sample index the next block starts at
        # rows (and progress) wait in the row builder for up to ROW_BATCH_S of bench time
        # where the DAQ waits for its reader and no controller needs each block's error
        batch_s = ROW_BATCH_S if self._daq_waits and controller is None else 0.0
        queued_s, queued_samples = 0.0, 0
        daq.start_acquisition()
        gates.set_learning(True)
        try:
            while self.clock < end - 0.5 / rate:
                self.control.check_abort()
                if self.control.paused:  # what was read is shown before the pause
                    self._hand_over(queued_s, queued_samples)
                    queued_s, queued_samples = 0.0, 0
                self._pause_if_asked(learning=True)
                self._apply_live_settings()
                per_row = self.rows.samples_per_row
                # without the raw stream only record-interval means are kept: the DAQ
                # averages them (a simulator draws the means, not every sample)
                average = (per_row if not self._raw and daq.block_size % per_row == 0
                           else 1)
                block = daq.read_block(average=average)
                self._record_faults()
                n = block.n_samples
                gap = self._gap(block, expected)  # an overflow: the bench learned on
                self.clock += gap
                since_update += gap
                expected = block.first_index + n
                t = self.clock + self._sample_offsets(n, rate)
                self.clock += n / rate
                if self._raw:  # the full-rate stream, on the task clock (gaps included)
                    cast(RawSink, self.sink).append_raw(self.index, t, block.data)
                self.gates_now = gates.read_gates()
                since_smu += n / rate + gap
                if self.rows.supply is not None and since_smu >= SMU_READ_INTERVAL_S - 0.5 / rate:
                    self._read_supply()
                    since_smu = 0.0
                if block.average > 1:
                    # the rows' mean sample times (np.mean's sum and division)
                    t_row = np.add.reduce(t.reshape(-1, block.average), axis=1) / block.average
                    self.rows.add_means(t_row, block.data, float(t[-1]), self.gates_now,
                                        self.lam, self.eta)
                else:
                    self._emit(self.rows.rows(t, block.data, self.gates_now, self.lam,
                                              self.eta))
                queued_s += n / rate + gap
                queued_samples += n
                if queued_s >= batch_s - 0.5 / rate:
                    self._hand_over(queued_s, queued_samples)
                    queued_s, queued_samples = 0.0, 0
                since_update += n / rate
                if (self._controller is not None and "error" in self.last
                        and since_update >= update_interval - 0.5 / rate):
                    self.lam = gates.set_lambda(self._controller.update(self.last["error"],
                                                                        since_update))
                    since_update = 0.0
        finally:
            try:  # every block read is recorded, even on a fault
                self._hand_over(queued_s, queued_samples)
            finally:
                try:
                    gates.set_learning(False)
                finally:
                    daq.stop_acquisition()

    def _sample_offsets(self, n: int, rate: float) -> np.ndarray:
        """Times (s) of a block's ``n`` samples at ``rate`` (S/s) after the block's start:
        1/rate … n/rate (kept for the last block size asked for)."""
        if self._offsets.shape != (n,) or self._offsets_rate != rate:
            self._offsets, self._offsets_rate = np.arange(1, n + 1) / rate, rate
        return self._offsets

    def _hand_over(self, seconds: float, samples: int) -> None:
        """Hand the queued rows to the sink and the display, and report ``seconds`` (bench
        time) and ``samples`` of progress."""
        self._emit(self.rows.take_rows())
        if samples:
            self._progress(seconds, samples)

    def _stepwise(self, steps: int, window: float, settle: float) -> None:
        """``steps`` × (free measurement, clamped measurement, learning window of
        ``window`` s), every wait on the bench's clock (:meth:`Daq.settle`: the wall clock
        on hardware, fast-forwarded on the simulated fast clock).

        The clamp circuit sets the clamped copy's targets from the free copy's outputs,
        so the free copy settles first: after ``settle`` s its node voltages are the free
        measurement; after another ``settle`` s the clamped copy's are the clamped
        measurement; then the update window. One row per step (both measurements, time
        at the clamped one); the SMU, if on, is read with the clamped measurement.
        """
        daq, gates = self.bench.daq, self.bench.gates
        clamped = self.rows.clamped_cols
        for _ in range(steps):
            self.control.check_abort()
            self._pause_if_asked(learning=False)
            self._apply_live_settings()
            daq.settle(settle)
            reading = daq.read_once()  # free copy's columns: the free measurement
            daq.settle(settle)
            reading[clamped] = daq.read_once()[clamped]  # then the clamped measurement
            self.clock += 2 * settle
            if self.rows.supply is not None:
                self._read_supply()
            self.gates_now = gates.read_gates()
            self._emit(self.rows.from_voltages(np.array([self.clock]), reading[None, :],
                                               self.gates_now, self.lam, self.eta, window))
            gates.learning_window(window)
            self.clock += window
            self._progress(window + 2 * settle, 0)

    def _read_supply(self) -> None:
        """One SMU reading: the measured supply power (W) of the rows that follow.

        At most :data:`SMU_READ_ATTEMPTS` tries, so a stalled SMU costs at most that many
        SMU timeouts between two DAQ blocks; a reading that still fails is a
        ``supply_reading_failed`` event and NaN power (the next reading, 0.5 s later, tries
        again); the learning goes on."""
        power = self.bench.power
        assert power is not None
        try:
            with power.attempts_limited(SMU_READ_ATTEMPTS):
                self.rows.supply_power = power.measure_power()
        except InstrumentFaultError as exc:
            self.rows.supply_power = float("nan")
            self.sink.log_event("supply_reading_failed", str(exc), task=self.index)

    # ------------------------------------------------------------------ datasets
    def _present(self, example: Example) -> None:
        """Hold an example's inputs on the source lines and its desired outputs as
        target set-points."""
        daq = self.bench.daq
        self._write_outputs({self.line_of[("source", n)]: v
                             for n, v in example.sources.items()})
        targets = dict(example.targets)
        if example.output_edges:
            # desired drops D across output edges (c, d): set-points symmetric about the
            # free state's midpoint, Ṽ_c,d = (V_c + V_d)/2 ± D/2, measured with learning off
            self.bench.gates.set_learning(False)
            v_free, _ = self.rows.split(daq.read_once())
            for (c, d), drop in zip(example.output_edges, example.drops):
                mid = 0.5 * (v_free[c] + v_free[d])
                targets[c], targets[d] = mid + 0.5 * drop, mid - 0.5 * drop
        daq.write_outputs({self.line_of[("target", n)]: v for n, v in targets.items()})
        self.rows.set_targets(targets)

    def _train_dataset(self, step: pl.TrainOnDataset) -> None:
        """Present the training examples epoch by epoch, then measure the test set."""
        data = build_examples(step.task, step.seed)
        learning = step.learning
        for epoch in range(data.epochs):
            order = np.random.default_rng([step.seed, epoch]).permutation(len(data.train))
            for i in order[: data.per_epoch]:
                self._present(data.train[i])
                if isinstance(learning, pl.ContinuousLearning):
                    self._learn(learning.duration)
                else:
                    self._stepwise(learning.steps, learning.window, learning.settle)
            self.sink.log_event("epoch", f"epoch {epoch + 1}/{data.epochs} done",
                                task=self.index)
        self.final.update(self._test(data.test, data.classes))
        # the same measurement on the training examples (learning off): train_error,
        # train_accuracy
        trained = self._test(data.train, data.classes)
        self.final.update({k.replace("test_", "train_"): v for k, v in trained.items()})

    def _test(self, examples: list[Example], classes: bool) -> dict[str, float]:
        """Mean error (V²) and, for classification, accuracy over held-out examples."""
        if not examples:
            return {}
        self.bench.gates.set_learning(False)
        errors, correct = [], 0
        for ex in examples:
            self.control.check_abort()
            self._present(ex)
            reading = self.bench.daq.read_once()
            v_free, _ = self.rows.split(reading)
            errors.append(float(self.rows.error(v_free)))
            if classes:
                nodes = sorted(ex.targets)
                want = int(np.argmax([ex.targets[n] for n in nodes]))
                got = int(np.argmax([v_free[n] for n in nodes]))
                correct += want == got
        out = {"test_error": float(np.mean(errors))}
        if classes:
            out["test_accuracy"] = correct / len(examples)
        return out

    # ------------------------------------------------------------------ reporting
    def _publish(self, event: Any) -> None:
        if self.events is not None:
            self.events.put(event)

    def _log(self, text: str, level: str = "info") -> None:
        self._publish(LogMessage(text, level))

    def _progress(self, seconds: float, samples: int) -> None:
        self.done_s += seconds
        self._samples += samples
        wall = time.monotonic() - self._wall0
        if self.events is not None:
            rate = self._samples / wall if wall > 0 else math.nan  # S/s per channel
            self.events.put(Progress(self.done_s, self.total_s, rate, self.events.dropped, wall))
