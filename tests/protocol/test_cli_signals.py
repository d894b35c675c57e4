"""No traceback at any moment: SIGINT or SIGTERM in the first second of ``labctl run``
(while the command is still importing and validating) ends it with 130 / 143 and one
line. The signal is sent as soon as ``labctl``'s own handlers are installed (seen in
/proc/PID/status), i.e. before any heavy import."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(),
                                reason="needs /proc to see the handlers")


def _caught(pid: int) -> int:
    """Bit mask of the signals process ``pid`` catches (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def _command() -> list[str]:
    script = shutil.which("labctl")
    return [script] if script else [sys.executable, "-m", "labctl.cli"]


@pytest.mark.parametrize(("signum", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                       (signal.SIGTERM, 143, "terminated")])
def test_a_signal_in_the_first_second_ends_with_one_line(signum, code, word, write_protocol,
                                                         tmp_path):
    out = tmp_path / "never.h5"
    proc = subprocess.Popen([*_command(), "run", str(write_protocol(duration=2.0)), "-o",
                             str(out), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    term_bit = 1 << (signal.SIGTERM - 1)
    deadline = time.monotonic() + 60
    while not _caught(proc.pid) & term_bit:  # labctl's main() installed its handlers
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "labctl never installed its signal handlers"
        time.sleep(0.001)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr + stdout
    if not out.exists():  # stopped before the run began: exactly one line
        assert stderr.strip().splitlines() == [f"labctl: {word} (SIG{signum.name[3:]})"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_swallowed_signal_still_ends_with_its_exit_code(signum, code, monkeypatch,
                                                          capsys) -> None:
    """Python drops an exception raised in a weakref callback (an import's module lock):
    main() still ends with the signal's exit code and its one line."""
    from labctl import cli

    def swallowing_command(argv):
        # what the handler does when the signal lands, and what "Exception ignored in
        # ..." amounts to
        with contextlib.suppress(BaseException):
            cli._on_signal(signum, None)
        return 0

    monkeypatch.setattr(cli, "_main", swallowing_command)
    assert cli.main([]) == code
    assert capsys.readouterr().err.count("labctl: ") == 1
    monkeypatch.setattr(cli, "_main", lambda argv: 0)
    assert cli.main([]) == 0  # the next call in the same process starts afresh
