"""One contract per instrument role, checked against every implementation.

Each test below runs on every implementation of its role, simulated and real:

* gate controller: the simulated firmware, the serial driver against the firmware's host
  build, and against the AVR build under simavr (skipped without the AVR toolchain);
* SMU: the simulated SMU, the Keithley 2450 driver and the Keysight B2900 driver, both
  against pyvisa-sim models (tests/bench/smu_2450.yaml, smu_b2900.yaml);
* DAQ: the simulated board and the NI-DAQmx driver against autospec'd nidaqmx classes.

A behaviour that differs between implementations of one role (a limit, an argument check,
the owner-thread rule, the closed state, the status keys) fails here: a new driver or
simulated instrument is added to the parametrisation and must pass the same tests.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labctl.bench import open_bench
from labctl.bench.config import load_bench
from labctl.bench.interfaces import (
    BenchError,
    Daq,
    ForeignThreadError,
    GateController,
    InstrumentDisconnectedError,
    PowerMeter,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SIM = load_bench()
LAB1 = load_bench(ROOT / "labctl" / "resources" / "benches" / "lab1.toml")
VOLTAGE_MAX = SIM.limits.source_voltage_max  # every SMU here gets the sim bench's limit
SMU_MODELS = {
    "keithley": ("labctl.drivers.smu:Keithley2450", HERE / "smu_2450.yaml",
                 "USB0::0x05E6::0x2450::04096331::INSTR"),
    "keysight": ("labctl.drivers.smu_keysight:KeysightB2900", HERE / "smu_b2900.yaml",
                 "USB0::0x0957::0x8B18::MY51140001::INSTR"),
}
NOT_NUMBERS = [math.nan, math.inf, True, "1.0", None]


# ------------------------------------------------------------------ implementations
def _sim_bench() -> Any:
    return open_bench(SIM, clock="fast", seed=1)


def _board(kind: str) -> Iterator[Any]:
    """A booted emulated firmware board (tests/firmware/fw_boards.py)."""
    sys.path.insert(0, str(ROOT / "tests" / "firmware"))
    try:
        import fw_boards
    finally:
        sys.path.pop(0)
    if kind == "host":
        fw_boards.make("host")
        cmd = [str(fw_boards.BUILD / "gatefw-host")]
    else:
        import shutil

        for tool in ("avr-gcc", "pkg-config"):
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} not installed (apt: gcc-avr avr-libc libsimavr-dev)")
        try:
            fw_boards.make("avr", "board")
        except Exception as exc:  # no simavr headers: the AVR build cannot be made
            pytest.skip(f"AVR firmware build unavailable: {exc}")
        cmd = [str(fw_boards.BUILD / "avr-board"), str(fw_boards.BUILD / "gatefw.elf")]
    board = fw_boards.start_board(cmd, kind)
    try:
        yield board
    finally:
        fw_boards.stop_board(board.proc)


@pytest.fixture(params=["sim", "firmware-host", "firmware-avr"])
def gates(request: pytest.FixtureRequest) -> Iterator[GateController]:
    """Every gate-controller implementation, open, owned by this thread."""
    if request.param == "sim":
        bench = _sim_bench()
        yield bench.gates
        bench.close()
        return
    from labctl.drivers.serial_gates import SerialGateController

    for board in _board(request.param.split("-")[1]):
        ctl = SerialGateController(board.port, timeout=2.0)
        try:
            yield ctl
        finally:
            if not ctl.closed:
                ctl.claim()
                ctl.close()


@pytest.fixture(params=["sim", "keithley", "keysight"])
def smu(request: pytest.FixtureRequest) -> Iterator[PowerMeter]:
    """Every SMU implementation, open, limited to ±VOLTAGE_MAX."""
    if request.param == "sim":
        bench = _sim_bench()
        assert bench.power is not None
        yield bench.power
        bench.close()
        return
    from labctl.bench.plugins import resolve

    spec, yaml, resource = SMU_MODELS[request.param]
    inst = resolve(spec)(resource, voltage_max=VOLTAGE_MAX, timeout=0.5,
                         visa_library=f"{yaml}@sim")
    yield inst
    if not inst.closed:
        inst.claim()
        inst.close()


@pytest.fixture(params=["sim", "nidaq-autospec"])
def daq(request: pytest.FixtureRequest) -> Iterator[Daq]:
    """Every DAQ implementation, open."""
    if request.param == "sim":
        bench = _sim_bench()
        yield bench.daq
        bench.close()
        return
    from labctl.drivers.nidaq import NidaqDaq
    from test_bench_nidaq import FakeNi, patched_nidaqmx

    fake = FakeNi()
    with patched_nidaqmx(fake):
        inst = NidaqDaq(LAB1)
        yield inst
        if not inst.closed:
            inst.claim()
            inst.close()


def _in_other_thread(call: Callable[[], Any]) -> BaseException | None:
    """Run ``call`` in a fresh thread; the exception it raised (None if none)."""
    seen: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # reported to the test
            seen.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join(60.0)
    return seen[0] if seen else None


# ------------------------------------------------------------------ gate controllers
def test_gates_refuse_values_outside_the_gate_range_and_non_numbers(gates):
    lo, hi = gates.gate_range
    for bad in (lo - 0.1, hi + 0.1, *NOT_NUMBERS):
        with pytest.raises(ValueError, match="volts"):
            gates.set_gate(0, bad)
    for edge in (-1, gates.n_edges, True, 1.0, "0"):
        with pytest.raises(ValueError, match="edge"):
            gates.set_gate(edge, lo)
    with pytest.raises(ValueError, match="shape"):
        gates.set_gates(np.full(gates.n_edges - 1, lo))
    bad = np.full(gates.n_edges, lo)
    bad[3] = hi + 1.0
    with pytest.raises(ValueError, match=r"volts\[3\]"):
        gates.set_gates(bad)


def test_gates_set_and_read_back(gates):
    lo, hi = gates.gate_range
    want = np.linspace(lo + 0.2, hi - 0.2, gates.n_edges)
    gates.set_gates(want)
    np.testing.assert_allclose(gates.read_gates(), want, atol=0.03)
    gates.set_gate(5, 2.5)
    assert gates.read_gate(5) == pytest.approx(2.5, abs=0.03)


def test_learning_switch_demands_a_bool(gates):
    for bad in (1, 0, "yes", None, 1.0):
        with pytest.raises(ValueError, match="on"):
            gates.set_learning(bad)
    assert gates.status()["learning"] is False
    gates.set_learning(True)
    assert gates.status()["learning"] is True
    gates.set_learning(np.bool_(False))
    assert gates.status()["learning"] is False


def test_eta_and_lambda_quantised_and_bounded_alike(gates):
    eta = gates.set_eta(0.5)
    assert eta == pytest.approx(round(0.5 * 129) / 129)
    for bad in (0.0, 1.0, -0.1, *NOT_NUMBERS):
        with pytest.raises(ValueError, match="eta"):
            gates.set_eta(bad)
    lam = gates.set_lambda(0.03)
    assert lam == pytest.approx(0.03, abs=5e-4)
    for bad in (-0.01, gates.lambda_max + 0.01, *NOT_NUMBERS):
        with pytest.raises(ValueError, match="lam"):
            gates.set_lambda(bad)
    status = gates.status()
    assert status["eta"] == pytest.approx(eta) and status["lambda"] == pytest.approx(lam)


def test_learning_window_bounds(gates):
    for bad in (5e-6, 0.031, 0.5, *NOT_NUMBERS):
        with pytest.raises(ValueError, match="seconds"):
            gates.learning_window(bad)
    gates.learning_window(1e-3)
    assert gates.status()["learning"] is False


def test_gates_safe_state_and_status_keys(gates):
    gates.set_eta(0.5)
    gates.set_learning(True)
    gates.safe_state()
    status = gates.status()
    assert {"learning", "eta", "eta_tap", "lambda"} <= set(status)
    assert status["learning"] is False and status["lambda"] == 0.0 and status["eta_tap"] == 0


def test_gates_refuse_a_foreign_thread_until_handed_over(gates):
    gates.set_learning(False)
    for call in (lambda: gates.set_learning(True), gates.read_gates, gates.status,
                 lambda: gates.set_eta(0.5), gates.safe_state, gates.close):
        assert isinstance(_in_other_thread(call), ForeignThreadError)
    assert gates.status()["learning"] is False  # nothing was sent
    assert not gates.closed
    owner: list[BaseException | None] = []

    def take_over_and_use() -> None:
        gates.claim()
        gates.set_learning(False)

    owner.append(_in_other_thread(take_over_and_use))
    assert owner == [None]
    with pytest.raises(ForeignThreadError):
        gates.status()  # this thread handed it over
    gates.claim()


def test_gates_closed_refuses_and_close_is_idempotent(gates):
    gates.close()
    gates.close()
    assert gates.closed
    for call in (gates.read_gates, gates.status, lambda: gates.set_learning(False)):
        with pytest.raises(InstrumentDisconnectedError):
            call()
    gates.safe_state()  # closing left it safe: nothing to do


# ------------------------------------------------------------------ SMUs
def test_smu_sources_plus_and_minus_voltage_max_and_no_more(smu):
    smu.set_voltage(VOLTAGE_MAX)
    smu.set_voltage(-VOLTAGE_MAX)
    assert smu.voltage == -VOLTAGE_MAX
    for bad in (VOLTAGE_MAX * 1.01, -VOLTAGE_MAX * 1.01, *NOT_NUMBERS):
        with pytest.raises(ValueError, match="volts"):
            smu.set_voltage(bad)
    assert smu.voltage == -VOLTAGE_MAX  # a refusal changes nothing


def test_smu_compliance_from_1_na_to_1_05_a(smu):
    for ok in (1e-9, 1.05, 0.01):
        smu.set_compliance(ok)
        assert smu.compliance == ok
    for bad in (0.9e-9, 1.06, 0.0, -0.01, *NOT_NUMBERS):
        with pytest.raises(ValueError, match="amps"):
            smu.set_compliance(bad)


def test_smu_output_demands_a_bool_and_power_is_v_times_i(smu):
    for bad in (1, 0, "on", None):
        with pytest.raises(ValueError, match="on"):
            smu.set_output(bad)
    smu.set_voltage(0.3)
    smu.set_output(True)
    amps = smu.measure_current()
    assert isinstance(amps, float) and math.isfinite(amps)
    assert abs(amps) <= smu.compliance
    power = smu.measure_power()  # a second reading, times the sourced voltage
    assert math.isfinite(power) and abs(power) <= 0.3 * smu.compliance


def test_smu_identity_names_its_own_model(smu):
    ident = smu.identity()
    assert ident and ("KEITHLEY" in ident.upper()) == ("2450" in ident)
    if type(smu).__name__ == "SimPowerMeter":
        assert "KEITHLEY" not in ident.upper() and "KEYSIGHT" not in ident.upper()


def test_smu_refuses_a_foreign_thread(smu):
    for call in (lambda: smu.set_voltage(0.1), smu.measure_current,
                 lambda: smu.set_output(False), smu.safe_state, smu.close):
        assert isinstance(_in_other_thread(call), ForeignThreadError)
    assert smu.voltage == 0.0 and not smu.closed


def test_smu_close_is_safe_idempotent_and_final(smu):
    smu.set_voltage(0.2)
    smu.set_output(True)
    smu.close()
    smu.close()
    assert smu.voltage == 0.0
    for call in (smu.measure_current, lambda: smu.set_voltage(0.1)):
        with pytest.raises(InstrumentDisconnectedError):
            call()


# ------------------------------------------------------------------ DAQs
def _line(daq: Daq, role: str) -> Any:
    return next(line for line in daq.output_lines if line.role == role)


def test_daq_outputs_within_the_role_limits_only(daq):
    for role in ("source", "target"):
        line = _line(daq, role)
        hi = daq.output_max[role]
        daq.write_outputs({line.name: hi})
        for bad in (hi * 1.01, -0.01, *NOT_NUMBERS):
            with pytest.raises(ValueError, match=line.name):
                daq.write_outputs({line.name: bad})
    with pytest.raises(ValueError, match="unknown line"):
        daq.write_outputs({"nope": 0.0})


def test_daq_routing_checks(daq):
    line = _line(daq, "source")
    daq.route_outputs({line.name: line.nodes[0]})
    for bad in (10_000, True, "3", 1.5):
        with pytest.raises(ValueError, match="cannot reach"):
            daq.route_outputs({line.name: bad})
    with pytest.raises(ValueError, match="unknown line"):
        daq.route_outputs({"nope": 0})


def test_daq_blocks_and_single_readings(daq):
    with pytest.raises(BenchError, match="start_acquisition"):
        daq.read_block()
    with pytest.raises(ValueError, match="timeout"):
        daq.read_block(timeout=0.0)
    daq.start_acquisition()
    block = daq.read_block()
    daq.stop_acquisition()
    assert block.data.shape[1] == len(daq.channels) and block.channels == daq.channels
    assert block.first_index == 0 and block.n_samples >= 1
    assert daq.read_once().shape == (len(daq.channels),)
    with pytest.raises(ValueError, match="seconds"):
        daq.settle(-1.0)


def test_daq_says_whether_its_reader_may_wait(daq):
    """A real board's samples arrive on its own clock (free-running: its reader must never
    wait on anything slower); only the simulator's fast clock waits for its reader."""
    from labctl.bench.simulated import SimDaq

    assert isinstance(daq.free_running, bool)
    expected = daq.clock == "paced" if isinstance(daq, SimDaq) else True
    assert daq.free_running is expected


def test_daq_refuses_a_foreign_thread(daq):
    line = _line(daq, "source")
    for call in (daq.read_once, daq.start_acquisition, lambda: daq.write_outputs({line.name: 0.0}),
                 daq.safe_state, daq.close):
        assert isinstance(_in_other_thread(call), ForeignThreadError)
    assert not daq.closed


def test_daq_close_is_idempotent_and_final(daq):
    daq.close()
    daq.close()
    for call in (daq.read_once, daq.start_acquisition):
        with pytest.raises(InstrumentDisconnectedError):
            call()


# ------------------------------------------------------------------ the suite can fail
#: the contract's public methods: defined once in the interface, never overridden
TEMPLATES = {
    Daq: ("route_outputs", "write_outputs", "start_acquisition", "read_block",
          "stop_acquisition", "read_once", "settle", "safe_state", "close", "snapshot"),
    GateController: ("set_gate", "set_gates", "read_gate", "read_gates", "set_eta",
                     "set_lambda", "set_learning", "learning_window", "status", "safe_state",
                     "close", "snapshot"),
    PowerMeter: ("set_voltage", "set_compliance", "set_output", "measure_current",
                 "measure_power", "safe_state", "close", "snapshot"),
}
IMPLEMENTATIONS = ("labctl.bench.simulated:SimDaq", "labctl.drivers.nidaq:NidaqDaq",
                   "labctl.bench.simulated:SimGateController",
                   "labctl.drivers.serial_gates:SerialGateController",
                   "labctl.bench.simulated:SimPowerMeter", "labctl.drivers.smu:Keithley2450",
                   "labctl.drivers.smu_keysight:KeysightB2900")


@pytest.mark.parametrize("spec", IMPLEMENTATIONS)
def test_no_implementation_overrides_the_contract(spec):
    """Checks and limits live once: an implementation supplies only ``_xxx`` methods."""
    from labctl.bench.plugins import resolve

    _check_templates(resolve(spec))


def test_a_divergent_implementation_fails_the_suite():
    """The old simulated SMU accepted 0..max volts only: the suite's test catches it."""
    from labctl.bench.simulated import SimPowerMeter

    class OldSimSmu(SimPowerMeter):
        def set_voltage(self, volts: float) -> None:
            if not 0.0 <= volts <= self.voltage_max:
                raise ValueError(f"volts: {volts} V beyond the bench limit")
            super().set_voltage(volts)

    bench = _sim_bench()
    try:
        old = OldSimSmu(bench.daq.core)
        with pytest.raises(ValueError):
            test_smu_sources_plus_and_minus_voltage_max_and_no_more(old)
        with pytest.raises(AssertionError, match="re-implements"):
            _check_templates(OldSimSmu)
    finally:
        bench.close()


def _check_templates(cls: type) -> None:
    role = next(r for r in TEMPLATES if issubclass(cls, r))
    overridden = [n for n in TEMPLATES[role] if getattr(cls, n) is not getattr(role, n)]
    assert overridden == [], f"{cls.__name__} re-implements {overridden}"
