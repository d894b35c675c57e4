"""SCPI source-measure units on the source line (pyvisa): the shared driver and the
Keithley 2400/2450 dialect.

The SMU sources the source-line voltage (V) and measures the current (A) the network
draws from it, so the run engine records the measured supply power P = V·I (W).

Layers: :class:`~labctl.drivers.visa_transport.VisaTransport` moves text;
:class:`~labctl.drivers.scpi.ScpiProperty` declares a family's settings (its SCPI
dialect); :class:`ScpiSmu` is the transport-only part every SCPI family shares;
:class:`labctl.bench.interfaces.PowerMeter` holds the contract (limits ±voltage_max,
compliance 1 nA..1.05 A, bool output switch, owner thread), checked before any SCPI is
sent. A second family (``drivers/smu_keysight.py``) only spells the commands differently.

Faults: every SCPI exchange runs through the interface's shared retry loop
(:func:`labctl.bench.interfaces.retry_transient`): a query or command that times out is
repeated after a device clear (so a late answer cannot become the next reply), at most
``attempts`` times, then :class:`~labctl.bench.interfaces.InstrumentFaultError`. Every
SCPI message the driver sends is idempotent (settings and readings).

Ownership: the thread that opened the SMU owns it; others get
:class:`~labctl.bench.interfaces.ForeignThreadError`. From a notebook::

    with Keithley2450("USB0::0x05E6::0x2450::04096331::INSTR", voltage_max=0.5) as smu:
        smu.set_voltage(0.3); smu.set_output(True); print(smu.measure_power())

(the ``with`` block makes the calling thread the owner and leaves the SMU at 0 V, output
off). In a bench file: ``[smu] driver = "labctl.drivers.smu:Keithley2450"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from labctl.drivers.scpi import ScpiInstrument, ScpiProperty, Transport, scpi_bool

from labctl.bench.interfaces import BenchError, PowerMeter
from labctl.bench.plugins import SMU_FIELDS

T = TypeVar("T")

#: voltage and current-limit spans of the 2450 itself
HW_VOLTAGE_RANGE = (-210.0, 210.0)
HW_CURRENT_LIMIT_RANGE = (1e-9, 1.05)



class ScpiSmu(ScpiInstrument, PowerMeter):
    """An SCPI SMU sourcing volts and measuring amps; a subclass declares its dialect:
    the ScpiProperties ``source_function``, ``source_voltage``, ``current_limit``,
    ``output_enabled``, plus :attr:`measure_query` and :attr:`setup_commands`.

    ``resource`` is a VISA resource string (opened here, owned by the caller) or an open
    :class:`Transport`; ``voltage_max`` (V) is the bench's safe limit on |source voltage|;
    ``compliance`` (A) the current limit set at start-up.
    """

    #: query answering one current reading (A; the first comma-separated field)
    measure_query: ClassVar[str] = ":MEAS:CURR?"
    #: commands sent once after *IDN? (measurement function and the like)
    setup_commands: ClassVar[tuple[str, ...]] = ()
    #: what a *IDN? answer of this family contains (checked at open)
    model_marker: ClassVar[str] = ""
    #: hardware voltage span of the family (V)
    hw_voltage_range: ClassVar[tuple[float, float]] = HW_VOLTAGE_RANGE
    config_role = "smu"
    config_fields = SMU_FIELDS  # resource, compliance, timeout, visa_library

    source_function: Any
    source_voltage: Any
    current_limit: Any
    output_enabled: Any

    def __init__(self, resource: str | Transport, *, voltage_max: float,
                 compliance: float = 0.01, timeout: float = 2.0,
                 visa_library: str = "") -> None:
        if not 0 < voltage_max <= self.hw_voltage_range[1]:
            raise ValueError(f"voltage_max: {voltage_max} V; allowed "
                             f"(0, {self.hw_voltage_range[1]:g}] V")
        if isinstance(resource, str):
            from labctl.drivers.visa_transport import VisaTransport

            transport: Transport = VisaTransport(resource, timeout=timeout,
                                                 visa_library=visa_library)
        else:
            transport = resource
        super().__init__(transport)
        try:
            self.voltage_max = float(voltage_max)
            self.voltage = 0.0
            self._idn = self.ask("*IDN?")
            if not self._idn:
                raise BenchError("SMU: empty answer to *IDN?")
            if self.model_marker and self.model_marker not in self._idn.upper():
                raise BenchError(f"SMU: *IDN? answered {self._idn!r}, not a "
                                 f"{type(self).__name__} ({self.model_marker})")
            self.read_errors()  # start from an empty error queue
            self.output_enabled = False
            self.source_function = "VOLT"
            for command in self.setup_commands:
                self.command(command)
            self.source_voltage = 0.0
            self.set_compliance(compliance)
        except BaseException:
            transport.close()
            raise

    @classmethod
    def from_config(cls, context: Any, options: Mapping[str, Any]) -> ScpiSmu:
        """Open the SMU a bench file's [smu] section describes (its checked ``options``);
        the bench's source_voltage_max is its voltage limit."""
        return cls(options["resource"],
                   voltage_max=context.config.limits.source_voltage_max,
                   compliance=options["compliance"], timeout=options["timeout"],
                   visa_library=options["visa_library"])

    def exchange(self, what: str, action: Callable[[], T]) -> T:
        """One SCPI exchange with bounded recovery (module docstring)."""
        return self._retrying(repr(what), action)

    def resync(self) -> None:
        """Device clear: drop a late answer to a query that timed out."""
        clear = getattr(self.transport, "clear", None)
        if clear is not None:
            clear()

    def _identity_line(self) -> str:
        """The instrument's *IDN? answer (maker, model, serial, firmware)."""
        return self._idn

    def _snapshot(self) -> dict[str, Any]:
        """Declared settings plus the bench limit (V)."""
        return {**self.settings(), "voltage_max": self.voltage_max}

    def _set_voltage(self, volts: float) -> None:
        self.source_voltage = volts

    def _set_compliance(self, amps: float) -> None:
        self.current_limit = amps

    def _set_output(self, on: bool) -> None:
        self.output_enabled = on

    def _measure_current(self) -> float:
        answer = self.ask(self.measure_query)
        try:
            return float(answer.split(",")[0])
        except ValueError as exc:
            raise BenchError(f"SMU: cannot parse current reading {answer!r}") from exc

    def _safe_state(self) -> None:
        """0 V, output off."""
        self.source_voltage = 0.0
        self.voltage = 0.0
        self.output_enabled = False

    def _close(self) -> None:
        """Safe state, then release the VISA session."""
        try:
            self._safe_state()
        finally:
            self.transport.close()


class Keithley2450(ScpiSmu):
    """Keithley 2450 (2400-series SCPI dialect) sourcing volts and measuring amps."""

    source_function = ScpiProperty(":SOUR:FUNC?", ":SOUR:FUNC {}", str,
                                   choices=("VOLT", "CURR"), doc="sourced quantity")
    source_voltage = ScpiProperty(":SOUR:VOLT?", ":SOUR:VOLT {:.6e}", float,
                                  limits=HW_VOLTAGE_RANGE, doc="source set-point, V")
    current_limit = ScpiProperty(":SOUR:VOLT:ILIM?", ":SOUR:VOLT:ILIM {:.6e}", float,
                                 limits=HW_CURRENT_LIMIT_RANGE, doc="current compliance, A")
    output_enabled = ScpiProperty(":OUTP?", ":OUTP {:d}", scpi_bool, doc="output relay on")
    setup_commands = (':SENS:FUNC "CURR"',)
    measure_query = ":MEAS:CURR?"


def open_smu(resource: str, *, voltage_max: float, compliance: float = 0.01,
             timeout: float = 2.0, visa_library: str = "") -> Keithley2450:
    """Open the Keithley SMU at VISA ``resource`` (``visa_library="x.yaml@sim"`` for
    pyvisa-sim)."""
    return Keithley2450(resource, voltage_max=voltage_max, compliance=compliance,
                        timeout=timeout, visa_library=visa_library)
