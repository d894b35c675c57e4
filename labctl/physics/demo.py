"""Short simulated bench training that prints error and power (used by ``labctl demo``)."""

from __future__ import annotations

import numpy as np

from labctl.network import periodic_lattice
from labctl.physics.bench_model import BenchParams, TwinBench
from labctl.physics.tasks import random_allostery


def run_demo(seconds: float = 20.0, seed: int = 0) -> int:
    """Train the 4x4 twin-MOSFET bench twin on one allostery task for ``seconds`` s of bench time.

    Prints time (s), error L (V²), L/L0 and free power (W) once per simulated second;
    returns 0 (a process exit code).
    """
    if not seconds > 0:
        raise ValueError(f"seconds: must be > 0, got {seconds}")
    net = periodic_lattice(4, 4)
    sources, targets = random_allostery(net, seed)
    bench = TwinBench(net, BenchParams(seed=seed), gates0=np.full(net.n_edges, 2.5))
    bench.set_sources(sources)
    bench.set_targets(targets)
    err0 = bench.error()
    print(f"sources {sources} V, targets {targets} V, eta={bench.eta}, alpha=1/24 ms")
    print(f"{'t (s)':>6} {'L (V^2)':>10} {'L/L0':>9} {'P_free (W)':>11}")
    bench.set_learning(True)
    step = 1.0
    while bench.t < seconds - 1e-9:
        v_free, _ = bench.advance(min(step, seconds - bench.t), 1)
        err = bench.error()
        print(f"{bench.t:6.1f} {err:10.3e} {err / err0:9.2e} {bench.power(v_free[-1]):11.3e}")
    return 0
