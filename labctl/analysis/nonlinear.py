"""Nonlinear regression (slides; Dillavou et al., PNAS 2024): does the trained transistor
network follow V(x) = Σ_k c_k x^k better than any straight line could, and in which order
does it remove the error's modes (mean, slope, curvature)?

* :func:`test_examples` rebuilds the held-out test inputs x (V) and targets V(x) (V) of a
  run's task from its recorded parameters, exactly as the run engine drew them.
* :func:`line_error` is the error ½ ⟨(V − a − b x)²⟩ (V², the run's error convention) of the
  least-squares straight line through those very test examples: no straight line (no
  linear network, whatever its conductances) does better on them.
* :func:`error_modes` projects the training residual V_F(x) − V(x), measured on the rows
  recorded while the examples were presented, on the Legendre polynomials P0, P1, P2 of x
  scaled to [−1, 1], epoch by epoch: the amplitudes of its mean, slope and curvature (V).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from labctl.analysis.figures import si_axis
from labctl.protocol.model import NonlinearRegressionTask
from labctl.runner.datasets import build_examples

#: names of the residual's Legendre modes, in order
MODES = ("mean", "slope", "curvature")
#: a mode is "removed" once its amplitude stays at or below this fraction of its first
#: epoch's for the rest of the training
REMOVED_FRACTION = 0.5


def task_spec(params: Mapping[str, Any]) -> NonlinearRegressionTask:
    """The task a run recorded (``params`` of a nonlinear-regression task)."""
    bias = params.get("bias_node")
    return NonlinearRegressionTask(
        str(params.get("name", "task")), int(params["input_node"]),
        int(params["ground_node"]), int(params["target_node"]),
        tuple(float(c) for c in params["coefficients"]),
        (float(params["x_range"][0]), float(params["x_range"][1])),
        n_train=int(params["n_train"]), n_test=int(params["n_test"]),
        epochs=int(params["epochs"]), seed=int(params["dataset_seed"]),
        bias_node=None if bias is None else int(bias),
        bias_volts=float(params.get("bias_volts", 0.0)))


def target(params: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    """V(x) = Σ_k c_k x^k (V) of the task for inputs ``x`` (V)."""
    c = np.asarray(params["coefficients"], dtype=float)
    return np.polynomial.polynomial.polyval(np.asarray(x, dtype=float), c)


def test_examples(params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(x, V(x)) of the task's held-out test examples (V), as the run engine drew them."""
    task = task_spec(params)
    data = build_examples(task, task.seed)
    x = np.array([ex.sources[task.input_node] for ex in data.test])
    y = np.array([ex.targets[task.target_node] for ex in data.test])
    return x, y


def line_error(x: np.ndarray, y: np.ndarray) -> float:
    """½ ⟨(y − a − b x)²⟩ (V²) of the least-squares line a + b x through the points."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 3:
        raise ValueError(f"x: {x.size} points; a line needs at least 3 to leave a residual")
    resid = y - np.polyval(np.polyfit(x, y, 1), x)
    return float(0.5 * np.mean(resid ** 2))


@dataclass(frozen=True)
class ModeHistory:
    """Residual modes per training epoch: ``epoch`` (1, 2, …), ``amplitude`` (epochs × 3,
    V: |a_k| of V_F − V = Σ a_k P_k(u), u = x scaled to [−1, 1]), ``rows`` per epoch."""

    epoch: np.ndarray
    amplitude: np.ndarray
    rows: np.ndarray

    def removed_epoch(self, k: int) -> float:
        """First epoch from which mode ``k``'s amplitude stays at or below
        :data:`REMOVED_FRACTION` × its first epoch's until the end (a passing dip, e.g.
        while the mode changes sign, does not count); NaN if never."""
        a = self.amplitude[:, k]
        later_max = np.maximum.accumulate(a[::-1])[::-1]
        hit = np.flatnonzero(later_max <= REMOVED_FRACTION * a[0])
        return float(self.epoch[hit[0]]) if hit.size else float("nan")

    def lines(self) -> list[str]:
        """One line per mode: first and last amplitude, epoch from which it stayed halved."""
        out = []
        for k, name in enumerate(MODES):
            first, last = self.amplitude[0, k], self.amplitude[-1, k]
            when = self.removed_epoch(k)
            at = (f"at most half of it from epoch {when:.0f} on" if when == when
                  else "not halved for good")
            out.append(f"{name} mode: {1e3 * first:.3g} mV in epoch 1 → {1e3 * last:.3g} mV "
                       f"in epoch {self.epoch[-1]:.0f} ({at})")
        return out


def example_duration(params: Mapping[str, Any]) -> float:
    """Bench time (s) of one presented example: ``duration_s`` (continuous learning) or
    steps × (window + 2 settle) (stepwise)."""
    if params.get("learning_mode") == "stepwise":
        return float(params["steps"]) * (float(params["window_s"])
                                         + 2.0 * float(params["settle_s"]))
    return float(params["duration_s"])


def error_modes(params: Mapping[str, Any], time: np.ndarray, v_free: np.ndarray
                ) -> ModeHistory:
    """Residual modes per epoch from the training rows: ``time`` (T,) s since the task
    started, ``v_free`` (T × N) V; x is the measured input node, V_F the target node."""
    lo, hi = (float(v) for v in params["x_range"])
    x = np.asarray(v_free, dtype=float)[:, int(params["input_node"])]
    resid = np.asarray(v_free, dtype=float)[:, int(params["target_node"])] - target(params, x)
    u = (2.0 * x - lo - hi) / (hi - lo)
    per_epoch = int(params["n_train"]) * example_duration(params)
    epoch_of = np.floor((np.asarray(time, dtype=float) - 1e-9) / per_epoch).astype(int)
    epochs, amps, rows = [], [], []
    for e in np.unique(epoch_of):
        sel = epoch_of == e
        if np.count_nonzero(sel) < 2 * len(MODES):
            continue
        coef = np.polynomial.legendre.legfit(u[sel], resid[sel], len(MODES) - 1)
        epochs.append(e + 1)
        amps.append(np.abs(coef))
        rows.append(np.count_nonzero(sel))
    if not epochs:
        raise ValueError("no epoch with enough training rows for the mode fit")
    return ModeHistory(np.array(epochs, dtype=float), np.array(amps), np.array(rows))


def plot_nonlinear(params: Mapping[str, Any], time: np.ndarray, v_free: np.ndarray,
                   modes: ModeHistory, out_dir: str | Path,
                   stem: str = "nonlinear_regression") -> list[Path]:
    """Left: V(x), the best straight line through the test examples and the network's
    output on the training rows of the first and last epoch. Right: the residual's mean,
    slope and curvature amplitudes against epoch. Writes ``stem``.png and .pdf."""
    out_dir = Path(out_dir)
    lo, hi = (float(v) for v in params["x_range"])
    xs = np.linspace(lo, hi, 200)
    x_t, y_t = test_examples(params)
    v = np.asarray(v_free, dtype=float)
    x = v[:, int(params["input_node"])]
    out = v[:, int(params["target_node"])]
    per_epoch = int(params["n_train"]) * example_duration(params)
    epoch_of = np.floor((np.asarray(time, dtype=float) - 1e-9) / per_epoch).astype(int)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
    ax.plot(xs, target(params, xs), "k-", lw=2, label="target V(x)")
    ax.plot(xs, np.polyval(np.polyfit(x_t, y_t, 1), xs), "k--", lw=1,
            label="best straight line (test examples)")
    first, last = epoch_of == epoch_of.min(), epoch_of == epoch_of.max()
    ax.plot(x[first], out[first], ".", color="0.6", ms=3, label="network, epoch 1")
    ax.plot(x[last], out[last], ".", color="C3", ms=3,
            label=f"network, epoch {epoch_of.max() + 1}")
    ax.set_xlabel("input x")
    ax.set_ylabel("target node V")
    si_axis(ax.xaxis, "V")
    si_axis(ax.yaxis, "V")
    ax.legend(fontsize=8)
    for k, name in enumerate(MODES):
        bx.semilogy(modes.epoch, modes.amplitude[:, k], "-o", ms=3, label=name)
    bx.set_xlabel("epoch")
    bx.set_ylabel("residual mode amplitude")
    si_axis(bx.yaxis, "V")
    bx.set_title("training residual V_F − V: Legendre modes", fontsize=9)
    bx.legend(fontsize=8)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    fig.tight_layout()
    for p in paths:
        fig.savefig(p, dpi=110)
    plt.close(fig)
    return paths
