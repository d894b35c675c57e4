"""Run files under stress: a live SWMR reader, kill -9 of the writer, resume, full disk."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from labctl.network import periodic_lattice
from labctl.store import RunWriter, StoreError, completed_tasks, open_run

HELPER = Path(__file__).with_name("store_writer_proc.py")
NET = periodic_lattice(4, 4)


def start_writer(path: Path, mode: str, **kw) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(HELPER), str(path), mode],
                            stdout=subprocess.PIPE, text=True, **kw)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "READY", line
    return proc


def wait_rows(run, task: int, more_than: int, deadline_s: float = 30.0) -> int:
    """Poll a live run until task ``task`` holds more than ``more_than`` rows."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        run.refresh()
        if run.tasks[task].n_rows > more_than:
            return run.tasks[task].n_rows
        time.sleep(0.05)
    raise AssertionError(f"task {task} did not grow past {more_than} rows")


def test_live_reader_follows_and_kill9_loses_at_most_a_second(tmp_path: Path) -> None:
    path = tmp_path / "live.h5"
    proc = start_writer(path, "live")
    try:
        with open_run(path) as run:
            assert run.live and run.status == "running"
            assert run.completed_tasks() == {0, 1}
            n1 = wait_rows(run, 2, 0)
            n2 = wait_rows(run, 2, n1)
            t = run.tasks[2].time
            assert len(t) == n2 and np.all(np.diff(t) > 0)
            assert run.tasks[2].v_free.shape == (n2, 16)
        time.sleep(1.0)
        kill_wall = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
        proc.wait(10)
    assert completed_tasks(path) == {0, 1}
    with open_run(path) as run:
        # never closed, writer gone: the reader sees an interrupted run, not a live one
        assert run.recorded_status == "running" and run.status == "interrupted"
        assert not run.live
        assert abs(run.last_write.timestamp() - kill_wall) < 5.0
        t = run.tasks[2].time
        # rows carry the wall clock of their production: at most ~1 s is lost
        assert t[-1] >= kill_wall - 1.0, (kill_wall - t[-1])
        np.testing.assert_array_equal(run.tasks[0].time, np.arange(100) * 0.02)
        assert run.tasks[2].gate_voltage.shape == (len(t), 32)

    from labctl.analysis.load import load_summary

    assert load_summary(path)["status"].tolist() == \
        ["completed", "completed", "interrupted"]
    out = subprocess.run([sys.executable, "-m", "labctl.cli", "info", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "status:    interrupted (last wrote 20" in out.stdout, out

    # resume: a new file carries over the completed tasks and continues at task 2
    tasks = [SimpleNamespace(index=i, name=f"task{i}", params={"lambda": 0.01 * i})
             for i in range(4)]
    new = tmp_path / "resumed.h5"
    w = RunWriter(new, tasks, NET, resume_from=path)
    assert w.completed == {0, 1}
    first = min(set(range(4)) - w.completed)
    assert first == 2
    for i in (2, 3):
        w.begin_task(i)
        w.append(i, {"time": [0.0, 0.5], "error": [1.0, 0.1]})
        w.end_task(i)
    assert w.close() == "completed"
    with open_run(new) as run:
        assert run.completed_tasks() == {0, 1, 2, 3}
        assert run.attrs["resumed_from"] == str(path)
        np.testing.assert_array_equal(run.tasks[1].time, np.arange(100) * 0.02)
        np.testing.assert_array_equal(run.tasks[2].error, [1.0, 0.1])
        assert [e[2] for e in run.events].count("task_end") == 4
    bad = [SimpleNamespace(index=0, name="other", params={})]
    with pytest.raises(ValueError, match="holds a different plan"):
        RunWriter(tmp_path / "bad.h5", bad, NET, resume_from=path)


class FailingWriter(RunWriter):
    """A writer whose disk 'fills up' after ``ok_blocks`` successful block writes."""

    ok_blocks = 1

    def _write(self, *args, **kwargs) -> None:
        if any(args[:2]):
            if self.ok_blocks <= 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.ok_blocks -= 1
        super()._write(*args, **kwargs)


def test_disk_full_aborts_and_keeps_earlier_data(tmp_path: Path) -> None:
    path = tmp_path / "full.h5"
    tasks = [SimpleNamespace(index=0, name="t", params={})]
    w = FailingWriter(path, tasks, NET)
    w.begin_task(0)
    w.append(0, {"time": np.arange(10.0), "error": np.ones(10)})
    w.flush(wait=True)
    w.append(0, {"time": np.arange(10.0, 20.0), "error": np.ones(10)})
    with pytest.raises(StoreError, match="No space left on device"):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            w.flush()
            time.sleep(0.02)
    assert w.close("completed") == "aborted"
    with open_run(path) as run:
        assert run.status == "aborted"
        assert "No space left on device" in run.abort_reason
        # the file was left as of its last good flush, the status written in place:
        # no final attributes (they need space), /run_status says aborted
        assert run.recorded_status == "aborted" and run.attrs["status"] == "running"
        np.testing.assert_array_equal(run.tasks[0].time, np.arange(10.0))


def test_close_raises_an_unreported_write_error(tmp_path: Path) -> None:
    w = FailingWriter(tmp_path / "full.h5", [SimpleNamespace(index=0, name="t", params={})],
                      NET)
    w.ok_blocks = 0
    w.begin_task(0)
    w.append(0, {"time": [0.0]})
    with pytest.raises(StoreError, match="No space left"):
        w.close()


def test_reserve_of_free_disk_space_stops_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "reserve.h5"
    w = RunWriter(path, [SimpleNamespace(index=0, name="t", params={})], NET,
                  min_free_bytes=1)
    w._free_bytes = lambda: 1000  # type: ignore[method-assign]
    w.begin_task(0)
    w.append(0, {"time": np.arange(200.0)})
    with pytest.raises(StoreError, match="disk almost full"):
        w.close()
    with open_run(path) as run:
        assert run.status == "aborted" and "disk almost full" in run.abort_reason
        assert run.tasks[0].status == "running" and run.tasks[0].n_rows == 0


def test_real_write_failure_file_size_limit(tmp_path: Path) -> None:
    """A writer process hitting RLIMIT_FSIZE (EFBIG, like a full disk) still leaves a
    readable file marked aborted, with the rows written before the failure."""
    path = tmp_path / "fsize.h5"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (3_000_000, 3_000_000))

    out = subprocess.run([sys.executable, str(HELPER), str(path), "fsize"],
                         preexec_fn=limit, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert "ERROR run file" in out.stdout and "STATUS aborted" in out.stdout, out.stdout
    with open_run(path) as run:
        assert run.status == "aborted" and "File too large" in run.abort_reason
        np.testing.assert_array_equal(run.tasks[0].time, np.arange(50) * 0.02)
        # the raw block flushed before the failure is kept and counted, nothing beyond
        n_raw = run.tasks[0].raw_samples.shape[0]
        assert n_raw >= 1000 and n_raw % 1000 == 0
        np.testing.assert_array_equal(run.tasks[0].raw_time[:1000], np.arange(1000) * 1e-4)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 4 MiB tmpfs (root only; skipped where mounting is impossible)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({out.stderr.strip()})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize("mode", ["enospc-guarded", "enospc-raw"])
def test_a_full_disk_never_crashes_the_writer_process(small_disk: Path, mode: str) -> None:
    """A real full disk (another file fills it mid-run): the process exits normally (no
    SIGSEGV), completed tasks are intact, and the file says aborted with the reason."""
    path = small_disk / "run.h5"
    out = subprocess.run([sys.executable, str(HELPER), str(path), mode], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert "STATUS aborted" in out.stdout and "ERROR run file" in out.stdout, out.stdout
    (small_disk / "pad.bin").unlink()  # readers need no space, but the test frees it
    with open_run(path) as run:
        assert run.status == "aborted"
        reason = "disk almost full" if mode == "enospc-guarded" else "No space left on device"
        assert reason in run.abort_reason, run.abort_reason
        assert run.completed_tasks() == {0, 1}
        for i in (0, 1):
            np.testing.assert_array_equal(run.tasks[i].time, np.arange(100) * 0.02)
            assert run.tasks[i].v_free.shape == (100, 16)
        t2 = run.tasks[2].time
        assert len(t2) >= 50
        np.testing.assert_array_equal(t2[:50], np.arange(50) * 0.02)


def committed_on_disk(path: Path) -> list[tuple[int, int, np.ndarray]]:
    """Per task: the row counter, the shortest dataset length and the committed times,
    read with h5py directly (not through the reader, which caps counters itself)."""
    from labctl.store.verify import open_h5

    f = open_h5(path)
    try:
        counters = f["progress/task_rows"][()]
        out = []
        for i, n in enumerate(counters):
            g = f[f"tasks/task_{i:05d}"]
            shortest = min(g[name].shape[0] for name in
                           ("time", "error", "gate_voltage", "v_free", "eta"))
            out.append((int(n), shortest, g["time"][: int(n)]))
        return out
    finally:
        f.close()


def test_kill9_at_random_moments_leaves_consistent_interrupted_files(tmp_path: Path) -> None:
    """Ten writers killed at random moments: five while creating or starting (the file may
    not have its final name yet), five while appending. Every file opens, says
    interrupted, and no counter runs ahead of the data on disk."""
    rng = np.random.default_rng(10)
    opened = 0
    for k in range(10):
        path = tmp_path / f"kill{k}.h5"
        proc = subprocess.Popen([sys.executable, str(HELPER), str(path), "live"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stderr is not None
            assert proc.stderr.readline().strip() == "STARTING"
            if k % 2:  # while appending to task 2
                assert proc.stdout.readline().strip() == "READY"
                time.sleep(float(rng.uniform(0.0, 1.0)))
            else:  # from the creation of the file on
                time.sleep(float(rng.uniform(0.0, 0.5)))
        finally:
            proc.kill()
            proc.wait(30)
        if not path.exists():  # killed while creating: at most the temporary name is left
            assert {p.name for p in tmp_path.glob(f"kill{k}.h5*")} <= {f"kill{k}.h5.creating"}
            continue
        opened += 1
        for i, (counter, shortest, times) in enumerate(committed_on_disk(path)):
            assert counter <= shortest, (k, counter, shortest)
            if i == 2:  # every counted row of the live task holds data, not zeros
                assert np.all(times > 1e9), (k, times[times <= 1e9][:3])
        with open_run(path) as run:
            assert run.status == "interrupted" and run.recorded_status == "running"
            assert run.completed_tasks() <= {0, 1}
            for i in run.completed_tasks():
                np.testing.assert_array_equal(run.tasks[i].time, np.arange(100) * 0.02)
            t2 = run.tasks[2].time
            assert np.all(t2 > 1e9) and np.all(np.diff(t2) > 0)  # real rows, never zeros
    assert opened >= 5, opened


def test_a_file_from_another_machine_is_interrupted_once_its_heartbeat_is_old(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import labctl.store.provenance as provenance

    path = tmp_path / "live.h5"
    proc = start_writer(path, "live")
    try:
        # as seen from another machine: the writer's process cannot be looked up
        monkeypatch.setattr(provenance, "writer_alive", lambda *a: None)
        with open_run(path) as run:
            assert run.status == "running" and run.live
            beat = run.last_write.timestamp()
            assert abs(beat - time.time()) < 30
            now = time.time()
            monkeypatch.setattr(provenance.time, "time", lambda: now + 61.0 + (now - beat))
            run.refresh()
            assert run.status == "interrupted"
    finally:
        proc.kill()
        proc.wait(10)
    monkeypatch.undo()
    with open_run(path) as run:  # on this machine the dead pid decides at once
        assert run.status == "interrupted"


def test_a_live_writer_in_this_process_is_running(tmp_path: Path) -> None:
    w = RunWriter(tmp_path / "run.h5", [SimpleNamespace(index=0, name="t", params={})], NET)
    try:
        w.begin_task(0)
        w.flush(wait=True)
        with open_run(tmp_path / "run.h5") as run:
            assert run.status == "running" and run.live
    finally:
        w.close()
    with open_run(tmp_path / "run.h5") as run:
        assert run.status == "completed" and not run.live


def test_a_writer_killed_while_finishing_leaves_a_readable_file(tmp_path: Path) -> None:
    """Killed while writing the final attributes (the non-SWMR reopen at close), a file
    stays marked "open for write", which HDF5 refuses; readers see through that mark
    without ever modifying the file."""
    path = tmp_path / "run.h5"
    with RunWriter(path, [SimpleNamespace(index=0, name="t", params={})], NET) as w:
        w.begin_task(0)
        w.append(0, {"time": np.arange(30.0)})
        w.end_task(0)
    code = ("import h5py, sys, time\n"
            "f = h5py.File(sys.argv[1], 'r+', locking=False)\n"
            "f.attrs['note'] = 'finishing'\n"
            "f.flush()\n"
            "print('READY', flush=True)\n"
            "time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
    finally:
        proc.kill()
        proc.wait(30)
    with pytest.raises(OSError, match="already open for write"):
        import h5py

        h5py.File(path, "r").close()
    before = path.read_bytes()
    with open_run(path) as run:
        assert run.status == "completed" and run.completed_tasks() == {0}
        np.testing.assert_array_equal(run.tasks[0].time, np.arange(30.0))
    assert path.read_bytes() == before


def test_carry_over_stops_at_an_interrupt_and_leaves_no_file(tmp_path: Path,
                                                             monkeypatch) -> None:
    """A resume's carry-over answers an abort between two copied blocks: the new file is
    never made (no final name, no '.creating' left), the old file is untouched."""
    import hashlib

    import labctl.store.writer as writer_mod

    tasks = [SimpleNamespace(index=i, name=f"task{i}", params={}) for i in range(3)]
    old = tmp_path / "old.h5"
    w = RunWriter(old, tasks, NET)
    for i in range(2):
        w.begin_task(i)
        w.append(i, {"time": np.arange(300) * 0.01, "error": np.ones(300)})
        w.end_task(i)
    w.close("aborted", "test")
    digest = hashlib.sha256(old.read_bytes()).hexdigest()
    monkeypatch.setattr(writer_mod, "CARRY_OVER_ROWS", 100)  # several blocks per dataset
    calls = []

    def abort_on_fifth() -> None:
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt("operator abort")

    new = tmp_path / "new.h5"
    with pytest.raises(KeyboardInterrupt, match="operator abort"):
        RunWriter(new, tasks, NET, resume_from=old, interrupt_check=abort_on_fifth)
    assert len(calls) == 5
    assert not new.exists() and not list(tmp_path.glob("*.creating"))
    assert hashlib.sha256(old.read_bytes()).hexdigest() == digest
    # without an interrupt the same carry-over completes, copying block by block
    w = RunWriter(new, tasks, NET, resume_from=old, interrupt_check=lambda: None)
    assert w.completed == {0, 1}
    w.close("aborted", "test")
    with open_run(new) as run:
        np.testing.assert_array_equal(run.tasks[1].time, np.arange(300) * 0.01)
