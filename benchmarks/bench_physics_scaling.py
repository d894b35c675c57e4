"""How the physics engine's cost grows with network size: the scaling curve and its exponent.

For periodic L×L lattices (L = 4, 8, 16, 32: N = 16 … 1024 nodes, E = 2N edges), jammed
periodic packings (labctl.network.jammed_network, N = 64 … ``max_jammed``, default 1024;
pass 4096 for the largest, whose packing alone would take, extrapolated from 256 and 1024,
about an hour of CPU to generate) and
disordered planar Delaunay networks of the papers' coordination (``simulation_network(n,
kind="disordered")``, N = 1024 … ``max_delaunay``, default 4096, quick to generate) it
measures, with one allosteric task (two sources, two targets,
labctl.physics.tasks.random_allostery):

* the quasistatic engine (labctl.physics.train_tasks): CPU time per learning step (both
  states, one sparse L D Lᵀ factorisation);
* the twin bench (labctl.physics.TwinBenchBatch, quasistatic nodes, learning on, the
  default 2 ms step): CPU time per simulated second (500 steps of two Newton solves);

then fits time ∝ E^p by least squares in log–log over the sizes with E ≥ 500 (smaller
ones are dominated by per-step overheads) and prints p for each family (not across them:
the torus lattice fills its factor about four times more than a Delaunay network of the
same size, whose boundary is open). CPU time of this process is used
(everything is single-threaded) so that other processes on a shared machine disturb the
figures least; each figure is the best of ``repeats`` timed runs. The 4×4 lattice is the
bench board: its twin figure is the simulated bench's physics cost.
Run: ``python benchmarks/bench_physics_scaling.py [max_jammed] [repeats] [max_delaunay]``.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from labctl.network import (  # noqa: E402
    Network,
    jammed_network,
    periodic_lattice,
    simulation_network,
)
from labctl.physics import TwinBenchBatch, train_tasks  # noqa: E402
from labctl.physics.kernels_sparse import symbolic  # noqa: E402
from labctl.physics.tasks import allostery_task, random_allostery  # noqa: E402

#: smallest edge count included in the fitted exponent
FIT_MIN_EDGES = 500


def _best_cpu(run, repeats: int) -> float:
    """Smallest CPU time (s) of ``repeats`` calls of ``run()``."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        run()
        best = min(best, time.process_time() - t0)
    return best


def quasistatic_step(net: Network, repeats: int) -> float:
    """CPU seconds per quasistatic learning step of one allosteric task on ``net``."""
    task = allostery_task(net, *random_allostery(net, 0))
    kw = dict(eta=0.1, alpha=0.3, lam=0.0, k_min=1e-3, k_max=10.0)
    train_tasks(net, 1.0, task, steps=2, **kw)  # compile or load the cache; the pattern
    steps = max(20, min(2000, 400_000 // net.n_edges))
    return _best_cpu(lambda: train_tasks(net, 1.0, task, steps=steps, **kw), repeats) / steps


def twin_second(net: Network, repeats: int) -> float:
    """CPU seconds per simulated second of the twin bench (learning on) on ``net``."""
    src, tgt = random_allostery(net, 0)
    twin = TwinBenchBatch(net, sources=[src], targets=[tgt])
    twin.set_learning(True)
    twin.advance(0.004, 1)  # settle both copies, compile or load the cache
    span = 1.0 if net.n_nodes <= 64 else 0.1
    return _best_cpu(lambda: twin.advance(span, 10), repeats) / span


def fit_exponent(edges: list[int], times: list[float]) -> float:
    """Least-squares slope p of log(time) against log(edges) for edges ≥ FIT_MIN_EDGES."""
    e = np.array(edges, dtype=float)
    t = np.array(times, dtype=float)
    use = e >= FIT_MIN_EDGES
    if use.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(e[use]), np.log(t[use]), 1)[0])


def main(max_jammed: int = 1024, repeats: int = 3, max_delaunay: int = 4096) -> None:
    """Measure every network and print the table and the fitted exponents."""
    nets: list[tuple[str, Network]] = [(f"lattice {n}x{n}", periodic_lattice(n, n))
                                       for n in (4, 8, 16, 32)]
    for n in (64, 256, 1024, 4096):
        if n <= max_jammed:
            t0 = time.process_time()
            net = jammed_network(n, seed=0)
            print(f"(jammed N={n}: packing generated in {time.process_time() - t0:.1f} s CPU)",
                  flush=True)
            nets.append((f"jammed N={n}", net))
    for n in (1024, 4096):
        if n <= max_delaunay:
            nets.append((f"Delaunay N={n}", simulation_network(n, 0, "disordered")))
    print(f"{'network':16s} {'N':>5s} {'E':>6s} {'nnz(L)':>7s} {'quasistatic':>14s} "
          f"{'twin bench':>16s}")
    print(f"{'':16s} {'':>5s} {'':>6s} {'':>7s} {'us/step (CPU)':>14s} "
          f"{'s/sim. s (CPU)':>16s}", flush=True)
    rows: dict[str, list[tuple[int, float, float]]] = {"lattice": [], "jammed": [],
                                                       "Delaunay": []}
    for name, net in nets:
        q = quasistatic_step(net, repeats)
        w = twin_second(net, repeats)
        rows[name.split()[0]].append((net.n_edges, q, w))
        print(f"{name:16s} {net.n_nodes:5d} {net.n_edges:6d} {symbolic(net).nnz:7d} "
              f"{q * 1e6:14.1f} {w:16.4f}", flush=True)
    print(f"fitted exponent p of time ∝ E^p (sizes with E >= {FIT_MIN_EDGES}):")
    for kind, data in rows.items():
        if data:
            e, q, w = (list(col) for col in zip(*data))
            print(f"  {kind:8s} quasistatic p = {fit_exponent(e, q):.2f}, "
                  f"twin bench p = {fit_exponent(e, w):.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
