"""Training time against α/γ out of equilibrium (out-of-equilibrium-learning Figs. 2–3).

Statistic: the training time T in units of the relaxation time, γ·T (1), against α/γ.
Three numbers:

* the break α_c/γ: the knee of a continuous broken power law fitted to every point;
* the slope below the break (papers: −1, learning-limited: T ∝ 1/α), fitted on the points
  with α/γ ≤ α_c/(3γ) (away from the crossover, as the window above is);
* the slope above the break inside the authors' window, α/γ ∈ [3, 100] × α_c/γ (their
  data: −0.42 ± 0.06 for α/γ 3–100 with α_c ≈ γ; −½ is reached only asymptotically,
  α/γ 10³–10¹²). The window actually covered by usable points is stated, in units of the
  break; the exponent drifts along the window (in the authors' model the local slopes run
  from about −0.6 near the break to −0.3 at 100 ×: docs/PHYSICS_API.md), so a partly
  covered window gives a different number.

The papers' values are printed beside these numbers only when the caller says the times
are the papers' statistic (``papers_statistic=True``: the authors' model, T on the
*equilibrium* error of the current conductances reaching L/L0 < 1e-3, as
``labctl reproduce --claim nonequilibrium`` computes it). The window is then the
authors' own, α/γ ∈ [3, 100] (their α_c ≈ γ), not 3–100 × the fitted break. A bench run
file records the instantaneous error reaching an absolute threshold (``labctl analyze
--threshold``, V²): another statistic, for which no paper value is printed. When γ·T is
below 1 relaxation time inside the window, learning ends before the nodes have relaxed
once: the time is set by the relaxation (T ∝ 1/γ, slope → 0), not by the papers'
oscillating regime (γT ≫ 1 there); a note says so.

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
#: median γ·T in the window below this: relaxation-limited (learning ends within one
#: relaxation time)
RELAXATION_LIMITED = 1.0


@dataclass(frozen=True)
class NonequilibriumFit:
    """``broken`` the two-regime fit (its ``x_break`` is α_c/γ), ``low`` the slope fit
    below the break and ``window`` the slope fit in the authors' window above it (None
    with the reason in ``notes`` when fewer than MIN_POINTS points were usable); ``n_low``,
    ``n_window`` the usable points in each range; ``window_span`` the (lowest, highest)
    usable α/γ inside the window in units of the break (NaN without points);
    ``papers_statistic`` whether the times are the papers' statistic (paper values are
    printed beside the numbers only then, and the window is α/γ 3–100 itself: spans are
    then in units of α/γ, not of the break)."""

    broken: TwoRegimeFit
    low: PowerLawFit | None
    window: PowerLawFit | None
    n_low: int
    n_window: int
    notes: tuple[str, ...]
    window_span: tuple[float, float] = (float("nan"), float("nan"))
    papers_statistic: bool = False

    @property
    def window_range(self) -> tuple[float, float]:
        """The window's α/γ range: [3, 100] for the papers' statistic, else 3–100 × the
        break."""
        unit = 1.0 if self.papers_statistic else self.broken.x_break
        return WINDOW[0] * unit, WINDOW[1] * unit

    @property
    def covers_window(self) -> bool:
        """True if the usable points reach both ends of the authors' window (within a
        factor 1.5 of 3 × and of 100 × the break)."""
        lo, hi = self.window_span
        return bool(lo <= 1.5 * WINDOW[0] and hi >= WINDOW[1] / 1.5)

    def lines(self) -> list[str]:
        """Human-readable result lines (a paper's value stands beside the same statistic
        only: ``papers_statistic`` and, for the window, the whole window covered)."""
        xb = self.broken.x_break
        out = [f"γ·T against α/γ: break (α_c/γ) at α/γ ≈ {xb:.3g}"]
        if self.low is not None:
            paper = "; papers: −1" if self.papers_statistic else ""
            out.append(f"  slope below, α/γ ≤ {xb / BELOW:.3g} (≤ ⅓ of the break): "
                       f"{self.low.exponent:.3f} ± {self.low.exponent_err:.3f} "
                       f"({self.n_low} points{paper})".replace("-", "−"))
        if self.window is not None:
            lo, hi = self.window_span
            paper = (f"; authors' data in α/γ 3–100: {PAPER_WINDOW[0]:+.2f} ± "
                     f"{PAPER_WINDOW[1]:.2f}" if self.papers_statistic and self.covers_window
                     else "")
            where = ("the authors' window is α/γ 3–100" if self.papers_statistic else
                     f"{lo:.3g}–{hi:.3g} × the break; the authors' window is 3–100 ×")
            unit = 1.0 if self.papers_statistic else xb
            out.append(f"  slope above, α/γ in [{lo * unit:.3g}, {hi * unit:.3g}] ({where}): "
                       f"{self.window.exponent:.3f} ± {self.window.exponent_err:.3f} "
                       f"({self.n_window} points{paper})".replace("-", "−"))
        out += [f"  {n}" for n in self.notes]
        return out


def _usable(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)


def _window_notes(span: tuple[float, float], gamma_t: np.ndarray,
                  papers_statistic: bool) -> list[str]:
    """What the window fit is not: a partly covered window, a relaxation-limited regime,
    another statistic than the papers'."""
    notes = []
    lo, hi = span
    if not (lo <= 1.5 * WINDOW[0] and hi >= WINDOW[1] / 1.5):
        covered = (f"α/γ {lo:.3g}–{hi:.3g}, not the authors' 3–100" if papers_statistic
                   else f"{lo:.3g}–{hi:.3g} × the break, not the authors' 3–100 ×")
        notes.append(f"the usable points cover {covered}: the exponent drifts along the "
                     "window (local slopes "
                     "from about −0.6 near the break to −0.3 at 100 × in the authors' model, "
                     "benchmarks/bench_physics_noneq.py), so this slope is not the authors' "
                     "window exponent")
    median = float(np.median(gamma_t))
    if median < RELAXATION_LIMITED:
        notes.append(f"median γ·T in the window is {median:.2g} relaxation times (< 1): "
                     "the error reaches the threshold before the nodes have relaxed once, "
                     "so T is set by the relaxation (T ∝ 1/γ, slope → 0), not by the papers' "
                     "oscillating regime, where γT ≫ 1")
    if not papers_statistic:
        notes.append("no paper value is printed: the papers' exponents are for the "
                     "equilibrium error of the current conductances falling to 1e-3 L0 "
                     "in their model (`labctl reproduce --claim nonequilibrium`), these "
                     "times for the error the run files recorded")
    return notes


def fit_nonequilibrium(ratio: np.ndarray, gamma_time: np.ndarray, *,
                       papers_statistic: bool = False) -> NonequilibriumFit:
    """Fit γ·T (``gamma_time``, 1) against α/γ (``ratio``, 1); see the module docstring.
    ``papers_statistic``: the times are the papers' (equilibrium error, L/L0 < 1e-3, the
    authors' model), so the papers' values may be printed beside the same numbers.
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
    unit = 1.0 if papers_statistic else xb  # the authors' window is α/γ 3–100 itself
    inside = (x >= WINDOW[0] * unit) & (x <= WINDOW[1] * unit)
    notes = []
    low = window = None
    span = (float("nan"), float("nan"))
    if below.sum() >= MIN_POINTS:
        low = fit_power_law(x[below], y[below])
    else:
        notes.append(f"below ⅓ of the break: {int(below.sum())} usable points, fewer than "
                     f"{MIN_POINTS} — no slope given")
    if inside.sum() >= MIN_POINTS:
        window = fit_power_law(x[inside], y[inside])
        span = (float(x[inside].min() / unit), float(x[inside].max() / unit))
        notes += _window_notes(span, y[inside], papers_statistic)
    else:
        where = "α/γ 3–100" if papers_statistic else "3–100 × the break"
        notes.append(f"authors' window ({where}): {int(inside.sum())} usable "
                     f"points, fewer than {MIN_POINTS} — no slope given")
    return NonequilibriumFit(broken, low, window, int(below.sum()), int(inside.sum()),
                             tuple(notes), span, papers_statistic)
