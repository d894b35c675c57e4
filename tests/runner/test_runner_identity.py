"""Same result however executed: a task's rows depend on the run seed and the task's index
only, so they are bit-identical serially, on Dask workers (local cluster or an external
scheduler) and after a resume (serial or parallel)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labctl.protocol import compile_plan, load_protocol
from labctl.runner.parallel import run_chunk_on_sim, run_task_on_sim
from labctl.runner.session import RunSession
from labctl.store import layout as lay
from labctl.store import open_run

SEED = 7


@pytest.fixture(scope="module")
def protocol(tmp_path_factory, protocols):
    path = tmp_path_factory.mktemp("identity") / "ident.toml"
    # the rule noise makes every stream matter: measurement, read-back and learning rule
    text = protocols.toml(name="ident", duration=0.4, tasks=protocols.random_tasks(4, seed=9))
    path.write_text(text + "\n[sim]\nnoise = 0.002\n")
    return load_protocol(path)


@pytest.fixture(scope="module")
def reference(protocol, tmp_path_factory) -> Path:
    """An uninterrupted serial run."""
    out = tmp_path_factory.mktemp("ref") / "serial.h5"
    result = RunSession(protocol, out, seed=SEED).run()
    assert result.status == "completed", result.reason
    return out


def task_rows(path: Path) -> list[dict[str, np.ndarray]]:
    with open_run(path) as run:
        assert run.status == "completed"
        return [{name: np.array(task[name]) for name in lay.TASK_FIELDS} for task in run.tasks]


def assert_identical(path: Path, reference: Path) -> None:
    got, want = task_rows(path), task_rows(reference)
    assert len(got) == len(want)
    for index, (g, w) in enumerate(zip(got, want)):
        for name in lay.TASK_FIELDS:
            assert g[name].shape == w[name].shape, (index, name)
            assert np.array_equal(g[name], w[name], equal_nan=True), (index, name)


def abort_after_task(protocol, out: Path, task: int, **kwargs) -> Path:
    """A run stopped by the operator once task ``task`` has finished. The abort is given
    on the acquisition thread as task ``task + 1`` begins, so where the run stops never
    depends on how fast the test thread is scheduled (under load it used to see the event
    only after every task had finished)."""
    import labctl.runner.session as session_module

    session = RunSession(protocol, out, seed=SEED, **kwargs)
    real_begin = session_module.begin_task

    def begin_task(bench, index: int) -> None:
        if index == task + 1:
            session.abort("stopped by the test")
        real_begin(bench, index)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(session_module, "begin_task", begin_task)
        result = session.run()
    assert result.status == "aborted", result.reason
    with open_run(out) as run:
        done = run.completed_tasks()
    assert done == set(range(task + 1)), done
    return out


def test_serial_runs_repeat_bit_for_bit(protocol, reference, tmp_path):
    out = tmp_path / "again.h5"
    assert RunSession(protocol, out, seed=SEED).run().status == "completed"
    assert_identical(out, reference)


def test_the_seed_and_the_task_index_change_the_rows(protocol, reference, tmp_path):
    out = tmp_path / "other_seed.h5"
    assert RunSession(protocol, out, seed=SEED + 1).run().status == "completed"
    other, ref = task_rows(out), task_rows(reference)
    assert not np.array_equal(other[0]["v_free"], ref[0]["v_free"])
    # two tasks of one run draw different noise even where their physics coincide
    assert not np.array_equal(ref[0]["v_free"][:, 5] - ref[0]["v_free"][:, 5].mean(),
                              ref[1]["v_free"][:, 5] - ref[1]["v_free"][:, 5].mean())


def test_a_task_alone_on_a_fresh_bench_gives_the_serial_rows(protocol, reference):
    """What a Dask worker does, in process: the last task without the ones before it."""
    plan = compile_plan(protocol)[-1]
    rows, _final, _events = run_task_on_sim(protocol.bench, plan, SEED)
    want = task_rows(reference)[plan.index]
    for name in lay.TASK_FIELDS:
        assert np.array_equal(rows[name], want[name], equal_nan=True), name


def test_a_chunk_of_tasks_on_one_fresh_bench_gives_the_serial_rows(protocol, reference):
    """What a Dask worker does with a chunk: the last two tasks one after the other on one
    bench, without the ones before them."""
    plans = compile_plan(protocol)[-2:]
    results = run_chunk_on_sim(protocol.bench, plans, SEED)
    assert [index for index, *_ in results] == [p.index for p in plans]
    want = task_rows(reference)
    for index, rows, _final, _events in results:
        for name in lay.TASK_FIELDS:
            assert np.array_equal(rows[name], want[index][name], equal_nan=True), name


def test_parallel_on_a_local_dask_cluster_is_bit_identical(protocol, reference, tmp_path):
    out = tmp_path / "parallel.h5"
    result = RunSession(protocol, out, seed=SEED, parallel=True).run()
    assert result.status == "completed", result.reason
    assert_identical(out, reference)


def test_resumed_runs_are_bit_identical_serially_and_on_a_scheduler(protocol, reference,
                                                                    tmp_path):
    from dask.distributed import LocalCluster

    stopped = abort_after_task(protocol, tmp_path / "stopped.h5", task=1)
    serial = tmp_path / "resumed_serial.h5"
    result = RunSession(protocol, serial, resume_from=stopped).run()
    assert result.status == "completed", result.reason
    assert_identical(serial, reference)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        remote = tmp_path / "resumed_scheduler.h5"
        result = RunSession(protocol, remote, resume_from=stopped, parallel=True,
                            scheduler=cluster.scheduler_address).run()
        assert result.status == "completed", result.reason
    assert_identical(remote, reference)


def test_resume_continues_with_the_recorded_seed_and_clock(protocol, tmp_path):
    stopped = abort_after_task(protocol, tmp_path / "paced.h5", task=0, clock="paced")
    session = RunSession(protocol, tmp_path / "r.h5", resume_from=stopped)
    assert (session.seed, session.clock) == (SEED, "paced")
    with pytest.raises(ValueError, match="continues with the recorded seed"):
        RunSession(protocol, tmp_path / "r2.h5", resume_from=stopped, seed=SEED + 1)
    with pytest.raises(ValueError, match="continues with the recorded clock"):
        RunSession(protocol, tmp_path / "r3.h5", resume_from=stopped, clock="fast")
