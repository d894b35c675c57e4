"""firmware/emulate: one command that builds, starts a board and prints its device."""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest
from fw_boards import FIRMWARE
from labctl.drivers.serial_gates import SerialGateController


@pytest.mark.parametrize("flag", ["--host", "--avr"])
def test_firmware_emulate_prints_a_usable_device(flag: str, tmp_path: os.PathLike[str]) -> None:
    """The printed device (and the --link symlink) talks to the firmware; Ctrl-C stops it."""
    link = os.path.join(tmp_path, "gates")
    proc = subprocess.Popen([str(FIRMWARE / "emulate"), flag, "--link", link],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        m = re.search(r"serial device: (\S+)", first)
        assert m is not None, first
        assert os.path.realpath(link) == m.group(1)
        ctl = SerialGateController(link)
        assert ctl.identity().startswith("LABCTL,GATEFW,")
        ctl.close()
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert not os.path.exists(link)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
