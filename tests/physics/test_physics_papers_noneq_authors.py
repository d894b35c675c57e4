"""Out-of-equilibrium training times with the authors' model (out-of-equilibrium-learning
Fig. 3B), geometric means over ≥ 10 tasks as the paper averages.

Model (labctl.physics.nonequilibrium.AUTHORS_MODEL): one ground node held in both copies,
rate-limited floor at k_min = 1e-3 S (ρ = γ), no upper bound; training time T = first time
the *equilibrium* error of the current conductances falls below 1e-3 × its initial value (a
ratio: the same with or without the ½ in L). Jammed N = 64 networks (seed s, ``jammed64``),
the paper's allosteric task (5 sources ~ N(0,1) V, 3 targets ~ 0.2 N(0,1) V, seed s),
η = 1e-3, k0 = 1 S, γ = 1/s.

Tasks: ``TASKS`` are the seeds 0–14 that reach the threshold at every α/γ of ``RATIOS``
within the time caps of benchmarks/bench_physics_noneq.py (a cached selection, measured
once: seeds 1, 6 and 8 do not; the paper keeps the tasks that learn). The test asserts that
each still does. The paper averages 50 tasks; benchmarks/bench_physics_noneq.py runs 24.
Twelve tasks, not ten: the first passage of the equilibrium error below 1e-3 L0 is erratic
in a few tasks below α_c (seed 3: slope −1.4 between α/γ 0.03 and 0.1, and −2.0 between
0.1 and 0.3; seed 4: +0.35 between 0.1 and 0.3), which the bootstrap error carries.

Claims checked on the geometric-mean γT over tasks, with bootstrap standard errors over
tasks (seeded): slope −1 below α_c (α/γ = 0.03 and 0.1, ≥ 10 × below the break; within 3
standard errors); in the authors' window α/γ = 3–100 the exponent of their data,
−0.42 ± 0.06 (within 2·√(σ² + 0.06²)); and the break: the two fitted power laws cross
within a factor 3 of α/γ = 1. For CI time the range below is sampled at 2 values of α/γ
and the window at 4 (the benchmark: 2 and 5).
"""

from collections.abc import Callable

import numpy as np

from labctl.network import Network
from labctl.physics.nonequilibrium import allosteric_task, training_time
from labctl.physics.selection import geometric_mean

#: seeds (network = task) that learn at every α/γ (module docstring)
TASKS = (0, 2, 3, 4, 5, 7, 9, 10, 11, 12, 13, 14)
BELOW = np.array([0.03, 0.1])
WINDOW = np.array([3.0, 10.0, 30.0, 100.0])
RATIOS = np.concatenate([BELOW, WINDOW])
#: time caps (units of 1/γ) of benchmarks/bench_physics_noneq.py
CAPS = 1e3 / np.where(RATIOS < 1.0, RATIOS, np.sqrt(RATIOS))
PAPER_WINDOW, PAPER_WINDOW_SIGMA = -0.42, 0.06
N_BOOT = 2000


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.polyfit(np.log(x), np.log(y), 1)


def _statistics(times: np.ndarray) -> tuple[float, float, float]:
    """(slope below, slope in the window, crossing α_c/γ) of the geometric mean over the
    rows (tasks) of γT."""
    mean = geometric_mean(times)
    low = _fit(BELOW, mean[:BELOW.size])
    high = _fit(WINDOW, mean[BELOW.size:])
    crossing = float(np.exp((high[1] - low[1]) / (low[0] - high[0])))
    return float(low[0]), float(high[0]), crossing


def test_training_time_break_and_exponents(jammed64: Callable[[int], Network]) -> None:
    assert len(TASKS) >= 10
    times = []
    for seed in TASKS:
        net = jammed64(seed)
        src, tgt = allosteric_task(net.n_nodes, seed, exclude=net.n_nodes - 1)
        times.append([training_time(net, src, tgt, r, max_time=cap)
                      for r, cap in zip(RATIOS, CAPS)])
    times = np.array(times)  # γ = 1/s: T in s is γT
    print("γT:", np.array2string(times, precision=3))
    assert np.all(np.isfinite(times)), "every selected task must learn at every α/γ"
    below, window, alpha_c = _statistics(times)
    rng = np.random.default_rng(0)
    n = len(TASKS)
    boot = np.array([_statistics(times[rng.integers(0, n, n)]) for _ in range(N_BOOT)])
    s_below, s_window = np.std(boot[:, :2], axis=0, ddof=1)
    print(f"{n} tasks: slope below α_c {below:.3f} ± {s_below:.3f}, window 3–100 "
          f"{window:.3f} ± {s_window:.3f}, break at α/γ = {alpha_c:.2f}")
    assert abs(below + 1.0) <= 3 * s_below, f"slope below {below:.3f} ± {s_below:.3f}"
    band = 2 * np.hypot(s_window, PAPER_WINDOW_SIGMA)
    assert abs(window - PAPER_WINDOW) <= band, f"window slope {window:.3f} ± {s_window:.3f}"
    assert s_below < 0.1 and s_window < 0.1, "standard errors too wide for a test"
    assert 1 / 3 <= alpha_c <= 3.0
