"""A kill -9 campaign on a real ``labctl run`` process: at reproducible random moments after
the run file appears, the process is killed; every file must then be consistent (it
opens, no committed row count beyond the rows on disk, the rows equal an uninterrupted
run's), read as interrupted by ``labctl info``, and ``labctl run --resume`` must complete
it with every task bit-identical to the uninterrupted run of the same protocol and seed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from labctl import cli
from labctl.store import layout as lay
from labctl.store import open_run

#: kill moments: a seeded generator, so a failure replays with the same moments
MOMENTS_SEED = 20261130
N_KILLS = 10
SEED = 11
#: bench seconds of learning per task; the paced clock makes the run last at least
#: N_TASKS × (DURATION + 0.2) wall seconds (with the initial and final readings) after
#: its file appears, whatever the load of the machine
N_TASKS, DURATION = 3, 0.3


@pytest.fixture(scope="module")
def protocol(tmp_path_factory, protocols) -> Path:
    path = tmp_path_factory.mktemp("kill9") / "k9.toml"
    path.write_text(protocols.toml(name="k9", duration=DURATION,
                                   tasks=protocols.random_tasks(N_TASKS, seed=4)))
    return path


@pytest.fixture(scope="module")
def reference(protocol, tmp_path_factory) -> dict[int, dict[str, np.ndarray]]:
    """Every task's rows of an uninterrupted run (fast clock: the clock only paces)."""
    out = tmp_path_factory.mktemp("kill9ref") / "ref.h5"
    assert cli.main(["run", str(protocol), "-o", str(out), "--seed", str(SEED), "-q"]) == 0
    return read_rows(out)


def read_rows(path: Path) -> dict[int, dict[str, np.ndarray]]:
    with open_run(path) as run:
        return {t.index: {name: np.array(t[name]) for name in lay.TASK_FIELDS}
                for t in run.tasks}


def wait_for_file(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"labctl run ended before its file appeared: "
                                 f"{proc.communicate()[1]}")
        if time.monotonic() > deadline:
            raise AssertionError("the run file never appeared")
        time.sleep(0.005)


def assert_consistent(path: Path, reference: dict[int, dict[str, np.ndarray]]) -> set[int]:
    """The killed file: committed counters never beyond the data, visible rows equal to
    the uninterrupted run's first rows; returns the completed tasks."""
    with h5py.File(path, "r", swmr=True, locking=False) as f:
        counters = f["progress/task_rows"][()]
        for index in range(N_TASKS):
            group = f[lay.TASKS_GROUP][lay.task_group_name(index)]
            for name in lay.TASK_FIELDS:
                assert counters[index] <= group[name].shape[0], (index, name)
    with open_run(path) as run:
        assert run.status == "interrupted"
        done = run.completed_tasks()
        for task in run.tasks:
            n = task.n_rows
            want = reference[task.index]
            if task.index in done:
                assert n == len(want["time"])
            for name in lay.TASK_FIELDS:
                assert np.array_equal(task[name], want[name][:n], equal_nan=True), \
                    (task.index, name, n)
    return done


def test_kill9_at_random_moments_leaves_consistent_resumable_files(protocol, reference,
                                                                   tmp_path, capsys):
    shortest_run = N_TASKS * (DURATION + 0.2)  # s of wall time, paced
    moments = np.random.default_rng(MOMENTS_SEED).uniform(0.0, 0.95 * shortest_run, N_KILLS)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for trial, delay in enumerate(moments):
        out = tmp_path / f"killed{trial}.h5"
        proc = subprocess.Popen(
            [sys.executable, "-m", "labctl.cli", "run", str(protocol), "-o", str(out),
             "--seed", str(SEED), "--clock", "paced", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        try:
            wait_for_file(out, proc)
            time.sleep(delay)
            assert proc.poll() is None, "the paced run cannot have finished yet"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.communicate(timeout=60)
        done = assert_consistent(out, reference)
        assert len(done) < N_TASKS, (trial, delay)

        assert cli.main(["info", str(out)]) == 0
        assert "interrupted" in capsys.readouterr().out

        resumed = tmp_path / f"resumed{trial}.h5"
        code = cli.main(["run", "--resume", str(out), "-o", str(resumed), "-q"])
        assert code == 0, capsys.readouterr().err
        with open_run(resumed) as run:
            assert run.status == "completed" and (run.seed, run.clock) == (SEED, "paced")
            assert run.completed_tasks() == set(range(N_TASKS))
        got = read_rows(resumed)
        for index in range(N_TASKS):
            for name in lay.TASK_FIELDS:
                assert np.array_equal(got[index][name], reference[index][name],
                                      equal_nan=True), (trial, index, name)
        capsys.readouterr()
