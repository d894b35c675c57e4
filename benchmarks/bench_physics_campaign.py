"""The bench campaign: two-source two-target tasks x 20 s of continuous-time twin dynamics.

λ spread over 0–0.055; prints wall time, extrapolation to 150 tasks and peak memory.
"""

import resource
import sys
import time

import numpy as np

from labctl.network import periodic_lattice
from labctl.physics import BenchParams, TwinBenchBatch
from labctl.physics.tasks import random_allostery


def main(n_tasks: int = 150, seconds: float = 20.0, dt: float = 2e-3) -> None:
    """Simulate the campaign in one batch and print figures."""
    net = periodic_lattice(4, 4)
    pairs = [random_allostery(net, s) for s in range(n_tasks)]
    lam = np.linspace(0.0, 0.055, n_tasks)
    t0 = time.perf_counter()
    bench = TwinBenchBatch(net, BenchParams(dt=dt), [s for s, _ in pairs],
                           [t for _, t in pairs], lam=lam, gates0=np.full(32, 2.5))
    err0 = bench.error()
    bench.set_learning(True)
    bench.advance(seconds, 20)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n_tasks} tasks x {seconds} s (dt = {dt * 1e3} ms): wall {wall:.1f} s "
          f"(goal 30 s for 150 x 20 s; the real bench needs {n_tasks * seconds:.0f} s of "
          f"experiment time for this run, {n_tasks * seconds / wall:.0f}x the simulation)")
    print(f"median L/L0 {np.median(bench.error() / err0):.2e}; peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main(*(float(a) if i else int(a) for i, a in enumerate(sys.argv[1:])))
