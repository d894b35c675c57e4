"""Driver error paths against a scripted fake firmware on a pseudo-terminal (corrupted and
missing replies, bounded retries of idempotent commands only, uptime going backwards,
wrong identity), and recoveries against the host build of the real firmware: a reply lost
or garbled on the line (through a pty relay that damages it), a firmware restart."""

from __future__ import annotations

import os
import select
import threading
import tty
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from fw_boards import Board
from labctl.drivers.serial_gates import SerialGateController
from labctl.drivers.serial_transport import CorruptLineError, checksum, frame, unframe

from labctl.bench.interfaces import BenchError, InstrumentFaultError

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
    records = ctl.fault_log.drain()
    assert [(r.event, r.kind) for r in records] == [("fault", "garbage"),
                                                     ("recovered", "garbage")]
    assert "re-synchronised" in records[1].message


def test_driver_retries_after_timeout_and_gives_up(fake: FakeFirmware) -> None:
    """Missing replies are retried ``retries`` times, then InstrumentFaultError."""
    ctl = _connect(fake, retries=2)
    silent = iter([b""])
    fake.override = lambda body: next(silent, None) if body == "ETA 28" else None
    assert ctl.set_eta(0.22) == 28 / 129
    assert fake.received.count("ETA 28") == 2
    fake.override = lambda body: b"" if body == "ETA 28" else None
    with pytest.raises(InstrumentFaultError, match=r"'ETA 28' failed after 3 attempts "
                                                   r"\(timeout"):
        ctl.set_eta(0.22)
    assert fake.received.count("ETA 28") == 2 + 3


def test_driver_never_repeats_a_learning_window(fake: FakeFirmware) -> None:
    """WIN is not idempotent: a lost reply raises at once, the window is sent once."""
    ctl = _connect(fake, retries=2)
    fake.override = lambda body: b"" if body.startswith("WIN") else None
    with pytest.raises(InstrumentFaultError, match="after 1 attempts"):
        ctl.learning_window(100e-6)
    assert fake.received.count("WIN 100") == 1


def test_driver_resends_a_command_the_firmware_dropped(fake: FakeFirmware) -> None:
    """ERR 1 means the line arrived corrupted and was not acted on: re-sent, even WIN."""
    ctl = _connect(fake)
    dropped = iter([frame("ERR 1 bad checksum")])
    fake.override = lambda body: next(dropped, None) if body.startswith("WIN") else None
    ctl.learning_window(100e-6)
    assert fake.received.count("WIN 100") == 2


def _restart_records(ctl: SerialGateController) -> list[str]:
    records = ctl.fault_log.drain()
    assert [(r.event, r.kind) for r in records] == [("fault", "firmware_reset"),
                                                     ("recovered", "firmware_reset")]
    return [r.message for r in records]


def test_driver_detects_uptime_going_backwards(fake: FakeFirmware) -> None:
    """A status whose uptime is smaller than the last one means the board restarted: the
    settings are re-applied and the status read again."""
    ctl = _connect(fake)
    ctl.set_eta(0.22)
    ctl.status()
    fake.received.clear()
    fake.uptime_ms = 5
    ctl.status()
    fault, recovered = _restart_records(ctl)
    assert "uptime" in fault and "eta = 0.217" in recovered
    assert "ETA 28" in fake.received and "*IDN?" in fake.received
    ctl.ping()


def test_driver_detects_banner_mid_session(fake: FakeFirmware) -> None:
    """A boot banner instead of a reply: the restart is acknowledged, SAFE sent again."""
    ctl = _connect(fake)
    banner = iter([frame("!BOOT LABCTL,GATEFW,32CH,1.1.0") + frame("OK")])
    fake.override = lambda body: next(banner, None) if body == "SAFE" else None
    ctl.safe_state()
    assert fake.received.count("SAFE") == 2
    _restart_records(ctl)


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
    banner = iter([frame("!BOOT LABCTL,GATEFW,32CH,1.1.0")[1:] + frame("OK")])
    fake.override = lambda body: next(banner, None) if body == "SAFE" else None
    ctl.safe_state()
    _restart_records(ctl)


# ------------------------------------------------------------------ the real firmware
class LineRelay:
    """A pty between the driver and an emulated board that can damage the board's replies:
    ``damage(line)`` returns the bytes to pass on (b"" swallows the reply)."""

    def __init__(self, board_port: str) -> None:
        self.board = os.open(board_port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.board)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.damage: Callable[[bytes], bytes] = lambda line: line
        self._stop = False
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def _relay(self) -> None:
        pending = b""
        while not self._stop:
            try:
                ready, _, _ = select.select([self.master, self.board], [], [], 0.05)
                if self.master in ready:
                    os.write(self.board, os.read(self.master, 4096))
                if self.board in ready:
                    pending += os.read(self.board, 4096)
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        os.write(self.master, self.damage(line + b"\n"))
            except OSError:
                return

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=5)
        for fd in (self.slave, self.master, self.board):
            os.close(fd)


@pytest.fixture
def relay(host_board: Board) -> Iterator[LineRelay]:
    """The host build of the firmware behind a damaging relay."""
    r = LineRelay(host_board.port)
    try:
        yield r
    finally:
        r.close()


def _once(trigger: str, replacement: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Damage the first reply line that starts with ``trigger``, pass everything else."""
    armed = [True]

    def damage(line: bytes) -> bytes:
        if armed[0] and line.startswith(trigger.encode()):
            armed[0] = False
            return replacement(line)
        return line

    return damage


@pytest.mark.parametrize("name, replacement", [
    ("lost reply", lambda line: b""),
    ("garbage line", lambda line: b"\x8f\xff" + line[2:]),
    ("wrong checksum", lambda line: line[:-3] + b"00\n"),
])
def test_real_firmware_reply_lost_or_garbled_is_recovered(relay: LineRelay, name: str,
                                                          replacement) -> None:
    """The real firmware's reply to GATES? is lost or damaged on the line: the driver
    re-synchronises and asks again; the values come back right, the fault is recorded."""
    ctl = SerialGateController(relay.port, timeout=1.0)
    try:
        ctl.set_gates(np.full(32, 2.5))
        relay.damage = _once("2", replacement)  # the GATES? reply starts with "2500"
        gates = ctl.read_gates()
        np.testing.assert_allclose(gates, 2.5, atol=0.008)
        records = ctl.fault_log.drain()
        kind = "timeout" if name == "lost reply" else "garbage"
        assert [(r.event, r.kind) for r in records] == [("fault", kind), ("recovered", kind)]
        assert "'GATES?'" in records[1].message and "attempt 2/3" in records[1].message
    finally:
        ctl.close()


def test_real_firmware_restart_mid_session_restores_its_settings(host_board: Board) -> None:
    """A restart the driver did not ask for (the firmware comes back safe): the next
    command acknowledges it and re-applies η, λ and the learning switch; the gates kept
    their charge and are left alone."""
    ctl = SerialGateController(host_board.port, timeout=1.0)
    try:
        ctl.set_gates(np.full(32, 3.0))
        eta, lam = ctl.set_eta(0.22), ctl.set_lambda(0.03)
        ctl.set_learning(True)
        ctl._link.send("*RST")  # a reset behind the driver's back
        assert ctl._link.read_line(timeout=2.0).startswith(b"OK*")
        assert ctl.ping() >= 0  # sees the banner, recovers, then pings
        fault, recovered = _restart_records(ctl)
        assert "restarted" in fault and "gates kept (learning was on" in recovered
        st = ctl.status()
        assert (st["eta"], st["lambda"], st["learning"]) == (eta, lam, True)
        np.testing.assert_allclose(ctl.read_gates(), 3.0, atol=0.03)
    finally:
        ctl.close()
