"""The papers' figures from run data (matplotlib, Agg backend; each saved as PNG and PDF).

Every function takes already-loaded data (a summary DataFrame, a list of
:class:`TaskSeries`, fit results), writes ``<out_dir>/<stem>.png`` and ``.pdf`` and returns
the two paths; functions whose data are missing from the runs return ``[]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from labctl.analysis.fits import (
    LambdaSweep,
    SmallLambdaFits,
    pareto_front,
)
from labctl.analysis.load import TaskSeries, fixed_lambda
from labctl.analysis.nonequilibrium import NonequilibriumFit
from labctl.analysis.tradeoff import TradeoffTrend

#: At most this many tasks get their own curve in the time-series figure.
MAX_CURVES = 24


def _save(fig: plt.Figure, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    fig.tight_layout()
    for p in paths:
        fig.savefig(p, dpi=110)
    plt.close(fig)
    return paths


def si_axis(axis: matplotlib.axis.Axis, unit: str) -> None:
    """Tick labels of ``axis`` with SI prefixes and ``unit`` (matplotlib's engineering
    formatter: 100 µW, 1 mW, 2.5 s), on linear and log scales alike. Not for squared units
    (V²): "1 µV²" would read as (1 µV)²; those axes keep powers of ten."""
    axis.set_major_formatter(matplotlib.ticker.EngFormatter(unit=unit, sep="\u2009"))
    if isinstance(axis.get_major_locator(), matplotlib.ticker.LogLocator):
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    else:  # labels with units are wide: fewer ticks than matplotlib's default
        axis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))


def _positive(values: np.ndarray) -> np.ndarray:
    """Values with non-positive entries masked (for log axes)."""
    v = np.asarray(values, dtype=float)
    return np.where(v > 0, v, np.nan)


def plot_time_series(series: Sequence[TaskSeries], out_dir: str | Path,
                     stem: str = "time_series") -> list[Path]:
    """Error L (V², log) and free power P^F (W) against time (s), one curve per task."""
    if not series:
        return []
    fig, (ax_e, ax_p) = plt.subplots(2, 1, figsize=(7, 6.5), sharex=True)
    cmap = plt.get_cmap("viridis")
    shown = list(series)[:MAX_CURVES]
    for i, s in enumerate(shown):
        color = cmap(i / max(len(shown) - 1, 1))
        label = f"{s.name} ({s.file})" if len(shown) <= 8 else None
        ax_e.semilogy(s.time, _positive(s.error), color=color, lw=1, label=label)
        ax_p.plot(s.time, s.power_free, color=color, lw=1)
    ax_e.set_ylabel("error L (V²)")
    ax_p.set_ylabel("free power $P^F$")
    ax_p.set_xlabel("time")
    si_axis(ax_p.yaxis, "W")
    si_axis(ax_p.xaxis, "s")
    extra = f" (first {MAX_CURVES} of {len(series)})" if len(series) > MAX_CURVES else ""
    ax_e.set_title(f"Training curves{extra}")
    if len(shown) <= 8:
        ax_e.legend(fontsize=7)
    return _save(fig, Path(out_dir), stem)


def plot_tradeoff(table: pd.DataFrame, out_dir: str | Path, trend: TradeoffTrend | None = None,
                  stem: str = "tradeoff") -> list[Path]:
    """Final error (V²) against final free power (W) of every fixed-λ task, coloured by λ,
    with the per-λ means as white diamonds (power-efficient-physical-learning Fig. 3c) when
    ``trend`` is given, and the Pareto front; needs at least two distinct λ values."""
    rows = fixed_lambda(table)
    lam = rows["lambda"].to_numpy(dtype=float)
    if np.unique(lam[np.isfinite(lam)]).size < 2:
        return []
    err, power = (rows[c].to_numpy(dtype=float) for c in ("final_error", "final_power_free"))
    front = pareto_front(err, power)
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    sc = ax.scatter(power, _positive(err), c=lam, cmap="plasma", s=18, alpha=0.8,
                    zorder=2)
    fig.colorbar(sc, ax=ax, label="λ")
    ax.plot(power[front], err[front], "k--", lw=0.8, label="Pareto front", zorder=1)
    if trend is not None:
        ax.errorbar(trend.power_mean, trend.error_mean, xerr=trend.power_sem,
                    yerr=trend.error_sem, fmt="none", ecolor="k", lw=0.8, zorder=3)
        ax.scatter(trend.power_mean, trend.error_mean, marker="D", s=70,
                   facecolor="white", edgecolor="k", zorder=4,
                   label="mean over tasks at one λ")
        verdict = "holds" if trend.holds else "not shown"
        ax.set_title(f"Error–power trade-off over λ: mean error up, mean power down "
                     f"{verdict}", fontsize=9)
    else:
        ax.set_title("Error–power trade-off over λ")
    ax.set_yscale("log")
    ax.set_xlabel("final free power $P^F$")
    si_axis(ax.xaxis, "W")
    ax.set_ylabel("final error L (V²)")
    ax.legend(fontsize=8)
    return _save(fig, Path(out_dir), stem)


def plot_small_lambda(sweep: LambdaSweep, fits: SmallLambdaFits, out_dir: str | Path,
                      stem: str = "small_lambda") -> list[Path]:
    """Error above the λ = 0 floor and free-power drop against λ (log–log), with the
    fitted power laws and their exponents ± one sigma."""
    lam = sweep.lam[sweep.lam > 0]
    d_err = sweep.error[sweep.lam > 0] - fits.floor
    d_pow = fits.power0 - sweep.power[sweep.lam > 0]
    grid = np.geomspace(lam.min(), fits.lam_max, 50)
    grid_p = np.geomspace(lam.min(), fits.lam_max_power, 50)
    fig, (ax_e, ax_p) = plt.subplots(1, 2, figsize=(10, 4.2))
    ax_e.loglog(lam, _positive(d_err), "o", label="data")
    a = fits.error_fit
    ax_e.loglog(grid, a(grid), "-", label=f"fit a = {a.exponent:.2f} ± {a.exponent_err:.2f}")
    ax_e.set_xlabel("λ")
    ax_e.set_ylabel("L(λ) − L(0) (V²)")
    ax_e.legend()
    ax_p.loglog(lam, _positive(d_pow), "s", color="C1", label="data")
    b = fits.power_fit
    ax_p.loglog(grid_p, b(grid_p), "-", color="C3",
                label=f"fit b = {b.exponent:.2f} ± {b.exponent_err:.2f}")
    ax_p.set_xlabel("λ")
    ax_p.set_ylabel("$P^F$(0) − $P^F$(λ)")
    si_axis(ax_p.yaxis, "W")
    ax_p.legend()
    fig.suptitle(f"Small-λ scaling (fits on λ ≤ {fits.lam_max:.3g} and "
                 f"≤ {fits.lam_max_power:.3g}; papers: a ≈ 2, b ≈ 1)")
    return _save(fig, Path(out_dir), stem)


def plot_kappa(table: pd.DataFrame, out_dir: str | Path, stem: str = "kappa") -> list[Path]:
    """Training time to the error threshold (s) and training energy to it (J) against the
    initial uniform conductance κ (S); needs at least two κ values."""
    kappa = table["kappa"].to_numpy(dtype=float)
    if np.unique(kappa[np.isfinite(kappa)]).size < 2:
        return []
    has = np.isfinite(kappa)
    kappa = kappa[has]
    t, e = (table[c].to_numpy(dtype=float)[has]
            for c in ("time_to_threshold", "energy_to_threshold"))
    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(10, 4.2))
    ax_t.loglog(kappa, t, "o")
    ax_e.loglog(kappa, e, "s", color="C1")
    finite = np.isfinite(e)
    if finite.any():
        best = int(np.nanargmin(np.where(finite, e, np.nan)))
        ax_e.axvline(kappa[best], color="k", ls=":",
                     label=f"lowest energy at κ ≈ {kappa[best]:.2g} S")
        ax_e.legend(fontsize=8)
    missed = int(np.sum(~np.isfinite(t)))
    for ax, label, unit in ((ax_t, "training time to threshold", "s"),
                            (ax_e, "training energy to threshold", "J")):
        ax.set_xlim(kappa.min() / 1.3, kappa.max() * 1.3)
        ax.set_xlabel("initial conductance κ")
        ax.set_ylabel(label)
        si_axis(ax.xaxis, "S")
        si_axis(ax.yaxis, unit)
        if missed:
            ax.set_title(f"{missed} of {kappa.size} tasks never reached the threshold",
                         fontsize=9)
    fig.suptitle("Initialisation: training time and energy against κ")
    return _save(fig, Path(out_dir), stem)


def plot_alpha_gamma(ratio: np.ndarray, gamma_time: np.ndarray,
                     fit: NonequilibriumFit | None, out_dir: str | Path,
                     stem: str = "alpha_gamma") -> list[Path]:
    """Training time in units of the relaxation time, γ·T (1), against α/γ (learning over
    relaxation rate), with the break, the slope below it and the slope in the authors'
    window above it (``fit.window_range``: 3–100 × the break, or α/γ 3–100 itself for the
    papers' statistic); needs at least two α/γ values."""
    ratio = np.asarray(ratio, dtype=float)
    gamma_time = np.asarray(gamma_time, dtype=float)
    if np.unique(ratio[np.isfinite(ratio)]).size < 2:
        return []
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    ax.loglog(ratio, _positive(gamma_time), "o", color="C0", label="runs")
    missed = int(np.sum(~np.isfinite(gamma_time)))
    if fit is not None:
        xb = fit.broken.x_break
        ax.axvline(xb, color="k", ls=":", label=f"break α_c/γ ≈ {xb:.3g}")
        w_lo, w_hi = fit.window_range
        ax.axvspan(w_lo, w_hi, color="0.9", zorder=0, label="authors' window")
        x_lo, x_hi = np.nanmin(ratio), np.nanmax(ratio)
        for f, lo, hi, color, what in (
                (fit.low, x_lo, xb / 3, "C1", "below"),
                (fit.window, w_lo, w_hi, "C3", "window")):
            if f is None:
                continue
            grid = np.geomspace(max(lo, x_lo), min(hi, x_hi), 50)
            ax.loglog(grid, f(grid), "-", color=color,
                      label=f"slope {what}: {f.exponent:.2f} ± {f.exponent_err:.2f}")
    ax.set_xlabel("α/γ")
    ax.set_ylabel("γ × training time to threshold")
    title = "Out of equilibrium: training time against α/γ"
    if missed:
        title += f"\n({missed} runs never reached the threshold: not shown)"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, Path(out_dir), stem)


def plot_lambda_control(control: TaskSeries, baseline: TaskSeries, target_error: float,
                        out_dir: str | Path, stem: str = "lambda_control") -> list[Path]:
    """Dynamical λ control against early stopping of a λ = 0 run at the target error L̃
    (V²): error, free power (W) and λ against time (s)."""
    fig, (ax_e, ax_p, ax_l) = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    ax_e.semilogy(control.time, _positive(control.error), label="λ control")
    ax_e.semilogy(baseline.time, _positive(baseline.error), label="λ = 0")
    ax_e.axhline(target_error, color="k", ls=":", label="target L̃")
    ax_e.set_ylabel("error L (V²)")
    ax_e.legend(fontsize=8)
    ax_p.plot(control.time, control.power_free, label="λ control")
    ax_p.plot(baseline.time, baseline.power_free, label="λ = 0")
    from labctl.analysis.load import first_crossing

    t_stop = first_crossing(baseline.time, baseline.error, target_error)
    if np.isfinite(t_stop):
        p_stop = float(np.interp(t_stop, baseline.time, baseline.power_free))
        ax_p.plot([t_stop], [p_stop], "k*", ms=10, label="early stop at L̃")
    ax_p.set_ylabel("free power $P^F$")
    si_axis(ax_p.yaxis, "W")
    ax_p.legend(fontsize=8)
    ax_l.plot(control.time, control.lam)
    ax_l.set_ylabel("λ")
    ax_l.set_xlabel("time")
    si_axis(ax_l.xaxis, "s")
    fig.suptitle("Dynamical λ control against early stopping")
    return _save(fig, Path(out_dir), stem)
