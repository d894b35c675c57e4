"""Keithley 2450-class source-measure unit on the source line (SCPI over pyvisa).

The SMU sources the source-line voltage (V) and measures the current (A) the network
draws from it, so the run engine can compute the inference power P = V·I (W).

Layers: :class:`~labctl.drivers.visa_transport.VisaTransport` moves text;
:class:`~labctl.drivers.scpi.ScpiProperty` declares the settings; :class:`Keithley2450`
adds the bench's safe limit and the :class:`~labctl.bench.interfaces.PowerMeter` face.

Faults: every SCPI exchange runs through the interface's shared retry loop
(:func:`labctl.bench.interfaces.retry_transient`): a query or command that times out is
repeated after a device clear (so a late answer cannot become the next reply), at most
``attempts`` times, then :class:`~labctl.bench.interfaces.InstrumentFaultError`. Every
SCPI message the driver sends is idempotent (settings and readings).

Threading: one owning thread (the one that opened the transport) makes every call; other
threads marshal requests to it (see :class:`labctl.runner.control.RunControl`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from labctl.drivers.scpi import ScpiInstrument, ScpiProperty, Transport, scpi_bool

from labctl.bench.interfaces import BenchError, PowerMeter

T = TypeVar("T")

#: voltage and current-limit spans of the 2450 itself
HW_VOLTAGE_RANGE = (-210.0, 210.0)
HW_CURRENT_LIMIT_RANGE = (1e-9, 1.05)


class Keithley2450(ScpiInstrument, PowerMeter):
    """Keithley 2450 (or SCPI-compatible SMU) sourcing volts and measuring amps.

    ``voltage_max`` (V) is the bench's safe limit on |source voltage|; ``compliance`` (A)
    the current limit set at start-up.
    """

    source_function = ScpiProperty(":SOUR:FUNC?", ":SOUR:FUNC {}", str,
                                   choices=("VOLT", "CURR"), doc="sourced quantity")
    source_voltage = ScpiProperty(":SOUR:VOLT?", ":SOUR:VOLT {:.6e}", float,
                                  limits=HW_VOLTAGE_RANGE, doc="source set-point, V")
    current_limit = ScpiProperty(":SOUR:VOLT:ILIM?", ":SOUR:VOLT:ILIM {:.6e}", float,
                                 limits=HW_CURRENT_LIMIT_RANGE, doc="current compliance, A")
    output_enabled = ScpiProperty(":OUTP?", ":OUTP {:d}", scpi_bool, doc="output relay on")

    def __init__(self, transport: Transport, *, voltage_max: float,
                 compliance: float = 0.01) -> None:
        if not 0 < voltage_max <= HW_VOLTAGE_RANGE[1]:
            raise ValueError(f"voltage_max: {voltage_max} V; allowed (0, {HW_VOLTAGE_RANGE[1]}]")
        super().__init__(transport)
        self.voltage_max = float(voltage_max)
        self.voltage = 0.0
        self._identity = self.ask("*IDN?")
        if not self._identity:
            raise BenchError("SMU: empty answer to *IDN?")
        self.read_errors()  # start from an empty error queue
        self.output_enabled = False
        self.source_function = "VOLT"
        self.command(':SENS:FUNC "CURR"')
        self.source_voltage = 0.0
        self.set_compliance(compliance)

    def exchange(self, what: str, action: Callable[[], T]) -> T:
        """One SCPI exchange with bounded recovery (module docstring)."""
        return self._retrying(repr(what), action)

    def resync(self) -> None:
        """Device clear: drop a late answer to a query that timed out."""
        clear = getattr(self.transport, "clear", None)
        if clear is not None:
            clear()

    def identity(self) -> str:
        """The instrument's *IDN? answer (maker, model, serial, firmware)."""
        return self._identity

    def snapshot(self) -> dict[str, Any]:
        """Declared settings plus the bench limit (V)."""
        return {**self.settings(), "voltage_max": self.voltage_max}

    def set_voltage(self, volts: float) -> None:
        """Source ``volts`` (V); refuses |volts| above the bench's ``voltage_max``."""
        if not abs(volts) <= self.voltage_max:
            raise ValueError(f"volts: {volts} V beyond the bench limit; allowed "
                             f"-{self.voltage_max:g}..{self.voltage_max:g} V")
        self.source_voltage = float(volts)
        self.voltage = float(volts)

    def set_compliance(self, amps: float) -> None:
        """Current limit (A)."""
        self.current_limit = float(amps)

    def set_output(self, on: bool) -> None:
        """Switch the output relay on or off."""
        self.output_enabled = bool(on)

    def measure_current(self) -> float:
        """One current reading (A)."""
        answer = self.ask(":MEAS:CURR?")
        try:
            return float(answer.split(",")[0])
        except ValueError as exc:
            raise BenchError(f"SMU: cannot parse current reading {answer!r}") from exc

    def safe_state(self) -> None:
        """0 V, output off."""
        self.source_voltage = 0.0
        self.voltage = 0.0
        self.output_enabled = False

    def close(self) -> None:
        """Safe state, then release the VISA session (idempotent)."""
        try:
            self.safe_state()
        finally:
            self.transport.close()


def open_smu(resource: str, *, voltage_max: float, compliance: float = 0.01,
             timeout: float = 2.0, visa_library: str = "") -> Keithley2450:
    """Open the SMU at VISA ``resource`` (``visa_library="x.yaml@sim"`` for pyvisa-sim)."""
    from labctl.drivers.visa_transport import VisaTransport

    transport = VisaTransport(resource, timeout=timeout, visa_library=visa_library)
    try:
        return Keithley2450(transport, voltage_max=voltage_max, compliance=compliance)
    except BaseException:
        transport.close()
        raise
