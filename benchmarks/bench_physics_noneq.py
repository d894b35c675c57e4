"""Out-of-equilibrium training times over many tasks (out-of-equilibrium-learning Fig. 3B).

Per task s: jammed network seed s (N = 64), the paper's allosteric task (5 sources
V ~ N(0,1) V, 3 targets Ṽ ~ 0.2 N(0,1) V, seed s, never the ground), η = 1e-3, k0 = 1 S,
k_min = 1e-3 S, γ = 1/s, training time to L/L0 < 1e-3 at each α/γ. Model: the authors' (one
ground node, rate-limited floor, equilibrium-error timing) unless ``labctl`` is given.
Tasks that never reach the threshold within the time cap at some α/γ are reported and left
out of the geometric mean (as the papers keep only tasks that learn). Prints per task and
then the geometric-mean training times, the slope below α_c (α/γ = 0.03–0.1), the slope in the
authors' window α/γ = 3–100 (least squares over the window, ± its standard error from the
per-task slopes) and the local slopes. Run:

``python benchmarks/bench_physics_noneq.py [n_tasks] [authors|labctl] [cap]`` (default
12 authors 1000: a task slower than cap/(α/γ) below α/γ = 1 or cap/√(α/γ) above, in units
of 1/γ, at some α/γ is left out; the slowest kept tasks need about a third of that).
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from labctl.network import jammed_network  # noqa: E402
from labctl.physics.nonequilibrium import allosteric_task, training_time  # noqa: E402
from labctl.physics.selection import geometric_mean  # noqa: E402

RATIOS = np.array([0.03, 0.1, 0.3, 1.0, 3.0, 6.0, 10.0, 30.0, 100.0])
WINDOW = (RATIOS >= 3) & (RATIOS <= 100)
BELOW = RATIOS <= 0.1


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def main(n_tasks: int = 12, model: str = "authors", cap: float = 1e3) -> None:
    """Measure every task at every α/γ and print the statistics."""
    authors = model == "authors"
    t0 = time.perf_counter()
    rows = []
    for seed in range(n_tasks):
        net = jammed_network(64, seed=seed)
        src, tgt = allosteric_task(net.n_nodes, seed, exclude=net.n_nodes - 1)
        limit = cap / np.where(RATIOS < 1.0, RATIOS, np.sqrt(RATIOS))
        times = [training_time(net, src, tgt, r, authors=authors, max_time=m)
                 for r, m in zip(RATIOS, limit)]
        rows.append(times)
        print(f"task {seed}: T = {np.array2string(np.array(times), precision=3)} s "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    times = np.array(rows)
    ok = np.all(np.isfinite(times), axis=1)
    print(f"{model} model: {ok.sum()}/{n_tasks} tasks reach L/L0 < 1e-3 at every α/γ; "
          f"wall {time.perf_counter() - t0:.0f} s")
    kept = times[ok]
    mean = geometric_mean(kept)
    per_task_window = np.array([slope(RATIOS[WINDOW], t[WINDOW]) for t in kept])
    per_task_below = np.array([slope(RATIOS[BELOW], t[BELOW]) for t in kept])
    err_w = per_task_window.std(ddof=1) / np.sqrt(len(kept))
    err_b = per_task_below.std(ddof=1) / np.sqrt(len(kept))
    print("α/γ:", RATIOS.tolist())
    print("geometric-mean T (s):", np.array2string(mean, precision=3))
    print(f"slope below α_c (α/γ 0.03–0.1): {slope(RATIOS[BELOW], mean[BELOW]):.3f} ± "
          f"{err_b:.3f}")
    print(f"slope in the window α/γ 3–100: {slope(RATIOS[WINDOW], mean[WINDOW]):.3f} ± "
          f"{err_w:.3f} (per-task slopes {per_task_window.min():.3f} … "
          f"{per_task_window.max():.3f})")
    local = np.diff(np.log(mean)) / np.diff(np.log(RATIOS))
    print("local slopes:", np.array2string(local, precision=3))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 12, args[1] if len(args) > 1 else "authors",
         float(args[2]) if len(args) > 2 else 1e3)
