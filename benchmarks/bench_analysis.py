"""Analysis speed on a simulated λ-sweep run file.

Usage::

    python benchmarks/bench_analysis.py [--tasks 12] [--duration 10]

Produces one run file on the simulated bench, then times, against a baseline measured in
the same run (plain h5py reading every row dataset of every task once):

1. ``load_summary`` (summary table through the run-file reader),
2. ``fit_calibration`` (KCL least squares + bootstrap), and
3. ``analyze`` (table, fits, all figures as PNG + PDF).

Prints each as a ratio to the baseline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
from protocol_templates import protocol_text, random_tasks

from labctl.analysis import analyze, fit_calibration, load_summary
from labctl.protocol import load_protocol
from labctl.runner.session import RunSession


def _baseline(path: Path) -> None:
    """Read every row dataset of every task with h5py alone."""
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        for group in f["tasks"].values():
            for ds in group.values():
                ds[()]


def _timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    """Run the benchmark and print the ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=12)
    ap.add_argument("--duration", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proto = Path(tmp) / "p.toml"
        proto.write_text(protocol_text("bench_analysis", duration=args.duration,
                                       lam=[0.0, 0.001, 0.004, 0.016], cycle=True,
                                       gate_voltage=3.0, tasks=random_tasks(args.tasks, 1)))
        run = Path(tmp) / "run.h5"
        RunSession(load_protocol(proto), run, clock="fast").run()
        base = _timed(lambda: _baseline(run))
        summary = _timed(lambda: load_summary(run))
        calib = _timed(lambda: fit_calibration(run), repeat=1)
        full = _timed(lambda: analyze(run, Path(tmp) / "out"), repeat=1)
        print(f"run file: {args.tasks} tasks × {args.duration:g} s, "
              f"{run.stat().st_size / 1e6:.1f} MB")
        print(f"baseline (h5py reads every row dataset): {base * 1e3:.1f} ms")
        print(f"load_summary     {summary / base:6.2f} × baseline")
        print(f"fit_calibration  {calib / base:6.2f} × baseline")
        print(f"analyze (figures) {full / base:6.2f} × baseline")


if __name__ == "__main__":
    main()
