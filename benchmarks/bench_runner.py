"""Run-engine speed: simulated bench -> runner -> HDF5, and the paper's campaign.

Usage::

    python benchmarks/bench_runner.py                 # stream benchmark + 40-task scale-out
    python benchmarks/bench_runner.py --campaign-tasks 150 --campaign-duration 20
    python benchmarks/bench_runner.py --no-stream --campaign-tasks 150 --repeat 5

1. **Stream**: one task of continuous learning at 32 channels × 10 kS/s on the simulated
   bench (fast clock), through the executor's row builder and the HDF5 writer with the raw
   stream stored. Baseline in the same run: the simulated DAQ alone (the same blocks read
   and dropped). Prints both as × real time and the runner's overhead.
2. **Campaign**: the λ trade-off campaign (random two-source two-target tasks, λ spread
   over 0–0.055, η = 0.22) end to end through ``labctl run`` (a subprocess each),
   serially (the baseline, measured in the same run) and with ``--parallel --workers N``
   for N = 1 .. the CPUs this process may use, as throughput (bench seconds per wall
   second, from the first task to the end) and its ratio to the serial run, against the
   goal of 0.8 × N (issue 16, point 2). Every parallel run is bracketed by serial runs
   (serial, 1 worker, serial, 2 workers, serial, …) and compared with the mean of the two
   around it, and every parallel file is checked to hold the serial file's rows.
   ``--repeat R`` goes R times over the worker counts and prints the median ratios. Cluster
   start-up is not in the timed span; the load average is
   printed, since other jobs on the machine slow parallel runs most.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench_raw_stream import daq_alone
from protocol_templates import campaign_protocol, protocol_text

from labctl.protocol import load_protocol
from labctl.runner.session import RunSession


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


def identical_rows(a: Path, b: Path) -> bool:
    """True if the run files ``a`` and ``b`` hold the same tasks with bit-identical rows."""
    import numpy as np

    from labctl.store import layout as lay
    from labctl.store.reader import open_run

    with open_run(a) as ra, open_run(b) as rb:
        if len(ra.tasks) != len(rb.tasks):
            return False
        for ta, tb in zip(ra.tasks, rb.tasks):
            if ta.status != tb.status or ta.n_rows != tb.n_rows:
                return False
            for name in lay.TASK_FIELDS:
                if not np.array_equal(ta[name], tb[name], equal_nan=True):
                    return False
    return True


def scale_out(n: int, dur: float, tmp: Path, max_workers: int, repeat: int = 1) -> None:
    """Serial ``labctl run`` against ``--parallel --workers N``: throughput ratios. Every
    parallel run is bracketed by serial runs (serial, 1 worker, serial, 2 workers, serial,
    …, ``repeat`` times over the worker counts) and compared with the mean throughput of
    the serial runs just before and just after it, so a machine whose speed drifts hits
    the baseline alike; with ``repeat`` > 1 the median ratios are printed too."""
    import statistics

    from bench_physics_campaign import labctl_run

    path = tmp / "scale.toml"
    path.write_text(campaign_protocol(n, dur))
    warm = tmp / "warm.toml"
    warm.write_text(campaign_protocol(1, 0.5))
    labctl_run(warm, tmp / "warm.h5")  # numba's cache, for every later process
    bench_s = n * dur
    print(f"scale-out: {n} tasks x {dur:g} s through labctl run, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:")
    ratios: dict[int, list[float]] = {w: [] for w in range(1, max_workers + 1)}
    runs = 0

    def serial() -> tuple[float, Path]:
        nonlocal runs
        runs += 1
        out = tmp / f"scale-serial{runs}.h5"
        serial_s, _ = labctl_run(path, out)
        print(f"  serial (baseline):     {serial_s:7.1f} s = {bench_s / serial_s:6.1f} bench s "
              "per wall s")
        return bench_s / serial_s, out

    before, serial_out = serial()
    for turn in range(repeat):
        for workers in ratios:
            out = tmp / f"scale-par{workers}-{turn}.h5"
            run_s, _ = labctl_run(path, out, "--parallel", "--workers", str(workers))
            rate = bench_s / run_s
            same = identical_rows(out, serial_out)
            after, serial_out = serial()
            base = 0.5 * (before + after)
            ratios[workers].append(rate / base)
            print(f"  --parallel, {workers} worker(s): {run_s:7.1f} s = {rate:6.1f} bench s per "
                  f"wall s = {rate / base:.2f}x the serial runs around it (goal >= "
                  f"{0.8 * workers:.1f}x); rows identical to serial: {same}")
            before = after
    if repeat > 1:
        for workers, values in ratios.items():
            print(f"  {workers} worker(s), median of {repeat}: "
                  f"{statistics.median(values):.2f}x serial (range {min(values):.2f}-"
                  f"{max(values):.2f}; goal >= {0.8 * workers:.1f}x)")
    print(f"  load average after: {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream-seconds", type=float, default=20.0)
    parser.add_argument("--campaign-tasks", type=int, default=40)
    parser.add_argument("--campaign-duration", type=float, default=20.0)
    parser.add_argument("--max-workers", type=int, default=None,
                        help="largest N of --workers N (default: the CPUs available)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="serial and parallel runs take turns this many times")
    parser.add_argument("--no-stream", action="store_true")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        s = args.stream_seconds
        if not args.no_stream:
            base = daq_alone(s)
            wall, _ = run_protocol(protocol_text("stream", duration=s, lam=0.0), tmp, "stream",
                                   record_raw=True)
            print(f"stream, {s:g} s of bench time at 32 ch x 10 kS/s, learning on:")
            print(f"  simulated DAQ alone (baseline): {base:6.2f} s wall = {s / base:6.1f}x "
                  "real time")
            print(f"  DAQ -> runner -> HDF5 (+raw):   {wall:6.2f} s wall = {s / wall:6.1f}x "
                  f"real time  (runner+store overhead {wall / base:.2f}x the DAQ alone)")
        if not args.no_dask:
            from labctl.runner.parallel import local_workers

            scale_out(args.campaign_tasks, args.campaign_duration, tmp,
                      args.max_workers or local_workers(None), args.repeat)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
