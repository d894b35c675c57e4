"""Simulated DAQ throughput: 32 channels at 10 kS/s into a consumer, against a NumPy baseline.

Prints, for the default simulated bench (shipped sim.toml), with the learning switch off
(steady network) and on (gates integrating the rule every 2 ms):

* fast clock: simulated seconds per wall second ("× real time"; goal ≥ 20×);
* paced clock: CPU time of this process / wall time while blocks arrive at wall pace
  ("% of one core"; goal ≤ 25 %);
* the baseline, measured in the same run: a plain NumPy simulated DAQ producing the same
  blocks (per 2 ms step the gate rule and one batched dense Newton solve per copy, then
  linear interpolation onto the sample clock and Gaussian noise with NumPy array
  expressions). Its "paced" CPU share is its CPU time per block / block duration (it cannot
  be paced when slower than real time); the ratios are engine / baseline.

The consumer does what the run engine does per block: error of two targets from the block
mean. Run: ``python benchmarks/bench_bench_simdaq.py [fast_seconds] [paced_seconds]``.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from labctl.bench import open_bench
from labctl.bench.config import load_bench
from labctl.physics.solve import Assembler, solve_mosfet_batch

ROUTE = {"source0": 0, "source1": 10, "target0": 5, "target1": 15}
TASK = {"source0": 0.0, "source1": 0.45, "target0": 0.091, "target1": 0.363}


def consumer(data: np.ndarray) -> float:
    """Per-block work of a typical consumer: target error (V²) from the block mean."""
    m = data.mean(axis=0)
    return 0.5 * float((m[5] - 0.091) ** 2 + (m[15] - 0.363) ** 2)


def _open(clock: str, learning: bool):
    bench = open_bench(load_bench(), clock=clock)
    bench.daq.route_outputs(ROUTE)
    bench.daq.write_outputs(TASK)
    bench.gates.set_eta(0.22)
    bench.gates.set_learning(learning)
    return bench


def run(clock: str, learning: bool, seconds: float) -> tuple[float, float, float]:
    """Acquire ``seconds`` of bench time with labctl's simulated DAQ; (bench s, wall s, CPU s)."""
    bench = _open(clock, learning)
    bench.daq.start_acquisition()
    consumer(bench.daq.read_block().data)  # first block: compile cache load, initial solve
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


class NumpyDaq:
    """Baseline: the same twin bench and blocks, written as plain NumPy array code."""

    def __init__(self, learning: bool) -> None:
        bench = _open("fast", learning)
        core = bench.daq.core
        b = core.twin._b
        self.net, self.learning = core.config.network, learning
        self.p, self.mos = core.params, core.params.mosfet
        self.s_f, self.vt_f, self.s_c, self.vt_c = b.s_free, b.vt_free, b.s_clamp, b.vt_clamp
        self.src, self.src_v, self.tgt, self.want = b._src, b._src_v, b._tgt, b._tgt_v
        self.eta, self.lam = b.eta, b.lam[:, None]
        self.g = b.gates.copy()
        self.asm = Assembler(self.net)
        self.rate, self.n = core.config.sample_rate, core.config.block_size
        self.noise_v = core.config.sim.noise_v
        self.rng = np.random.default_rng(0)
        bench.close()
        self.vf, self.vc = self._solve(None, None)

    def _solve(self, vf, vc):
        vf = solve_mosfet_batch(self.net, self.g, self.src, self.src_v, self.s_f, self.vt_f,
                                self.mos.smoothing, v0=vf, tol=1e-12, assembler=self.asm)
        v_t = np.take_along_axis(vf, self.tgt, axis=1)
        held = np.concatenate([self.src, self.tgt], axis=1)
        vals = np.concatenate([self.src_v, v_t + self.eta * (self.want - v_t)], axis=1)
        vc = solve_mosfet_batch(self.net, self.g, held, vals, self.s_c, self.vt_c,
                                self.mos.smoothing, v0=vf if vc is None else vc, tol=1e-12,
                                assembler=self.asm)
        return vf, vc

    def read_block(self) -> np.ndarray:
        """One block (n, 2N) V: physics steps, interpolation, noise."""
        a, b = self.net.edges[:, 0], self.net.edges[:, 1]
        duration = self.n / self.rate
        n_coarse = max(1, math.ceil(duration / self.p.dt - 1e-9))
        h = duration / n_coarse
        coarse = [np.concatenate([self.vf[0], self.vc[0]])]
        for _ in range(n_coarse):
            if self.learning:
                d_f = self.vf[:, a] - self.vf[:, b]
                d_c = self.vc[:, a] - self.vc[:, b]
                rate = self.p.alpha / self.eta * ((1 - self.lam) * d_f**2 - d_c**2)
                self.g = np.clip(self.g + h * rate, self.mos.gate_min, self.mos.gate_max)
                self.vf, self.vc = self._solve(self.vf, self.vc)
            coarse.append(np.concatenate([self.vf[0], self.vc[0]]))
        coarse_arr = np.array(coarse)
        x = np.arange(1, self.n + 1) * (n_coarse / self.n)
        i0 = np.minimum(np.floor(x).astype(np.int64), n_coarse - 1)
        w = (x - i0)[:, None]
        data = coarse_arr[i0] * (1.0 - w) + coarse_arr[i0 + 1] * w
        return data + self.rng.standard_normal(data.shape) * self.noise_v


def run_baseline(learning: bool, seconds: float) -> tuple[float, float, float]:
    """Same as :func:`run` (fast) for the NumPy baseline; (bench s, wall s, CPU s)."""
    daq = NumpyDaq(learning)
    consumer(daq.read_block())
    n_blocks = max(1, round(seconds / 0.1))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(n_blocks):
        consumer(daq.read_block())
    return n_blocks * 0.1, time.perf_counter() - wall0, time.process_time() - cpu0


def main(fast_seconds: float = 20.0, paced_seconds: float = 5.0) -> None:
    """Measure and print the figures."""
    print("simulated DAQ, 32 channels at 10 kS/s, 0.1 s blocks")
    for learning in (False, True):
        tag = "on " if learning else "off"
        b_sim, b_wall, b_cpu = run_baseline(learning, min(fast_seconds, 2.0))
        sim, wall, _ = run("fast", learning, fast_seconds)
        x_eng, x_base = sim / wall, b_sim / b_wall
        print(f"  fast, learning {tag}: {sim:5.1f} s simulated in {wall:6.2f} s wall = "
              f"{x_eng:7.1f}x real time (goal >= 20x); NumPy baseline {x_base:6.1f}x; "
              f"speed-up {x_eng / x_base:5.1f}x")
        sim, wall, cpu = run("paced", learning, paced_seconds)
        base_pct = 100 * b_cpu / b_sim
        print(f"  paced, learning {tag}: {sim:.1f} s simulated in {wall:.2f} s wall "
              f"(x{sim / wall:.2f}), CPU {100 * cpu / wall:5.1f} % of one core (goal <= 25 %); "
              f"NumPy baseline would need {base_pct:6.1f} %")


if __name__ == "__main__":
    main(*(float(a) for a in sys.argv[1:3]))
