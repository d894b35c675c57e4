"""Benchmark: run-file writing at the bench's full rate.

Simulated load per 0.1 s of experiment: a raw DAQ block of 1000 samples × 32 channels
(10 kS/s) and 5 task rows (50 Hz) with 32 gate voltages, 32 conductances and 2 × 16 node
voltages. The producer pushes ``--seconds`` of experiment as fast as it can through
:class:`labctl.store.RunWriter`; the figure is experiment seconds per wall second
(× real time, goal ≥ 20). Baseline measured in the same run: the same blocks appended
with plain h5py (no thread, no SWMR, one flush at the end).

    python benchmarks/bench_store_write.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np

from labctl.network import periodic_lattice
from labctl.store import RunWriter

RATE = 10_000
CHANNELS = 32
ROW_RATE = 50
BLOCK_S = 0.1


def make_blocks(n: int) -> tuple[list, list]:
    """Pre-generated raw blocks and task-row blocks (so generation is not timed)."""
    rng = np.random.default_rng(0)
    per = int(RATE * BLOCK_S)
    rows_per = int(ROW_RATE * BLOCK_S)
    raw = [(k * BLOCK_S + np.arange(per) / RATE,
            rng.random((per, CHANNELS)).astype(np.float32)) for k in range(min(n, 20))]
    rows = []
    for k in range(min(n, 20)):
        t = k * BLOCK_S + np.arange(rows_per) / ROW_RATE
        rows.append({"time": t, "error": rng.random(rows_per),
                     "error_normalized": rng.random(rows_per),
                     "power_free": rng.random(rows_per), "power_clamped": rng.random(rows_per),
                     "energy": rng.random(rows_per), "lambda": rng.random(rows_per),
                     "eta": rng.random(rows_per), "gate_voltage": rng.random((rows_per, 32)),
                     "conductance": rng.random((rows_per, 32)),
                     "v_free": rng.random((rows_per, 16)),
                     "v_clamped": rng.random((rows_per, 16))})
    return raw, rows


def run_writer(path: Path, n_blocks: int, raw: list, rows: list) -> tuple[float, float]:
    """Wall time of the whole write (incl. close) and the producer's worst call (s)."""
    tasks = [SimpleNamespace(index=0, name="bench", params={})]
    t0 = time.perf_counter()
    w = RunWriter(path, tasks, periodic_lattice(4, 4),
                  raw_channels=[f"ai{i}" for i in range(CHANNELS)])
    w.begin_task(0)
    worst = 0.0
    for k in range(n_blocks):
        c0 = time.perf_counter()
        w.append_raw(0, *raw[k % len(raw)])
        w.append(0, rows[k % len(rows)])
        worst = max(worst, time.perf_counter() - c0)
    w.end_task(0)
    w.close()
    return time.perf_counter() - t0, worst


def run_plain(path: Path, n_blocks: int, raw: list, rows: list) -> float:
    """Wall time of the same appends with plain h5py in the calling thread."""
    t0 = time.perf_counter()
    with h5py.File(path, "w") as f:
        dsets = {}
        for name, arr in rows[0].items():
            dsets[name] = f.create_dataset(name, shape=(0, *arr.shape[1:]),
                                           maxshape=(None, *arr.shape[1:]), dtype="f8",
                                           chunks=(512, *arr.shape[1:]))
        rt = f.create_dataset("raw_time", shape=(0,), maxshape=(None,), dtype="f8",
                              chunks=(8192,))
        rs = f.create_dataset("raw_samples", shape=(0, CHANNELS), maxshape=(None, CHANNELS),
                              dtype="f4", chunks=(8192, CHANNELS))
        for k in range(n_blocks):
            t, s = raw[k % len(raw)]
            n0 = rt.shape[0]
            rt.resize(n0 + len(t), axis=0)
            rt[n0:] = t
            rs.resize(n0 + len(t), axis=0)
            rs[n0:] = s
            block = rows[k % len(rows)]
            m0 = dsets["time"].shape[0]
            for name, arr in block.items():
                dsets[name].resize(m0 + len(arr), axis=0)
                dsets[name][m0:] = arr
    return time.perf_counter() - t0


def main() -> None:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="experiment seconds to write (default 60)")
    args = parser.parse_args()
    n_blocks = int(args.seconds / BLOCK_S)
    raw, rows = make_blocks(n_blocks)
    samples = n_blocks * int(RATE * BLOCK_S)
    with tempfile.TemporaryDirectory() as tmp:
        plain = run_plain(Path(tmp) / "plain.h5", n_blocks, raw, rows)
        wall, worst = run_writer(Path(tmp) / "run.h5", n_blocks, raw, rows)
        size = (Path(tmp) / "run.h5").stat().st_size
    print(f"experiment written: {args.seconds:.0f} s = {samples} raw samples × {CHANNELS} ch "
          f"+ {n_blocks * int(ROW_RATE * BLOCK_S)} task rows ({size / 2**20:.0f} MiB)")
    print(f"RunWriter (thread, SWMR): {wall:.2f} s wall -> {args.seconds / wall:.1f}× real "
          f"time, {samples / wall / 1e3:.0f} k raw rows/s (goal ≥ 20×)")
    print(f"plain h5py baseline:      {plain:.2f} s wall -> {args.seconds / plain:.1f}× real "
          f"time")
    print(f"RunWriter / baseline throughput ratio: {plain / wall:.2f}")
    print(f"worst producer call (enqueue of one 0.1 s block): {worst * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
