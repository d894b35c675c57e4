"""The bench campaign: 150 two-source two-target tasks x 20 s of continuous-time twin dynamics.

λ spread over 0–0.055, η = 0.22, learning on from uniform 2.5 V gates. Prints:

* baseline vs engine on the first ``baseline_s`` simulated seconds (default 2 s) of the same
  150 tasks: wall times, ratio and agreement (max relative difference of gates and of node
  voltages, the latter relative to the 0.453 V node range). The baseline is
  labctl.physics.reference.twin_bench_reference (explicit Euler, batched dense NumPy
  Newton per copy per step); its 20 s figure is extrapolated unless ``--full-baseline``;
* the full campaign with the engine: wall and CPU time against the 30 s goal, median L/L0
  and peak memory (its arrays by tracemalloc, and the process peak RSS).

BLAS is limited to one thread (set before NumPy loads): both sides use one core. Run:
``python benchmarks/bench_physics_campaign.py [n_tasks] [seconds] [--full-baseline]``.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

from labctl.network import periodic_lattice  # noqa: E402
from labctl.physics import BenchParams, TwinBenchBatch  # noqa: E402
from labctl.physics.reference import twin_bench_reference  # noqa: E402
from labctl.physics.tasks import random_allostery  # noqa: E402


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _engine(net, params, sources, targets, lam, seconds):
    bench = TwinBenchBatch(net, params, sources, targets, lam=lam, gates0=np.full(32, 2.5))
    err0 = bench.error()
    bench.set_learning(True)
    v_f, v_c = bench.advance(seconds, 20)
    return bench, err0, v_f[:, -1], v_c[:, -1]


def main(n_tasks: int = 150, seconds: float = 20.0, full_baseline: bool = False,
         baseline_s: float = 2.0) -> None:
    """Run baseline and engine, then the full campaign, and print the figures."""
    net = periodic_lattice(4, 4)
    params = BenchParams()
    pairs = [random_allostery(net, s) for s in range(n_tasks)]
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    lam = np.linspace(0.0, 0.055, n_tasks)
    t0 = time.perf_counter()
    _engine(net, params, sources[:1], targets[:1], lam[:1], 0.01)  # compile or load cache
    t_warm = time.perf_counter() - t0
    rss0 = _peak_mib()
    span = seconds if full_baseline else min(baseline_s, seconds)
    t0 = time.perf_counter()
    g_ref, vf_ref, vc_ref = twin_bench_reference(net, params, sources, targets, lam,
                                                 np.full(32, 2.5), span)
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    bench, _, vf, vc = _engine(net, params, sources, targets, lam, span)
    t_new = time.perf_counter() - t0
    d_gate = float(np.max(np.abs(bench.gates - g_ref) / g_ref))
    d_volt = float(max(np.max(np.abs(vf - vf_ref)), np.max(np.abs(vc - vc_ref))))
    d_volt /= params.mosfet.node_max
    print(f"{n_tasks} tasks, dt = {params.dt * 1e3:g} ms, one BLAS thread; compile / cache "
          f"load {t_warm:.1f} s (not in the timings)")
    print(f"first {span:g} s simulated: baseline {t_ref:.1f} s, engine {t_new:.2f} s, ratio "
          f"{t_ref / t_new:.1f}x; agreement: gates {d_gate:.1e}, node voltages {d_volt:.1e} "
          "(max relative difference)")
    tracemalloc.start()  # counts NumPy arrays; negligible cost here (no per-step Python)
    t0, c0 = time.perf_counter(), time.process_time()
    bench, err0, _, _ = _engine(net, params, sources, targets, lam, seconds)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    arrays = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    base = t_ref * seconds / span
    label = "measured" if span == seconds else f"extrapolated from {span:g} s"
    print(f"full campaign {n_tasks} x {seconds:g} s: engine {wall:.1f} s wall (goal <= 30 s "
          f"for 150 x 20 s); baseline {base:.0f} s ({label}), ratio {base / wall:.1f}x; "
          f"the real bench needs {n_tasks * seconds:.0f} s")
    print(f"engine CPU time {cpu:.1f} s; load average during the run "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other jobs slow the wall time)")
    print(f"median L/L0 {np.median(bench.error() / err0):.2e}; peak memory: arrays of the "
          f"campaign {arrays:.1f} MiB (tracemalloc), process peak RSS {_peak_mib():.0f} MiB "
          f"(after imports and compile: {rss0:.0f} MiB)")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(*(float(a) if i else int(a) for i, a in enumerate(args)),
         full_baseline="--full-baseline" in sys.argv)
