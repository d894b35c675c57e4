"""Driver error paths against a scripted fake firmware on a pseudo-terminal: corrupted and
missing replies, bounded retries of idempotent commands only, uptime going backwards,
wrong identity."""

from __future__ import annotations

import os
import threading
import tty
from collections.abc import Callable, Iterator

import pytest
from labctl.drivers.serial_gates import SerialGateController
from labctl.drivers.serial_transport import CorruptLineError, checksum, frame, unframe

from labctl.bench.interfaces import BenchError, FirmwareResetError, InstrumentTimeoutError

Handler = Callable[[str], "bytes | None"]


class FakeFirmware:
    """Answers protocol lines on a pty; ``override(body)`` may replace a reply (bytes) or
    swallow it (b""); None falls back to a well-behaved default."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.received: list[str] = []
        self.override: Handler = lambda body: None
        self.identity = "LABCTL,GATEFW,32CH,1.1.0"
        self.uptime_ms = 1000
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def default(self, body: str) -> bytes:
        if body.startswith("PING"):
            return frame("PONG" + body[4:])
        if body == "*IDN?":
            return frame(self.identity)
        if body == "PROTO?":
            return frame("1")
        if body == "STAT?":
            self.uptime_ms += 10
            return frame(f"learn=0 eta=0 gf=128 gc=128 wdt=1000 fault=0 up={self.uptime_ms}")
        if body.startswith("GATE? "):
            return frame("2500")
        return frame("OK")

    def _serve(self) -> None:
        buf = b""
        while not self._stop:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                if not raw:
                    continue
                try:
                    body = unframe(raw)
                except CorruptLineError:
                    os.write(self.master, frame("ERR 1 bad checksum"))
                    continue
                self.received.append(body)
                reply = self.override(body)
                os.write(self.master, self.default(body) if reply is None else reply)

    def close(self) -> None:
        self._stop = True
        os.close(self.slave)
        os.close(self.master)


@pytest.fixture
def fake() -> Iterator[FakeFirmware]:
    """A scripted fake firmware."""
    f = FakeFirmware()
    try:
        yield f
    finally:
        f.close()


def _connect(fake: FakeFirmware, retries: int = 2) -> SerialGateController:
    return SerialGateController(fake.port, timeout=0.2, retries=retries)


def test_driver_retries_corrupted_reply(fake: FakeFirmware) -> None:
    """A reply with a wrong checksum is not trusted; the idempotent query is re-sent."""
    ctl = _connect(fake)
    bad = iter([b"2500*00\n"])
    fake.override = lambda body: next(bad, None) if body.startswith("GATE? ") else None
    assert ctl.read_gate(1) == 2.5
    assert fake.received.count("GATE? 1") == 2


def test_driver_retries_after_timeout_and_gives_up(fake: FakeFirmware) -> None:
    """Missing replies are retried ``retries`` times, then InstrumentTimeoutError."""
    ctl = _connect(fake, retries=2)
    silent = iter([b""])
    fake.override = lambda body: next(silent, None) if body == "ETA 28" else None
    assert ctl.set_eta(0.22) == 28 / 129
    assert fake.received.count("ETA 28") == 2
    fake.override = lambda body: b"" if body == "ETA 28" else None
    with pytest.raises(InstrumentTimeoutError, match="after 3 attempts"):
        ctl.set_eta(0.22)
    assert fake.received.count("ETA 28") == 2 + 3


def test_driver_never_repeats_a_learning_window(fake: FakeFirmware) -> None:
    """WIN is not idempotent: a lost reply raises at once, the window is sent once."""
    ctl = _connect(fake, retries=2)
    fake.override = lambda body: b"" if body.startswith("WIN") else None
    with pytest.raises(InstrumentTimeoutError):
        ctl.learning_window(100e-6)
    assert fake.received.count("WIN 100") == 1


def test_driver_resends_a_command_the_firmware_dropped(fake: FakeFirmware) -> None:
    """ERR 1 means the line arrived corrupted and was not acted on: re-sent, even WIN."""
    ctl = _connect(fake)
    dropped = iter([frame("ERR 1 bad checksum")])
    fake.override = lambda body: next(dropped, None) if body.startswith("WIN") else None
    ctl.learning_window(100e-6)
    assert fake.received.count("WIN 100") == 2


def test_driver_detects_uptime_going_backwards(fake: FakeFirmware) -> None:
    """A status whose uptime is smaller than the last one means the board restarted."""
    ctl = _connect(fake)
    ctl.status()
    fake.uptime_ms = 5
    with pytest.raises(FirmwareResetError, match="uptime"):
        ctl.status()
    with pytest.raises(FirmwareResetError):
        ctl.ping()


def test_driver_detects_banner_mid_session(fake: FakeFirmware) -> None:
    """A boot banner instead of a reply raises FirmwareResetError."""
    ctl = _connect(fake)
    fake.override = lambda body: (frame("!BOOT LABCTL,GATEFW,32CH,1.1.0") + frame("OK")
                                  if body == "SAFE" else None)
    with pytest.raises(FirmwareResetError):
        ctl.safe_state()


def test_driver_refuses_a_foreign_device(fake: FakeFirmware) -> None:
    """Anything that is not a labctl gate firmware is refused at connect."""
    fake.identity = "ACME,SCOPE,1,2.0"
    with pytest.raises(BenchError, match="not a labctl gate controller"):
        _connect(fake)


def test_driver_surfaces_refusals(fake: FakeFirmware) -> None:
    """An ERR reply other than a dropped line raises BenchError quoting it (no retry)."""
    ctl = _connect(fake)
    fake.override = lambda body: frame("ERR 7 readback mismatch") if body.startswith("GATE ") \
        else None
    with pytest.raises(BenchError, match="ERR 7 readback mismatch"):
        ctl.set_gate(0, 2.0)
    assert sum(b.startswith("GATE ") for b in fake.received) == 1
    assert checksum("*IDN?") == 0x56


def test_driver_detects_damaged_banner(fake: FakeFirmware) -> None:
    """A banner that lost its first byte still reveals the restart."""
    ctl = _connect(fake)
    fake.override = lambda body: (frame("!BOOT LABCTL,GATEFW,32CH,1.1.0")[1:] + frame("OK")
                                  if body == "SAFE" else None)
    with pytest.raises(FirmwareResetError):
        ctl.safe_state()
