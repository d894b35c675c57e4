"""`labctl run` as a user meets it: signals, kill -9 and --resume, bad input refused
before any instrument is opened, exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labctl import cli
from labctl.store import open_run

ROOT = Path(__file__).resolve().parents[2]
BAD_PROTOCOLS = sorted((ROOT / "tests" / "protocol" / "bad").glob("*.toml"))
BAD_BENCHES = sorted((ROOT / "tests" / "bench" / "bad_benches").glob("*.toml"))

THREE_TASKS = """
[[task]]
kind = "allostery"
name = "second"
sources = { 1 = 0.0, 11 = 0.45 }
targets = { 6 = 0.091, 12 = 0.363 }

[[task]]
kind = "allostery"
name = "third"
sources = { 2 = 0.0, 8 = 0.45 }
targets = { 7 = 0.091, 13 = 0.363 }
"""


def labctl_run(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "labctl.cli", "run", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_rows(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            try:
                with open_run(path) as run:
                    if run.tasks[0].n_rows > 5:
                        return
            except (OSError, ValueError):
                pass  # not there yet, or the writer has not switched to SWMR mode yet
        time.sleep(0.1)
    raise AssertionError("the run never wrote rows")


@pytest.mark.parametrize(("sig", "code", "reason"), [
    (signal.SIGINT, 130, "interrupted (Ctrl-C)"),
    (signal.SIGTERM, 143, "terminated (SIGTERM)"),
])
def test_signal_aborts_cleanly(write_protocol, tmp_path, sig, code, reason):
    out = tmp_path / "sig.h5"
    proc = labctl_run(str(write_protocol(duration=30.0)), "-o", str(out), "--clock", "paced",
                      "-q")
    wait_for_rows(out)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    with open_run(out) as run:
        assert (run.status, run.abort_reason) == ("aborted", reason)
        assert run.tasks[0].n_rows > 5


def test_kill9_then_resume_continues_at_the_first_unfinished_task(write_protocol, tmp_path):
    protocol = write_protocol(duration=1.0, tasks=THREE_TASKS)
    out = tmp_path / "killed.h5"
    proc = labctl_run(str(protocol), "-o", str(out), "--clock", "paced", "-q")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the first task is complete
        time.sleep(0.1)
        try:
            with open_run(out) as run:
                if run.completed_tasks() == {0}:
                    break
        except (OSError, KeyError, ValueError):  # not there yet, or not yet in SWMR mode
            continue
    else:
        raise AssertionError("first task never completed")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    with open_run(out) as run:
        assert run.status == "interrupted"  # killed: nobody closed it
        done = run.completed_tasks()
        assert 0 in done and len(done) < 3
    resumed = tmp_path / "resumed.h5"
    assert cli.main(["run", "--resume", str(out), "-o", str(resumed), "-q"]) == 0
    with open_run(resumed) as run:
        assert run.status == "completed"
        assert run.completed_tasks() == {0, 1, 2}
        assert run.attrs["resumed_from"] == str(out)
        kinds = [e[2] for e in run.events]
        assert kinds.count("task_begin") >= 3


def test_resume_refuses_a_changed_protocol(write_protocol, tmp_path, capsys):
    protocol = write_protocol(duration=0.3)
    out = tmp_path / "done.h5"
    assert cli.main(["run", str(protocol), "-o", str(out), "-q"]) == 0
    protocol.write_text(protocol.read_text().replace("eta = 0.22", "eta = 0.3"))
    assert cli.main(["run", "--resume", str(out), "-q"]) == 2
    assert "differs from the one stored" in capsys.readouterr().err


@pytest.mark.parametrize("path", BAD_PROTOCOLS, ids=lambda p: p.stem)
def test_bad_protocol_is_refused_before_any_instrument_opens(path, monkeypatch, capsys):
    import labctl.bench as bench_pkg
    import labctl.runner.session as session_mod

    def forbidden(*args, **kwargs):
        raise AssertionError("an instrument was opened for a bad protocol")

    monkeypatch.setattr(bench_pkg, "open_bench", forbidden)
    monkeypatch.setattr(session_mod, "open_bench", forbidden)
    expect = next(line.split(":", 1)[1].strip() for line in path.read_text().splitlines()
                  if line.startswith("# expect:"))
    assert cli.main(["run", str(path), "-q"]) == 2
    err = capsys.readouterr().err
    assert expect in err and str(path.name) in err and "Traceback" not in err


@pytest.mark.parametrize("path", BAD_BENCHES, ids=lambda p: p.stem)
def test_bad_bench_file_is_refused_before_any_instrument_opens(path, write_protocol,
                                                               monkeypatch, capsys):
    import labctl.runner.session as session_mod

    def forbidden(*args, **kwargs):
        raise AssertionError("an instrument was opened for a bad bench file")

    monkeypatch.setattr(session_mod, "open_bench", forbidden)
    assert cli.main(["run", str(write_protocol()), "--bench", str(path), "-q"]) == 2
    err = capsys.readouterr().err
    assert path.name in err and "Traceback" not in err


def test_missing_protocol_file_is_a_usage_error(capsys):
    assert cli.main(["run", "no/such/protocol.toml"]) == 2
    assert "no/such/protocol.toml" in capsys.readouterr().err


def test_run_prints_the_summary_table(write_protocol, tmp_path, capsys):
    out = tmp_path / "ok.h5"
    assert cli.main(["run", str(write_protocol(duration=0.5)), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "completed" in captured.out and "corners" in captured.out
    assert os.path.getsize(out) > 0


def test_the_end_of_run_summary_lists_the_first_and_last_tasks_of_a_big_run(protocols,
                                                                          tmp_path):
    """Past SUMMARY_TASKS tasks, ``labctl run`` lists the first and last half of them and
    says how many it left out; ``labctl info`` lists every one."""
    import io

    from labctl.protocol import load_protocol
    from labctl.runner.session import RunSession
    from labctl.store.info_cmd import print_info

    path = protocols.write(tmp_path / "many.toml", duration=0.1,
                           lam=protocols.lambda_sweep([0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06]))
    result = RunSession(load_protocol(path), tmp_path / "many.h5", clock="fast").run()
    assert result.status == "completed", result.reason
    short, full = io.StringIO(), io.StringIO()
    print_info(str(result.path), short, task_limit=4)
    print_info(str(result.path), full)
    task_lines = [ln.split()[0] for ln in short.getvalue().splitlines()
                  if ln[:1].isdigit() or ln.startswith("…")]
    assert task_lines == ["0", "1", "…", "5", "6"]
    assert f"… 3 tasks not shown (`labctl info {result.path}` lists every one)" in (
        short.getvalue())
    assert [ln.split()[0] for ln in full.getvalue().splitlines() if ln[:1].isdigit()] == [
        str(i) for i in range(7)]
    assert "not shown" not in full.getvalue()
