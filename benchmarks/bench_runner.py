"""Run-engine speed: simulated bench -> runner -> HDF5, and the paper's campaign.

Usage::

    python benchmarks/bench_runner.py                 # stream benchmark + a 20-task campaign
    python benchmarks/bench_runner.py --campaign-tasks 150 --campaign-duration 20

1. **Stream**: one task of continuous learning at 32 channels × 10 kS/s on the simulated
   bench (fast clock), through the executor's row builder and the HDF5 writer with the raw
   stream stored. Baseline in the same run: the simulated DAQ alone (the same blocks read
   and dropped). Prints both as × real time and the runner's overhead.
2. **Campaign**: the λ trade-off campaign (random two-source two-target tasks, λ spread
   over 0–0.055, η = 0.22) end to end through `RunSession`, serial and on a local Dask
   cluster (2 workers), as × real time (bench seconds per wall second).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from labctl.bench import open_bench
from labctl.bench.config import load_bench
from labctl.protocol import load_protocol
from labctl.runner.session import RunSession

STREAM = """
name = "stream"
bench = "sim"
eta = 0.22
record_rate = 50.0
[lambda]
mode = "fixed"
value = 0.0
[learning]
mode = "continuous"
duration = {duration}
[init]
gate_voltage = 2.5
[[task]]
kind = "allostery"
name = "corners"
sources = {{ 0 = 0.0, 10 = 0.45 }}
targets = {{ 5 = 0.091, 15 = 0.363 }}
"""

CAMPAIGN = """
name = "campaign"
bench = "sim"
eta = 0.22
record_rate = 10.0
seed = 7
[lambda]
mode = "sweep"
assign = "cycle"
values = {lams}
[learning]
mode = "continuous"
duration = {duration}
[init]
gate_voltage = 2.5
[[task]]
kind = "random_allostery"
name = "task"
count = {count}
seed = 11
source_voltages = [0.0, 0.45]
target_voltages = [[0.091, 0.363], [0.045, 0.408]]
"""


def daq_alone(seconds: float) -> float:
    """Wall time (s) to read ``seconds`` of learning-on blocks from the simulated DAQ."""
    cfg = load_bench()
    bench = open_bench(cfg, clock="fast")
    bench.daq.route_outputs({"source0": 0, "source1": 10, "target0": 5, "target1": 15})
    bench.daq.write_outputs({"source0": 0.0, "source1": 0.45, "target0": 0.091,
                             "target1": 0.363})
    bench.gates.set_eta(0.22)
    bench.daq.start_acquisition()
    bench.gates.set_learning(True)
    bench.daq.read_block()  # warm-up: loads the compiled physics kernels
    t0 = time.perf_counter()
    done = 0.0
    while done < seconds:
        block = bench.daq.read_block()
        done += block.n_samples / bench.daq.sample_rate
    wall = time.perf_counter() - t0
    bench.close()
    return wall


def run_protocol(text: str, tmp: Path, name: str, **kwargs: object) -> tuple[float, float]:
    """(wall s, bench s) of one protocol run end to end."""
    path = tmp / f"{name}.toml"
    path.write_text(text)
    session = RunSession(load_protocol(path), tmp / f"{name}.h5", **kwargs)
    t0 = time.perf_counter()
    result = session.run()
    wall = time.perf_counter() - t0
    if result.status != "completed":
        raise RuntimeError(f"{name}: {result.status}: {result.reason}")
    return wall, session.total_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream-seconds", type=float, default=20.0)
    parser.add_argument("--campaign-tasks", type=int, default=20)
    parser.add_argument("--campaign-duration", type=float, default=20.0)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        s = args.stream_seconds
        base = daq_alone(s)
        wall, _ = run_protocol(STREAM.format(duration=s), tmp, "stream", record_raw=True)
        print(f"stream, {s:g} s of bench time at 32 ch x 10 kS/s, learning on:")
        print(f"  simulated DAQ alone (baseline): {base:6.2f} s wall = {s / base:6.1f}x real time")
        print(f"  DAQ -> runner -> HDF5 (+raw):   {wall:6.2f} s wall = {s / wall:6.1f}x real time"
              f"  (runner+store overhead {wall / base:.2f}x the DAQ alone)")
        n, dur = args.campaign_tasks, args.campaign_duration
        lams = [round(0.055 * i / max(1, n - 1), 6) for i in range(n)]
        text = CAMPAIGN.format(lams=lams, duration=dur, count=n)
        print(f"campaign: {n} tasks x {dur:g} s, lambda 0-0.055, eta 0.22:")
        wall, bench_s = run_protocol(text, tmp, "serial")
        print(f"  serial:        {wall:7.1f} s wall = {bench_s / wall:5.1f}x real time")
        if not args.no_dask:
            wall_d, _ = run_protocol(text, tmp, "dask", parallel=True)
            print(f"  Dask, 2 local workers: {wall_d:7.1f} s wall = {bench_s / wall_d:5.1f}x real"
                  f" time ({wall / wall_d:.2f}x the serial run)")


if __name__ == "__main__":
    main()
