"""Fits of the papers' scaling laws: power laws, Pareto fronts, two-regime laws.

All fits are least squares in log–log space; exponents come with their one-sigma standard
errors from the fit covariance (residual-scaled), so a fit through 2 points has no error bar
and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from labctl.analysis.load import fixed_lambda


@dataclass(frozen=True)
class PowerLawFit:
    """y = prefactor · x^exponent; ``exponent_err`` is the one-sigma standard error,
    ``n`` the number of points used. Units: those of x and y."""

    exponent: float
    exponent_err: float
    prefactor: float
    n: int

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        """The fitted law at ``x``."""
        return self.prefactor * np.asarray(x, dtype=float) ** self.exponent

    def __str__(self) -> str:
        return f"exponent {self.exponent:.3g} ± {self.exponent_err:.2g} (n={self.n})"


def _log_points(x: np.ndarray, y: np.ndarray, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    """(log x, log y) of the finite points with x > 0 and y > 0; ValueError if the lengths
    differ or fewer than ``minimum`` points remain."""
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x, y: lengths {x.size} and {y.size} differ")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < minimum:
        raise ValueError(f"x, y: {int(ok.sum())} usable points (x > 0, y > 0); "
                         f"allowed >= {minimum}")
    return np.log(x[ok]), np.log(y[ok])


def fit_power_law(x: np.ndarray, y: np.ndarray) -> PowerLawFit:
    """Least-squares fit of log y = log A + a log x over the points with x > 0 and y > 0.

    Raises ValueError if fewer than 3 such points remain (no uncertainty otherwise).
    """
    lx, ly = _log_points(x, y, minimum=3)
    coef, cov = np.polyfit(lx, ly, 1, cov="unscaled")
    resid = ly - np.polyval(coef, lx)
    dof = max(lx.size - 2, 1)
    sigma2 = float(resid @ resid) / dof
    err = float(np.sqrt(cov[0, 0] * sigma2))
    return PowerLawFit(float(coef[0]), err, float(np.exp(coef[1])), int(lx.size))


def pareto_front(error: np.ndarray, power: np.ndarray) -> np.ndarray:
    """Indices of the Pareto-optimal points (no other point has both lower error and lower
    power), ordered by increasing error. ``error`` in V², ``power`` in W."""
    error = np.asarray(error, dtype=float)
    power = np.asarray(power, dtype=float)
    if error.shape != power.shape:
        raise ValueError(f"error, power: shapes {error.shape} and {power.shape} differ")
    ok = np.flatnonzero(np.isfinite(error) & np.isfinite(power))
    order = ok[np.lexsort((power[ok], error[ok]))]
    front: list[int] = []
    best = np.inf
    for i in order:
        if power[i] < best:
            front.append(int(i))
            best = power[i]
    return np.asarray(front, dtype=int)


@dataclass(frozen=True)
class LambdaSweep:
    """Per-λ means over tasks: ``lam`` (1), ``error`` (V²), ``power`` (W), ``energy`` (J),
    ``count`` tasks per λ value."""

    lam: np.ndarray
    error: np.ndarray
    power: np.ndarray
    energy: np.ndarray
    count: np.ndarray


def lambda_sweep(table: pd.DataFrame) -> LambdaSweep:
    """Average the final error, free power and energy of the fixed-λ tasks of a summary
    table (:func:`labctl.analysis.load.load_summary`) at each applied λ (λ rounded to
    1e-6 to merge the bench's quantised values)."""
    rows = fixed_lambda(table)
    lam = np.round(rows["lambda"].to_numpy(dtype=float), 6)
    err, pow_, en = (rows[c].to_numpy(dtype=float)
                     for c in ("final_error", "final_power_free", "energy"))
    ok = np.isfinite(lam) & np.isfinite(err) & np.isfinite(pow_)
    values = np.unique(lam[ok])
    pick = [ok & (lam == v) for v in values]
    return LambdaSweep(values, np.array([err[m].mean() for m in pick]),
                       np.array([pow_[m].mean() for m in pick]),
                       np.array([np.nanmean(en[m]) for m in pick]),
                       np.array([int(m.sum()) for m in pick]))


@dataclass(frozen=True)
class SmallLambdaFits:
    """Small-λ scaling: error above the λ = 0 floor ∝ λ^a (``error_fit``) and free-power
    drop below the λ = 0 value ∝ λ^b (``power_fit``); papers: a ≈ 2, b ≈ 1.
    ``floor`` (V²) and ``power0`` (W) are the λ = 0 means; ``lam_max`` and
    ``lam_max_power`` the largest λ used by the error and by the power fit."""

    error_fit: PowerLawFit
    power_fit: PowerLawFit
    floor: float
    power0: float
    lam_max: float
    lam_max_power: float


def fit_small_lambda(sweep: LambdaSweep, lam_max: float = np.inf,
                     lam_max_power: float | None = None) -> SmallLambdaFits:
    """Fit the small-λ laws on the λ values 0 < λ ≤ ``lam_max`` (power fit: ≤
    ``lam_max_power``, default ``lam_max``); needs a λ = 0 point.

    Only λ values whose mean error lies above the λ = 0 floor enter the error fit (at the
    smallest λ the excess drowns in the task-to-task scatter of the floor).
    """
    zero = np.flatnonzero(sweep.lam == 0)
    if zero.size == 0:
        raise ValueError("sweep: no λ = 0 tasks; the floor (error, power at λ = 0) is needed")
    floor, p0 = float(sweep.error[zero[0]]), float(sweep.power[zero[0]])
    lmp = lam_max if lam_max_power is None else lam_max_power
    use_e = (sweep.lam > 0) & (sweep.lam <= lam_max)
    use_p = (sweep.lam > 0) & (sweep.lam <= lmp)
    return SmallLambdaFits(fit_power_law(sweep.lam[use_e], sweep.error[use_e] - floor),
                           fit_power_law(sweep.lam[use_p], p0 - sweep.power[use_p]), floor, p0,
                           float(sweep.lam[use_e].max()) if use_e.any() else float("nan"),
                           float(sweep.lam[use_p].max()) if use_p.any() else float("nan"))


@dataclass(frozen=True)
class TwoRegimeFit:
    """Broken power law y ∝ x^slope_low below ``x_break`` and ∝ x^slope_high above,
    continuous at the break; slopes with one-sigma errors. For training time against α/γ
    the papers find slopes −1 (below α_c ≈ γ) and −½ (above)."""

    slope_low: float
    slope_low_err: float
    slope_high: float
    slope_high_err: float
    x_break: float
    prefactor: float

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        """The fitted law at ``x``."""
        return np.exp(_broken(np.log(np.asarray(x, dtype=float)), np.log(self.prefactor),
                              self.slope_low, self.slope_high, np.log(self.x_break)))


def _broken(lx: np.ndarray, c: float, s1: float, s2: float, lb: float) -> np.ndarray:
    """log y of a continuous broken power law in log x (break at log x = lb)."""
    return c + np.where(lx < lb, s1 * (lx - lb), s2 * (lx - lb))


def fit_two_regimes(x: np.ndarray, y: np.ndarray) -> TwoRegimeFit:
    """Fit a continuous broken power law to positive (x, y); needs >= 5 points, at least 2
    on each side of the break (the break is searched between the data points)."""
    lx, ly = _log_points(x, y, minimum=5)
    order = np.argsort(lx)
    lx, ly = lx[order], ly[order]
    best: tuple[float, np.ndarray] | None = None
    for k in range(2, lx.size - 1):
        lb = 0.5 * (lx[k - 1] + lx[k])
        s1 = np.polyfit(lx[:k], ly[:k], 1)[0]
        s2 = np.polyfit(lx[k:], ly[k:], 1)[0]
        c = float(np.mean(ly - np.where(lx < lb, s1, s2) * (lx - lb)))
        p0 = np.array([c, s1, s2, lb])
        cost = float(np.sum((_broken(lx, *p0) - ly) ** 2))
        if best is None or cost < best[0]:
            best = (cost, p0)
    assert best is not None
    popt, pcov = curve_fit(_broken, lx, ly, p0=best[1], maxfev=20000)
    errs = np.sqrt(np.abs(np.diag(pcov)))
    return TwoRegimeFit(float(popt[1]), float(errs[1]), float(popt[2]), float(errs[2]),
                        float(np.exp(popt[3])), float(np.exp(popt[0])))
