"""The claims made on (or for) the bench, run on the simulated bench through the normal run
engine (:class:`~labctl.runner.session.RunSession`, one run file per claim) and analysed
with :mod:`labctl.analysis` from that file, exactly as ``labctl run`` + ``labctl analyze``.

``--quick`` shrinks a protocol (fewer random tasks, fewer epochs) through
:data:`QUICK`; the run file's metadata records the reduction (``reproduce_quick``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import stats

from labctl.analysis import figures, nonlinear
from labctl.analysis.control import network_fingerprint, pair_control
from labctl.analysis.datasets import dataset_scores
from labctl.analysis.load import fixed_lambda, load_series, load_summary
from labctl.analysis.tradeoff import lambda_trend
from labctl.protocol import load_protocol
from labctl.protocol.model import Protocol, RandomAllosteryTasks
from labctl.reproduce.simulation import Outcome
from labctl.store import open_run

#: --quick reductions per claim: random tasks per generator, epochs of dataset tasks
QUICK: dict[str, dict[str, int]] = {
    "tradeoff": {"count": 48}, "lambda_control": {"count": 5},
    "iris": {}, "nonlinear_regression": {"epochs": 150},
}
#: one-sided significance of "above chance" (Iris) and of the λ-control saving
P_LEVEL = 0.01


def shrink(protocol: Protocol, count: int | None = None, epochs: int | None = None
           ) -> Protocol:
    """``protocol`` with every random-task generator cut to ``count`` tasks and every
    dataset task to ``epochs`` epochs (a value the protocol already undercuts is kept);
    the reduction is written into its metadata."""
    tasks = []
    for t in protocol.tasks:
        if count is not None and isinstance(t, RandomAllosteryTasks):
            t = dataclasses.replace(t, count=min(t.count, count))
        if epochs is not None and hasattr(t, "epochs"):
            t = dataclasses.replace(t, epochs=min(t.epochs, epochs))
        tasks.append(t)
    what = ", ".join(f"{k}={v}" for k, v in (("count", count), ("epochs", epochs)) if v)
    meta = {**protocol.metadata, "reproduce_quick": what or "none"}
    return dataclasses.replace(protocol, tasks=tuple(tasks), metadata=meta)


def run_protocol(path: Path, out: Path, quick: dict[str, int] | None,
                 parallel: bool = False) -> Path:
    """Run the protocol at ``path`` (shrunk by ``quick``) on the simulated bench into a
    new run file in ``out``; returns the run file."""
    from labctl.runner.session import RunSession

    protocol = load_protocol(path)
    if quick:
        protocol = shrink(protocol, quick.get("count"), quick.get("epochs"))
    out.mkdir(parents=True, exist_ok=True)
    run_file = out / f"{path.stem}.h5"
    if run_file.exists():
        raise FileExistsError(f"{run_file}: exists; run files are never overwritten — "
                              "choose an empty output directory")
    RunSession(protocol, run_file, clock="fast", parallel=parallel).run()
    return run_file


def tradeoff(run_file: Path, out: Path) -> Outcome:
    """Fig. 3c: per-λ mean error rises and mean free power falls with λ."""
    table = load_summary(run_file)
    fixed = fixed_lambda(table)
    try:
        trend = lambda_trend(table)
    except ValueError as exc:
        return Outcome(f"no statistic: {exc}", None, [], [])
    figs = [p for p in figures.plot_tradeoff(table, out, trend) if p.suffix == ".png"]
    e, pw = trend.error_mean, trend.power_mean
    measured = (f"mean L {e[0]:.2g} → {e[-1]:.2g} V², mean P^F {1e6 * pw[0]:.0f} → "
                f"{1e6 * pw[-1]:.0f} µW over λ {trend.lam[0]:.3g} … {trend.lam[-1]:.3g}; "
                f"Spearman ρ_L = {trend.error_trend.rho:+.2f} (p = {trend.error_trend.p:.1g}), "
                f"ρ_P = {trend.power_trend.rho:+.2f} (p = {trend.power_trend.p:.1g}); "
                f"{len(fixed)} tasks")
    return Outcome(measured, trend.holds, trend.lines(), figs)


def lambda_control(run_file: Path, out: Path) -> Outcome:
    """Sec. IV: λ control ends near L̃ with less free power than early stopping of the
    same task at L̃."""
    with open_run(run_file) as run:
        net = network_fingerprint(run.network.edges, run.network.n_nodes)
    pairing = pair_control(load_series(run_file), {run_file.name: net})
    details = [c.line() for c in pairing.pairs] + pairing.unpaired
    usable = [c for c in pairing.pairs if np.isfinite(c.saving)]
    if len(usable) < 2:
        return Outcome(f"{len(usable)} usable same-task pairs (fewer than 2): no statistic",
                       None, details, [])
    saving = np.array([c.saving for c in usable])
    reach = np.array([c.final_error_control / c.target_error for c in usable])
    sem = float(saving.std(ddof=1) / np.sqrt(saving.size))
    test = stats.ttest_1samp(saving, 0.0, alternative="greater")
    near = bool(np.all(np.abs(np.log10(reach)) < 0.5))
    figs = []
    c = usable[0]
    figs += [p for p in figures.plot_lambda_control(c.control, c.baseline, c.target_error,
                                                    out) if p.suffix == ".png"]
    measured = (f"saving {100 * saving.mean():.1f} ± {100 * sem:.1f} % (mean ± s.e., "
                f"{saving.size} same-task pairs, one-sided t-test p = {test.pvalue:.1g}); "
                f"final L/L̃ {reach.min():.2g} … {reach.max():.2g}")
    details.append(f"unpaired control tasks: {len(pairing.unpaired)}")
    return Outcome(measured, bool(test.pvalue < P_LEVEL and near and not pairing.unpaired),
                   details, figs)


def iris(run_file: Path, out: Path) -> Outcome:
    """Iris classification: train and test accuracy, test accuracy above chance (1/3)."""
    scores = dataset_scores([run_file]).query("kind == 'classification'").to_dict("records")
    if not scores:
        return Outcome("no classification task in the run", None, [], [])
    r = scores[0]
    with open_run(run_file) as run:
        task = run.tasks[r["task"]]
        n_test = 3 * int(task.params["n_test_per_class"])
    acc, train = r["test_accuracy"], r["train_accuracy"]
    if acc != acc:  # NaN: not recorded
        return Outcome("test accuracy not recorded", None, [], [])
    k = round(acc * n_test)
    p = float(stats.binomtest(k, n_test, 1 / 3, alternative="greater").pvalue)
    sem = float(np.sqrt(acc * (1 - acc) / n_test))
    measured = (f"train accuracy {100 * train:.1f} %, test accuracy {100 * acc:.1f} ± "
                f"{100 * sem:.1f} % ({n_test} test flowers; chance 33.3 %, binomial p = "
                f"{p:.1g})")
    details = [f"train error {r['train_error']:.3g} V², test error {r['test_error']:.3g} V²"]
    return Outcome(measured, p < P_LEVEL, details, [])


def nonlinear_regression(run_file: Path, out: Path) -> Outcome:
    """Nonlinear regression (slides; PNAS 2024): on the held-out test examples the trained
    network's error is below that of the best straight line through those same examples
    (a least-squares fit to them: no linear input–output relation does better); the
    training residual's mean, slope and curvature modes are reported and drawn."""
    scores = (dataset_scores([run_file]).query("kind == 'nonlinear_regression'")
              .to_dict("records"))
    if not scores:
        return Outcome("no nonlinear-regression task in the run", None, [], [])
    r = scores[0]
    with open_run(run_file) as run:
        task = run.tasks[r["task"]]
        params = task.params
        time, v_free = np.asarray(task.time), np.asarray(task["v_free"])
    x, y = nonlinear.test_examples(params)
    test = r["test_error"]
    poly = " + ".join(f"{v:g}·x^{k}" for k, v in enumerate(params["coefficients"]))
    lo, hi = params["x_range"]
    details = [f"target V = {poly} over x ∈ [{lo:g}, {hi:g}] V; "
               f"{params['n_train']} training examples × {params['epochs']} epochs"]
    if x.size < 5 or test != test:  # NaN: not recorded
        return Outcome(f"{x.size} test examples, test error {test:.2g} V²: fewer than 5 "
                       "usable test examples, no statistic", None, details, [])
    line = nonlinear.line_error(x, y)
    modes = nonlinear.error_modes(params, time, v_free)
    details += modes.lines()
    figs = [p for p in nonlinear.plot_nonlinear(params, time, v_free, modes, out)
            if p.suffix == ".png"]
    measured = (f"test error {test:.3g} V² = {test / line:.2f} × the best straight line's "
                f"{line:.3g} V² on the same {x.size} held-out examples (train error "
                f"{r['train_error']:.3g} V²)")
    return Outcome(measured, bool(test < line), details, figs)


#: claim key → analysis of its run file
ANALYSES: dict[str, Callable[[Path, Path], Outcome]] = {
    "tradeoff": tradeoff, "lambda_control": lambda_control, "iris": iris,
    "nonlinear_regression": nonlinear_regression,
}

