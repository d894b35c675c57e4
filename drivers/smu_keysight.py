"""Keysight B2900-series source-measure units (B2901A/B2911A, channel 1): their SCPI dialect.

The second SMU family, added as a plug-in: it only declares how a B2900 spells the
commands the shared SCPI driver (:class:`labctl.drivers.smu.ScpiSmu`) sends; limits, checks,
fault recovery and the owner-thread rule are the interface's and the shared driver's.

Dialect: channel-suffixed subsystems (``:SOUR1:FUNC:MODE VOLT``, ``:SOUR1:VOLT``), the
current compliance in the sense subsystem (``:SENS1:CURR:PROT``), ``:OUTP1`` for the output
relay and a channel list on the measurement (``:MEAS:CURR? (@1)``).

In a bench file::

    [smu]
    driver = "labctl.drivers.smu_keysight:KeysightB2900"
    resource = "USB0::0x0957::0x8B18::MY51140001::INSTR"

From a notebook: ``with KeysightB2900(resource, voltage_max=0.5) as smu: ...`` (the caller's
thread owns it; the block leaves it at 0 V, output off).
"""

from __future__ import annotations

from labctl.drivers.scpi import ScpiProperty, scpi_bool
from labctl.drivers.smu import ScpiSmu

#: voltage span of the B2901A/B2911A (V) and its DC current-limit span (A)
B2900_VOLTAGE_RANGE = (-210.0, 210.0)
B2900_CURRENT_LIMIT_RANGE = (1e-9, 1.515)


class KeysightB2900(ScpiSmu):
    """Keysight B2900-series SMU, channel 1, sourcing volts and measuring amps."""

    source_function = ScpiProperty(":SOUR1:FUNC:MODE?", ":SOUR1:FUNC:MODE {}", str,
                                   choices=("VOLT", "CURR"), doc="sourced quantity")
    source_voltage = ScpiProperty(":SOUR1:VOLT?", ":SOUR1:VOLT {:.6e}", float,
                                  limits=B2900_VOLTAGE_RANGE, doc="source set-point, V")
    current_limit = ScpiProperty(":SENS1:CURR:PROT?", ":SENS1:CURR:PROT {:.6e}", float,
                                 limits=B2900_CURRENT_LIMIT_RANGE,
                                 doc="current compliance, A")
    output_enabled = ScpiProperty(":OUTP1?", ":OUTP1 {:d}", scpi_bool,
                                  doc="output relay on")
    setup_commands = (':SENS1:FUNC "CURR"',)
    measure_query = ":MEAS:CURR? (@1)"
    model_marker = "B29"
    hw_voltage_range = B2900_VOLTAGE_RANGE
