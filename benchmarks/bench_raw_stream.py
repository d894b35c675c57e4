"""The raw DAQ stream through the run-file writer (``labctl run --raw``), against the DAQ alone.

Usage::

    python benchmarks/bench_raw_stream.py                  # 30 s of bench time
    python benchmarks/bench_raw_stream.py --seconds 60

One allostery task of continuous learning on the simulated bench (fast clock), 32
channels × 10 kS/s, measured three ways in the same process:

1. the simulated DAQ alone: the same learning-on blocks read and dropped (the baseline);
2. ``RunSession`` without the raw stream (rows only);
3. ``RunSession`` with ``record_raw=True``: every sample through the writer thread into
   ``raw_time``/``raw_samples``.

Prints each as wall time, × real time (bench seconds per wall second) and samples per
second, then reads the raw run back with ``open_run`` and checks it holds every sample
(count, shape, strictly increasing time). The goal is ≥ 20× real time with the raw stream.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from protocol_templates import protocol_text

from labctl.bench import open_bench
from labctl.bench.config import load_bench
from labctl.protocol import load_protocol
from labctl.runner.session import RunSession
from labctl.store import open_run


def daq_alone(seconds: float) -> float:
    """Wall time (s) to read ``seconds`` of learning-on blocks from the simulated DAQ."""
    bench = open_bench(load_bench(), clock="fast")
    try:
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
            done += bench.daq.read_block().n_samples / bench.daq.sample_rate
        return time.perf_counter() - t0
    finally:
        bench.close()


def run(path: Path, out: Path, raw: bool) -> float:
    """Wall time (s) of one run of ``path`` into ``out``."""
    session = RunSession(load_protocol(path), out, clock="fast", record_raw=raw)
    t0 = time.perf_counter()
    result = session.run()
    wall = time.perf_counter() - t0
    if result.status != "completed":
        raise RuntimeError(f"{out.name}: {result.status}: {result.reason}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="bench time, s")
    args = parser.parse_args()
    s = args.seconds
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        proto = tmp / "raw_stream.toml"
        proto.write_text(protocol_text("raw_stream", duration=s, lam=0.0))
        base = daq_alone(s)
        rows_only = run(proto, tmp / "rows.h5", raw=False)
        with_raw = run(proto, tmp / "raw.h5", raw=True)
        rate = load_bench().sample_rate
        print(f"{s:g} s of bench time, 32 channels x {rate:g} S/s, learning on:")
        for label, wall in (("simulated DAQ alone", base), ("run, rows only", rows_only),
                            ("run, rows + raw stream", with_raw)):
            print(f"  {label:24s} {wall:6.2f} s wall = {s / wall:6.1f}x real time "
                  f"({s * rate * 32 / wall / 1e6:6.2f} M samples/s)")
        print(f"  raw stream costs {with_raw / base:.2f}x the DAQ alone, "
              f"{with_raw / rows_only:.2f}x the rows-only run")
        with open_run(tmp / "raw.h5") as r:
            task = r.tasks[0]
            t, samples = task.raw_time, task.raw_samples
            want = round(s * rate)
            ok = (samples.shape == (want, 32) and bool(np.all(np.diff(t) > 0))
                  and bool(np.all(np.isfinite(samples))))
            print(f"  open_run: raw_samples {samples.shape} {samples.dtype}, raw_time "
                  f"{t[0]:.4g}..{t[-1]:.6g} s, {'all' if ok else 'NOT all'} {want} samples "
                  f"per channel; {(tmp / 'raw.h5').stat().st_size / 1e6:.0f} MB file")
        if not ok:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
