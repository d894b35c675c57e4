"""Scale-out on Dask: tasks grouped into chunks, a bounded number of chunks in flight, the
single writer's backlog bounded, and ``--workers`` checked before anything opens."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from labctl import cli
from labctl.network import periodic_lattice
from labctl.protocol import load_protocol
from labctl.runner import parallel
from labctl.runner.parallel import (
    CHUNK_BENCH_S,
    CHUNK_BYTES,
    CHUNK_TASKS,
    chunk_plans,
    local_workers,
)
from labctl.runner.session import MAX_LOCAL_WORKERS, RunSession
from labctl.store import RunWriter
from labctl.store.paths import expected_rows, row_bytes


def _plans(n: int, seconds: float, record_rate: float = 10.0) -> list[SimpleNamespace]:
    return [SimpleNamespace(index=i, name=f"t{i}", expected_duration_s=seconds,
                            params={"record_rate": record_rate}) for i in range(n)]


@pytest.mark.parametrize(("n", "seconds", "workers"),
                         [(10000, 0.3, 2), (150, 20.2, 2), (7, 100.0, 4), (3, 1.0, 8), (0, 1, 2)])
def test_chunks_cover_every_task_in_order_and_stay_small(n, seconds, workers):
    plans = _plans(n, seconds)
    chunks = chunk_plans(plans, workers)
    assert [p.index for c in chunks for p in c] == list(range(n))
    for chunk in chunks:
        assert 1 <= len(chunk) <= CHUNK_TASKS
        assert len(chunk) == 1 or sum(p.expected_duration_s for p in chunk) <= CHUNK_BENCH_S
    if n >= 8 * workers * CHUNK_TASKS:
        assert len(chunks) >= 8 * workers  # balanced to the end
    if n:
        assert len(chunks) >= min(n, 8 * workers) // 2
        assert len(chunks[-1]) == 1  # the chunks shrink to single tasks at the end


@pytest.mark.parametrize("record_rate", [10.0, 200.0, 1000.0])
def test_a_chunks_rows_stay_within_the_byte_cap(record_rate):
    """A chunk's result waits whole in the writing process: its expected rows (at the run
    file's bytes per row) stay within CHUNK_BYTES, a task beyond it goes alone."""
    plans = _plans(120, 20.0, record_rate)
    per_row = row_bytes(32, 16)
    chunks = chunk_plans(plans, 2, per_row)
    assert [p.index for c in chunks for p in c] == list(range(120))
    for chunk in chunks:
        assert len(chunk) == 1 or sum(expected_rows(p) for p in chunk) * per_row <= CHUNK_BYTES
    if expected_rows(plans[0]) * per_row > CHUNK_BYTES:
        assert all(len(c) == 1 for c in chunks)


def test_local_workers_default_to_the_cpus_available():
    assert local_workers(3) == 3
    assert 1 <= local_workers(None) <= (__import__("os").cpu_count() or 1)


class _Future:
    def __init__(self, client: _Client, fn, args) -> None:
        self.client, self.fn, self.args = client, fn, args
        self.released = False
        self.key = f"chunk-{client.submitted}"

    def result(self):
        return self.fn(*(a.value if isinstance(a, _Data) else a for a in self.args))

    def release(self) -> None:
        self.released = True
        self.client.in_flight -= 1


class _AsCompleted:
    """Yields futures one at a time, oldest first, accepting more while iterating."""

    def __init__(self) -> None:
        self.futures: list[_Future] = []

    def add(self, future: _Future) -> None:
        self.futures.append(future)

    def __iter__(self):
        while self.futures:
            yield self.futures.pop(0)


class _Data:
    """A scattered value's future stand-in."""

    def __init__(self, client: _Client, value) -> None:
        self.client, self.value = client, value

    def release(self) -> None:
        self.client.data_released += 1


class _Client:
    """A Dask client stand-in running chunks in this process and counting those
    submitted and not yet released."""

    def __init__(self, *args, **kwargs) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.submitted = 0
        self.scattered = 0
        self.data_released = 0

    def scheduler_info(self):
        return {"workers": {"w0": {}, "w1": {}}}

    def run(self, fn):
        return {"w0": fn(), "w1": fn()}

    def scatter(self, value, broadcast=False, hash=True):
        if broadcast:
            return value
        data = [_Data(self, v) for v in value]
        self.scattered += len(data)
        return data

    def submit(self, fn, *args, pure=True):
        self.in_flight += 1
        self.submitted += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        return _Future(self, fn, args)

    def cancel(self, futures) -> None:
        pass

    def close(self) -> None:
        pass


def test_chunks_in_flight_are_bounded_and_results_are_streamed(monkeypatch, protocols,
                                                               tmp_path):
    """40 tasks in 1-task chunks on 2 (stand-in) workers: never more than 2 × 2 chunks
    submitted ahead of the writing, each chunk's plans scattered and released with its
    result, and every task reaches the file."""
    import dask.distributed

    client = _Client()
    monkeypatch.setattr(dask.distributed, "Client", lambda *a, **k: client)
    monkeypatch.setattr(dask.distributed, "as_completed", _AsCompleted)
    monkeypatch.setattr(parallel, "CHUNK_TASKS", 1)
    path = tmp_path / "many.toml"
    path.write_text(protocols.toml(name="many", duration=0.1,
                                   tasks=protocols.random_tasks(40, seed=3)))
    session = RunSession(load_protocol(path), tmp_path / "many.h5", parallel=True,
                         scheduler="tcp://127.0.0.1:8786")
    result = session.run()
    assert result.status == "completed", result.reason
    assert client.submitted == len(session.plans) == 40
    assert client.most_in_flight == parallel.IN_FLIGHT_PER_WORKER * 2
    # each chunk's plans went as scattered data, released once its result was written
    assert client.scattered == client.data_released == 40
    from labctl.store import open_run

    with open_run(tmp_path / "many.h5") as run:
        assert [t.status for t in run.tasks] == ["completed"] * 40


def test_workers_with_other_versions_are_refused_before_any_task(monkeypatch, protocols,
                                                                  tmp_path):
    """A worker whose labctl, NumPy or numba differs from this process's could give other
    rows: the run stops before submitting anything, naming the worker and both versions."""
    import dask.distributed

    class OtherNumpy(_Client):
        def run(self, fn):
            return {"w0": fn(), "w1": {**fn(), "numpy": "1.0.0"}}

    client = OtherNumpy()
    monkeypatch.setattr(dask.distributed, "Client", lambda *a, **k: client)
    path = tmp_path / "few.toml"
    path.write_text(protocols.toml(name="few", duration=0.1,
                                   tasks=protocols.random_tasks(3, seed=3)))
    result = RunSession(load_protocol(path), tmp_path / "few.h5", parallel=True,
                        scheduler="tcp://127.0.0.1:8786").run()
    assert result.status == "aborted"
    assert result.reason.startswith("WorkerMismatchError: Dask worker w1 runs ")
    assert "'numpy': '1.0.0'" in result.reason and f"'numpy': '{np.__version__}'" in result.reason
    assert client.submitted == 0


def test_writer_backlog_waits_for_room(tmp_path: Path):
    """wait_for_room blocks a producer until the writer has written what waits (never
    longer than the timeout asks), and backlog_bytes counts what is queued."""
    w = RunWriter(tmp_path / "b.h5", _plans(1, 1.0), periodic_lattice(4, 4),
                  flush_interval=1.0)
    try:
        w.begin_task(0)
        w.append(0, {"time": np.arange(1000.0)})
        assert w.backlog_bytes >= 8000
        # the memory a queued block holds, headers included: a one-row block holds far
        # more in its array and dict headers than its 8 bytes of data
        before = w.backlog_bytes
        w.append(0, {"time": np.array([1000.0])})
        one = np.array([1000.0])
        assert w.backlog_bytes - before >= sys.getsizeof(one) + sys.getsizeof({"time": one})
        done = threading.Event()

        def produce() -> None:
            assert w.wait_for_room(0, timeout=60.0)
            done.set()

        t = threading.Thread(target=produce)
        t.start()
        t.join(90.0)
        assert done.is_set() and w.backlog_bytes == 0
        w.end_task(0)
    finally:
        w.close()


@pytest.mark.parametrize("args", [["--parallel", "--workers", "0"],
                                  ["--parallel", "--workers", str(MAX_LOCAL_WORKERS + 1)],
                                  ["--workers", "2"],
                                  ["--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"]])
def test_bad_workers_are_refused_before_anything_opens(args, write_protocol, tmp_path,
                                                       capsys):
    out = tmp_path / "w.h5"
    assert cli.main(["run", str(write_protocol()), "-o", str(out), "-q", *args]) == 2
    err = capsys.readouterr().err
    assert "workers" in err and "Traceback" not in err and not out.exists()
