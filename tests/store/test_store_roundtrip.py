"""Run files: round trip, refused input, events, info table, xarray view."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from labctl.network import periodic_lattice
from labctl.store import RunWriter, StoreError, cmd_info, completed_tasks, open_run

NET = periodic_lattice(4, 4)


def make_tasks(n: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(index=i, name=f"task{i}",
                            params={"lambda": 0.01 * i, "eta": 0.22, "kind": "allostery",
                                    "source_nodes": [0, 10], "note": None})
            for i in range(n)]


def block(rng: np.random.Generator, t0: float, n: int) -> dict[str, np.ndarray]:
    return {"time": t0 + np.arange(n) * 0.02, "error": rng.random(n),
            "error_normalized": rng.random(n), "power_free": rng.random(n) * 1e-4,
            "power_clamped": rng.random(n) * 1e-4, "energy": np.cumsum(rng.random(n)),
            "lambda": np.full(n, 0.01), "eta": np.full(n, 0.22),
            "gate_voltage": rng.random((n, 32)) + 2, "conductance": rng.random((n, 32)) * 1e-3,
            "v_free": rng.random((n, 16)) * 0.45, "v_clamped": rng.random((n, 16)) * 0.45}


def test_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "run.h5"
    blocks = [block(rng, 0.02 * 37 * k, 37) for k in range(6)]
    raw_t = np.arange(5000) * 1e-4
    raw = rng.random((5000, 32)).astype(np.float32)
    with RunWriter(path, make_tasks(3), NET, protocol_text="name = 'p'", bench_text="b",
                   backend="sim", snapshots={"daq": {"identity": "SimDAQ"}},
                   raw_channels=[f"ai{i}" for i in range(32)]) as w:
        w.begin_task(0)
        w.log_event("set_lambda", "λ = 0.01", task=0)
        for b in blocks:
            w.append(0, b)
        w.append_raw(0, raw_t[:3000], raw[:3000])
        w.append_raw(0, raw_t[3000:], raw[3000:])
        w.end_task(0, final={"error": 1.25e-5, "duration_s": 20.0})
        w.begin_task(1)
        w.append(1, {"time": [0.0, 0.02], "error": [1.0, 0.5]})
        w.end_task(1, status="failed")
    with open_run(path) as run:
        assert run.status == "completed" and run.abort_reason == ""
        assert run.attrs["status"] == "completed"
        assert run.attrs["protocol_text"] == "name = 'p'"
        assert run.attrs["instrument_snapshots"]["daq"]["identity"] == "SimDAQ"
        assert run.attrs["created"].startswith("20")
        assert np.array_equal(run.network.edges, NET.edges)
        assert run.raw_channels[5] == "ai5"
        t0, t1, t2 = run.tasks
        for name in blocks[0]:
            np.testing.assert_array_equal(t0[name], np.concatenate([b[name] for b in blocks]))
        np.testing.assert_array_equal(t0.raw_samples, raw)
        np.testing.assert_array_equal(t0.raw_time, raw_t)
        assert t0.params == {"lambda": 0.0, "eta": 0.22, "kind": "allostery",
                             "source_nodes": [0, 10], "note": "none"}
        assert t0.final["error"] == 1.25e-5 and t0.final["duration_s"] == 20.0
        assert t0.final["energy"] == blocks[-1]["energy"][-1]
        assert (t0.status, t1.status, t2.status) == ("completed", "failed", "pending")
        np.testing.assert_array_equal(t1.error, [1.0, 0.5])
        assert np.isnan(t1.power_free).all() and t1.gate_voltage.shape == (2, 32)
        assert t2.n_rows == 0 and t2.time.shape == (0,)
        assert run.completed_tasks() == {0}
        kinds = [e[2] for e in run.events]
        assert kinds == ["task_begin", "set_lambda", "task_end", "task_begin", "task_end"]
        assert run.events[1][1:] == (0, "set_lambda", "λ = 0.01")
        ds = t0.to_xarray()
        assert ds["gate_voltage"].dims == ("time", "edge")
        assert ds.sizes == {"time": 6 * 37, "edge": 32, "node": 16}
        assert ds.attrs["name"] == "task0"
    assert completed_tasks(path) == {0}


def test_info_prints_one_row_per_task(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "run.h5"
    with RunWriter(path, make_tasks(2), NET) as w:
        w.begin_task(0)
        w.append(0, {"time": [0.0, 1.5], "error": [0.1, 2e-5]})
        w.end_task(0)
    assert cmd_info(argparse.Namespace(file=str(path))) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "1 of 2 completed" in out
    assert any(ln.split()[:5] == ["0", "task0", "completed", "2", "1.5"] for ln in lines)
    assert any(ln.split()[:4] == ["1", "task1", "pending", "0"] for ln in lines)
    header = next(ln for ln in lines if ln.startswith("#"))
    assert "λ requested" in header and "λ applied" in header and "η applied" in header
    # numbers as people read them: SI prefixes, errors in V² with a real exponent
    assert "2×10⁻⁵ V²" in out and "1.5 s" in out
    assert cmd_info(argparse.Namespace(file=str(tmp_path / "missing.h5"))) == 2


@pytest.mark.parametrize(("rows", "message"), [
    ({"time": [0.0], "errror": [1.0]}, "unknown field 'errror'"),
    ({"time": [0.0, 1.0], "error": [1.0]}, "rows['error']: expected shape (T) with T = 2"),
    ({"time": [0.0], "gate_voltage": np.zeros((1, 31))}, "expected shape (T, 32)"),
    ({"time": [0.0], "v_free": np.zeros(16)}, "rows['v_free']: expected shape (T, 16)"),
    ({"error": [1.0]}, "the 'time' field (s) is required"),
])
def test_bad_rows_are_refused(tmp_path: Path, rows: dict, message: str) -> None:
    with RunWriter(tmp_path / "run.h5", make_tasks(1), NET) as w:
        w.begin_task(0)
        with pytest.raises(ValueError) as info:
            w.append(0, rows)
        assert message in str(info.value)


def test_misuse_is_refused(tmp_path: Path) -> None:
    w = RunWriter(tmp_path / "run.h5", make_tasks(2), NET)
    with pytest.raises(ValueError, match="not running; call begin_task first"):
        w.append(1, {"time": [0.0]})
    with pytest.raises(ValueError, match=r"task 5 does not exist; allowed 0..1"):
        w.begin_task(5)
    w.begin_task(0)
    with pytest.raises(ValueError, match="created without raw_channels"):
        w.append_raw(0, [0.0], [[1.0]])
    with pytest.raises(ValueError, match="status: expected 'completed' or 'aborted'"):
        w.close("done")
    assert w.close("aborted", "operator pressed abort") == "aborted"
    with pytest.raises(StoreError, match="closed"):
        w.begin_task(1)
    with open_run(tmp_path / "run.h5") as run:
        assert run.status == "aborted" and run.abort_reason == "operator pressed abort"
        assert run.attrs["abort_reason"] == "operator pressed abort"
        assert run.tasks[0].status == "running"
    with pytest.raises(ValueError, match="indices must be 0, 1, 2"):
        RunWriter(tmp_path / "x.h5", make_tasks(3)[1:], NET)
    with pytest.raises(ValueError, match="not a labctl run file"):
        import h5py
        with h5py.File(tmp_path / "other.h5", "w"):
            pass
        open_run(tmp_path / "other.h5")


def test_info_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """``labctl info RUN | head -1``: no 'Broken pipe' noise, no traceback."""
    import subprocess
    import sys

    path = tmp_path / "many.h5"
    with RunWriter(path, make_tasks(700), NET):  # ~100 kB of table: beyond a pipe's buffer
        pass
    proc = subprocess.Popen([sys.executable, "-m", "labctl.cli", "info", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"run file:")
    proc.stdout.close()  # what head does after its first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert err == "", err
