"""The run engine on the simulated bench: rows, physics of the recorded quantities,
operator commands, faults, and the safe state on every exit path."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from labctl.bench import open_bench
from labctl.bench.faults import SimFaults
from labctl.physics.edges import mosfet_conductance, mosfet_current
from labctl.physics.params import MosfetParams
from labctl.protocol import load_protocol
from labctl.runner import session as session_mod
from labctl.runner.events import Rows, StateChanged
from labctl.runner.session import RunSession
from labctl.store import open_run


def run_with_bench(protocol_path: Path, out: Path, **kwargs):
    """Run a protocol, keeping a handle on the bench so tests can inspect its end state."""
    protocol = load_protocol(protocol_path)
    opened = {}
    clock, faults = kwargs.pop("clock", "fast"), kwargs.pop("faults", None)

    def opener():
        opened["bench"] = open_bench(protocol.bench, clock=clock, seed=1, faults=faults)
        return opened["bench"]

    session = RunSession(protocol, out, bench_opener=opener, **kwargs)
    return session, opened


def assert_bench_safe(bench) -> None:
    core = bench.daq.core
    assert not core.twin.learning, "learning switch left on"
    assert all(v == 0.0 for v in core.ao_values.values()), "outputs not at 0 V"


def test_a_run_records_the_physics(write_protocol, tmp_path):
    session, opened = run_with_bench(write_protocol(duration=2.0), tmp_path / "r.h5")
    result = session.run()
    assert result.status == "completed" and result.safe_state_failures == []
    assert_bench_safe(opened["bench"])
    with open_run(result.path) as run:
        assert run.status == "completed"
        assert "corners" in run.attrs["protocol_text"]
        assert run.attrs["backend"] == "sim"
        task = run.tasks[0]
        # an initial and a final reading plus 50 rows/s for 2 s of learning
        assert task.n_rows == 2 + 100
        t = task.time
        assert np.all(np.diff(t) >= 0) and t[-1] == pytest.approx(2.0, abs=0.02)
        # the sources hold their nodes in both copies (rows average ≥ 200 samples of the
        # DAQ's 0.7 mV rms noise)
        np.testing.assert_allclose(task.v_free[:, [0, 10]], [[0.0, 0.45]] * task.n_rows,
                                   atol=2e-4)
        np.testing.assert_allclose(task.v_clamped[:, [0, 10]], task.v_free[:, [0, 10]],
                                   atol=5e-4)
        # error is ½ Σ (Ṽ − V_F)² over the targets, and learning lowers it
        want = np.array([0.091, 0.363])
        err = 0.5 * np.sum((want - task.v_free[:, [5, 15]]) ** 2, axis=1)
        np.testing.assert_allclose(task.error, err, rtol=1e-12)
        assert task.error[-1] < 0.3 * task.error[0]  # L/L0 ≈ 0.2 after 2 s
        # the clamped targets sit between the free state and the desired values
        nudge = (task.v_clamped[1:-1, [5, 15]] - task.v_free[1:-1, [5, 15]])
        np.testing.assert_allclose(nudge, 0.22 * (want - task.v_free[1:-1, [5, 15]]),
                                   atol=3e-3)
        # powers follow the edge law from the recorded voltages and gates
        a, b = run.network.edges[:, 0], run.network.edges[:, 1]
        va, vb = task.v_free[:, a], task.v_free[:, b]
        current, _, _ = mosfet_current(va, vb, task.gate_voltage, 8.5e-4, 0.62,
                                       MosfetParams().smoothing)
        np.testing.assert_allclose(task.power_free, np.sum(current * (va - vb), axis=1),
                                   rtol=1e-9)
        np.testing.assert_allclose(task.conductance, mosfet_conductance(
            va, vb, task.gate_voltage, 8.5e-4, 0.62, MosfetParams().smoothing), rtol=1e-9)
        assert np.all(task.power_clamped > 0)
        # the energy is the running integral of the free power over the learning rows
        learning = slice(1, -1)
        dt = np.diff(task.time[learning]).mean()
        np.testing.assert_allclose(task.energy[learning][-1],
                                   np.sum(task.power_free[learning]) * dt, rtol=0.02)
        assert task.final["energy"] == pytest.approx(task.energy[-2], rel=1e-9)


def test_pause_holds_sources_with_learning_off_then_resumes(write_protocol, tmp_path):
    session, opened = run_with_bench(write_protocol(duration=3.0), tmp_path / "p.h5",
                                     clock="paced")
    session.start()
    deadline = time.monotonic() + 20
    while not any(isinstance(e, Rows) for e in session.events.drain()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    session.pause()
    deadline = time.monotonic() + 5
    while session.state != "paused":
        session.events.drain()
        assert time.monotonic() < deadline, "never paused"
        time.sleep(0.02)
    core = opened["bench"].daq.core
    assert not core.twin.learning
    assert core.ao_values["source0"] == 0.0 and max(core.ao_values.values()) == 0.45
    gates = core.twin.gates
    time.sleep(0.3)
    np.testing.assert_array_equal(core.twin.gates, gates)  # nothing learns while paused
    session.resume()
    result = session.wait(30)
    assert result.status == "completed"
    with open_run(result.path) as run:
        kinds = [e[2] for e in run.events]
        assert "pause" in kinds and "resume" in kinds
        assert run.tasks[0].time[-1] == pytest.approx(3.0, abs=0.11)


def test_live_lambda_and_eta_reach_the_instruments_and_the_file(write_protocol, tmp_path):
    session, _ = run_with_bench(write_protocol(duration=3.0), tmp_path / "l.h5",
                                     clock="paced")
    session.start()
    time.sleep(1.0)
    session.set_lambda(0.02)
    session.set_eta(0.5)
    with pytest.raises(ValueError, match="lambda: allowed 0 <= λ < 1"):
        session.set_lambda(1.5)
    result = session.wait(30)
    assert result.status == "completed"
    with open_run(result.path) as run:
        task = run.tasks[0]
        lam, eta = task["lambda"], task.eta
        # λ is quantised by the free amplifier's gain trim (steps of about 5e-4)
        assert lam[1] == 0.0 and lam[-1] == pytest.approx(0.02, abs=2.6e-4)
        assert eta[1] == pytest.approx(28 / 129) and eta[-1] == pytest.approx(0.5, abs=0.01)
        kinds = [e[2] for e in run.events]
        assert "set_lambda" in kinds and "set_eta" in kinds


def test_lambda_controller_updates_the_gain_at_block_rate(write_protocol, tmp_path):
    control = """
[lambda]
mode = "control"
target_error = 1e-4
rho = 0.5
p = 0.5
lam0 = 0.05
lam_max = 0.06
update_rate = 10.0
"""
    session, _ = run_with_bench(write_protocol(duration=4.0, extra=control),
                                     tmp_path / "c.h5")
    requested: list[float] = []
    session.bench_opener = _spy_lambda(session.bench_opener, requested)
    result = session.run()
    assert result.status == "completed"
    # one update per 0.1 s DAQ block: 10 Hz on the bench clock
    assert len(requested) >= 4.0 * 10
    assert len(set(requested)) > 20  # the controller really moves λ
    with open_run(result.path) as run:
        task = run.tasks[0]
        assert task.params["lambda_control"] == "on"
        lam = task["lambda"][1:-1]
        assert np.count_nonzero(np.diff(lam)) > 0  # the recorded (quantised) λ follows


def _spy_lambda(opener, requested):
    def spying_opener():
        bench = opener()
        set_lambda = bench.gates.set_lambda

        def recording(lam):
            requested.append(lam)
            return set_lambda(lam)

        bench.gates.set_lambda = recording
        return bench

    return spying_opener


@pytest.mark.parametrize("fault", [{"gate_timeout_at_s": 0.5}, {"daq_overflow_at_s": 0.5},
                                   {"gate_reset_at_s": 0.5}])
def test_instrument_fault_mid_run_ends_safe_and_aborted(write_protocol, tmp_path, fault):
    # three failures in a row outlast the instruments' own recovery (3 attempts); the
    # default on_task_fault = "abort" then ends the run (tests/runner/test_runner_faults.py
    # has the recoveries and the other policies)
    session, opened = run_with_bench(write_protocol(duration=2.0), tmp_path / "f.h5",
                                     faults=SimFaults(**fault, consecutive=3))
    result = session.run()
    assert result.status == "aborted"
    assert "Error" in result.reason
    assert_bench_safe(opened["bench"])
    with open_run(result.path) as run:
        assert run.status == "aborted" and run.abort_reason == result.reason
        assert 10 < run.tasks[0].n_rows < 100  # rows before the fault are kept
        assert run.completed_tasks() == set()


def test_operator_abort(write_protocol, tmp_path):
    session, opened = run_with_bench(write_protocol(duration=30.0), tmp_path / "a.h5",
                                     clock="paced")
    session.start()
    time.sleep(0.5)
    session.abort("operator pressed abort")
    result = session.wait(10)
    assert (result.status, result.reason) == ("aborted", "operator pressed abort")
    assert_bench_safe(opened["bench"])
    states = [e.state for e in session.events.drain() if isinstance(e, StateChanged)]
    assert states[-1] == "aborted"


def test_disk_full_mid_run_ends_safe_and_keeps_earlier_rows(write_protocol, tmp_path,
                                                            monkeypatch):
    import errno

    class FullDisk(session_mod.RunWriter):
        writes = 0

        def _write(self, *args, **kwargs):
            if any(args[:2]):
                FullDisk.writes += 1
                if FullDisk.writes > 2:
                    raise OSError(errno.ENOSPC, "No space left on device")
            super()._write(*args, **kwargs)

    monkeypatch.setattr(session_mod, "RunWriter", FullDisk)
    session, opened = run_with_bench(write_protocol(duration=20.0), tmp_path / "d.h5",
                                     clock="paced")
    result = session.run()
    assert result.status == "aborted" and "No space left on device" in result.reason
    assert_bench_safe(opened["bench"])
    with open_run(result.path) as run:
        assert run.status == "aborted"
        assert run.tasks[0].n_rows > 0


def test_acquisition_goes_on_while_nobody_reads_events(write_protocol, tmp_path):
    """A stalled front end (nobody drains the events) does not slow or lose file rows."""
    session, _ = run_with_bench(write_protocol(duration=2.0), tmp_path / "s.h5")
    session.events.maxsize = 3
    result = session.run()
    assert result.status == "completed" and session.events.dropped > 0
    with open_run(result.path) as run:
        assert run.tasks[0].n_rows == 102


def test_sweep_in_parallel_on_dask(write_protocol, tmp_path):
    sweep = """
[lambda]
mode = "sweep"
values = [0.0, 0.01, 0.03]
"""
    protocol = load_protocol(write_protocol(name="par", duration=1.0, extra=sweep))
    result = RunSession(protocol, tmp_path / "par.h5", parallel=True).run()
    assert result.status == "completed", result.reason
    with open_run(result.path) as run:
        assert run.completed_tasks() == {0, 1, 2}
        lams = [float(t["lambda"][-1]) for t in run.tasks]
        np.testing.assert_allclose(lams, [0.0, 0.01, 0.03], atol=2.6e-4)
        assert all(t.n_rows == 52 for t in run.tasks)


def test_events_thread_safety_smoke(write_protocol, tmp_path):
    """Front-end calls from many threads while a run goes are all honoured or refused."""
    session, _ = run_with_bench(write_protocol(duration=1.0), tmp_path / "m.h5")
    session.start()
    threads = [threading.Thread(target=session.set_lambda, args=(0.01 * i,)) for i in range(5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert session.wait(30).status == "completed"


def test_sweep_on_an_external_dask_scheduler(write_protocol, tmp_path):
    """`--scheduler ADDRESS`: the tasks run on a cluster the session did not start."""
    from dask.distributed import LocalCluster

    sweep = """
[lambda]
mode = "sweep"
values = [0.0, 0.02]
"""
    protocol = load_protocol(write_protocol(name="ext", duration=0.5, extra=sweep))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        result = RunSession(protocol, tmp_path / "ext.h5", parallel=True,
                            scheduler=cluster.scheduler_address).run()
        assert result.status == "completed", result.reason
    with open_run(result.path) as run:
        assert run.completed_tasks() == {0, 1}
