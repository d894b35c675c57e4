"""The executor obeys its plans: a registry of step handlers, the plan's record rates,
stepwise learning on the bench's clock, and the SMU's measured supply power in the rows."""

from __future__ import annotations

import math
import time
import typing
from typing import Any

import numpy as np
import pytest

from labctl.bench import open_bench
from labctl.bench.config import DEFAULT_BENCH_FILE, bench_from_text, load_bench
from labctl.protocol import plan as pl
from labctl.runner.executor import STEP_HANDLERS, TaskExecutor

CFG = load_bench()
SOURCES = ((0, 0.0), (5, 0.45))  # node, V
TARGETS = ((10, 0.15),)


class ListSink:
    """Collects rows and events in memory (the RowSink protocol)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[np.ndarray]] = {}
        self.events: list[tuple[str, str]] = []

    def begin_task(self, index: int) -> None:
        pass

    def append(self, index: int, rows: Any) -> None:
        for name, value in rows.items():
            self.rows.setdefault(name, []).append(np.asarray(value))

    def end_task(self, index: int, status: str = "completed", final: Any = None) -> None:
        pass

    def log_event(self, kind: str, message: str = "", task: int = -1) -> None:
        self.events.append((kind, message))

    def column(self, name: str) -> np.ndarray:
        return np.concatenate(self.rows[name])


def _plan(*learning: Any) -> pl.TaskPlan:
    routing = (("source0", 0), ("source1", 5), ("target0", 10))
    steps = (pl.RouteOutputs(routing), pl.SetGates(volts=3.0), pl.SetEta(0.5),
             pl.SetLambda(0.0),
             pl.SetOutputs((("source0", 0.0), ("source1", 0.45), ("target0", 0.15))),
             pl.Measure("initial"), *learning, pl.Measure("final"), pl.SafeState())
    return pl.TaskPlan(index=0, name="t", kind="allostery", params={}, sources=SOURCES,
                       targets=TARGETS, steps=steps, expected_duration_s=1.0)


def _run(plan: pl.TaskPlan) -> tuple[ListSink, Any]:
    bench = open_bench(CFG, clock="fast", seed=3)
    sink = ListSink()
    try:
        TaskExecutor(bench, CFG, sink).run_task(plan)
    finally:
        bench.close()
    return sink, bench


def test_every_plan_step_type_has_exactly_one_handler():
    step_types = set(typing.get_args(pl.Step))
    assert step_types == set(STEP_HANDLERS)


def test_an_unregistered_step_is_refused_by_name():
    class Unknown:
        pass

    bench = open_bench(CFG, clock="fast")
    try:
        ex = TaskExecutor(bench, CFG, ListSink())
        with pytest.raises(TypeError, match="unknown plan step"):
            ex._step(Unknown())
    finally:
        bench.close()


@pytest.mark.parametrize("rate", [10.0, 40.0])
def test_a_learning_step_records_at_its_own_record_rate(rate):
    sink, _ = _run(_plan(pl.Learn(duration_s=1.0, record_rate_hz=rate)))
    t = sink.column("time")[1:-1]  # without the initial and final readings
    assert len(t) == round(rate)
    np.testing.assert_allclose(np.diff(t), 1.0 / rate, rtol=1e-9)


def test_stepwise_learning_runs_on_the_bench_clock_without_wall_sleeps(monkeypatch):
    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"wall-time sleep of {seconds} s on the fast clock")

    monkeypatch.setattr(time, "sleep", no_sleep)
    bench = open_bench(CFG, clock="fast", seed=3)
    sink = ListSink()
    try:
        t0 = bench.daq.core.t
        TaskExecutor(bench, CFG, sink).run_task(
            _plan(pl.StepwiseTrain(steps=5, window_s=0.02, settle_s=0.5)))
        elapsed = bench.daq.core.t - t0
    finally:
        bench.close()
    t = sink.column("time")[1:-1]
    # free settle + clamped settle + window per step, all on the bench's clock
    np.testing.assert_allclose(np.diff(t), 2 * 0.5 + 0.02, rtol=1e-9)
    assert t[0] == pytest.approx(2 * 0.5)
    assert elapsed >= 5 * (2 * 0.5 + 0.02)  # the simulated physics lived through it


class CountingSink(ListSink):
    """A ListSink that counts the appends of the learning rows."""

    def __init__(self) -> None:
        super().__init__()
        self.appends = 0

    def append(self, index: int, rows: Any) -> None:
        self.appends += 1
        super().append(index, rows)


@pytest.mark.parametrize("rate", [10.0, 40.0])
def test_rows_are_the_same_handed_over_block_by_block_or_in_batches(monkeypatch, rate):
    """On the fast clock the executor builds rows a second of bench time at a time
    (ROW_BATCH_S); every value (gates interpolated between read-backs, energy, the SMU's
    readings on their rows) is the one a block-by-block hand-over gives."""
    import labctl.runner.executor as executor

    plan = _plan(pl.Learn(duration_s=2.5, record_rate_hz=rate))
    sinks = {}
    for batch_s in (0.0, 0.3, executor.ROW_BATCH_S):
        monkeypatch.setattr(executor, "ROW_BATCH_S", batch_s)
        bench = open_bench(CFG, clock="fast", seed=3)
        sinks[batch_s] = sink = CountingSink()
        try:
            TaskExecutor(bench, CFG, sink).run_task(plan)
        finally:
            bench.close()
    block_by_block = sinks.pop(0.0)
    assert block_by_block.appends == 2 + 25  # two readings, 25 blocks of learning
    for batch_s, sink in sinks.items():
        assert sink.appends == 2 + math.ceil(2.5 / batch_s - 1e-9)
        assert set(sink.rows) == set(block_by_block.rows)
        assert "power_supply" in sink.rows
        for name in sink.rows:
            np.testing.assert_array_equal(sink.column(name), block_by_block.column(name),
                                          err_msg=f"{name}, batches of {batch_s} s")


def test_supply_power_is_measured_beside_the_model_and_agrees_within_mismatch():
    sink, _ = _run(_plan(pl.Learn(duration_s=2.0, record_rate_hz=20.0)))
    measured = sink.column("power_supply")
    model = sink.column("power_supply_model")
    assert np.all(np.isfinite(model)) and np.all(model > 0)
    seen = np.isfinite(measured)
    # a reading every 0.5 s of learning (>= 1 Hz), each on the row that ends when it was
    # taken, plus one with each of the initial and final readings
    assert seen.sum() == 2 * 2 + 2
    t = sink.column("time")[seen][1:-1]
    np.testing.assert_allclose(np.diff(t), 0.5, rtol=1e-9)
    residual = (measured[seen] - model[seen]) / model[seen]
    # the simulated SMU reads the twin's solved currents (2 % transistor mismatch,
    # read-out noise); the model uses the nominal calibration on the measured voltages
    assert np.max(np.abs(residual)) < 0.03
    assert np.max(np.abs(residual)) > 0  # two different computations, not a copy


def test_without_transistor_mismatch_the_supply_residual_is_read_out_noise():
    text = DEFAULT_BENCH_FILE.read_text().replace("mismatch = 0.02", "mismatch = 0.0")
    cfg = bench_from_text(text)
    bench = open_bench(cfg, clock="fast", seed=3)
    sink = ListSink()
    try:
        TaskExecutor(bench, cfg, sink).run_task(
            _plan(pl.Learn(duration_s=3.0, record_rate_hz=20.0)))
    finally:
        bench.close()
    measured, model = sink.column("power_supply"), sink.column("power_supply_model")
    seen = np.isfinite(measured)
    residual = (measured[seen] - model[seen]) / model[seen]
    assert abs(residual.mean()) < 0.003  # the 2 % mismatch bench: about 1 %


def test_without_its_line_in_use_the_smu_stays_off_and_no_supply_power_is_recorded():
    plan = _plan(pl.Learn(duration_s=0.5, record_rate_hz=10.0))
    steps = tuple(pl.SetOutputs((("source0", 0.45), ("target0", 0.15)))
                  if isinstance(s, pl.SetOutputs) else s for s in plan.steps)
    sink, _ = _run(pl.TaskPlan(index=0, name="t", kind="allostery", params={},
                               sources=SOURCES, targets=TARGETS, steps=steps,
                               expected_duration_s=0.5))
    assert "power_supply" not in sink.rows


def test_a_failed_smu_reading_is_bounded_and_learning_goes_on():
    from labctl.bench.faults import SimFaults
    from labctl.runner.executor import SMU_READ_ATTEMPTS

    faults = SimFaults(smu_timeout_at_s=1.0, consecutive=SMU_READ_ATTEMPTS)
    bench = open_bench(CFG, clock="fast", seed=3, faults=faults)
    sink = ListSink()
    try:
        TaskExecutor(bench, CFG, sink).run_task(
            _plan(pl.Learn(duration_s=2.0, record_rate_hz=20.0)))
    finally:
        bench.close()
    kinds = [kind for kind, _ in sink.events]
    assert kinds.count("supply_reading_failed") == 1
    # tried SMU_READ_ATTEMPTS times between two DAQ blocks (bench files allow 3), no more
    assert kinds.count("fault") == SMU_READ_ATTEMPTS and "recovered" not in kinds
    measured = sink.column("power_supply")
    assert np.isnan(measured).any() and np.isfinite(measured[-1])  # the next reading came
    assert len(sink.column("time")) == 2 + 40  # every row of the 2 s was recorded


def test_every_field_of_every_plan_step_is_read_by_the_executor():
    """A plan field the engine ignores would be a promise the bench does not keep."""
    import dataclasses
    import inspect

    import labctl.runner.executor as executor

    source = inspect.getsource(executor)
    unused = [f"{t.__name__}.{f.name}" for t in typing.get_args(pl.Step)
              for f in dataclasses.fields(t) if f".{f.name}" not in source]
    assert unused == []


def test_measurements_are_labelled_in_the_events():
    sink, _ = _run(_plan(pl.Learn(duration_s=0.2, record_rate_hz=10.0)))
    readings = [m for kind, m in sink.events if kind == "reading"]
    assert readings[0].startswith("initial reading at task time 0 s (row 0)")
    assert readings[1].startswith("final reading")


class WaitingSink(ListSink):
    """A ListSink whose producer may wait (the RunWriter's ``wait_for_room``), counting
    the waits and the appends they came before."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def wait_for_room(self, max_bytes: int, timeout: float | None = None) -> bool:
        self.calls.append(f"wait {max_bytes}")
        return True

    def append(self, index: int, rows: Any) -> None:
        self.calls.append("append")
        super().append(index, rows)


@pytest.mark.parametrize("clock", ["fast", "paced"])
def test_rows_wait_for_the_writer_only_when_the_daq_waits_for_its_reader(clock):
    """On the fast clock the executor may wait, so every append first waits for the writer
    to hold at most PRODUCER_BACKLOG_BYTES (the serial run's memory stays bounded however
    far the writer lags); a free-running DAQ (paced, hardware) is never held up."""
    from labctl.store.writer import PRODUCER_BACKLOG_BYTES

    bench = open_bench(CFG, clock=clock, seed=3)
    sink = WaitingSink()
    try:
        assert bench.daq.free_running is (clock == "paced")
        TaskExecutor(bench, CFG, sink).run_task(
            _plan(pl.Learn(duration_s=0.3, record_rate_hz=10.0)))
    finally:
        bench.close()
    appends = sink.calls.count("append")
    assert appends >= 3
    if clock == "fast":
        assert sink.calls == [f"wait {PRODUCER_BACKLOG_BYTES}", "append"] * appends
    else:
        assert sink.calls == ["append"] * appends
