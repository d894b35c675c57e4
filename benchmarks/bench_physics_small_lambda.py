"""Small-λ scaling on N = 64 regression at the papers' statistics (power-efficient Fig. 2a).

For each seed s (jammed network seed s, floating-input regression task seed s): one batched
run of 1e5 quasistatic steps at λ = 0 and at every λ of the grid (α = 0.5, η = 1e-3, k0 = 1 S,
k ∈ [1e-4, 1e6] S: the papers' parameters). Only tasks whose λ = 0 run learns
(L/L0 < 1e-10, the papers' selection) are kept. Prints, per λ, the geometric means over the
kept tasks of the error shift ΔL = L(λ) − L(0) (V², labctl's L with ½; the exponent is the
same in either convention) and of the power drop ΔP = P(0) − P(λ) (W, no ½), the local
log-log slopes (a for ΔL, b for ΔP), the fitted a and b inside the small-λ window and where
the window ends (the first λ at which a local slope leaves a = 2 ± 0.3 or b = 1 ± 0.15).
Run:

``python benchmarks/bench_physics_small_lambda.py [-o part.npz] [steps] [alpha] [seed ...]``
(default 100000, 0.5 and the seeds 0–19); partial runs saved with ``-o`` are merged by
``python benchmarks/bench_physics_small_lambda.py --combine part1.npz part2.npz``.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from labctl.network import jammed_network  # noqa: E402
from labctl.physics import train_tasks  # noqa: E402
from labctl.physics.selection import (  # noqa: E402
    SELECTION_ALPHA,
    SELECTION_ETA,
    SELECTION_K_MAX,
    SELECTION_K_MIN,
    SELECTION_THRESHOLD,
    geometric_mean,
)
from labctl.physics.tasks import regression_task  # noqa: E402

LAMS = np.array([1e-9, 1e-8, 1e-7, 1e-6])


def main(steps: int = 100_000, alpha: float = SELECTION_ALPHA,
         seeds: list[int] | None = None, save: str | None = None) -> None:
    """Run every seed, keep the learnable tasks and print the statistics."""
    seeds = list(range(20)) if seeds is None else seeds
    t0 = time.perf_counter()
    d_err, d_pow = [], []
    for s in seeds:
        net = jammed_network(64, seed=s)
        task = regression_task(net, seed=s)
        r = train_tasks(net, 1.0, [task] * (len(LAMS) + 1), lam=np.concatenate([[0.0], LAMS]),
                        eta=SELECTION_ETA, alpha=alpha, steps=steps,
                        k_min=SELECTION_K_MIN, k_max=SELECTION_K_MAX)
        ratio = r.error[-1, 0] / r.error[0, 0]
        kept = ratio < SELECTION_THRESHOLD
        print(f"seed {s}: λ = 0 L/L0 = {ratio:.1e} ({'kept' if kept else 'dropped'}), "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        if kept:
            d_err.append(r.error[-1, 1:] - r.error[-1, 0])
            d_pow.append(r.power_free[-1, 0] - r.power_free[-1, 1:])
            print(f"  ΔL = {np.array2string(d_err[-1], precision=6)}\n"
                  f"  ΔP = {np.array2string(d_pow[-1], precision=6)}", flush=True)
    d_err, d_pow = np.array(d_err), np.array(d_pow)
    print(f"{len(d_err)}/{len(seeds)} tasks learnable; wall {time.perf_counter() - t0:.0f} s")
    if save:
        np.savez(save, lams=LAMS, d_err=d_err, d_pow=d_pow)
    report(d_err, d_pow)


def report(d_err: np.ndarray, d_pow: np.ndarray) -> None:
    """Print the geometric means, local slopes, window and fitted exponents."""
    good = np.all(d_err > 0, axis=1) & np.all(d_pow > 0, axis=1)
    if not np.all(good):  # a shift below the λ = 0 run's own residual at the smallest λ
        print(f"{int((~good).sum())} task(s) left out: a non-positive ΔL or ΔP (the λ = 0 "
              "residual masks the shift)")
    d_err, d_pow = d_err[good], d_pow[good]
    gl, gp = geometric_mean(d_err), geometric_mean(d_pow)
    lams = LAMS
    print("λ:", lams.tolist())
    print("geometric-mean ΔL:", np.array2string(gl, precision=3))
    print("geometric-mean ΔP:", np.array2string(gp, precision=3))
    a_loc = np.diff(np.log(gl)) / np.diff(np.log(lams))
    b_loc = np.diff(np.log(gp)) / np.diff(np.log(lams))
    print("local a:", np.array2string(a_loc, precision=3))
    print("local b:", np.array2string(b_loc, precision=3))
    inside = (np.abs(a_loc - 2) <= 0.3) & (np.abs(b_loc - 1) <= 0.15)
    n_in = int(np.argmin(inside)) if not np.all(inside) else len(inside)
    if n_in == 0:
        print("no small-λ window found (the first local slopes are off)")
    else:
        beyond = (f"; at λ = {lams[n_in + 1]:g} a local slope has left it"
                  if n_in + 1 < len(lams) else "; the whole grid is inside")
        print(f"small-λ window: λ from {lams[0]:g} to {lams[n_in]:g}{beyond}")
    if n_in >= 1:
        sel = slice(0, n_in + 1)
        fa = np.polyfit(np.log(lams[sel]), np.log(d_err[:, sel].T), 1)[0]
        fb = np.polyfit(np.log(lams[sel]), np.log(d_pow[:, sel].T), 1)[0]
        a = np.polyfit(np.log(lams[sel]), np.log(gl[sel]), 1)[0]
        b = np.polyfit(np.log(lams[sel]), np.log(gp[sel]), 1)[0]
        n = len(fa)
        print(f"inside the window: a = {a:.3f} ± {fa.std(ddof=1) / np.sqrt(n):.3f}, "
              f"b = {b:.3f} ± {fb.std(ddof=1) / np.sqrt(n):.3f} (± = standard error of the "
              "per-task slopes)")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--combine"]:  # merge the .npz files of several partial runs
        parts = [np.load(f) for f in args[1:]]
        report(np.concatenate([p["d_err"] for p in parts]),
               np.concatenate([p["d_pow"] for p in parts]))
        sys.exit(0)
    out = None
    if args[:1] == ["-o"]:
        out, args = args[1], args[2:]
    main(int(args[0]) if args else 100_000, float(args[1]) if len(args) > 1 else SELECTION_ALPHA,
         [int(a) for a in args[2:]] or None, out)
