"""Benchmark of the gate-controller serial link: round-trip latency (median, p95) and
commands per second over the host build and the AVR build under simavr, and the time to
set and verify all 32 gates. Ratios are against a baseline measured in the same run: a
pyserial round trip through a pseudo-terminal to a Python echo thread (no firmware).

    python benchmarks/bench_firmware_serial.py [--n 500] [--skip-avr]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import threading
import time
import tty
from pathlib import Path

import numpy as np
import serial
from labctl.drivers.serial_gates import SerialGateController

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"


def echo_baseline(n: int) -> np.ndarray:
    """Round-trip times (s) of one short line through a pty to an echo thread."""
    master, slave = os.openpty()
    tty.setraw(slave)

    def echo() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            os.write(master, data)

    threading.Thread(target=echo, daemon=True).start()
    port = serial.Serial(os.ttyname(slave), 115200, timeout=1.0)
    times = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        port.write(b"PING*10\n")
        port.readline()
        times[i] = time.perf_counter() - t0
    port.close()
    os.close(slave)
    os.close(master)
    return times


def start(cmd: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start an emulator; return it and its serial device."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.match(r"PTY (\S+)", line)
        if m:
            return proc, m.group(1)
    raise RuntimeError(f"{cmd[0]} printed no PTY line")


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop an emulator started by start()."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)


def bench_board(name: str, cmd: list[str], n: int, baseline_median: float) -> None:
    """Latency, throughput and gate set/verify time on one emulated board; prints them."""
    proc, port = start(cmd)
    try:
        ctl = SerialGateController(port, timeout=1.0)
        rtt = np.array([ctl.ping() for _ in range(n)])
        t0 = time.perf_counter()
        for _ in range(n):
            ctl.read_gate(5)
        read_rate = n / (time.perf_counter() - t0)
        target = np.linspace(1.2, 5.4, 32)
        t0 = time.perf_counter()
        ctl.set_gates(target)
        got = ctl.read_gates()
        t_all = time.perf_counter() - t0
        t0 = time.perf_counter()
        for edge, volts in enumerate(target[::-1]):
            ctl.set_gate(edge, float(volts))
        t_single = time.perf_counter() - t0
        err = float(np.max(np.abs(got - target)))
        ctl.close()
    finally:
        stop(proc)
    med, p95 = float(np.median(rtt)), float(np.percentile(rtt, 95))
    print(f"[{name}] PING round trip: median {med * 1e3:.3f} ms "
          f"({med / baseline_median:.1f}x baseline), p95 {p95 * 1e3:.3f} ms")
    print(f"[{name}] commands/s: PING {1 / np.mean(rtt):.0f}, GATE? {read_rate:.0f}")
    print(f"[{name}] GATES (32 gates, charge + readback verify) + GATES?: {t_all:.3f} s "
          f"(max |error| {err * 1e3:.1f} mV); 32 x GATE: {t_single:.3f} s "
          f"({t_single / t_all:.2f}x the single command)")


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="round trips per measurement")
    parser.add_argument("--skip-avr", action="store_true", help="host build only")
    args = parser.parse_args()
    targets = ["host"] if args.skip_avr else ["host", "avr", "board"]
    subprocess.run(["make", "-s", "-C", str(FIRMWARE), *targets], check=True,
                   stdout=subprocess.DEVNULL)
    base = echo_baseline(args.n)
    base_med = float(np.median(base))
    print(f"[baseline] pty echo round trip: median {base_med * 1e3:.3f} ms, "
          f"p95 {np.percentile(base, 95) * 1e3:.3f} ms")
    bench_board("host", [str(FIRMWARE / "build" / "gatefw-host")], args.n, base_med)
    if not args.skip_avr:
        bench_board("avr/simavr", [str(FIRMWARE / "build" / "avr-board"),
                                   str(FIRMWARE / "build" / "gatefw.elf")],
                    max(args.n // 2, 50), base_med)


if __name__ == "__main__":
    main()
