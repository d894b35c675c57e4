"""Keithley 2450 driver against a pyvisa-sim model (tests/bench/smu_2450.yaml)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from labctl.drivers.scpi import ScpiProperty
from labctl.drivers.smu import Keithley2450, open_smu
from labctl.drivers.visa_transport import VisaTransport

from labctl.bench.interfaces import (
    BenchError,
    InstrumentDisconnectedError,
    InstrumentFaultError,
    InstrumentOpenError,
    InstrumentTimeoutError,
)

YAML = Path(__file__).resolve().parent / "smu_2450.yaml"
RESOURCE = "USB0::0x05E6::0x2450::04096331::INSTR"
LIB = f"{YAML}@sim"


@pytest.fixture
def smu():
    inst = open_smu(RESOURCE, voltage_max=0.5, compliance=0.01, timeout=0.2, visa_library=LIB)
    yield inst
    inst.close()


def test_identity_and_start_up_state(smu: Keithley2450):
    assert smu.identity().startswith("KEITHLEY INSTRUMENTS,MODEL 2450")
    snap = smu.snapshot()
    assert snap == {"source_function": "VOLT", "source_voltage": 0.0, "current_limit": 0.01,
                    "output_enabled": False, "voltage_max": 0.5}


def test_properties_are_declared_on_the_class():
    assert isinstance(Keithley2450.source_voltage, ScpiProperty)
    assert Keithley2450._scpi_properties == (
        "source_function", "source_voltage", "current_limit", "output_enabled")


def test_source_voltage_round_trip_and_power(smu: Keithley2450):
    smu.set_voltage(0.45)
    smu.set_output(True)
    assert smu.source_voltage == pytest.approx(0.45)
    assert smu.output_enabled is True
    assert smu.measure_current() == pytest.approx(1.2345e-4)
    assert smu.measure_power() == pytest.approx(0.45 * 1.2345e-4)


def test_bench_limit_refused_before_anything_is_sent(smu: Keithley2450):
    with pytest.raises(ValueError, match=r"volts: 0\.6 V; allowed -0\.5\.\.0\.5 V"):
        smu.set_voltage(0.6)
    assert smu.source_voltage == 0.0


def test_declared_limit_refused(smu: Keithley2450):
    with pytest.raises(ValueError, match="current_limit"):
        smu.current_limit = 5.0  # the 2450's own span, declared on its property
    with pytest.raises(ValueError, match=r"amps: 5\.0 A; allowed 1e-09\.\.1\.05 A"):
        smu.set_compliance(5.0)  # the SMU contract, before any SCPI


def test_instrument_refusal_read_from_error_queue(smu: Keithley2450):
    with pytest.raises(BenchError, match=r"refused ':SOUR:VOLT 2\.500000e\+01'.*-100"):
        smu.source_voltage = 25.0  # within the 2450's range, beyond the simulated model's
    assert smu.read_errors() == []  # drained


def test_silent_instrument_is_a_timeout(smu: Keithley2450):
    with pytest.raises(InstrumentTimeoutError, match="no answer"):
        smu.transport.query(":NOT:A:QUERY?")
    assert [e.split(",")[0] for e in smu.read_errors()] == ["-100"]


def test_other_threads_must_marshal(smu: Keithley2450):
    caught: list[BaseException] = []

    def worker() -> None:
        try:
            smu.measure_current()
        except BaseException as exc:
            caught.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert len(caught) == 1 and "owning thread" in str(caught[0])


def test_close_leaves_output_off_and_is_idempotent():
    inst = open_smu(RESOURCE, voltage_max=0.5, visa_library=LIB)
    inst.set_voltage(0.3)
    inst.set_output(True)
    transport = inst.transport
    inst.safe_state()
    assert inst.output_enabled is False and inst.source_voltage == 0.0
    inst.close()
    inst.transport.close()
    with pytest.raises(InstrumentDisconnectedError):
        transport.query("*IDN?")


def test_absent_instrument_is_refused_at_identity():
    # pyvisa-sim answers an unknown resource with an empty line, hardware times out
    with pytest.raises(BenchError, match=r"\*IDN\?"):
        open_smu("USB0::0x1::0x2::3::INSTR", voltage_max=0.5, timeout=0.1, visa_library=LIB)


def test_transport_refuses_bad_timeout():
    with pytest.raises(ValueError, match="timeout"):
        VisaTransport(RESOURCE, timeout=0.0, visa_library=LIB)


class FlakyTransport:
    """The pyvisa-sim transport, but the next ``lost`` answers to ``query`` never come."""

    def __init__(self, inner: VisaTransport, query: str, lost: int) -> None:
        self.inner, self.query_text, self.lost = inner, query, lost
        self.clears = 0

    def query(self, command: str) -> str:
        if command == self.query_text and self.lost > 0:
            self.lost -= 1
            raise InstrumentTimeoutError(f"VISA {RESOURCE}: no answer to {command!r}")
        return self.inner.query(command)

    def write(self, command: str) -> None:
        self.inner.write(command)

    def clear(self) -> None:
        self.clears += 1
        self.inner.clear()

    def close(self) -> None:
        self.inner.close()


def test_a_read_timeout_is_asked_again_after_a_device_clear(smu: Keithley2450):
    flaky = FlakyTransport(smu.transport, ":MEAS:CURR?", lost=2)
    smu.transport = flaky
    assert smu.measure_current() == pytest.approx(1.2345e-4)
    assert flaky.clears == 2
    records = smu.fault_log.drain()
    assert [(r.event, r.instrument, r.kind) for r in records] == [
        ("fault", "SMU", "timeout"), ("fault", "SMU", "timeout"),
        ("recovered", "SMU", "timeout"), ("recovered", "SMU", "timeout")]
    assert "attempt 3/3" in records[-1].message


def test_a_silent_smu_gives_up_with_a_clear_error(smu: Keithley2450):
    smu.transport = FlakyTransport(smu.transport, ":MEAS:CURR?", lost=3)
    with pytest.raises(InstrumentFaultError,
                       match=r"SMU: ':MEAS:CURR\?' failed after 3 attempts \(timeout"):
        smu.measure_current()
    assert smu.measure_current() == pytest.approx(1.2345e-4)  # the fault has cleared


def test_an_smu_missing_at_open_is_named_with_its_address():
    from labctl.bench.factory import _opening

    missing = "USB0::0x05E6::0x2450::99999999::INSTR"
    with pytest.raises(InstrumentOpenError) as info:
        _opening("SMU", missing, lambda: open_smu(missing, voltage_max=0.5, timeout=0.1,
                                                  visa_library=LIB))
    assert str(info.value).startswith(f"cannot open the SMU at {missing}: ")
    assert (info.value.instrument, info.value.address) == ("SMU", missing)


def test_a_driver_used_alone_from_a_notebook_thread():
    """``with Keithley2450(resource) as smu:`` – the caller's thread owns it, the block
    leaves it at 0 V, output off, closed."""
    done: list[object] = []

    def notebook() -> None:
        with Keithley2450(RESOURCE, voltage_max=0.5, visa_library=LIB) as smu:
            smu.set_voltage(0.2)
            smu.set_output(True)
            done.append(smu.measure_power())
        done.append(smu)

    t = threading.Thread(target=notebook)
    t.start()
    t.join(60)
    power, smu = done
    assert power == pytest.approx(0.2 * 1.2345e-4)
    assert smu.closed and smu.voltage == 0.0
