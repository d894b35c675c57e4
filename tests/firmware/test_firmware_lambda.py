"""λ is quantised identically by the firmware (LAM / LAM? / GAIN? replies of the host build
and of the AVR build under simavr), by labctl.bench.gate_encoding, by the serial driver and
by the simulated bench."""

from __future__ import annotations

import numpy as np
import pytest
from fw_boards import Board, sync
from labctl.drivers.serial_gates import SerialGateController
from labctl.drivers.serial_transport import SerialLineTransport, unframe

from labctl.bench import gate_encoding as enc
from labctl.bench import open_bench
from labctl.bench.config import load_bench

#: requests: a grid over the range, the campaign's values, both sides of every midpoint
#: between the first taps (259/260 ppm is the first tie), and the ends of the range
_MIDPOINTS = [(enc.taps_to_lambda_ppm(n, 128) + enc.taps_to_lambda_ppm(n - 1, 128)) / 2e6
              for n in (128, 127, 65, 2, 1)]
LAMBDAS = sorted({*np.linspace(0.0, enc.LAMBDA_MAX, 23).round(6).tolist(),
                  0.0, 1e-4, 0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.055,
                  *(m + d for m in _MIDPOINTS for d in (-1e-6, 0.0, 1e-6)),
                  enc.LAMBDA_MAX})


def _ask(link: SerialLineTransport, body: str) -> str:
    link.send(body)
    return unframe(link.read_line())


def test_firmware_quantises_lambda_like_the_python_encoding(board: Board) -> None:
    """LAM ppm picks the same taps as gate_encoding and LAM? reports the same ppm."""
    link = SerialLineTransport(board.port, timeout=2.0)
    try:
        sync(link)
        mismatches = []
        for lam in LAMBDAS:
            ppm = enc.lambda_to_ppm(lam)
            taps = enc.lambda_to_taps(lam)
            got = (_ask(link, f"LAM {ppm}"), _ask(link, "GAIN?"), _ask(link, "LAM?"))
            want = ("OK", f"{taps[0]} {taps[1]}", str(enc.taps_to_lambda_ppm(*taps)))
            if got != want:
                mismatches.append(f"λ = {lam}: firmware {got}, python {want}")
        for tap_free, tap_clamped in [(0, 0), (3, 7), (100, 120), (64, 128), (127, 128)]:
            assert _ask(link, f"GAIN {tap_free} {tap_clamped}") == "OK"
            got_ppm = _ask(link, "LAM?")
            if got_ppm != str(enc.taps_to_lambda_ppm(tap_free, tap_clamped)):
                mismatches.append(f"GAIN {tap_free} {tap_clamped}: LAM? {got_ppm}")
        assert not mismatches, "\n".join(mismatches)
        assert _ask(link, f"LAM {enc.LAMBDA_MAX_PPM + 1}") == "ERR 5 out of range"
    finally:
        link.close()


def test_driver_and_simulated_bench_set_the_firmware_lambda(host_board: Board) -> None:
    """The driver and the simulated bench return, for every request, the λ the firmware
    reports after the driver set it (same taps, same value)."""
    sim = open_bench(load_bench(), clock="fast", seed=0)
    ctl = SerialGateController(host_board.port, timeout=1.0)
    try:
        for lam in LAMBDAS:
            driver_value = ctl.set_lambda(lam)
            st = ctl.status()
            ctl._check_thread()  # the owner-thread rule now lives in the interface
            fw_ppm = int(ctl._query("LAM?"))
            assert driver_value == fw_ppm / 1e6 == st["lambda"], lam
            assert sim.gates.set_lambda(lam) == driver_value, lam
            sim_status = sim.gates.status()
            assert sim_status["gain_taps"] == [st["gain_free_tap"], st["gain_clamped_tap"]]
            assert abs(driver_value - lam) <= 2.6e-4 + 1e-6, lam
    finally:
        ctl.close()
        sim.close()


@pytest.mark.parametrize("lam", [-1e-3, enc.LAMBDA_MAX + 1e-3, 0.3])
def test_both_refuse_lambda_outside_the_trim_range(host_board: Board, lam: float) -> None:
    """A λ the gain trim cannot make is refused (ValueError naming lam) by both benches."""
    sim = open_bench(load_bench(), clock="fast", seed=0)
    ctl = SerialGateController(host_board.port, timeout=1.0)
    try:
        for gates in (ctl, sim.gates):
            with pytest.raises(ValueError, match=r"lam: .*allowed 0 <= λ <= 0\.0652"):
                gates.set_lambda(lam)
        assert ctl.status()["lambda"] == 0.0
    finally:
        ctl.close()
        sim.close()
