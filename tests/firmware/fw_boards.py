"""Helpers of the firmware tests: make in firmware/, starting/stopping emulated boards,
the shared command/reply vectors (firmware/tests/vectors.txt)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from labctl.drivers.serial_transport import (
    CorruptLineError,
    SerialLineTransport,
    frame,
    unframe,
)

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
BUILD = FIRMWARE / "build"
VECTORS = FIRMWARE / "tests" / "vectors.txt"
BANNER = "!BOOT LABCTL,GATEFW,32CH,1.1.0"  # body of the boot line (firmware/PROTOCOL.md)


def make(*targets: str) -> subprocess.CompletedProcess[str]:
    """Run make in firmware/ and fail the test with its output if it fails."""
    proc = subprocess.run(["make", "-C", str(FIRMWARE), *targets], capture_output=True,
                          text=True, timeout=180)
    if proc.returncode != 0:
        pytest.fail(f"make {' '.join(targets)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class Board:
    """A running emulated board: its process and the serial device to talk to."""

    kind: str
    proc: subprocess.Popen[str]
    port: str


def start_board(cmd: list[str], kind: str, timeout: float = 20.0) -> Board:
    """Start an emulator and wait for its "PTY <path>" line."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.match(r"PTY (\S+)", line)
        if m:
            return Board(kind, proc, m.group(1))
    stop_board(proc)
    raise RuntimeError(f"{cmd[0]} printed no PTY line (stderr: {proc.stderr.read()})")


def stop_board(proc: subprocess.Popen[str]) -> None:
    """Kill an emulator started by start_board (its own process group only)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _unescape(text: str) -> bytes:
    return re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  text.encode("ascii"))


@dataclass(frozen=True)
class Vector:
    """One command/reply test vector (firmware/tests/vectors.txt)."""

    lineno: int
    request: str
    raw: bytes | None  # bytes to send verbatim (RAW: vectors), else None
    expect: str

    def matches(self, reply: str) -> bool:
        """True if ``reply`` (body, checksum already verified) is what the vector expects."""
        if self.expect.endswith("..."):
            return reply.startswith(self.expect[:-3])
        return reply == self.expect


def load_vectors(path: Path = VECTORS) -> list[Vector]:
    """Parse the shared vector file."""
    vectors = []
    for lineno, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        request, sep, expect = line.partition(" => ")
        if not sep:
            raise ValueError(f"{path}:{lineno}: missing ' => '")
        raw = _unescape(request[4:]) if request.startswith("RAW:") else None
        vectors.append(Vector(lineno, request, raw, expect))
    return vectors


def sync(link: SerialLineTransport, token: str = "sync") -> list[str]:
    """Skip everything up to the answer of a fresh PING (boot banner included).

    Returns the lines skipped on the way: bodies, or the raw bytes of corrupted lines. (Under
    simavr the banner's first byte can be lost when it is sent before the pty is opened.)
    """
    link.write_raw(b"\n")
    link.send(f"PING {token}")
    skipped = []
    while True:
        raw = link.read_line(timeout=5.0)
        try:
            body = unframe(raw)
        except CorruptLineError:
            skipped.append(raw.decode("ascii", "replace"))
            continue
        if body == f"PONG {token}":
            return skipped
        skipped.append(body)


def is_banner_piece(line: str) -> bool:
    """True if ``line`` (a body or raw text skipped by :func:`sync`) is the boot line or its tail.

    Opening the port flushes its input (the transport's ``reset_input_buffer``), so a banner
    still arriving at that instant loses its head and only a tail such as ``*13`` remains;
    under simavr the first byte can be lost too. Anything else is a real stray line.
    """
    text = line.rstrip("\r\n")
    framed = frame(BANNER).decode("ascii").rstrip("\n")
    return bool(text) and (framed.endswith(text) or BANNER.endswith(text))


def missing_tool(message: str) -> None:
    """Skip a test whose toolchain is missing, except in CI, whose .ci/run installs every
    tool: there a missing one is a failure, not a silent skip."""
    if os.environ.get("CI"):
        pytest.fail(message + " — CI must install it (tools/test.sh)")
    pytest.skip(message)
