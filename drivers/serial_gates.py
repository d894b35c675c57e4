"""Driver of the labctl gate-controller firmware (firmware/PROTOCOL.md) over a serial port.

:class:`SerialGateController` implements :class:`labctl.bench.interfaces.GateController`:
gate capacitor voltages (V), the nudge amplitude η (dimensionless, η = n/129), λ set
through the free/clamped measurement gains ((1 − λ) = (G_free/G_clamped)², encoded by
:mod:`labctl.bench.gate_encoding`: 0 .. 0.0652 in steps of about 5e-4), the learning
switch, the timed learning window (s), the host-silence watchdog (s) and the safe state.

Faults: every command goes through the interface's shared retry loop
(:func:`labctl.bench.interfaces.retry_transient`). A lost reply (timeout) or a corrupted
one re-synchronises the line (a fresh ``PING`` token) and re-sends an idempotent command;
a line the firmware dropped unread (``ERR 1/2/8``) is re-sent whatever the command; a boot
banner or an uptime going backwards (the board restarted) re-reads the identity and
re-applies the remembered gates, watchdog, η, λ and learning switch
(:meth:`GateController.restore_after_reset`). Each is recorded in :attr:`fault_log`; after
``1 + retries`` attempts the command fails with :class:`InstrumentFaultError`.

Argument checks (edges, gate range, η, λ, the bool learning switch, window lengths) and
the owner-thread rule are the interface's (:class:`labctl.bench.interfaces.GateController`);
this module only speaks the line protocol.

Threading: the controller belongs to the thread that created it (or that last called
:meth:`~labctl.bench.interfaces.Instrument.claim`). Calls from any other thread raise
:class:`~labctl.bench.interfaces.ForeignThreadError` before anything is sent, so two
threads can never interleave commands on the line. From a notebook::

    with SerialGateController("/dev/ttyACM0") as gates:
        gates.set_gates(np.full(32, 2.5)); print(gates.status())

In a bench file: ``[serial] driver = "labctl.drivers.serial_gates:SerialGateController"``
(the hardware default) with its own keys (:data:`SERIAL_FIELDS`).
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from labctl.drivers.serial_transport import CorruptLineError, SerialLineTransport, unframe

from labctl.bench import gate_encoding as enc
from labctl.bench.interfaces import (
    BenchError,
    CorruptReplyError,
    FirmwareResetError,
    GateController,
    InstrumentTimeoutError,
)
from labctl.bench.plugins import SERIAL_FIELDS

#: protocol version this driver speaks
PROTOCOL_VERSION = 1
#: identity prefix every labctl gate firmware answers to ``*IDN?``
IDENTITY_PREFIX = "LABCTL,GATEFW,"
#: serial baud rates the gate controller's USB-serial bridge supports
BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 250000, 500000, 1000000)
#: firmware limits (firmware/src/config.h); η, λ and gate encodings are in
#: labctl.bench.gate_encoding, shared with the simulated bench
FIRMWARE_GATE_RANGE = (1.0, 5.5)
WINDOW_RANGE = (10e-6, 30e-3)
WATCHDOG_RANGE = (0.05, 60.0)
#: worst-case time (s) the firmware needs to charge and verify one gate
GATE_SET_TIME = 0.1
FAULT_NAMES = {1: "host_silent", 2: "readback", 4: "watchdog_reset"}
#: replies to a line the firmware dropped unread (bad checksum, too long, bad byte):
#: the command was not acted on, so re-sending it is always safe
NOT_ACTED_ON = ("ERR 1 ", "ERR 2 ", "ERR 8 ")


class SerialGateController(GateController):
    """The gate-controller microcontroller on serial port ``port`` (path or pyserial URL).

    ``timeout`` (s) bounds the wait for each reply (longer commands get their own working
    time added); ``retries`` is how often an idempotent command is re-sent after a timeout
    or a corrupted reply; ``gate_range`` (V) must lie within the firmware's 1.0–5.5 V.
    """

    #: largest λ (dimensionless) the gain trim can set; larger requests raise ValueError
    lambda_max: float = enc.LAMBDA_MAX
    config_role = "gates"
    config_fields = SERIAL_FIELDS  # port, baudrate, timeout

    @classmethod
    def check_config(cls, options: Mapping[str, Any], config: Any) -> list[tuple[str, str]]:
        """The bridge's baud rates and the firmware's 32 gates; (key, problem) pairs."""
        problems: list[tuple[str, str]] = []
        if options["baudrate"] not in BAUD_RATES:
            problems.append(("serial.baudrate", f"{options['baudrate']} not supported; "
                                                f"allowed {BAUD_RATES}"))
        if config.network.n_edges != 32:
            problems.append(("network", f"{config.network.n_edges} edges; the firmware "
                                        "drives 32 gates"))
        return problems

    @classmethod
    def from_config(cls, context: Any, options: Mapping[str, Any]) -> SerialGateController:
        """Open the controller a bench file's [serial] section names."""
        lim = context.config.limits
        return cls(options["port"], baudrate=options["baudrate"], timeout=options["timeout"],
                   n_edges=context.config.network.n_edges,
                   gate_range=(lim.gate_min, lim.gate_max))

    def __init__(self, port: str, *, baudrate: int = 115200, timeout: float = 0.5,
                 retries: int = 2, n_edges: int = 32,
                 gate_range: tuple[float, float] = (1.0, 5.5)) -> None:
        if not (isinstance(timeout, int | float) and 0.0 < timeout <= 60.0):
            raise ValueError(f"timeout must be in (0, 60] s, got {timeout!r}")
        if not (isinstance(retries, int) and 0 <= retries <= 10):
            raise ValueError(f"retries must be an int in [0, 10], got {retries!r}")
        if n_edges != 32:
            raise ValueError(f"n_edges must be 32 (the firmware drives 32 gates), got {n_edges!r}")
        lo, hi = (float(v) for v in gate_range)
        if not (FIRMWARE_GATE_RANGE[0] <= lo < hi <= FIRMWARE_GATE_RANGE[1]):
            raise ValueError(f"gate_range must satisfy 1.0 <= min < max <= 5.5 V, got {gate_range}")
        self.n_edges = n_edges
        self.gate_range = (lo, hi)
        self.retries = retries
        self.attempts = 1 + retries
        self.port = port
        self.baudrate = baudrate
        self._reset_pending = False
        self._last_uptime = -1.0
        self._tokens = itertools.count(1)
        self._link = SerialLineTransport(port, baudrate=baudrate, timeout=timeout)
        try:
            self._link.discard_input()
            self._resync(initial=True)
            self._identity = self._connect_identity()
            self.status()
        except BaseException:
            self._link.close()
            raise

    # --- line handling ---------------------------------------------------------------------
    def _next_body(self, timeout: float, *, initial: bool = False) -> str:
        """Next reply body; boot banners raise FirmwareResetError (ignored at connect)."""
        while True:
            raw = self._link.read_line(timeout)
            try:
                body = unframe(raw)
            except CorruptLineError:
                if b"BOOT LABCTL," not in raw:
                    raise
                body = "!BOOT (damaged banner)"  # a reset whose banner lost a byte
            if body.startswith("!BOOT"):
                if initial:
                    continue
                self._reset_pending = True
                raise FirmwareResetError(f"gate controller on {self.port} restarted: {body}")
            return body

    def resync(self) -> None:
        """Re-synchronise the line after a lost or corrupted reply (see :meth:`_resync`)."""
        self._resync()

    def _resync(self, *, initial: bool = False) -> None:
        """End any partial line, then read until the echo of a fresh PING token."""
        self._link.write_raw(b"\n")
        token = f"R{next(self._tokens)}"
        self._link.send(f"PING {token}")
        deadline = time.monotonic() + self._link.timeout * 2
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InstrumentTimeoutError(f"gate controller on {self.port}: no answer to PING")
            try:
                body = self._next_body(remaining, initial=initial)
            except CorruptLineError:
                continue
            if body == f"PONG {token}":
                return

    def _query(self, body: str, *, idempotent: bool = True, work_time: float = 0.0) -> str:
        """Send one command, return its reply body; ERR replies raise BenchError.

        Transient faults are recovered by the shared retry loop (module docstring); a
        non-idempotent command is re-sent only after ERR 1/2/8 (it was not acted on).
        """
        self._usable()
        return self._retrying(repr(body), lambda: self._exchange(body, work_time),
                              idempotent=idempotent)

    def _exchange(self, body: str, work_time: float) -> str:
        """One attempt: send ``body`` and read its reply body."""
        if self._reset_pending:
            raise FirmwareResetError(f"gate controller on {self.port} restarted")
        self._link.send(body)
        try:
            reply = self._next_body(self._link.timeout + work_time)
        except CorruptLineError as exc:
            raise CorruptReplyError(f"gate controller on {self.port}: corrupted reply to "
                                    f"{body!r}: {exc}") from exc
        if reply.startswith(NOT_ACTED_ON):
            raise CorruptReplyError(f"gate controller on {self.port}: {body!r} arrived "
                                    f"corrupted ({reply})", repeatable=True)
        if reply.startswith("ERR "):
            raise BenchError(f"gate controller refused {body!r}: {reply}")
        return reply

    def _expect_ok(self, body: str, **kwargs: Any) -> None:
        reply = self._query(body, **kwargs)
        if reply != "OK":
            raise BenchError(f"gate controller: unexpected reply {reply!r} to {body!r}")

    def _connect_identity(self) -> str:
        idn = self._query("*IDN?")
        if not idn.startswith(IDENTITY_PREFIX):
            raise BenchError(f"{self.port} is not a labctl gate controller: *IDN? -> {idn!r}")
        proto = self._query("PROTO?")
        if proto != str(PROTOCOL_VERSION):
            raise BenchError(f"{self.port}: firmware speaks protocol {proto}, driver speaks "
                             f"{PROTOCOL_VERSION}")
        return idn

    def acknowledge_reset(self) -> None:
        """Accept a firmware restart: re-read the identity; settings must be sent again."""
        self._usable()
        self._reset_pending = False
        self._last_uptime = -1.0
        self._resync(initial=True)
        self._identity = self._connect_identity()

    def reboot(self) -> None:
        """Restart the firmware on purpose (safe state, uptime 0) and reconnect to it."""
        self._forget("eta", "lambda", "watchdog")
        self._remember(learning=False)
        self._expect_ok("*RST", idempotent=False)
        deadline = time.monotonic() + max(2.0, 4 * self._link.timeout)
        while True:
            try:
                self._next_body(max(deadline - time.monotonic(), 1e-3))
            except FirmwareResetError:
                break
            except CorruptLineError:
                continue
        self.acknowledge_reset()

    # --- GateController ---------------------------------------------------------------------
    def _identity_line(self) -> str:
        """Firmware identity line (maker, model, channels, version) and the port."""
        return f"{self._identity} on {self.port}"

    def _snapshot(self) -> dict[str, Any]:
        """Port, identity, status and every gate voltage (V), JSON-serialisable."""
        stat = self.status()
        return {"port": self.port, "baudrate": self.baudrate, "identity": self._identity,
                "gate_range": list(self.gate_range), **stat,
                "gates": [float(v) for v in self.read_gates()]}

    def _safe_state(self) -> None:
        """Learning switch open, η = 0, both gains ×11 (λ = 0), charge line isolated.

        Gate capacitors keep their voltages (they hold the learned state).
        """
        self._forget("eta", "lambda")
        self._remember(learning=False)
        self._expect_ok("SAFE")

    def _close(self) -> None:
        """Safe state (unless a restart is pending: the firmware came back safe), then
        release the port."""
        try:
            if not self._reset_pending:
                self._safe_state()
        finally:
            self._link.close()

    def _set_gate(self, edge: int, volts: float) -> None:
        """Charge gate capacitor ``edge`` to ``volts`` (V, 1 mV resolution, verified)."""
        mv = enc.volts_to_mv(volts)
        self._expect_ok(f"GATE {edge} {mv}", work_time=GATE_SET_TIME)

    def _set_gates(self, volts: np.ndarray) -> None:
        """Charge all gate capacitors (V) in one command."""
        mvs = [enc.volts_to_mv(float(v), f"volts[{i}]") for i, v in enumerate(volts)]
        self._expect_ok("GATES " + ",".join(map(str, mvs)),
                        work_time=GATE_SET_TIME * self.n_edges)

    def _read_gate(self, edge: int) -> float:
        """Gate voltage of ``edge`` read back through the mux and ADC (V, 8 mV resolution)."""
        return self._parse_mv(self._query(f"GATE? {edge}"))

    def _read_gates(self) -> np.ndarray:
        """All gate voltages (V)."""
        reply = self._query("GATES?")
        values = np.array([self._parse_mv(part) for part in reply.split(",")])
        if values.shape != (self.n_edges,):
            raise BenchError(f"gate controller: GATES? returned {values.size} values")
        return values

    @staticmethod
    def _parse_mv(text: str) -> float:
        if not text.isdigit():
            raise BenchError(f"gate controller: expected millivolts, got {text!r}")
        return int(text) / 1000.0

    def _set_eta_tap(self, tap: int) -> None:
        """η = tap/129 (the interface quantised and checked it)."""
        self._expect_ok(f"ETA {tap}")

    def _set_gain_taps(self, tap_free: int, tap_clamped: int) -> None:
        """λ through the gain pots: the free amplifier's tap, the clamped one (nominal ×11)."""
        self._expect_ok(f"GAIN {tap_free} {tap_clamped}")

    def _set_learning(self, on: bool) -> None:
        """Close (True) or open (False) the learning switch; the watchdog then runs."""
        self._expect_ok(f"LEARN {1 if on else 0}")

    def _learning_window(self, seconds: float) -> None:
        """Close the learning switch for ``seconds`` (1 µs steps, timed by the
        microcontroller's Timer1); returns after the window closed. Never retried."""
        self._expect_ok(f"WIN {round(seconds * 1e6)}", idempotent=False, work_time=seconds)

    def set_watchdog(self, seconds: float) -> None:
        """Host-silence timeout while learning (s, 0.05..60, 1 ms steps)."""
        lo, hi = WATCHDOG_RANGE
        if not (isinstance(seconds, int | float) and math.isfinite(seconds)
                and lo <= seconds <= hi):
            raise ValueError(f"seconds must be in [{lo}, {hi}] s, got {seconds!r}")
        self._remember(watchdog=float(seconds))
        self._expect_ok(f"WDT {round(seconds * 1000)}")

    def clear_faults(self) -> None:
        """Clear latched faults (a tripped watchdog blocks learning until cleared)."""
        self._expect_ok("CLR")

    def ping(self) -> float:
        """One PING round trip; returns its duration (s)."""
        t0 = time.perf_counter()
        reply = self._query("PING")
        if reply != "PONG":
            raise BenchError(f"gate controller: PING answered {reply!r}")
        return time.perf_counter() - t0

    def _status(self) -> dict[str, Any]:
        """Learning switch, η, λ, gain taps, watchdog timeout (s), faults and uptime (s).

        An uptime going backwards means the firmware restarted: its settings are restored
        (as after a boot banner) and the status is read again.
        """
        return self._retrying("STAT?", self._status_once)

    def _status_once(self) -> dict[str, Any]:
        reply = self._query("STAT?")
        try:
            fields = dict(item.split("=", 1) for item in reply.split())
            learn, eta_n = int(fields["learn"]), int(fields["eta"])
            gf, gc = int(fields["gf"]), int(fields["gc"])
            wdt_ms, faults, up_ms = int(fields["wdt"]), int(fields["fault"]), int(fields["up"])
        except (KeyError, ValueError) as exc:
            raise BenchError(f"gate controller: unreadable status {reply!r}") from exc
        uptime = up_ms / 1000.0
        if uptime < self._last_uptime:
            self._reset_pending = True
            raise FirmwareResetError(f"gate controller on {self.port} restarted (uptime "
                                     f"{uptime:.3f} s < {self._last_uptime:.3f} s)")
        self._last_uptime = uptime
        try:
            eta, lam = enc.tap_to_eta(eta_n), enc.taps_to_lambda(gf, gc)
            gain_free, gain_clamped = enc.amplifier_gain(gf), enc.amplifier_gain(gc)
        except ValueError as exc:
            raise BenchError(f"gate controller: impossible settings in status {reply!r}") \
                from exc
        return {"learning": bool(learn), "eta": eta, "eta_tap": eta_n,
                "lambda": lam, "gain_free_tap": gf,
                "gain_clamped_tap": gc, "gain_free": gain_free,
                "gain_clamped": gain_clamped, "watchdog_timeout": wdt_ms / 1000.0,
                "fault_code": faults,
                "faults": [name for bit, name in FAULT_NAMES.items() if faults & bit],
                "uptime": uptime}


def add_gates_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labctl gates``: serial port, baud rate, timeout (s) and what to do."""
    parser.add_argument("--port", required=True,
                        help="serial device of the gate controller (e.g. /dev/ttyACM0 or the "
                             "path printed by firmware/emulate)")
    parser.add_argument("--baudrate", type=int, default=115200)
    parser.add_argument("--timeout", type=float, default=0.5, help="reply timeout, s")
    parser.add_argument("--pings", type=int, default=100,
                        help="round trips to time (0 to skip)")
    parser.add_argument("--gates", action="store_true", help="also print all gate voltages")
    parser.add_argument("--safe", action="store_true", help="put the board in its safe state")


def cmd_gates(args: argparse.Namespace) -> int:
    """``labctl gates``: identity, status, round-trip time and optionally gates of a board.

    Returns 0 on success, 1 if the board cannot be reached or misbehaves.
    """
    try:
        ctl = SerialGateController(args.port, baudrate=args.baudrate, timeout=args.timeout)
    except (BenchError, ValueError) as exc:
        print(f"gate controller on {args.port}: {exc}")
        return 1
    try:
        print(ctl.identity())
        for key, value in ctl.status().items():
            print(f"  {key}: {value}")
        if args.pings > 0:
            rtt = np.array([ctl.ping() for _ in range(args.pings)])
            print(f"  round trip: median {np.median(rtt) * 1e3:.3f} ms, "
                  f"p95 {np.percentile(rtt, 95) * 1e3:.3f} ms ({args.pings} pings)")
        if args.gates:
            print("  gates (V): " + " ".join(f"{v:.3f}" for v in ctl.read_gates()))
        if args.safe:
            ctl.safe_state()
            print("  safe state set")
        return 0
    except BenchError as exc:
        print(f"gate controller on {args.port}: {exc}")
        return 1
    finally:
        try:
            ctl.close()
        except BenchError as exc:
            print(f"gate controller on {args.port}: close failed: {exc}")
