"""Simulated DAQ throughput: 32 channels at 10 kS/s into a consumer.

Prints, for the default simulated bench (data/benches/sim.toml):

* fast clock: simulated seconds per wall second ("× real time"; goal ≥ 20×), with the
  learning switch off (steady network) and on (gates integrating the rule every 2 ms);
* paced clock: CPU time of this process / wall time while blocks arrive at wall pace
  ("% of one core"; goal ≤ 25 %).

The consumer does what the run engine does per block: error of two targets and the mean
free power estimate from block means. Run: ``python benchmarks/bench_bench_simdaq.py``.
"""

from __future__ import annotations

import time

import numpy as np

from labctl.bench import open_bench
from labctl.bench.config import load_bench

ROUTE = {"source0": 0, "source1": 10, "target0": 5, "target1": 15}
TASK = {"source0": 0.0, "source1": 0.45, "target0": 0.091, "target1": 0.363}


def consumer(data: np.ndarray) -> float:
    """Per-block work of a typical consumer: target error (V²) from the block mean."""
    m = data.mean(axis=0)
    return 0.5 * float((m[5] - 0.091) ** 2 + (m[15] - 0.363) ** 2)


def run(clock: str, learning: bool, seconds: float) -> tuple[float, float, float]:
    """Acquire ``seconds`` of bench time; returns (bench s, wall s, CPU s)."""
    bench = open_bench(load_bench(), clock=clock)
    bench.daq.route_outputs(ROUTE)
    bench.daq.write_outputs(TASK)
    bench.gates.set_eta(0.22)
    bench.gates.set_learning(learning)
    bench.daq.start_acquisition()
    n_blocks = round(seconds / 0.1)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    sim = 0.0
    for _ in range(n_blocks):
        block = bench.daq.read_block()
        consumer(block.data)
        sim += block.n_samples / bench.daq.sample_rate
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    bench.close()
    return sim, wall, cpu


def main() -> None:
    """Measure and print the figures."""
    print("simulated DAQ, 32 channels at 10 kS/s, 0.1 s blocks")
    for learning, seconds in ((False, 20.0), (True, 3.0)):
        sim, wall, _ = run("fast", learning, seconds)
        print(f"  fast, learning {'on ' if learning else 'off'}: {sim:5.1f} s simulated in "
              f"{wall:6.2f} s wall = {sim / wall:6.1f}x real time (goal >= 20x)")
    for learning in (False, True):
        sim, wall, cpu = run("paced", learning, 5.0)
        print(f"  paced, learning {'on ' if learning else 'off'}: {sim:.1f} s simulated in "
              f"{wall:.2f} s wall (x{sim / wall:.2f}), CPU {100 * cpu / wall:5.1f} % of one "
              "core (goal <= 25 %)")


if __name__ == "__main__":
    main()
