"""Training time against α/γ out of equilibrium (out-of-equilibrium-learning Figs. 2–3).

Statistic, as the papers compute it: the training time T in units of the relaxation time,
γ·T (1), against α/γ. Three numbers:

* the break α_c/γ: the knee of a continuous broken power law fitted to every point;
* the slope below the break (papers: −1, learning-limited: T ∝ 1/α), fitted on the points
  with α/γ ≤ α_c/(3γ) (away from the crossover, as the window above is);
* the slope above the break inside the authors' window, α/γ ∈ [3, 100] × α_c/γ (their
  data: −0.42 ± 0.06 for α/γ 3–100 with α_c ≈ γ; −½ is reached only asymptotically,
  α/γ 10³–10¹²).

On the bench the break is *not* at α/γ ≈ 1: the rule's α multiplies ΔV²/η, so the measured
break is what locates α_c, and the window is taken relative to it. Each slope needs at least
:data:`MIN_POINTS` usable points (finite, positive); with fewer, no number is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labctl.analysis.fits import PowerLawFit, TwoRegimeFit, fit_power_law, fit_two_regimes

#: fewest usable points for any slope
MIN_POINTS = 5
#: the authors' window above the break, in units of the break
WINDOW = (3.0, 100.0)
#: the slope below is fitted at α/γ ≤ break / BELOW (away from the crossover, as the window)
BELOW = 3.0
#: the papers' values: slope below α_c, and the authors' window exponent ± its spread
PAPER_LOW = -1.0
PAPER_WINDOW = (-0.42, 0.06)


@dataclass(frozen=True)
class NonequilibriumFit:
    """``broken`` the two-regime fit (its ``x_break`` is α_c/γ), ``low`` the slope fit
    below the break and ``window`` the slope fit in the authors' window above it (None
    with the reason in ``notes`` when fewer than MIN_POINTS points were usable); ``n_low``,
    ``n_window`` the usable points in each range."""

    broken: TwoRegimeFit
    low: PowerLawFit | None
    window: PowerLawFit | None
    n_low: int
    n_window: int
    notes: tuple[str, ...]

    def lines(self) -> list[str]:
        """Human-readable result lines (the papers' values stand beside the same
        statistic only)."""
        out = [f"γ·T against α/γ: break (α_c/γ) at α/γ ≈ {self.broken.x_break:.3g}"]
        if self.low is not None:
            out.append(f"  slope below, α/γ ≤ {self.broken.x_break / BELOW:.3g} (≤ ⅓ of the "
                       f"break): {self.low.exponent:.3f} ± {self.low.exponent_err:.3f} "
                       f"({self.n_low} points; papers: −1)")
        if self.window is not None:
            lo, hi = (w * self.broken.x_break for w in WINDOW)
            out.append(f"  slope above, α/γ in [{lo:.3g}, {hi:.3g}] (3–100 × the break): "
                       f"{self.window.exponent:.3f} ± {self.window.exponent_err:.3f} "
                       f"({self.n_window} points; authors' data in that window: "
                       f"{PAPER_WINDOW[0]:+.2f} ± {PAPER_WINDOW[1]:.2f})".replace("-", "−"))
        out += [f"  {n}" for n in self.notes]
        return out


def _usable(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)


def fit_nonequilibrium(ratio: np.ndarray, gamma_time: np.ndarray) -> NonequilibriumFit:
    """Fit γ·T (``gamma_time``, 1) against α/γ (``ratio``, 1); see the module docstring.
    ValueError when fewer than 2·MIN_POINTS points are usable (no break without both
    regimes)."""
    x = np.asarray(ratio, dtype=float).ravel()
    y = np.asarray(gamma_time, dtype=float).ravel()
    ok = _usable(x, y)
    if ok.sum() < 2 * MIN_POINTS:
        raise ValueError(f"{int(ok.sum())} usable (α/γ, γ·T) points (runs that reached the "
                         f"threshold); at least {2 * MIN_POINTS} are needed for a break "
                         "(no number is given)")
    x, y = x[ok], y[ok]
    broken = fit_two_regimes(x, y)
    xb = broken.x_break
    below = x <= xb / BELOW
    inside = (x >= WINDOW[0] * xb) & (x <= WINDOW[1] * xb)
    notes = []
    low = window = None
    if below.sum() >= MIN_POINTS:
        low = fit_power_law(x[below], y[below])
    else:
        notes.append(f"below ⅓ of the break: {int(below.sum())} usable points, fewer than "
                     f"{MIN_POINTS} — no slope given")
    if inside.sum() >= MIN_POINTS:
        window = fit_power_law(x[inside], y[inside])
    else:
        notes.append(f"authors' window (3–100 × the break): {int(inside.sum())} usable "
                     f"points, fewer than {MIN_POINTS} — no slope given")
    return NonequilibriumFit(broken, low, window, int(below.sum()), int(inside.sum()),
                             tuple(notes))
