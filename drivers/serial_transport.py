"""Line transport of the gate-controller protocol (firmware/PROTOCOL.md) over pyserial.

Every line is ``<body>*HH\\n`` where ``HH`` is the XOR of the body's bytes as two hex
digits. This module only frames, checks and moves lines; what they mean is in
:mod:`labctl.drivers.serial_gates`. Times are seconds.
"""

from __future__ import annotations

import contextlib
import time
from functools import reduce

import serial

from labctl.bench.interfaces import InstrumentDisconnectedError, InstrumentTimeoutError

#: longest line the transport accepts before discarding it as garbage (bytes)
MAX_LINE = 1024


class CorruptLineError(ValueError):
    """A received line has a missing or wrong checksum (it must not be trusted)."""


def checksum(body: str) -> int:
    """XOR of the ASCII bytes of ``body`` (0..255): the protocol's line checksum."""
    return reduce(lambda acc, byte: acc ^ byte, body.encode("ascii"), 0)


def frame(body: str) -> bytes:
    """Bytes to send for one command line: ``body*HH\\n``.

    Raises ValueError if ``body`` is not printable ASCII or contains ``\\n``.
    """
    if not body.isascii() or not body.isprintable():
        raise ValueError(f"command body must be printable ASCII, got {body!r}")
    return f"{body}*{checksum(body):02X}\n".encode("ascii")


def unframe(raw: bytes) -> str:
    """Body of one received line (without ``\\n``); CorruptLineError if its checksum fails."""
    text = raw.rstrip(b"\r\n")
    if len(text) < 3 or text[-3:-2] != b"*":
        raise CorruptLineError(f"line without checksum: {raw!r}")
    try:
        body = text[:-3].decode("ascii")
        want = int(text[-2:].decode("ascii"), 16)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptLineError(f"unreadable line: {raw!r}") from exc
    if checksum(body) != want:
        raise CorruptLineError(f"checksum mismatch: {raw!r}")
    return body


class SerialLineTransport:
    """A serial port (or pyserial URL) carrying checksummed lines.

    ``timeout`` is the default time (s) to wait for one reply line. Serial errors become
    :class:`InstrumentDisconnectedError`; a missing line becomes
    :class:`InstrumentTimeoutError`.
    """

    def __init__(self, port: str, *, baudrate: int = 115200, timeout: float = 0.5) -> None:
        self.port_name = port
        self.timeout = timeout
        try:
            self._port = serial.serial_for_url(port, baudrate=baudrate, timeout=timeout,
                                               write_timeout=max(timeout, 1.0))
        except (serial.SerialException, OSError) as exc:
            raise InstrumentDisconnectedError(f"cannot open serial port {port}: {exc}") from exc
        self._buf = bytearray()

    @property
    def is_open(self) -> bool:
        """True until :meth:`close`."""
        return self._port is not None and self._port.is_open

    def write_raw(self, data: bytes) -> None:
        """Send raw bytes (used for resynchronisation and tests)."""
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise InstrumentDisconnectedError(f"{self.port_name}: write failed: {exc}") from exc

    def send(self, body: str) -> None:
        """Send one command line (checksum appended)."""
        self.write_raw(frame(body))

    def discard_input(self) -> None:
        """Drop everything received but not yet read."""
        self._buf.clear()
        try:
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise InstrumentDisconnectedError(f"{self.port_name}: {exc}") from exc

    def read_line(self, timeout: float | None = None) -> bytes:
        """Next raw line including ``\\n``, waiting up to ``timeout`` s (default: ``timeout``).

        Overlong garbage (more than MAX_LINE bytes without a newline) is dropped.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[: nl + 1])
                del self._buf[: nl + 1]
                return line
            if len(self._buf) > MAX_LINE:
                self._buf.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InstrumentTimeoutError(
                    f"{self.port_name}: no reply line within "
                    f"{self.timeout if timeout is None else timeout:.3g} s")
            try:
                self._port.timeout = remaining
                chunk = self._port.read(max(1, self._port.in_waiting))
            except (serial.SerialException, OSError) as exc:
                raise InstrumentDisconnectedError(
                    f"{self.port_name}: read failed (device gone?): {exc}") from exc
            self._buf.extend(chunk)

    def close(self) -> None:
        """Release the port. Idempotent."""
        if self._port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._port.close()
