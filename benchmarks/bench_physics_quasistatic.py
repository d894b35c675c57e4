"""Quasistatic loop (N = 64 linear network) vs a plain NumPy loop with a dense solve per state.

Prints the baseline time (labctl.physics.reference.train_reference), the engine's time per
task and batched, their ratios, the agreement (max relative difference) and peak memory (the
batched run's arrays by tracemalloc, and the process peak RSS), all measured in this run.
BLAS is limited to one thread (set before NumPy loads) so that the baseline is not slowed by
thread contention on this shared 2-core machine and both sides use one core. Each time is
given as wall time and as this process's CPU time (both sides are single-threaded, so the
CPU-time ratio is the one other processes on a loaded machine disturb least).
Run: ``python benchmarks/bench_physics_quasistatic.py [steps] [n_tasks]``.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

from labctl.network import disordered_network  # noqa: E402
from labctl.physics import train_quasistatic, train_tasks  # noqa: E402
from labctl.physics.reference import train_reference  # noqa: E402
from labctl.physics.tasks import allostery_task, random_allostery  # noqa: E402


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rel(new: np.ndarray, ref: np.ndarray) -> float:
    """Max |new − ref| relative to max |ref| of the series (per task), over all tasks."""
    return float(max(np.max(np.abs(n - r)) / np.max(np.abs(r)) for n, r in zip(new, ref)))


class _Clock:
    """Wall and process CPU time since the last lap (s)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def main(steps: int = 1000, n_tasks: int = 20) -> None:
    """Run the baseline and the engine on the same tasks and print the figures."""
    net = disordered_network(seed=0)
    kw = dict(eta=0.1, alpha=0.3, lam=0.01, steps=steps, k_min=1e-3, k_max=10.0)
    pairs = [random_allostery(net, s) for s in range(n_tasks)]
    t0 = time.perf_counter()
    train_quasistatic(net, 1.0, *pairs[0], **{**kw, "steps": 2})  # compile or load cache
    train_tasks(net, 1.0, [allostery_task(net, s, t) for s, t in pairs[:2]],
                **{**kw, "steps": 2})
    t_warm = time.perf_counter() - t0
    rss0 = _peak_mib()
    clock = _Clock()
    ref = [train_reference(net, 1.0, s, t, **kw) for s, t in pairs]
    t_ref = clock.lap()
    single = [train_quasistatic(net, 1.0, s, t, **kw) for s, t in pairs]
    t_single = clock.lap()
    batch = train_tasks(net, 1.0, [allostery_task(net, s, t) for s, t in pairs], **kw)
    t_batch = clock.lap()
    tracemalloc.start()  # a separate, untimed batched run: peak memory of its NumPy arrays
    train_tasks(net, 1.0, [allostery_task(net, s, t) for s, t in pairs], **kw)
    arrays = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    k_ref = np.array([r[0] for r in ref])
    for i in range(n_tasks):
        assert np.allclose(single[i].conductance, k_ref[i], rtol=1e-9, atol=1e-12)
        assert np.allclose(batch.conductance[i], k_ref[i], rtol=1e-9, atol=1e-12)
    k_new = np.array([r.conductance for r in single])
    agree_k = max(float(np.max(np.abs(k_new - k_ref) / k_ref)),
                  float(np.max(np.abs(batch.conductance - k_ref) / k_ref)))
    agree_err = max(_rel([r.error for r in single], [r[1] for r in ref]),
                    _rel(batch.error.T, [r[1] for r in ref]))
    agree_pow = max(_rel([r.power_free for r in single], [r[2] for r in ref]),
                    _rel(batch.power_free.T, [r[2] for r in ref]))
    print(f"{n_tasks} tasks x {steps} steps, N=64, E=143, one BLAS thread")
    print(f"compile / cache load (first call): {t_warm:6.2f} s (not in the timings)")
    per_step = 1e6 / (n_tasks * steps)
    print(f"{'':27s}   wall s   CPU s  us/step (CPU)  ratio wall  ratio CPU")
    for name, t in (("baseline, plain NumPy loop", t_ref),
                    ("engine, one task per call", t_single), ("engine, batched", t_batch)):
        ratios = "" if t is t_ref else (f"  {t_ref[0] / t[0]:9.1f}x  {t_ref[1] / t[1]:8.1f}x"
                                        "  (goal >= 40x)")
        print(f"{name:27s} {t[0]:8.2f} {t[1]:7.2f} {t[1] * per_step:14.2f}{ratios}")
    print(f"agreement, max relative difference: k {agree_k:.1e}, error {agree_err:.1e} "
          f"(of its largest value), free power {agree_pow:.1e}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"peak memory: batched run's arrays {arrays:.2f} MiB (tracemalloc), process "
          f"peak RSS {_peak_mib():.0f} MiB (after imports and compile: {rss0:.0f} MiB)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
