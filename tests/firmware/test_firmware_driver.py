"""SerialGateController against the host build and the AVR build under simavr."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from fw_boards import Board, stop_board
from labctl.drivers.serial_gates import SerialGateController

from labctl.bench import gate_encoding as enc
from labctl.bench.interfaces import (
    BenchError,
    GateController,
    InstrumentDisconnectedError,
)

ADC_LSB = 0.008  # V, readback resolution


@pytest.fixture
def ctl(board: Board) -> Iterator[SerialGateController]:
    """A driver connected to a freshly booted board; closed afterwards."""
    c = SerialGateController(board.port, timeout=1.0)
    try:
        yield c
    finally:
        c.close()


def test_driver_connects_to_a_safe_board(ctl: SerialGateController) -> None:
    """Identity names the firmware; the board powers up learning off, η = 0, λ = 0."""
    assert isinstance(ctl, GateController)
    assert ctl.identity().startswith("LABCTL,GATEFW,32CH,1.1.0 on ")
    st = ctl.status()
    assert st["learning"] is False and st["eta_tap"] == 0 and st["lambda"] == 0.0
    assert st["gain_free"] == st["gain_clamped"] == pytest.approx(11.0, rel=1e-3)
    assert st["faults"] == [] and st["watchdog_timeout"] == 1.0


def test_driver_sets_and_verifies_gates(ctl: SerialGateController) -> None:
    """Gates set one by one and all at once read back within the ADC resolution."""
    ctl.set_gate(7, 2.5)
    assert ctl.read_gate(7) == pytest.approx(2.5, abs=ADC_LSB)
    assert ctl.read_gate(8) == pytest.approx(1.5, abs=ADC_LSB)  # untouched, holds 1.5 V
    target = np.linspace(1.2, 5.4, 32)
    ctl.set_gates(target)
    got = ctl.read_gates()
    assert got.shape == (32,)
    np.testing.assert_allclose(got, target, atol=ADC_LSB)
    assert ctl.read_gate(31) == pytest.approx(5.4, abs=ADC_LSB)
    snap = ctl.snapshot()
    np.testing.assert_allclose(snap["gates"], target, atol=ADC_LSB)


def test_driver_quantises_eta_and_lambda(ctl: SerialGateController) -> None:
    """η snaps to n/129 (bench value 28/129); λ to the nearest free-gain tap (≈ 5e-4 steps,
    clamped gain left at its nominal ×11)."""
    assert ctl.set_eta(0.22) == 28 / 129
    assert ctl.status()["eta_tap"] == 28
    lam = ctl.set_lambda(0.03)
    assert abs(lam - 0.03) <= 2.6e-4
    st = ctl.status()
    assert st["lambda"] == lam and st["gain_clamped_tap"] == 128
    assert 1 - (st["gain_free"] / st["gain_clamped"]) ** 2 == pytest.approx(lam, abs=1e-6)
    assert ctl.set_lambda(0.0) == 0.0
    assert ctl.set_lambda(enc.LAMBDA_MAX) == enc.LAMBDA_MAX
    assert ctl.status()["gain_free_tap"] == 0


def test_driver_refuses_bad_values_before_sending(ctl: SerialGateController) -> None:
    """Out-of-range or malformed arguments raise ValueError and put nothing on the line."""
    sent: list[bytes] = []
    original = ctl._link.write_raw
    ctl._link.write_raw = lambda data: (sent.append(data), original(data))[1]  # type: ignore
    bad_calls = [
        lambda: ctl.set_gate(0, 0.99), lambda: ctl.set_gate(0, 5.51),
        lambda: ctl.set_gate(32, 2.0), lambda: ctl.set_gate(-1, 2.0),
        lambda: ctl.set_gate(0, math.nan), lambda: ctl.set_gate(True, 2.0),
        lambda: ctl.set_gates(np.full(31, 2.0)),
        lambda: ctl.set_gates(np.r_[np.full(31, 2.0), 6.0]),
        lambda: ctl.read_gate(32), lambda: ctl.set_eta(0.0), lambda: ctl.set_eta(1.0),
        lambda: ctl.set_eta(math.inf), lambda: ctl.set_lambda(-0.01),
        lambda: ctl.set_lambda(0.995), lambda: ctl.set_lambda(enc.LAMBDA_MAX + 1e-5),
        lambda: ctl.set_lambda(math.nan), lambda: ctl.learning_window(5e-6),
        lambda: ctl.learning_window(0.031), lambda: ctl.set_watchdog(0.01),
        lambda: ctl.set_learning(1),  # type: ignore[arg-type]
    ]
    for call in bad_calls:
        with pytest.raises(ValueError, match=r"must|allowed"):
            call()
    assert sent == []
    assert ctl.read_gate(0) == pytest.approx(1.5, abs=ADC_LSB)  # nothing was changed


def test_driver_learning_switch_and_window(ctl: SerialGateController) -> None:
    """The timed window returns after closing; it is refused while learning is on."""
    t0 = time.perf_counter()
    ctl.learning_window(0.02)
    assert time.perf_counter() - t0 >= 0.02
    ctl.set_learning(True)
    assert ctl.status()["learning"] is True
    with pytest.raises(BenchError, match="ERR 9 busy"):
        ctl.learning_window(100e-6)
    ctl.safe_state()
    st = ctl.status()
    assert st["learning"] is False and st["eta_tap"] == 0 and st["lambda"] == 0.0


def test_driver_watchdog_trips_when_host_is_silent(ctl: SerialGateController) -> None:
    """Learning + host silence longer than the watchdog time → safe state, fault latched."""
    ctl.set_watchdog(0.1)
    ctl.set_eta(0.22)
    ctl.set_learning(True)
    time.sleep(0.4)
    st = ctl.status()
    assert st["learning"] is False and st["eta_tap"] == 0
    assert st["faults"] == ["host_silent"]
    with pytest.raises(BenchError, match="fault latched"):
        ctl.set_learning(True)
    ctl.clear_faults()
    ctl.set_watchdog(5.0)
    ctl.set_learning(True)
    assert ctl.status()["learning"] is True


def test_driver_detects_firmware_reset(ctl: SerialGateController) -> None:
    """A restart (boot banner) is detected and recovered: η is re-applied (recorded)."""
    ctl.set_eta(0.22)
    ctl._link.send("*RST")  # a reset the driver did not ask for
    assert ctl._link.read_line(timeout=2.0).startswith(b"OK*")
    ctl.ping()
    assert [(r.event, r.kind) for r in ctl.fault_log.drain()] == [
        ("fault", "firmware_reset"), ("recovered", "firmware_reset")]
    assert ctl.status()["eta_tap"] == 28
    ctl.set_eta(0.22)
    ctl.reboot()  # a restart asked for is not an error
    assert ctl.status()["eta_tap"] == 0


def test_driver_resyncs_after_garbage(ctl: SerialGateController) -> None:
    """Line noise before a command (binary or printable) costs a retry, not an error."""
    ctl.set_gate(3, 3.0)
    ctl._link.write_raw(b"\x07\x00noise")
    assert ctl.read_gate(3) == pytest.approx(3.0, abs=ADC_LSB)
    ctl._link.write_raw(b"noise")
    ctl.set_gate(3, 3.3)
    ctl._link.write_raw(b"Z" * 300)
    assert ctl.read_gate(3) == pytest.approx(3.3, abs=ADC_LSB)


def test_driver_single_owner_thread(ctl: SerialGateController) -> None:
    """Calls from a thread other than the owner are refused; claim() hands it over."""
    errors: list[BaseException] = []
    results: list[float] = []

    def worker(claim: bool) -> None:
        try:
            if claim:
                ctl.claim()
            results.append(ctl.read_gate(0))
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=worker, args=(False,))
    t.start()
    t.join()
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    t = threading.Thread(target=worker, args=(True,))
    t.start()
    t.join()
    assert results == [pytest.approx(1.5, abs=ADC_LSB)]
    ctl.claim()


def test_driver_close_is_safe_and_idempotent(board: Board) -> None:
    """close() leaves the board safe, can be repeated, and later calls fail clearly."""
    c = SerialGateController(board.port)
    c.set_eta(0.22)
    c.set_watchdog(10.0)
    c.set_learning(True)
    c.close()
    c.close()
    with pytest.raises(BenchError, match="closed"):
        c.status()
    c2 = SerialGateController(board.port)
    try:
        st = c2.status()
        assert st["learning"] is False and st["eta_tap"] == 0
    finally:
        c2.close()


def test_driver_reports_disconnect(board: Board) -> None:
    """The board going away raises InstrumentDisconnectedError."""
    c = SerialGateController(board.port, timeout=0.5, retries=0)
    stop_board(board.proc)
    with pytest.raises(InstrumentDisconnectedError):
        c.ping()
    with pytest.raises(InstrumentDisconnectedError):
        c.close()  # the safe state cannot be reached: said so, port released anyway
    assert not c._link.is_open
    c.close()


def test_driver_cli_command(host_board: Board, capsys: pytest.CaptureFixture[str]) -> None:
    """``labctl gates`` (cmd_gates) prints identity, status, latency and gates; bad port → 1."""
    import argparse

    from labctl.drivers.serial_gates import add_gates_arguments, cmd_gates

    parser = argparse.ArgumentParser()
    add_gates_arguments(parser)
    assert cmd_gates(parser.parse_args(["--port", host_board.port, "--pings", "5",
                                        "--gates", "--safe"])) == 0
    out = capsys.readouterr().out
    assert "LABCTL,GATEFW,32CH" in out and "round trip" in out and "safe state set" in out
    assert "gates (V): 1.500" in out
    assert cmd_gates(parser.parse_args(["--port", "/nonexistent/tty"])) == 1
