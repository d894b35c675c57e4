"""The bench interfaces: what the runner, the GUI and `labctl bench check` may call.

Three instrument roles make a bench:

* :class:`Daq` – an NI DAQ board (or the simulated one): analog outputs drive the source
  lines and the target set-points (the desired outputs Ṽ fed to the clamp circuit); analog
  inputs read the node voltages of both network copies, hardware-timed, in blocks.
* :class:`GateController` – the microcontroller: gate capacitors (the learning degrees of
  freedom), the η (nudge) and λ (free/clamped measurement gain) settings, the learning
  switch and the safe state.
* :class:`PowerMeter` – a source-measure unit on the source line: supply voltage and the
  current the network draws.

Real drivers (``labctl.drivers``) and the simulated bench (``labctl.bench.simulated``)
implement these classes; nothing above this layer knows which one it talks to. Every
value crossing these interfaces is in SI units (V, A, W, s). Every instrument has
``identity()``, ``snapshot()`` (its settings, stored in each run file) and ``close()``,
which leaves the instrument in its safe state.

Faults: errors are transient (:class:`TransientInstrumentError` and its kinds: timeout,
garbage, overflow, firmware_reset) or not (disconnects, refusals). Every instrument runs
its operations through one bounded retry loop, :func:`retry_transient`, with its own
:meth:`Instrument.recover` (re-sync a line, restart the acquisition, re-apply settings
after a firmware restart, clear an SCPI session), and records each fault and recovery in
its :class:`FaultLog`; a fault that outlasts the retries becomes
:class:`InstrumentFaultError`. Simulated and real instruments share this code.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np


class BenchError(RuntimeError):
    """An instrument failed or refused a command (the message says which and why)."""


class TransientInstrumentError(BenchError):
    """A fault that repeating the operation can cure (the instrument is still there).

    ``kind`` names the fault ("timeout", "garbage", "overflow", "firmware_reset"); it is
    what the run file's ``fault`` events and the retry bookkeeping call it.
    ``repeatable`` is True when the instrument surely did not act on the command (a line
    it dropped unread), so even a non-idempotent command may be sent again.
    """

    kind = "transient"

    def __init__(self, message: str, *, repeatable: bool = False) -> None:
        super().__init__(message)
        self.repeatable = repeatable


class InstrumentTimeoutError(TransientInstrumentError):
    """An instrument did not answer within its timeout."""

    kind = "timeout"


class CorruptReplyError(TransientInstrumentError):
    """A reply was garbage (bad checksum, unreadable bytes, a command dropped unread)."""

    kind = "garbage"


class DaqOverflowError(TransientInstrumentError):
    """The DAQ's input buffer overflowed: samples were lost (NI error -200279)."""

    kind = "overflow"


class FirmwareResetError(TransientInstrumentError):
    """The microcontroller restarted (boot banner or changed identity seen mid-session)."""

    kind = "firmware_reset"


class InstrumentDisconnectedError(BenchError):
    """An instrument went away (cable pulled, USB reset, process gone): not retried."""


class InstrumentFaultError(BenchError):
    """A transient fault outlasted every bounded retry: the instrument is failing.

    Not transient itself, so no outer layer retries it again; the run's task-fault policy
    (``on_task_fault``) decides what happens next.
    """

    def __init__(self, instrument: str, what: str, attempts: int,
                 cause: TransientInstrumentError) -> None:
        super().__init__(f"{instrument}: {what} failed after {attempts} attempts "
                         f"({cause.kind}: {cause})")
        self.instrument = instrument
        self.kind = cause.kind
        self.attempts = attempts


class InstrumentOpenError(BenchError):
    """An instrument could not be opened: names its role, its address and the cause."""

    def __init__(self, instrument: str, address: str, cause: BaseException) -> None:
        super().__init__(f"cannot open the {instrument} at {address}: "
                         f"{type(cause).__name__}: {cause}")
        self.instrument = instrument
        self.address = address


# ------------------------------------------------------------------ recovery contract
@dataclass(frozen=True)
class FaultRecord:
    """One transient fault an instrument saw, or its recovery.

    ``event`` is "fault" (seen; ``message`` quotes the error) or "recovered" (``message``
    says what was done, e.g. "re-synchronised the line, re-sent 'GATES?'"); ``kind`` is
    the :attr:`TransientInstrumentError.kind`. The runner writes each record as a run-file
    event of that name.
    """

    event: str
    instrument: str
    kind: str
    message: str

    def text(self) -> str:
        """One line for the run file's event message."""
        return f"{self.instrument}: {self.kind}: {self.message}"


class FaultLog:
    """Fault and recovery records of a bench, oldest first, until drained.

    Owned by the acquisition thread like the instruments that fill it; the executor drains
    it after every DAQ block and every step and logs the records in the run file. At most
    ``max_records`` are kept (older ones are counted as dropped), so an unattended bench
    cannot fill memory.
    """

    def __init__(self, max_records: int = 10_000) -> None:
        self._records: list[FaultRecord] = []
        self.max_records = max_records
        self.dropped = 0

    def add(self, record: FaultRecord) -> None:
        """Append one record."""
        if len(self._records) >= self.max_records:
            self._records.pop(0)
            self.dropped += 1
        self._records.append(record)

    def drain(self) -> list[FaultRecord]:
        """Every record since the last drain, oldest first."""
        out, self._records = self._records, []
        return out


T = TypeVar("T")


def retry_transient(action: Callable[[], T], *, instrument: str, what: str, attempts: int,
                    log: FaultLog, recover: Callable[[TransientInstrumentError], str],
                    idempotent: bool = True) -> T:
    """Run ``action``; after a :class:`TransientInstrumentError` call ``recover`` (re-sync,
    restart, re-apply settings; it returns what it did) and run ``action`` again, at most
    ``attempts`` times in all. The one retry loop of every instrument, simulated or real.

    A non-idempotent ``action`` is only repeated after an error marked ``repeatable`` (the
    instrument did not act on it). Every fault is logged as a "fault" record, every cure as
    a "recovered" record. Gives up with :class:`InstrumentFaultError`; any other error
    (refusals, disconnects, errors raised by ``recover`` that are not transient) propagates
    at once.
    """
    if attempts < 1:
        raise ValueError(f"attempts: {attempts}; allowed >= 1")
    pending: TransientInstrumentError | None = None
    seen: list[str] = []
    done = ""
    attempt = 0
    while attempt < attempts:
        attempt += 1
        try:
            if pending is not None:
                done = recover(pending)
            result = action()
        except TransientInstrumentError as exc:
            log.add(FaultRecord("fault", instrument, exc.kind, f"{what}: {exc}"))
            seen.append(exc.kind)
            pending = exc
            if not (idempotent or exc.repeatable):
                break
            continue
        for kind in seen:  # one "recovered" per fault cured
            log.add(FaultRecord("recovered", instrument, kind,
                                f"{what}: {done}; succeeded on attempt {attempt}/{attempts}"))
        return result
    assert pending is not None
    raise InstrumentFaultError(instrument, what, attempt, pending) from pending


@dataclass(frozen=True)
class SampleBlock:
    """One block of hardware-timed analog-input samples.

    ``time`` (n,) is seconds since acquisition start (sample clock, not wall time);
    ``data`` (n, C) are volts, column ``j`` belonging to ``channels[j]``; channels are
    named ``"free:<node>"`` and ``"clamped:<node>"``. ``first_index`` is the index of the
    first sample since acquisition start, so consumers can detect gaps.
    """

    time: np.ndarray
    data: np.ndarray
    channels: tuple[str, ...]
    first_index: int

    @property
    def n_samples(self) -> int:
        """Number of samples (rows) in the block."""
        return int(self.data.shape[0])


@dataclass(frozen=True)
class OutputLine:
    """One analog-output line: its name, its role and the nodes it can be routed to.

    ``role`` is ``"source"`` (the line holds a node of both copies at its voltage) or
    ``"target"`` (the line is the desired output Ṽ for a target node; the clamp circuit
    holds the clamped copy's node at V_F + η (Ṽ − V_F)). ``nodes`` lists every node the
    line can reach: one node for a fixed wire, several behind a switch matrix.
    """

    name: str
    role: str
    nodes: tuple[int, ...]


class Instrument(abc.ABC):
    """Common face of every instrument.

    Transient faults are cured here, the same way for simulated and real instruments:
    implementations run each operation through :meth:`_retrying` (the shared
    :func:`retry_transient` loop) and say in :meth:`recover` how they come back from a
    fault; what happened goes to :attr:`fault_log`.
    """

    #: tries of one operation (first try + retries) before InstrumentFaultError
    attempts: int = 3
    #: the instrument's role in fault records and error messages
    role: str = "instrument"

    @property
    def fault_log(self) -> FaultLog:
        """Where this instrument records faults and recoveries (shared bench-wide by
        :class:`Bench`)."""
        log = self.__dict__.get("_fault_log")
        if log is None:
            log = self.__dict__["_fault_log"] = FaultLog()
        return log

    @fault_log.setter
    def fault_log(self, log: FaultLog) -> None:
        self.__dict__["_fault_log"] = log

    def recover(self, exc: TransientInstrumentError) -> str:
        """Bring the instrument back after ``exc``, before the failed operation is
        repeated; returns what was done (for the run file). Default: nothing to do."""
        return "tried again"

    def _retrying(self, what: str, action: Callable[[], T], *, idempotent: bool = True) -> T:
        """Run ``action`` (one attempt of the operation ``what``) with bounded recovery."""
        return retry_transient(action, instrument=self.role, what=what, attempts=self.attempts,
                               log=self.fault_log, recover=self.recover, idempotent=idempotent)

    @abc.abstractmethod
    def identity(self) -> str:
        """Maker, model, serial number and firmware/driver version, as one line."""

    @abc.abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """Every setting of the instrument (JSON-serialisable), stored with each run."""

    @abc.abstractmethod
    def safe_state(self) -> None:
        """Put the instrument in its safe state (outputs 0 V / off, learning off)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Put the instrument in its safe state and release it. Idempotent."""


class Daq(Instrument):
    """Analog outputs (sources, target set-points) and analog inputs (node voltages)."""

    #: analog-input channel names in column order of every :class:`SampleBlock`
    channels: tuple[str, ...]
    #: analog-output lines as wired in the bench file
    output_lines: tuple[OutputLine, ...]
    #: sample rate of the analog inputs, samples per second per channel
    sample_rate: float
    role = "DAQ"

    @abc.abstractmethod
    def route_outputs(self, routing: Mapping[str, int | None]) -> None:
        """Connect output lines to nodes (line name -> node; None = disconnect the line).

        A fixed-wired bench accepts only its wiring (a fixed line cannot be disconnected:
        None leaves it wired, held at 0 V); a bench with a switch matrix (and the simulated
        bench) reconnects, and a disconnected line holds no node. Raises ValueError for an
        unknown line or a node the line cannot reach.
        """

    @abc.abstractmethod
    def write_outputs(self, volts: Mapping[str, float]) -> None:
        """Set analog-output lines (line name -> volts). Lines not named keep their value."""

    @abc.abstractmethod
    def start_acquisition(self) -> None:
        """Start hardware-timed continuous acquisition of all analog-input channels."""

    def read_block(self, timeout: float = 2.0) -> SampleBlock:
        """Return the next block of samples (about 0.1 s worth), waiting up to ``timeout`` s.

        An input-buffer overflow restarts the acquisition and goes on: the lost samples are
        a gap (the next block's ``first_index`` jumps by their number; the restart is in
        :attr:`fault_log`); a block that did not arrive in time is waited for again. After
        :attr:`attempts` failures in a row: :class:`InstrumentFaultError`.
        """
        return self._retrying("reading a block", lambda: self._read_block(timeout))

    def recover(self, exc: TransientInstrumentError) -> str:
        """After an overflow restart the acquisition (the gap is said); else read again."""
        if isinstance(exc, DaqOverflowError):
            first, lost = self._restart_acquisition()
            return (f"acquisition restarted; samples {first}..{first + lost - 1} lost "
                    f"({lost / self.sample_rate:.6g} s)")
        return "block waited for again"

    @abc.abstractmethod
    def _read_block(self, timeout: float) -> SampleBlock:
        """One attempt at the next block: raises :class:`DaqOverflowError` if samples were
        lost, :class:`InstrumentTimeoutError` if no block arrived within ``timeout`` s."""

    @abc.abstractmethod
    def _restart_acquisition(self) -> tuple[int, int]:
        """Restart a running acquisition after an overflow; returns (index of the first
        lost sample, number of samples lost). Sample indices go on counting across the gap."""

    @abc.abstractmethod
    def stop_acquisition(self) -> None:
        """Stop continuous acquisition (no error if not running)."""

    @abc.abstractmethod
    def read_once(self) -> np.ndarray:
        """One on-demand reading of every analog-input channel (volts, shape (C,))."""


class GateController(Instrument):
    """The microcontroller that owns the gate capacitors, η, λ and the learning switch."""

    #: number of edges (gate capacitors)
    n_edges: int
    #: allowed gate voltages (V_min, V_max) in volts
    gate_range: tuple[float, float]
    #: largest λ the gain stage can set (set_lambda refuses more)
    lambda_max: float = 1.0
    role = "gate controller"
    #: after a restart with learning off, a gate whose read-back is further than this from
    #: its last known value lost charge and is re-charged to it (V; the firmware verifies
    #: to ±24 mV and reads back in 8 mV steps)
    gate_restore_tolerance: float = 0.05

    # -- state kept for a firmware restart (gate capacitors keep their charge over a
    #    restart; η, λ, the learning switch and the watchdog come back at their safe values)
    def _remember(self, **settings: Any) -> None:
        """Record settings the bench should have (called before they are sent)."""
        self.__dict__.setdefault("_memo", {}).update(settings)

    def _forget(self, *names: str) -> None:
        """Drop remembered settings (the safe state is what a restart brings anyway)."""
        memo = self.__dict__.setdefault("_memo", {})
        for name in names:
            memo.pop(name, None)

    @property
    def remembered(self) -> dict[str, Any]:
        """The settings a restart must restore: gates (V, last set or read back), eta,
        lambda, learning, and watchdog (s) where the controller has one."""
        return dict(self.__dict__.get("_memo", {}))

    def resync(self) -> None:
        """Bring the command line back in step after a lost or garbled reply (default:
        nothing to do)."""

    def acknowledge_reset(self) -> None:
        """Accept a firmware restart before settings are sent again (default: nothing)."""

    def recover(self, exc: TransientInstrumentError) -> str:
        """After a restart re-apply the remembered settings; else re-synchronise."""
        if isinstance(exc, FirmwareResetError):
            return self.restore_after_reset()
        self.resync()
        return "line re-synchronised, command sent again"

    def restore_after_reset(self) -> str:
        """Acknowledge a restart and re-apply the remembered state: gates that lost their
        charge, then the watchdog, η, λ and last the learning switch. Returns what was done.
        A second restart while restoring raises :class:`BenchError` (not retried).

        Gate capacitors keep their charge over a restart. With learning off the gates are
        static, so one further than :attr:`gate_restore_tolerance` from its last known
        value did lose charge and is re-charged. With learning on they moved since the last
        reading (learning does that) and hold the learned state at the restart: they are
        kept, never overwritten with an older reading."""
        if self.__dict__.get("_restoring"):
            raise BenchError(f"{self.role}: restarted again while its settings were being "
                             "restored")
        self.__dict__["_restoring"] = True
        try:
            self.acknowledge_reset()
            memo = self.remembered
            done: list[str] = []
            if "gates" in memo and memo.get("learning"):
                moved = np.abs(self.read_gates() - np.asarray(memo["gates"], dtype=float))
                done.append(f"gates kept (learning was on; up to {float(moved.max()) * 1e3:.0f}"
                            " mV from the last reading)")
            elif "gates" in memo:
                want = np.asarray(memo["gates"], dtype=float)
                off = np.abs(self.read_gates() - want)
                if float(off.max()) > self.gate_restore_tolerance:
                    for edge in np.flatnonzero(off > self.gate_restore_tolerance):
                        self.set_gate(int(edge), float(want[edge]))
                    done.append(f"{int(np.sum(off > self.gate_restore_tolerance))} gates "
                                f"re-charged (up to {float(off.max()) * 1e3:.0f} mV off)")
                else:
                    done.append("gates kept their charge")
            for key, setter in (("watchdog", "set_watchdog"), ("eta", "set_eta"),
                                ("lambda", "set_lambda"), ("learning", "set_learning")):
                if key in memo:
                    getattr(self, setter)(memo[key])
                    done.append(f"{key} = {memo[key]:g}")
            return "firmware restarted; re-applied " + (", ".join(done) or "nothing")
        finally:
            self.__dict__["_restoring"] = False

    @abc.abstractmethod
    def set_gate(self, edge: int, volts: float) -> None:
        """Charge one gate capacitor to ``volts`` (refuses values outside ``gate_range``)."""

    @abc.abstractmethod
    def set_gates(self, volts: np.ndarray) -> None:
        """Charge all gate capacitors, ``volts`` of shape (n_edges,)."""

    @abc.abstractmethod
    def read_gate(self, edge: int) -> float:
        """Gate voltage of one edge (volts)."""

    @abc.abstractmethod
    def read_gates(self) -> np.ndarray:
        """Gate voltages of all edges (volts, shape (n_edges,))."""

    @abc.abstractmethod
    def set_eta(self, eta: float) -> float:
        """Set the nudge amplitude η in (0, 1]; returns the value actually set (quantised)."""

    @abc.abstractmethod
    def set_lambda(self, lam: float) -> float:
        """Set λ in [0, 1) via the free/clamped gain ratio; returns the value actually set."""

    @abc.abstractmethod
    def set_learning(self, on: bool) -> None:
        """Close (True) or open (False) the learning switch of every edge."""

    @abc.abstractmethod
    def learning_window(self, seconds: float) -> None:
        """Close the learning switch for a timed window (timed by the microcontroller)."""

    @abc.abstractmethod
    def status(self) -> dict[str, Any]:
        """Learning switch, η, λ, watchdog and fault flags as reported by the controller."""


class PowerMeter(Instrument):
    """A source-measure unit on the source line: sources volts, measures amps."""

    role = "SMU"

    def resync(self) -> None:
        """Drop a late answer after a lost reply (default: nothing to do)."""

    def recover(self, exc: TransientInstrumentError) -> str:
        """Re-synchronise (a late answer must not become the next reply), then ask again."""
        self.resync()
        return "session cleared, asked again"

    @abc.abstractmethod
    def set_voltage(self, volts: float) -> None:
        """Source voltage (V), within the bench's safe limit."""

    @abc.abstractmethod
    def set_compliance(self, amps: float) -> None:
        """Current limit (A)."""

    @abc.abstractmethod
    def set_output(self, on: bool) -> None:
        """Switch the output on or off."""

    @abc.abstractmethod
    def measure_current(self) -> float:
        """Current delivered (A)."""

    def measure_power(self) -> float:
        """Power delivered (W) = sourced voltage × measured current."""
        return self.voltage * self.measure_current()

    #: last sourced voltage (V)
    voltage: float = 0.0


@dataclass
class Bench:
    """One bench: its three instruments and the network they are wired to."""

    daq: Daq
    gates: GateController
    power: PowerMeter | None
    backend: str  # "sim" or "hardware"
    name: str = "bench"
    #: faults and recoveries of all three instruments, oldest first (see FaultLog)
    fault_log: FaultLog = field(default_factory=FaultLog)

    def __post_init__(self) -> None:
        for inst in (self.daq, self.gates, self.power):
            if inst is not None:  # faults recovered while opening are kept
                for record in inst.fault_log.drain():
                    self.fault_log.add(record)
                inst.fault_log = self.fault_log

    def safe_state(self) -> list[str]:
        """Drive every instrument to its safe state; returns the failures (never raises).

        Learning off first (so nothing learns from half-zeroed sources), then the outputs.
        """
        failures: list[str] = []
        for label, inst in (("gate controller", self.gates), ("daq", self.daq),
                            ("power meter", self.power)):
            if inst is None:
                continue
            try:
                inst.safe_state()
            except Exception as exc:  # a failing instrument must not stop the others
                failures.append(f"{label}: {exc}")
        return failures

    def close(self) -> list[str]:
        """Safe state, then release every instrument; returns the failures (never raises)."""
        failures = self.safe_state()
        for label, inst in (("gate controller", self.gates), ("daq", self.daq),
                            ("power meter", self.power)):
            if inst is None:
                continue
            try:
                inst.close()
            except Exception as exc:
                failures.append(f"{label}: {exc}")
        return failures

    def snapshot(self) -> dict[str, Any]:
        """Settings of every instrument, keyed by role."""
        snap: dict[str, Any] = {"backend": self.backend, "name": self.name}
        for label, inst in (("daq", self.daq), ("gates", self.gates), ("power", self.power)):
            if inst is not None:
                snap[label] = {"identity": inst.identity(), **inst.snapshot()}
        return snap
