"""The bench's error–power trade-off as the paper states it (power-efficient-physical-learning
Fig. 3c): over all experiments run at one λ, the *mean* final error rises and the *mean*
final free power falls as λ grows.

Statistic: the per-λ means (the paper's white diamonds), each with a bootstrap standard
error over the tasks at that λ. Test of the monotone trend: Spearman's rank correlation ρ
between λ and the per-task final value over every fixed-λ task (each task is one
independent experiment; ranks make the test insensitive to the heavy tail of the error),
one-sided in the claimed direction: the trend holds when ρ > 0 for the error and ρ < 0 for
the power, each with p < :data:`TREND_P` (one-sided). No exponent is fitted: the paper
fits none to its bench data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from labctl.analysis.load import fixed_lambda

#: one-sided significance level of the Spearman trend test
TREND_P = 0.01
#: fewest usable tasks (finite λ, error and power) for a trend statement
MIN_POINTS = 5
#: bootstrap resamples of each per-λ mean
N_BOOT = 2000


@dataclass(frozen=True)
class Trend:
    """Spearman ``rho`` (1) of a per-task quantity against λ over ``n`` tasks and its
    one-sided ``p`` value in the claimed ``direction`` (+1 rising, −1 falling)."""

    rho: float
    p: float
    n: int
    direction: int

    @property
    def holds(self) -> bool:
        """True when the rank correlation has the claimed sign with p < TREND_P."""
        return bool(np.sign(self.rho) == self.direction and self.p < TREND_P)

    def __str__(self) -> str:
        word = "rises" if self.direction > 0 else "falls"
        verdict = "holds" if self.holds else "not shown"
        return (f"Spearman ρ = {self.rho:+.3f}, one-sided p = {self.p:.2g} over {self.n} "
                f"tasks: '{word} with λ' {verdict} (p < {TREND_P:g})")


@dataclass(frozen=True)
class TradeoffTrend:
    """Per-λ means of the fixed-λ tasks and the trend tests.

    ``lam`` distinct applied λ (1; the bench quantises λ, merged at 1e-6), ``count`` tasks
    at each; ``error_mean``/``error_sem`` final error (V²), ``power_mean``/``power_sem``
    final free power (W), the ± being bootstrap standard errors over the tasks at that λ
    (NaN for a single task); ``error_trend``, ``power_trend`` the Spearman tests.
    """

    lam: np.ndarray
    count: np.ndarray
    error_mean: np.ndarray
    error_sem: np.ndarray
    power_mean: np.ndarray
    power_sem: np.ndarray
    error_trend: Trend
    power_trend: Trend

    @property
    def holds(self) -> bool:
        """The paper's bench claim: mean error up and mean power down with λ."""
        return self.error_trend.holds and self.power_trend.holds

    def lines(self) -> list[str]:
        """Human-readable lines: the per-λ means and both tests."""
        out = ["per-λ means over tasks (paper Fig. 3c, white diamonds):"]
        for i, lam in enumerate(self.lam):
            out.append(f"  λ = {lam:.4g} ({self.count[i]} tasks): mean error "
                       f"{self.error_mean[i]:.3g} ± {self.error_sem[i]:.2g} V², mean free "
                       f"power {1e6 * self.power_mean[i]:.4g} ± "
                       f"{1e6 * self.power_sem[i]:.2g} µW")
        out.append(f"  error vs λ: {self.error_trend}")
        out.append(f"  free power vs λ: {self.power_trend}")
        out.append(f"  trade-off (error up, power down): "
                   f"{'PASS' if self.holds else 'FAIL'}")
        return out


def _boot_sem(values: np.ndarray, rng: np.random.Generator) -> float:
    """Bootstrap standard error of the mean of ``values`` (NaN for fewer than 2)."""
    if values.size < 2:
        return float("nan")
    picks = rng.integers(0, values.size, size=(N_BOOT, values.size))
    return float(values[picks].mean(axis=1).std(ddof=1))


def _trend(lam: np.ndarray, values: np.ndarray, direction: int) -> Trend:
    if np.ptp(values) == 0 or np.ptp(lam) == 0:  # constant: no rank correlation
        return Trend(float("nan"), 1.0, int(lam.size), direction)
    res = stats.spearmanr(lam, values)
    rho = float(res.statistic)
    p_two = float(res.pvalue)
    p = p_two / 2 if np.sign(rho) == direction else 1.0 - p_two / 2
    return Trend(rho, p, int(lam.size), direction)


def lambda_trend(table: pd.DataFrame, seed: int = 0) -> TradeoffTrend:
    """The per-λ means and trend tests of the fixed-λ rows of a summary table
    (:func:`labctl.analysis.load.load_summary`; λ-controlled tasks are left out).
    ValueError naming the shortfall with fewer than :data:`MIN_POINTS` usable tasks or
    fewer than 2 distinct λ."""
    rows = fixed_lambda(table)
    lam, err, pw = (rows[c].to_numpy(dtype=float)
                    for c in ("lambda", "final_error", "final_power_free"))
    ok = np.isfinite(lam) & np.isfinite(err) & np.isfinite(pw)
    lam, err, pw = np.round(lam[ok], 6), err[ok], pw[ok]
    values = np.unique(lam)
    if lam.size < MIN_POINTS:
        raise ValueError(f"{lam.size} usable fixed-λ tasks; at least {MIN_POINTS} are needed "
                         "for a trend (no number is given)")
    if values.size < 2:
        raise ValueError(f"one λ value ({values[0]:g}) among {lam.size} tasks; a trend over "
                         "λ needs at least 2")
    rng = np.random.default_rng(seed)
    groups = [lam == v for v in values]
    return TradeoffTrend(
        lam=values, count=np.array([int(g.sum()) for g in groups]),
        error_mean=np.array([err[g].mean() for g in groups]),
        error_sem=np.array([_boot_sem(err[g], rng) for g in groups]),
        power_mean=np.array([pw[g].mean() for g in groups]),
        power_sem=np.array([_boot_sem(pw[g], rng) for g in groups]),
        error_trend=_trend(lam, err, +1), power_trend=_trend(lam, pw, -1))
