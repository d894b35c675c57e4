"""Fault campaign on the simulated bench (fast clock, bench-time fault moments: the same
run every time): each transient fault kind injected early, in the middle and late in a
three-task run is recovered at the instrument level and recorded in the run file; a fault
that outlasts the recovery follows the protocol's on_task_fault policy; an instrument that
does not open leaves a run file saying which, where and why."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from labctl.bench import open_bench
from labctl.bench.faults import SimFaults
from labctl.protocol import load_protocol
from labctl.runner.events import TaskStarted
from labctl.runner.session import RunSession
from labctl.store import open_run

#: three tasks of 1.2 s bench time each (0.1 s initial reading, 1 s learning, 0.1 s final)
TASK_S = 1.2
#: early (task 0), middle (task 1) and late (task 2) moments, s of bench time
MOMENTS = (0.5, 1.7, 2.9)
KINDS = {  # SimFaults field -> (instrument in the events, fault kind)
    "daq_overflow": ("DAQ", "overflow"),
    "gate_timeout": ("gate controller", "timeout"),
    "gate_garbage": ("gate controller", "garbage"),
    "gate_reset": ("gate controller", "firmware_reset"),
    "smu_timeout": ("SMU", "timeout"),
}


def _protocol(protocols, tmp_path: Path, policy: str = "") -> Path:
    path = tmp_path / "campaign.toml"
    text = protocols.toml(name="campaign", duration=1.0, tasks=protocols.random_tasks(3))
    path.write_text(policy + "\n" + text)
    return path


def _run(protocol_path: Path, out: Path, faults: SimFaults | None, keep: dict | None = None,
         **options):
    """Run on a simulated bench with ``faults``; ``keep`` receives the session."""
    protocol = load_protocol(protocol_path)
    opened = {}

    def opener():
        opened["bench"] = open_bench(protocol.bench, clock="fast", seed=1, faults=faults)
        return opened["bench"]

    session = RunSession(protocol, out, bench_opener=opener, **options)
    if keep is not None:
        keep["session"] = session
    return session.run(), opened["bench"]


def _events(path: Path) -> list[tuple[int, str, str]]:
    with open_run(path) as run:
        return [(task, kind, message) for _t, task, kind, message in run.events]


def _assert_safe(bench) -> None:
    core = bench.daq.core
    assert not core.twin.learning and set(core.ao_values.values()) == {0.0}
    assert core.eta_tap == 0 and not core.smu_on


@pytest.fixture(scope="module")
def clean(protocols, tmp_path_factory):
    """The same campaign without faults: the reference rows."""
    tmp = tmp_path_factory.mktemp("clean")
    result, _ = _run(_protocol(protocols, tmp), tmp / "clean.h5", None)
    assert result.status == "completed"
    with open_run(result.path) as run:
        return {i: (run.tasks[i].time.copy(), run.tasks[i].error.copy()) for i in range(3)}


@pytest.mark.parametrize("fault", list(KINDS))
def test_each_transient_fault_early_middle_and_late_is_survived(protocols, tmp_path, fault,
                                                                clean):
    result, bench = _run(_protocol(protocols, tmp_path), tmp_path / f"{fault}.h5",
                         SimFaults(**{f"{fault}_at_s": MOMENTS}))
    assert (result.status, result.reason) == ("completed", "")
    _assert_safe(bench)
    instrument, kind = KINDS[fault]
    events = _events(result.path)
    seen = [(task, ev) for task, ev, msg in events
            if ev in ("fault", "recovered") and msg.startswith(f"{instrument}: {kind}: ")]
    # every fault recorded and recovered, one in each task: early, middle, late
    assert seen == [(0, "fault"), (0, "recovered"), (1, "fault"), (1, "recovered"),
                    (2, "fault"), (2, "recovered")]
    assert not [e for e in events if e[1] in ("task_fault", "task_retry", "task_skipped")]
    with open_run(result.path) as run:
        assert run.completed_tasks() == {0, 1, 2}
        for i in range(3):
            t = run.tasks[i].time
            # learning lasts its 1 s of bench time; the overflow's 0.05 s gap (the bench
            # learned on) ends it in the middle of a 0.1 s block, which is completed
            end = 1.05 if fault == "daq_overflow" else 1.0
            assert np.all(np.diff(t) > 0) and t[-1] == pytest.approx(end, abs=0.02)
            if fault in ("gate_timeout", "gate_garbage", "smu_timeout"):
                # a re-sent command changes nothing: the rows are those of the clean run
                np.testing.assert_array_equal(t, clean[i][0])
                np.testing.assert_array_equal(run.tasks[i].error, clean[i][1])
    if fault == "daq_overflow":  # the lost samples are gaps in the rows, each recorded
        gaps = [(task, msg) for task, ev, msg in events if ev == "daq_gap"]
        assert [task for task, _ in gaps] == [0, 1, 2]
        assert all(msg.startswith("500 samples (0.05 s) lost") for _, msg in gaps)
    if fault == "gate_reset":  # η, λ and the learning switch came back after each restart
        recovered = [msg for _, ev, msg in events
                     if ev == "recovered" and "firmware_reset" in msg]
        assert all("eta = 0.217054" in msg and "learning = 1" in msg for msg in recovered)


def test_all_fault_kinds_together(protocols, tmp_path):
    """Fifteen faults of five kinds in one run, 0.1 s (one DAQ block) apart: completed,
    every one recorded. (Three kinds hitting one command in a row exhaust its attempts.)"""
    faults = SimFaults(**{f"{name}_at_s": [m + 0.1 * k for m in MOMENTS]
                          for k, name in enumerate(KINDS)})
    result, bench = _run(_protocol(protocols, tmp_path), tmp_path / "all.h5", faults)
    assert result.status == "completed"
    _assert_safe(bench)
    events = _events(result.path)
    counts = Counter((ev, msg.split(": ")[1]) for _, ev, msg in events
                     if ev in ("fault", "recovered"))
    assert counts == {("fault", "overflow"): 3, ("recovered", "overflow"): 3,
                      ("fault", "timeout"): 6, ("recovered", "timeout"): 6,
                      ("fault", "garbage"): 3, ("recovered", "garbage"): 3,
                      ("fault", "firmware_reset"): 3, ("recovered", "firmware_reset"): 3}
    assert sum(ev == "daq_gap" for _, ev, _m in events) == 3


#: a gate-controller fault in task 1 that outlasts the driver's 3 attempts (then clears)
PERSISTENT = {"gate_timeout_at_s": TASK_S + 0.5, "consecutive": 3}


def _policy(name: str, retries: int = 0) -> str:
    text = f'on_task_fault = "{name}"'
    return text + (f"\nmax_task_retries = {retries}" if retries else "")


def test_skip_policy_marks_the_task_and_goes_on(protocols, tmp_path):
    result, bench = _run(_protocol(protocols, tmp_path, _policy("skip")),
                         tmp_path / "skip.h5", SimFaults(**PERSISTENT))
    assert result.status == "completed"
    _assert_safe(bench)
    with open_run(result.path) as run:
        assert [run.tasks[i].status for i in range(3)] == ["completed", "failed", "completed"]
        assert run.completed_tasks() == {0, 2}
        assert run.tasks[1].time[-1] < 0.9  # rows up to the fault are kept
    events = _events(result.path)
    skipped = [msg for task, ev, msg in events if ev == "task_skipped"]
    assert len(skipped) == 1 and "InstrumentFaultError" in skipped[0]
    assert "gate controller: 'GATES?' failed after 3 attempts (timeout" in skipped[0]
    assert [task for task, ev, _ in events if ev == "fault"] == [1, 1, 1]


def test_abort_policy_aborts_the_file(protocols, tmp_path):
    result, bench = _run(_protocol(protocols, tmp_path, _policy("abort")),
                         tmp_path / "abort.h5", SimFaults(**PERSISTENT))
    assert result.status == "aborted"
    assert "gate controller: 'GATES?' failed after 3 attempts" in result.reason
    _assert_safe(bench)
    with open_run(result.path) as run:
        assert run.status == "aborted" and run.abort_reason == result.reason
        assert run.completed_tasks() == {0}
        assert run.tasks[2].status == "pending"


def test_retry_policy_succeeds_once_the_fault_clears_and_keeps_one_attempt(protocols,
                                                                           tmp_path, clean):
    keep: dict = {}
    result, bench = _run(_protocol(protocols, tmp_path, _policy("retry", 2)),
                         tmp_path / "retry.h5", SimFaults(**PERSISTENT), keep)
    assert result.status == "completed"
    started = [e.index for e in keep["session"].events.drain() if isinstance(e, TaskStarted)]
    assert started == [0, 1, 1, 2]  # the display starts the retried task afresh
    _assert_safe(bench)
    events = _events(result.path)
    retries = [msg for task, ev, msg in events if ev == "task_retry"]
    assert len(retries) == 1 and retries[0].startswith("attempt 1 failed after ")
    with open_run(result.path) as run:
        assert run.completed_tasks() == {0, 1, 2}
        # task 1 holds the second attempt only: one initial reading, 50 rows/s, one final
        t = run.tasks[1].time
        assert run.tasks[1].n_rows == 2 + 50 and np.all(np.diff(t) > 0)
        # ... run from its start as the first attempt would have been (same stream)
        np.testing.assert_array_equal(t, clean[1][0])
        np.testing.assert_array_equal(run.tasks[1].error, clean[1][1])


def test_retry_policy_gives_up_after_its_retries(protocols, tmp_path):
    faults = SimFaults(gate_timeout_at_s=[TASK_S + 0.5, TASK_S + 1.1], consecutive=3)
    result, bench = _run(_protocol(protocols, tmp_path, _policy("retry", 1)),
                         tmp_path / "retry_out.h5", faults)
    assert result.status == "aborted"
    assert result.reason.startswith("TaskFaultError: task 1 failed 2 times; last: ")
    _assert_safe(bench)


def test_an_smu_that_does_not_answer_at_open_leaves_an_aborted_run_file(protocols,
                                                                        tmp_path):
    protocol = load_protocol(_protocol(protocols, tmp_path))
    faults = SimFaults(smu_timeout_at_s=0.0, consecutive=3)
    session = RunSession(protocol, tmp_path / "open.h5", bench_faults=faults)
    result = session.run()
    address = protocol.bench.visa_resource
    assert result.status == "aborted"
    assert result.reason.startswith(f"InstrumentOpenError: cannot open the SMU at {address}: ")
    assert "SMU: '*IDN?' failed after 3 attempts (timeout" in result.reason
    with open_run(result.path) as run:
        assert run.status == "aborted" and run.abort_reason == result.reason
        assert [kind for _t, _i, kind, _m in run.events] == ["open_failure"]


def test_injected_faults_are_refused_for_a_parallel_run(protocols, tmp_path):
    protocol = load_protocol(_protocol(protocols, tmp_path))
    with pytest.raises(ValueError, match=r"bench_faults: .* \(run serially\)"):
        RunSession(protocol, tmp_path / "p.h5", parallel=True,
                   bench_faults=SimFaults(gate_timeout_at_s=1.0))
    assert not (tmp_path / "p.h5").exists()


def test_the_raw_stream_shows_the_gap_and_keeps_one_attempt(protocols, tmp_path):
    """With record_raw the full-rate samples of learning are stored on the task clock: an
    overflow is a gap of exactly the lost samples; a retried task keeps one attempt."""
    gap, _ = _run(_protocol(protocols, tmp_path), tmp_path / "gap.h5",
                  SimFaults(daq_overflow_at_s=0.5), record_raw=True)
    retried, _ = _run(_protocol(protocols, tmp_path, _policy("retry", 1)),
                      tmp_path / "retried.h5", SimFaults(**PERSISTENT), record_raw=True)
    assert gap.status == retried.status == "completed"
    with open_run(gap.path) as run:
        t = run.tasks[0]["raw_time"]
        assert len(t) == 10_000  # 1 s of learning at 10 kS/s, one 0.05 s gap among them
        steps = np.diff(t)
        assert np.sum(steps > 2e-4) == 1
        assert steps.max() == pytest.approx(0.05 + 1e-4)  # 500 samples lost
    with open_run(retried.path) as run:
        t = run.tasks[1]["raw_time"]
        assert len(t) == 10_000 and np.allclose(np.diff(t), 1e-4)
        assert run.tasks[1]["raw_samples"].shape == (10_000, 32)


def test_a_task_fault_keeps_every_row_read_before_it(protocols, tmp_path, clean):
    """On the fast clock rows are built a second of bench time at a time; a fault in the
    middle of such a batch still records every block read before it (the clean run's
    rows up to there), and nothing after."""
    result, _ = _run(_protocol(protocols, tmp_path, _policy("skip")), tmp_path / "skip.h5",
                     SimFaults(**PERSISTENT))
    with open_run(result.path) as run:
        t, error = run.tasks[1].time, run.tasks[1].error
    # task 1 starts at TASK_S of bench time: its initial reading (0.1 s, one row), then
    # learning at 50 rows/s; the gate read-back after the block ending at the fault's
    # moment fails, so that block and the rest are not recorded
    fault_task_time = PERSISTENT["gate_timeout_at_s"] - TASK_S
    blocks = round((fault_task_time - 0.1) / 0.1) - 1
    assert blocks >= 2 and len(t) == 1 + 5 * blocks
    np.testing.assert_array_equal(t, clean[1][0][:len(t)])
    np.testing.assert_array_equal(error, clean[1][1][:len(t)])
