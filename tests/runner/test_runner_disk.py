"""A full disk at the runner, on a real small file system (tmpfs): the free-space check
follows what the run will write, and a disk that fills up mid-run ends the run aborted
with exit 1 and a message naming the file – never a crash or a traceback."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl import cli
from labctl.protocol import load_protocol
from labctl.runner.session import RunSession
from labctl.store import open_run


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 10 MiB tmpfs (skipped where this process may not mount one)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def three_mib_protocol(folder: Path, protocols) -> Path:
    """Two tasks of 8 s at 200 rows/s: about 3 MiB of run file."""
    path = folder / "three_mib.toml"
    path.write_text(protocols.toml(name="three", duration=8.0, record_rate=200.0,
                                   tasks=protocols.random_tasks(2)))
    return path


def test_a_3_mib_run_is_not_refused_on_a_disk_with_10_mib_free(small_disk, tmp_path,
                                                                protocols, capsys):
    protocol = three_mib_protocol(tmp_path, protocols)
    expected = RunSession(load_protocol(protocol), small_disk / "probe.h5").expected_bytes
    assert 2 * 2**20 < expected < 5 * 2**20
    out = small_disk / "run.h5"
    assert cli.main(["run", str(protocol), "-o", str(out), "-q"]) == 0, \
        capsys.readouterr().err
    with open_run(out) as run:
        assert run.status == "completed"


def test_a_run_larger_than_the_disk_is_refused_before_anything_opens(small_disk, tmp_path,
                                                                      protocols, capsys,
                                                                      monkeypatch):
    import labctl.runner.session as session_mod

    def forbidden(*args, **kwargs):
        raise AssertionError("an instrument was opened")

    monkeypatch.setattr(session_mod, "open_bench", forbidden)
    path = tmp_path / "big.toml"
    path.write_text(protocols.toml(name="big", duration=60.0, record_rate=500.0,
                                   tasks=protocols.random_tasks(3)))
    out = small_disk / "big.h5"
    assert cli.main(["run", str(path), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "MiB free" in err and "Traceback" not in err
    assert not out.exists()


def fill(folder: Path) -> None:
    """Take every free byte of the file system holding ``folder``."""
    block = b"\0" * 2**16
    with open(folder / "filler.bin", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        try:
            while True:
                fh.write(b"\0" * 512)
        except OSError:
            pass


def test_the_disk_filling_up_mid_run_exits_1_naming_the_file(small_disk, tmp_path,
                                                            protocols):
    protocol = three_mib_protocol(tmp_path, protocols)
    out = small_disk / "full.h5"
    proc = subprocess.Popen([sys.executable, "-m", "labctl.cli", "run", str(protocol), "-o",
                             str(out), "--clock", "paced", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not out.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        fill(small_disk)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and str(out) in err
    os.unlink(small_disk / "filler.bin")
    with open_run(out) as run:
        assert run.status == "aborted"
        assert "disk" in run.abort_reason or "space" in run.abort_reason
