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
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


class BenchError(RuntimeError):
    """An instrument failed or refused a command (the message says which and why)."""


class InstrumentTimeoutError(BenchError):
    """An instrument did not answer within its timeout."""


class InstrumentDisconnectedError(BenchError):
    """An instrument went away (cable pulled, USB reset, process gone)."""


class DaqOverflowError(BenchError):
    """The DAQ's input buffer overflowed: samples were lost (NI error -200279)."""


class FirmwareResetError(BenchError):
    """The microcontroller restarted (boot banner or changed identity seen mid-session)."""


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
    """Common face of every instrument."""

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

    @abc.abstractmethod
    def read_block(self, timeout: float = 2.0) -> SampleBlock:
        """Return the next block of samples (about 0.1 s worth), waiting up to ``timeout`` s.

        Raises :class:`DaqOverflowError` if samples were lost, :class:`InstrumentTimeoutError`
        if no block arrived in time.
        """

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
