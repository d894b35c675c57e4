"""Learnable fraction of the N = 64 regression tasks (the papers' task selection).

Task s runs on network seed s with regression task seed s (App. B), at λ = 0 with the
authors' selection parameters (labctl.physics.selection: α = 0.5, η = 1e-3, k0 = 1 S,
k ∈ [1e-4, 1e6] S, 1e5 steps, learnable if L/L0 < 1e-10; tasks stop early once
L/L0 < 1e-13). Prints the count, the per-task ratios and the wall time. Run:

``python benchmarks/bench_physics_learnable.py [jammed|disordered] [floating|grounded]
[n_tasks] [steps]`` (defaults: jammed floating 50 100000, the papers' setup;
``disordered grounded 48`` is labctl's earlier setup).
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from labctl.network import disordered_network, jammed_network  # noqa: E402
from labctl.physics.selection import SELECTION_THRESHOLD, select_learnable  # noqa: E402
from labctl.physics.tasks import regression_task  # noqa: E402


def main(kind: str = "jammed", drive: str = "floating", n_tasks: int = 50,
         steps: int = 100_000) -> None:
    """Build the networks and tasks, run the selection and print the result."""
    make = {"jammed": jammed_network, "disordered": disordered_network}[kind]
    t0 = time.perf_counter()
    nets = [make(64, seed=s) for s in range(n_tasks)]
    t_net = time.perf_counter() - t0
    tasks = [regression_task(net, seed=s, drive=drive) for s, net in enumerate(nets)]
    t0 = time.perf_counter()
    sel = select_learnable(nets, tasks, steps=steps, stop_below=1e-3 * SELECTION_THRESHOLD)
    wall = time.perf_counter() - t0
    good, total = sel.fraction
    print(f"{kind} networks, {drive} inputs, {steps} steps: {good}/{total} learnable "
          f"(L/L0 < {SELECTION_THRESHOLD:g}); networks built in {t_net:.1f} s, "
          f"selection {wall:.0f} s")
    print("edges:", [n.n_edges for n in nets])
    print("learnable seeds:", np.flatnonzero(sel.learnable).tolist())
    print("L/L0:", np.array2string(sel.ratio, precision=1, max_line_width=100))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(*(args[:2]), *(int(a) for a in args[2:4]))
