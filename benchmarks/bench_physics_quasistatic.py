"""Quasistatic loop (N = 64 linear network) vs a plain NumPy loop with a dense solve per state.

Prints wall times and ratios measured in this run, after checking identical results.
"""

import time

import numpy as np

from labctl.network import disordered_network
from labctl.physics import train_quasistatic, train_tasks
from labctl.physics.reference import train_reference
from labctl.physics.tasks import allostery_task, random_allostery


def main(steps: int = 1000, n_tasks: int = 20) -> None:
    """Run both loops on the same tasks and print the speed-up."""
    net = disordered_network(seed=0)
    kw = dict(eta=0.1, alpha=0.3, lam=0.01, steps=steps, k_min=1e-3, k_max=10.0)
    pairs = [random_allostery(net, s) for s in range(n_tasks)]
    t0 = time.perf_counter()
    ref = [train_reference(net, 1.0, s, t, **kw) for s, t in pairs]
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = [train_quasistatic(net, 1.0, s, t, **kw) for s, t in pairs]
    t_single = time.perf_counter() - t0
    t0 = time.perf_counter()
    batch = train_tasks(net, 1.0, [allostery_task(net, s, t) for s, t in pairs], **kw)
    t_batch = time.perf_counter() - t0
    for i, (k, _, _) in enumerate(ref):
        assert np.allclose(single[i].conductance, k, rtol=1e-9, atol=1e-12)
        assert np.allclose(batch.conductance[i], k, rtol=1e-9, atol=1e-12)
    print(f"{n_tasks} tasks x {steps} steps, N=64, E=143 (results identical to 1e-9)")
    print(f"plain NumPy loop : {t_ref:7.2f} s")
    print(f"engine, per task : {t_single:7.2f} s  speed-up {t_ref / t_single:5.1f}x")
    print(f"engine, batched  : {t_batch:7.2f} s  speed-up {t_ref / t_batch:5.1f}x")


if __name__ == "__main__":
    main()
