"""Damaged and foreign files: every reader refuses them with one clear line (or reads what
is intact), never a traceback, never a hang.

The corpus (≥ 70 files) is made here from a finished and a killed-while-open run file:
bit flips spread over the metadata-dense head and the rest of each file, truncations,
deleted and reshaped objects, and foreign files (text, empty, folder, other HDF5 apps).
Each goes through ``labctl info`` in-process; a sample also as a subprocess, through
``open_run``, the analysis loader and the GUI replay source. The verifier's own limit
(10 s per file, a killed child process) is what rules out hangs; pytest's timeout is
only the outer guard.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from labctl.network import periodic_lattice
from labctl.store import RunFileError, RunWriter, cmd_info, open_run, verify_run_file

NET = periodic_lattice(4, 4)


def tasks(n: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(index=i, name=f"t{i}", params={"lambda": 0.1 * i})
            for i in range(n)]


def rows(n: int) -> dict[str, np.ndarray]:
    t = np.arange(n) * 0.02
    return {"time": t, "error": np.exp(-t), "gate_voltage": np.full((n, NET.n_edges), 2.5),
            "v_free": np.full((n, NET.n_nodes), 0.1)}


def finished_file(path: Path) -> Path:
    with RunWriter(path, tasks(3), NET) as w:
        for i in range(3):
            w.begin_task(i)
            w.append(i, rows(600))
            w.end_task(i)
    return path


def open_file_copy(path: Path, tmp: Path) -> Path:
    """A copy of a file still open for SWMR writing: what a kill -9 leaves."""
    live = tmp / "writing.h5"
    w = RunWriter(live, tasks(3), NET)
    try:
        w.begin_task(0)
        w.append(0, rows(600))
        w.end_task(0)
        w.begin_task(1)
        w.append(1, rows(100))
        w.flush(wait=True)
        shutil.copyfile(live, path)
    finally:
        w.close()
    return path


def flipped(src: bytes, offset: int) -> bytes:
    data = bytearray(src)
    data[offset] ^= 0xA5
    return bytes(data)


def build_corpus(tmp: Path) -> list[Path]:
    """Write the corpus into ``tmp``; returns the paths (≥ 70)."""
    out: list[Path] = []

    def put(name: str, data: bytes) -> None:
        p = tmp / f"{len(out):03d}-{name}.h5"
        p.write_bytes(data)
        out.append(p)

    good = finished_file(tmp / "good.h5").read_bytes()
    killed = open_file_copy(tmp / "killed.h5", tmp).read_bytes()
    for label, src, n_head, n_rest in (("done", good, 24, 14), ("killed", killed, 12, 6)):
        head = np.linspace(0, min(4096, len(src)) - 1, n_head).astype(int)
        rest = np.linspace(4096, len(src) - 1, n_rest).astype(int)
        for off in (*head, *rest):
            put(f"{label}-flip{off}", flipped(src, int(off)))
    for frac in (0.0005, 0.002, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 0.9999):
        put(f"truncated{frac}", good[: int(len(good) * frac)])
    put("killed-truncated", killed[: len(killed) // 2])

    def edited(name: str, edit: Callable[[h5py.File], None]) -> None:
        p = tmp / f"{len(out):03d}-{name}.h5"
        p.write_bytes(good)
        with h5py.File(p, "r+") as f:
            edit(f)
        out.append(p)

    for obj in ("progress/task_rows", "tasks/task_00001/error", "network/edges", "run_status",
                "tasks/task_00002", "events", "progress"):
        edited("deleted-" + obj.replace("/", "_"), lambda f, o=obj: f.__delitem__(o))

    def reshape(f: h5py.File, name: str, data: np.ndarray) -> None:
        del f[name]
        f[name] = data

    edited("short-counters", lambda f: reshape(f, "progress/task_rows", np.zeros(2, int)))
    edited("narrow-gates", lambda f: reshape(f, "tasks/task_00000/gate_voltage",
                                             np.zeros((600, 3))))
    edited("bad-status", lambda f: reshape(f, "run_status", np.array([b"exploded", b""])))
    edited("negative-rows", lambda f: f["progress/task_rows"].__setitem__(0, -5))
    edited("other-format", lambda f: f.attrs.__setitem__("format", "labctl-run/99"))
    for name, data in (("text", b"name = 'not a run'\n" * 50), ("empty", b""),
                       ("png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20),
                       ("signature-then-junk", b"\x89HDF\r\n\x1a\n" + bytes(4000))):
        put(name, data)
    foreign = tmp / f"{len(out):03d}-other-app.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(10)
        f.attrs["creator"] = "another program"
    out.append(foreign)
    folder = tmp / f"{len(out):03d}-folder.h5"
    folder.mkdir()
    out.append(folder)
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.mark.timeout(1200)
def test_info_refuses_or_reads_every_damaged_file(corpus: list[Path],
                                                   capsys: pytest.CaptureFixture) -> None:
    assert len(corpus) >= 70
    refused = 0
    for path in corpus:
        code = cmd_info(argparse.Namespace(file=str(path)))
        out, err = capsys.readouterr()
        assert code in (0, 2), path
        assert "Traceback" not in out + err, (path, err)
        if code == 2:
            refused += 1
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: run file ") \
                and str(path) in lines[0], (path, err)
        else:
            assert out.startswith(f"run file:  {path}") and "tasks:" in out, (path, out)
    # every structural damage is refused; only flips inside row data can pass unnoticed
    assert refused >= len([p for p in corpus if "flip" not in p.name]), refused


def test_every_reader_refuses_a_damaged_file_with_run_file_error(corpus: list[Path]) -> None:
    from labctl.analysis.load import load_summary

    def refused(p: Path) -> bool:
        try:
            verify_run_file(p)
        except RunFileError:
            return True
        return False

    damaged = [p for p in corpus if "flip" not in p.name]
    damaged = damaged[::3] + [p for p in corpus if "killed-flip" in p.name and refused(p)][:3]
    assert len(damaged) >= 7
    for path in damaged:
        for reader in (open_run, verify_run_file, load_summary):
            with pytest.raises(RunFileError) as info:
                reader(path)
            assert str(path) in str(info.value)
    replay = pytest.importorskip("labctl.gui.replay")
    with pytest.raises(RunFileError):
        replay.ReplaySource(damaged[0])


@pytest.mark.timeout(600)
def test_info_command_line_on_damaged_files(corpus: list[Path]) -> None:
    picks = [p for p in corpus if any(k in p.name for k in
                                      ("done-flip112", "killed-flip", "truncated0.3", "text",
                                       "folder", "deleted-network"))][:6]
    assert len(picks) >= 5
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for path in picks:
        out = subprocess.run([sys.executable, "-m", "labctl.cli", "info", str(path)],
                             capture_output=True, text=True, timeout=120, env=env)
        assert out.returncode == 2, (path, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr
        assert out.stderr.startswith(f"error: run file {path}"), out.stderr


def test_intact_files_still_read_after_damage_elsewhere(tmp_path: Path) -> None:
    """A flip inside row data leaves the file readable: the damage is in the numbers."""
    path = finished_file(tmp_path / "run.h5")
    summary = verify_run_file(path)
    assert summary.completed == {0, 1, 2} and summary.task_rows == (600, 600, 600)
    assert summary.status == "completed" and summary.format == "labctl-run/2"


def hang(_path: Path, _progress: object = None) -> bytes:
    """Stands in for HDF5 stuck in a loop on a damaged file (runs in the forked child)."""
    import time

    while True:
        time.sleep(1)


@pytest.fixture
def forked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids of the checking children verify_run_file forks (recorded in the parent)."""
    pids: list[int] = []
    real_fork = os.fork

    def recording_fork() -> int:
        pid = real_fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recording_fork)
    return pids


def reaped(pid: int) -> bool:
    """True if child ``pid`` was killed and reaped (other tests' children do not count)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_a_stuck_check_is_killed_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             forked: list[int]) -> None:
    import labctl.store.verify as verify

    path = finished_file(tmp_path / "run.h5")
    monkeypatch.setattr(verify, "_child_result", hang)
    with pytest.raises(RunFileError, match="made no progress reading it for 1 s"):
        verify_run_file(path, timeout=1.0)
    assert len(forked) == 1 and reaped(forked[0])


def test_ctrl_c_while_checking_kills_the_check(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               forked: list[int]) -> None:
    import signal
    import threading

    import labctl.store.verify as verify

    path = finished_file(tmp_path / "run.h5")
    monkeypatch.setattr(verify, "_child_result", hang)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            verify_run_file(path, timeout=600.0)
    finally:
        timer.cancel()
    assert len(forked) == 1 and reaped(forked[0])
