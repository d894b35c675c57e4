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
import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
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
    first sample since acquisition start, so consumers can detect gaps. ``average`` > 1:
    each row of ``data`` is the mean of that many consecutive samples (a boxcar, see
    :meth:`Daq.read_block`) and ``time`` holds each row's mean sample time.
    """

    time: np.ndarray
    data: np.ndarray
    channels: tuple[str, ...]
    first_index: int
    average: int = 1

    @property
    def n_samples(self) -> int:
        """Number of samples the block covers (rows × ``average``)."""
        return int(self.data.shape[0]) * self.average

    def averaged(self, average: int) -> SampleBlock:
        """This block of single samples as rows of ``average`` consecutive samples' means
        (``average`` divides the number of samples)."""
        if self.average != 1 or self.data.shape[0] % average:
            raise ValueError(f"average: {average} does not divide a block of "
                             f"{self.data.shape[0]} single samples")
        rows = self.data.shape[0] // average
        return SampleBlock(time=self.time.reshape(rows, average).mean(axis=1),
                           data=self.data.reshape(rows, average, -1).mean(axis=1),
                           channels=self.channels, first_index=self.first_index,
                           average=average)


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


class ForeignThreadError(RuntimeError):
    """An instrument was called from a thread that does not own it.

    The one exception of the owner-thread rule, for every instrument, simulated or real.
    A programming error, not an instrument fault: it is not a :class:`BenchError`, so no
    task-fault policy retries or skips it.
    """


def _number(name: str, value: Any, lo: float, hi: float, unit: str) -> float:
    """``value`` as a finite float within [lo, hi]; ValueError naming it and the range."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) \
            or not math.isfinite(float(value)):
        raise ValueError(f"{name}: {value!r} is not a finite number; allowed "
                         f"{lo:g}..{hi:g} {unit}".rstrip())
    if not lo <= float(value) <= hi:
        raise ValueError(f"{name}: {value} {unit}; allowed {lo:g}..{hi:g} {unit}"
                         .replace(" ;", ";").rstrip())
    return float(value)


def _flag(name: str, value: Any) -> bool:
    """``value`` if it is a bool (numpy's too); ValueError otherwise (1, "yes" refused)."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name}: {value!r}; allowed True or False")
    return bool(value)


class Instrument(abc.ABC):
    """Common face of every instrument: the contract that drivers and simulated
    instruments share.

    Public methods are template methods defined here once: they enforce the owner-thread
    rule, refuse a closed instrument, check arguments and the bench's limits, and only then
    call the implementation's ``_xxx`` method, which supplies transport (drivers) or physics
    (simulated instruments) and nothing else.

    Ownership: an instrument belongs to the thread that created it (or that last called
    :meth:`claim`); any other thread gets :class:`ForeignThreadError` before anything is
    sent. Used alone (a notebook), ``with Driver(...) as inst:`` makes the calling thread the
    owner and closes the instrument (safe state) at the end of the block.

    Transient faults are cured here, the same way for simulated and real instruments:
    implementations run each operation through :meth:`_retrying` (the shared
    :func:`retry_transient` loop) and say in :meth:`recover` how they come back from a
    fault; what happened goes to :attr:`fault_log`.
    """

    #: tries of one operation (first try + retries) before InstrumentFaultError
    attempts: int = 3
    #: the instrument's role in fault records and error messages
    role: str = "instrument"
    #: as a plug-in (labctl.bench.plugins): the kind of bench it belongs to ("sim" or
    #: "hardware"), the role it fills in a bench file ("daq", "gates", "smu") and the keys
    #: of its bench-file section (labctl.fieldspec.Field, names relative to the section);
    #: a driver usable from a bench file also defines ``from_config(context, options)``
    #: and may define ``check_config(options, config)`` (vendor syntax)
    backend: str = "hardware"
    config_role: str = ""
    config_fields: tuple[Any, ...] = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Instrument:
        obj = super().__new__(cls)
        obj.__dict__["_owner_thread"] = threading.get_ident()
        obj.__dict__["_closed"] = False
        return obj

    # -- ownership -----------------------------------------------------------------------
    @property
    def owner_thread(self) -> int:
        """``threading.get_ident()`` of the owning thread."""
        return int(self.__dict__["_owner_thread"])

    def claim(self) -> None:
        """Make the calling thread the owner (a hand-over, never concurrent use)."""
        self.__dict__["_owner_thread"] = threading.get_ident()

    def _check_thread(self) -> None:
        # the owner_thread property's value, read directly (this runs before every operation)
        if threading.get_ident() != self.__dict__["_owner_thread"]:
            raise ForeignThreadError(
                f"{self.role}: called from thread {threading.current_thread().name!r}, which "
                "does not own it; call it from its owning thread (or hand it over with "
                "claim())")

    def _usable(self) -> None:
        """The owner-thread rule, then: a closed instrument refuses every operation."""
        self._check_thread()
        if self.__dict__.get("_closed", False):  # the closed property's value, read directly
            raise InstrumentDisconnectedError(f"{self.role}: already closed")

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return bool(self.__dict__.get("_closed", False))

    def __enter__(self) -> Instrument:
        self.claim()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- faults --------------------------------------------------------------------------
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
        attempts = self.__dict__.get("_attempts_now") or self.attempts
        return retry_transient(action, instrument=self.role, what=what, attempts=attempts,
                               log=self.fault_log, recover=self.recover, idempotent=idempotent)

    @contextlib.contextmanager
    def attempts_limited(self, attempts: int) -> Iterator[None]:
        """Within the block every operation gets at most ``attempts`` tries (a reading that
        must not hold up something else, e.g. the SMU between two DAQ blocks)."""
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValueError(f"attempts: {attempts!r}; allowed an integer >= 1")
        before = self.__dict__.get("_attempts_now")
        self.__dict__["_attempts_now"] = min(attempts, self.attempts)
        try:
            yield
        finally:
            self.__dict__["_attempts_now"] = before

    # -- template methods ---------------------------------------------------------------
    def identity(self) -> str:
        """Maker, model, serial number and firmware/driver version, as one line."""
        return self._identity_line()

    def snapshot(self) -> dict[str, Any]:
        """Every setting of the instrument (JSON-serialisable), stored with each run (a
        closed instrument answers what it can)."""
        self._check_thread()
        return self._snapshot()

    def safe_state(self) -> None:
        """Put the instrument in its safe state (outputs 0 V / off, learning off).
        Nothing to do once closed (closing left it safe)."""
        if self.closed:
            return
        self._check_thread()
        self._safe_state()

    def close(self) -> None:
        """Put the instrument in its safe state and release it. Idempotent; the owner
        closes it (a foreign thread gets :class:`ForeignThreadError`)."""
        if self.closed:
            return
        self._check_thread()
        try:
            self._close()
        finally:
            self.__dict__["_closed"] = True

    @abc.abstractmethod
    def _identity_line(self) -> str:
        """Implementation of :meth:`identity`."""

    @abc.abstractmethod
    def _snapshot(self) -> dict[str, Any]:
        """Implementation of :meth:`snapshot`."""

    @abc.abstractmethod
    def _safe_state(self) -> None:
        """Implementation of :meth:`safe_state` (instrument open, owner thread)."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Safe state, then release the transport (called once)."""


class Daq(Instrument):
    """Analog outputs (sources, target set-points) and analog inputs (node voltages)."""

    #: analog-input channel names in column order of every :class:`SampleBlock`
    channels: tuple[str, ...]
    #: analog-output lines as wired in the bench file
    output_lines: tuple[OutputLine, ...]
    #: sample rate of the analog inputs, samples per second per channel
    sample_rate: float
    #: samples per channel in one block (the bench file's block_duration × sample_rate)
    block_size: int
    #: largest voltage (V) a line of each role may be set to (the bench file's limits:
    #: {"source": source_voltage_max, "target": target_voltage_max}); lines go 0..max
    output_max: Mapping[str, float]
    #: True when samples arrive on a clock of their own (a real board, the simulator's
    #: paced clock): a reader that stalls loses samples, so it must never wait on anything
    #: slower. False when the reader sets the pace (the simulator's fast clock: a block is
    #: made when asked for), so it may wait, e.g. for the run-file writer to catch up.
    free_running: bool = True
    role = "DAQ"

    def _lines(self) -> dict[str, OutputLine]:
        return {line.name: line for line in self.output_lines}

    def route_outputs(self, routing: Mapping[str, int | None]) -> None:
        """Connect output lines to nodes (line name -> node; None = disconnect the line).

        A fixed-wired bench accepts only its wiring (a fixed line cannot be disconnected:
        None leaves it wired, held at 0 V); a bench with a switch matrix (and the simulated
        bench) reconnects, and a disconnected line holds no node. Raises ValueError for an
        unknown line or a node the line cannot reach.
        """
        self._usable()
        lines = self._lines()
        checked: dict[str, int | None] = {}
        for name, node in routing.items():
            if name not in lines:
                raise ValueError(f"routing: unknown line {name!r}; allowed {sorted(lines)}")
            if node is not None:
                if isinstance(node, bool) or not isinstance(node, int | np.integer) \
                        or int(node) not in lines[name].nodes:
                    raise ValueError(f"routing: line {name!r} cannot reach node {node!r}; "
                                     f"allowed {list(lines[name].nodes)}")
                node = int(node)
            checked[name] = node
        self._route_outputs(checked)

    def write_outputs(self, volts: Mapping[str, float]) -> None:
        """Set analog-output lines (line name -> volts, 0..the role's limit). Lines not
        named keep their value."""
        self._usable()
        lines = self._lines()
        checked: dict[str, float] = {}
        for name, v in volts.items():
            if name not in lines:
                raise ValueError(f"volts: unknown line {name!r}; allowed {sorted(lines)}")
            hi = float(self.output_max[lines[name].role])
            checked[name] = _number(f"volts[{name!r}]", v, 0.0, hi, "V")
        self._write_outputs(checked)

    def start_acquisition(self) -> None:
        """Start hardware-timed continuous acquisition of all analog-input channels
        (nothing to do if running)."""
        self._usable()
        self._start_acquisition()

    def read_block(self, timeout: float = 2.0, average: int = 1) -> SampleBlock:
        """Return the next block of samples (about 0.1 s worth), waiting up to ``timeout`` s.

        ``average`` > 1 (a divisor of :attr:`block_size`): the block comes as rows of the
        means of that many consecutive samples (:attr:`SampleBlock.average`), what a
        consumer that keeps only boxcar means needs; a driver computes them from the
        samples it read, a simulator may draw them directly (same distribution).

        An input-buffer overflow restarts the acquisition and goes on: the lost samples are
        a gap (the next block's ``first_index`` jumps by their number; the restart is in
        :attr:`fault_log`); a block that did not arrive in time is waited for again. After
        :attr:`attempts` failures in a row: :class:`InstrumentFaultError`.
        """
        self._usable()
        timeout = _number("timeout", timeout, 1e-3, 3600.0, "s")
        if (isinstance(average, bool) or not isinstance(average, (int, np.integer))
                or not 1 <= average <= self.block_size or self.block_size % average):
            raise ValueError(f"average: {average!r}; allowed a divisor of the block size "
                             f"{self.block_size} samples (1 … {self.block_size})")
        average = int(average)
        if average == 1:
            block = self._retrying("reading a block", lambda: self._read_block(timeout))
        else:
            block = self._retrying("reading a block",
                                   lambda: self._read_block_averaged(timeout, average))
        if (block.data.ndim != 2 or block.data.shape[1] != len(self.channels)
                or block.average != average):
            raise BenchError(f"{self.role}: block of shape {block.data.shape} (average "
                             f"{block.average}); expected (n, {len(self.channels)}) "
                             f"(average {average})")
        return block

    def stop_acquisition(self) -> None:
        """Stop continuous acquisition (no error if not running)."""
        self._usable()
        self._stop_acquisition()

    def settle(self, seconds: float) -> None:
        """Let ``seconds`` (0..60 s) of bench time pass with nothing read: a settling wait
        on the bench's own clock (the wall clock on hardware; instantaneous on the
        simulated fast clock, which integrates the physics over it)."""
        self._usable()
        seconds = _number("seconds", seconds, 0.0, 60.0, "s")
        if seconds > 0:
            self._settle(seconds)

    def _settle(self, seconds: float) -> None:
        """Hardware: the bench's clock is the wall clock."""
        time.sleep(seconds)

    def read_once(self) -> np.ndarray:
        """One on-demand reading of every analog-input channel (volts, shape (C,))."""
        self._usable()
        out = np.asarray(self._read_once(), dtype=float)
        if out.shape != (len(self.channels),):
            raise BenchError(f"{self.role}: reading of shape {out.shape}; expected "
                             f"({len(self.channels)},)")
        return out

    def recover(self, exc: TransientInstrumentError) -> str:
        """After an overflow restart the acquisition (the gap is said); else read again."""
        if isinstance(exc, DaqOverflowError):
            first, lost = self._restart_acquisition()
            return (f"acquisition restarted; samples {first}..{first + lost - 1} lost "
                    f"({lost / self.sample_rate:.6g} s)")
        return "block waited for again"

    @abc.abstractmethod
    def _route_outputs(self, routing: dict[str, int | None]) -> None:
        """Apply checked routing (every line known, every node reachable)."""

    @abc.abstractmethod
    def _write_outputs(self, volts: dict[str, float]) -> None:
        """Apply checked output voltages (V, within the limits)."""

    @abc.abstractmethod
    def _start_acquisition(self) -> None:
        """Start the sample clock (no-op if running)."""

    @abc.abstractmethod
    def _read_block(self, timeout: float) -> SampleBlock:
        """One attempt at the next block: raises :class:`DaqOverflowError` if samples were
        lost, :class:`InstrumentTimeoutError` if no block arrived within ``timeout`` s."""

    def _read_block_averaged(self, timeout: float, average: int) -> SampleBlock:
        """One attempt at the next block as means of ``average`` consecutive samples (a
        checked divisor of the block size): the samples read, averaged."""
        return self._read_block(timeout).averaged(average)

    @abc.abstractmethod
    def _restart_acquisition(self) -> tuple[int, int]:
        """Restart a running acquisition after an overflow; returns (index of the first
        lost sample, number of samples lost). Sample indices go on counting across the gap."""

    @abc.abstractmethod
    def _stop_acquisition(self) -> None:
        """Stop the sample clock (no-op if stopped)."""

    @abc.abstractmethod
    def _read_once(self) -> np.ndarray:
        """One reading of every channel (V, shape (C,))."""


#: learning windows the gate controller times (s): 10 µs .. 30 ms (firmware Timer1)
WINDOW_RANGE_S = (10e-6, 30e-3)


class GateController(Instrument):
    """The microcontroller that owns the gate capacitors, η, λ and the learning switch.

    η and λ are set through the labctl firmware's potentiometer taps
    (:mod:`labctl.bench.gate_encoding`): the interface quantises and checks them once;
    implementations receive taps.
    """

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

    # -- checks, once ----------------------------------------------------------------------
    def _edge(self, edge: Any) -> int:
        if isinstance(edge, bool) or not isinstance(edge, int | np.integer) \
                or not 0 <= int(edge) < self.n_edges:
            raise ValueError(f"edge: {edge!r}; allowed an integer 0..{self.n_edges - 1}")
        return int(edge)

    def _gate(self, volts: Any, name: str = "volts") -> float:
        lo, hi = self.gate_range
        return _number(name, volts, lo, hi, "V")

    # -- template methods -------------------------------------------------------------------
    def set_gate(self, edge: int, volts: float) -> None:
        """Charge one gate capacitor to ``volts`` (refuses values outside ``gate_range``)."""
        self._usable()
        e, v = self._edge(edge), self._gate(volts, f"volts (edge {edge})")
        if "gates" in self.remembered:
            gates = np.array(self.remembered["gates"], dtype=float)
            gates[e] = v
            self._remember(gates=gates)
        self._set_gate(e, v)

    def set_gates(self, volts: np.ndarray) -> None:
        """Charge all gate capacitors, ``volts`` of shape (n_edges,)."""
        self._usable()
        arr = np.asarray(volts, dtype=float) if not isinstance(volts, str) else None
        if arr is None or arr.shape != (self.n_edges,):
            shape = None if arr is None else arr.shape
            raise ValueError(f"volts: shape {shape}; allowed ({self.n_edges},)")
        checked = np.array([self._gate(float(v), f"volts[{i}]") for i, v in enumerate(arr)])
        self._remember(gates=checked)
        self._set_gates(checked)

    def read_gate(self, edge: int) -> float:
        """Gate voltage of one edge (volts)."""
        self._usable()
        return float(self._read_gate(self._edge(edge)))

    def read_gates(self) -> np.ndarray:
        """Gate voltages of all edges (volts, shape (n_edges,))."""
        self._usable()
        gates = np.asarray(self._read_gates(), dtype=float)
        if gates.shape != (self.n_edges,):
            raise BenchError(f"{self.role}: {gates.size} gate values read; expected "
                             f"{self.n_edges}")
        self._remember(gates=gates)  # the learned state a restart must find again
        return gates

    def set_eta(self, eta: float) -> float:
        """Set the nudge amplitude η in 1/129 .. 128/129; returns the value actually set
        (quantised to the potentiometer's 1/129 steps)."""
        from labctl.bench import gate_encoding as enc

        self._usable()
        tap = enc.eta_to_tap(eta)
        self._remember(eta=enc.tap_to_eta(tap))
        self._set_eta_tap(tap)
        return enc.tap_to_eta(tap)

    def set_lambda(self, lam: float) -> float:
        """Set λ in 0 .. :attr:`lambda_max` via the free/clamped gain taps; returns the
        value actually set (the firmware's quantisation, 1 ppm)."""
        from labctl.bench import gate_encoding as enc

        self._usable()
        taps = enc.lambda_to_taps(lam)
        value = enc.taps_to_lambda(*taps)
        self._remember(**{"lambda": value})
        self._set_gain_taps(*taps)
        return value

    def set_learning(self, on: bool) -> None:
        """Close (True) or open (False) the learning switch of every edge (a bool only)."""
        self._usable()
        flag = _flag("on", on)
        self._remember(learning=flag)
        self._set_learning(flag)

    def learning_window(self, seconds: float) -> None:
        """Close the learning switch for a timed window of ``seconds`` (10 µs..30 ms,
        timed by the microcontroller). Never repeated after a lost reply."""
        self._usable()
        self._learning_window(_number("seconds", seconds, *WINDOW_RANGE_S, "s"))

    def status(self) -> dict[str, Any]:
        """Learning switch, η, λ, watchdog and fault flags as reported by the controller."""
        self._usable()
        return self._status()

    @abc.abstractmethod
    def _set_gate(self, edge: int, volts: float) -> None:
        """Charge gate ``edge`` (checked) to ``volts`` (V, within gate_range)."""

    @abc.abstractmethod
    def _set_gates(self, volts: np.ndarray) -> None:
        """Charge every gate (V, checked, shape (n_edges,))."""

    @abc.abstractmethod
    def _read_gate(self, edge: int) -> float:
        """Read back one gate (V)."""

    @abc.abstractmethod
    def _read_gates(self) -> np.ndarray:
        """Read back every gate (V)."""

    @abc.abstractmethod
    def _set_eta_tap(self, tap: int) -> None:
        """η potentiometer tap 1..128 (η = tap/129)."""

    @abc.abstractmethod
    def _set_gain_taps(self, tap_free: int, tap_clamped: int) -> None:
        """Free/clamped gain taps (λ = 1 − (G_free/G_clamped)²)."""

    @abc.abstractmethod
    def _set_learning(self, on: bool) -> None:
        """Learning switch of every edge."""

    @abc.abstractmethod
    def _learning_window(self, seconds: float) -> None:
        """Timed learning window (s, checked)."""

    @abc.abstractmethod
    def _status(self) -> dict[str, Any]:
        """The controller's status."""


#: current limits a source-measure unit of either supported family sets (A)
COMPLIANCE_RANGE_A = (1e-9, 1.05)


class PowerMeter(Instrument):
    """A source-measure unit on the source line: sources volts, measures amps.

    ``voltage_max`` (V) is the bench's safe limit on |source voltage| (the set-point may
    be -voltage_max..+voltage_max); the current limit is :data:`COMPLIANCE_RANGE_A`.
    """

    role = "SMU"
    #: the bench's safe limit on |source voltage| (V)
    voltage_max: float = 0.0
    #: last sourced voltage (V)
    voltage: float = 0.0
    #: present current limit (A)
    compliance: float = 0.0
    #: allowed current limits (A), the same for every SMU family
    compliance_range: tuple[float, float] = COMPLIANCE_RANGE_A

    def resync(self) -> None:
        """Drop a late answer after a lost reply (default: nothing to do)."""

    def recover(self, exc: TransientInstrumentError) -> str:
        """Re-synchronise (a late answer must not become the next reply), then ask again."""
        self.resync()
        return "session cleared, asked again"

    def set_voltage(self, volts: float) -> None:
        """Source voltage (V), -voltage_max..voltage_max."""
        self._usable()
        v = _number("volts", volts, -self.voltage_max, self.voltage_max, "V")
        self._set_voltage(v)
        self.voltage = v

    def set_compliance(self, amps: float) -> None:
        """Current limit (A), within :attr:`compliance_range`."""
        self._usable()
        a = _number("amps", amps, *self.compliance_range, "A")
        self._set_compliance(a)
        self.compliance = a

    def set_output(self, on: bool) -> None:
        """Switch the output on or off (a bool only)."""
        self._usable()
        self._set_output(_flag("on", on))

    def measure_current(self) -> float:
        """Current delivered (A)."""
        self._usable()
        return float(self._measure_current())

    def measure_power(self) -> float:
        """Power delivered (W) = sourced voltage × measured current."""
        return self.voltage * self.measure_current()

    @abc.abstractmethod
    def _set_voltage(self, volts: float) -> None:
        """Source set-point (V, checked)."""

    @abc.abstractmethod
    def _set_compliance(self, amps: float) -> None:
        """Current limit (A, checked)."""

    @abc.abstractmethod
    def _set_output(self, on: bool) -> None:
        """Output relay."""

    @abc.abstractmethod
    def _measure_current(self) -> float:
        """One current reading (A), with the implementation's fault recovery."""


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
