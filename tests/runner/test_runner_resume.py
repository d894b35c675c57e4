"""``labctl run --resume``: a damaged or foreign old file is refused (exit 2, the file
named, no traceback) before any instrument opens and is never changed; SIGTERM and Ctrl-C
end a resume at any moment; run metadata (``--meta`` and ``[metadata]``) is stored."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from labctl import cli
from labctl.runner import session as session_mod
from labctl.store import open_run


@pytest.fixture
def forbid_instruments(monkeypatch):
    import labctl.bench as bench_pkg

    def forbidden(*args, **kwargs):
        raise AssertionError("an instrument was opened")

    monkeypatch.setattr(bench_pkg, "open_bench", forbidden)
    monkeypatch.setattr(session_mod, "open_bench", forbidden)


@pytest.fixture(scope="module")
def good_run(tmp_path_factory, protocols) -> Path:
    """A completed two-task run file and its protocol next to it."""
    folder = tmp_path_factory.mktemp("resume")
    protocol = folder / "r.toml"
    protocol.write_text(protocols.toml(name="r", duration=0.3,
                                       tasks=protocols.random_tasks(2)))
    out = folder / "good.h5"
    assert cli.main(["run", str(protocol), "-o", str(out), "-q"]) == 0
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def damaged(kind: str, good: Path, folder: Path) -> Path:
    """One damaged or foreign file of ``kind``."""
    path = folder / f"{kind}.h5"
    data = good.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "superblock_flip":
        flipped = bytearray(data)
        for offset in range(8, 48, 5):
            flipped[offset] ^= 0xFF
        path.write_bytes(bytes(flipped))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a run file\n")
    elif kind == "folder":
        path.mkdir()
    elif kind == "foreign_hdf5":
        with h5py.File(path, "w") as f:
            f["x"] = np.arange(3)
    elif kind == "deleted_progress":
        path.write_bytes(data)
        with h5py.File(path, "r+") as f:
            del f["progress"]
    elif kind == "missing":
        pass
    return path


KINDS = ["truncated", "superblock_flip", "empty", "text", "folder", "foreign_hdf5",
         "deleted_progress", "missing"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_or_foreign_file_is_refused_before_any_instrument_opens(
        good_run, tmp_path, capsys, forbid_instruments, kind):
    bad = damaged(kind, good_run, tmp_path)
    before = digest(bad) if bad.is_file() else None
    protocol = good_run.with_name("r.toml")
    code = cli.main(["run", str(protocol), "--resume", str(bad), "-o",
                     str(tmp_path / "new.h5"), "-q"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(bad) in err and "Traceback" not in err and err.startswith("error:")
    assert not (tmp_path / "new.h5").exists()
    if before is not None:
        assert digest(bad) == before  # never changed


def test_metadata_from_the_protocol_and_meta_options_is_stored(tmp_path, protocols):
    protocol = tmp_path / "m.toml"
    protocol.write_text(protocols.toml(name="m", duration=0.2)
                        + '\n[metadata]\noperator = "bob"\nsample = "chip-7"\n')
    out = tmp_path / "m.h5"
    assert cli.main(["run", str(protocol), "-o", str(out), "-q", "--meta", "operator=alice",
                     "--meta", "notes=first cool-down, λ sweep"]) == 0
    with open_run(out) as run:
        assert run.metadata == {"operator": "alice", "sample": "chip-7",
                                "notes": "first cool-down, λ sweep"}
    resumed = tmp_path / "m2.h5"  # a resume keeps the protocol's and adds its own
    assert cli.main(["run", "--resume", str(out), "-o", str(resumed), "-q",
                     "--meta", "notes=resumed"]) == 0
    with open_run(resumed) as run:
        assert run.metadata == {"operator": "bob", "sample": "chip-7", "notes": "resumed"}


def wait_until_labctl_handles_sigterm(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until the process catches SIGTERM (labctl's handlers are installed as its
    first act; before that the interpreter is still starting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        caught = int(next(line.split()[1] for line in status.splitlines()
                          if line.startswith("SigCgt:")), 16)
        if caught >> (signal.SIGTERM - 1) & 1:
            return
        time.sleep(0.005)
    raise AssertionError("labctl never installed its signal handlers")


def test_a_signal_ends_a_resume_at_any_moment(tmp_path, protocols):
    """Signals at moments from the first checks (verifying the old file, loading) to the
    carry-over and the resumed tasks; the old file is never changed, nothing hangs."""
    protocol = tmp_path / "long.toml"
    protocol.write_text(protocols.toml(name="long", duration=2.0,
                                       tasks=protocols.random_tasks(6)))
    old = tmp_path / "old.h5"
    assert cli.main(["run", str(protocol), "-o", str(old), "-q"]) == 0
    with h5py.File(old, "r+") as f:
        # only the first task completed; what is left takes 5 x 2.2 s on the paced clock,
        # far longer than the moments below, so every signal finds the resume still going
        f["progress/task_status"][1:] = 0
        f["progress/task_rows"][1:] = 0
        f.attrs["clock"] = "paced"
    before = digest(old)
    term, intr = (signal.SIGTERM, 143), (signal.SIGINT, 130)
    moments = [("started", 0.0, term), ("started", 0.3, intr), ("started", 1.0, term),
               ("new file", 0.0, intr), ("new file", 0.5, term)]
    for k, (after, delay, (sig, code)) in enumerate(moments):
        new = tmp_path / f"new{k}.h5"
        proc = subprocess.Popen([sys.executable, "-m", "labctl.cli", "run", "--resume",
                                 str(old), "-o", str(new), "-q"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_until_labctl_handles_sigterm(proc)
            deadline = time.monotonic() + 120
            while after == "new file" and not new.exists() and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(delay)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
            proc.communicate()
        # the code labctl returns, or death by that signal (a shell shows both as 128+n)
        assert proc.returncode in (code, -sig), (after, delay, err)
        assert "Traceback" not in err and "run completed" not in err
        assert digest(old) == before
        if new.exists():
            with open_run(new) as run:
                assert run.status == "aborted"


def test_a_run_still_being_written_is_not_resumed(tmp_path, protocols, capsys,
                                                  forbid_instruments):
    protocol = tmp_path / "live.toml"
    protocol.write_text(protocols.toml(name="live", duration=60.0))
    live = tmp_path / "live.h5"
    proc = subprocess.Popen([sys.executable, "-m", "labctl.cli", "run", str(protocol), "-o",
                             str(live), "--clock", "paced", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not live.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        code = cli.main(["run", "--resume", str(live), "-o", str(tmp_path / "twin.h5"), "-q"])
        err = capsys.readouterr().err
        assert code == 2 and str(live) in err and "still going" in err
        assert not (tmp_path / "twin.h5").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
