"""Everything ``labctl analyze`` produces from a set of run files: summary table, fits and
figures, collected in an :class:`AnalysisReport`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labctl.analysis import figures
from labctl.analysis.control import ControlComparison, compare_control
from labctl.analysis.fits import (
    SmallLambdaFits,
    TwoRegimeFit,
    fit_small_lambda,
    fit_two_regimes,
    lambda_sweep,
)
from labctl.analysis.load import DEFAULT_ERROR_THRESHOLD, load_series, load_summary
from labctl.analysis.table import Table


@dataclass
class AnalysisReport:
    """Results of :func:`analyze`: the summary ``table``, the written ``files`` (figures,
    CSV, Markdown), the fits that applied, and ``notes`` saying what was skipped and why."""

    table: Table
    files: list[Path] = field(default_factory=list)
    small_lambda: SmallLambdaFits | None = None
    two_regimes: TwoRegimeFit | None = None
    control: list[ControlComparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary_text(self) -> str:
        """The fit results and notes as lines of text."""
        lines = []
        if self.small_lambda is not None:
            f = self.small_lambda
            lines.append(f"small-λ fits: error above floor ∝ λ^a (λ ≤ {f.lam_max:.3g}), "
                         f"a = {f.error_fit.exponent:.3f} ± {f.error_fit.exponent_err:.3f}; "
                         f"power drop ∝ λ^b (λ ≤ {f.lam_max_power:.3g}), "
                         f"b = {f.power_fit.exponent:.3f} ± {f.power_fit.exponent_err:.3f} "
                         f"(papers: a ≈ 2, b ≈ 1)")
        if self.two_regimes is not None:
            r = self.two_regimes
            lines.append(f"γ × training time vs α/γ: slope {r.slope_low:.3f} ± "
                         f"{r.slope_low_err:.3f}"
                         f" below α/γ ≈ {r.x_break:.3g}, {r.slope_high:.3f} ± "
                         f"{r.slope_high_err:.3f} above (papers: −1 and −0.5)")
        for c in self.control:
            lines.append(f"λ control '{c.control.name}': P^F = {c.power_control:.4g} W at "
                         f"L = {c.final_error_control:.3g} V²; early stopping of "
                         f"'{c.baseline.name}' at L̃ = {c.target_error:.3g} V²: "
                         f"P^F = {c.power_early_stop:.4g} W; saving {100 * c.saving:.1f} %")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _sweep_rows(table: Table) -> Table:
    """The fixed-λ rows of the files that vary λ (other files would bias the λ = 0 floor)."""
    lams: dict[str, set[float]] = {}
    for r in table:
        if r.get("lambda_control") == "off":
            lams.setdefault(r["file"], set()).add(round(float(r["lambda"]), 6))
    keep = {f for f, v in lams.items() if len(v) >= 2}
    return Table(table.columns, (r for r in table if r["file"] in keep))


def analyze(paths: str | Path | Iterable[str | Path], out_dir: str | Path, *,
            error_threshold: float = DEFAULT_ERROR_THRESHOLD,
            lam_max: float = np.inf, lam_max_power: float | None = None) -> AnalysisReport:
    """Load ``paths`` (run files, live ones too), write ``summary.csv``, ``summary.md``,
    ``fits.txt`` and every applicable figure (PNG + PDF) into ``out_dir``.

    ``error_threshold`` (V²) defines the training time; ``lam_max`` bounds the λ range of
    the small-λ error fit and ``lam_max_power`` that of the power fit (default lam_max).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = load_summary(paths, error_threshold)
    series = load_series(paths)
    rep = AnalysisReport(table)
    rep.files += [out / "summary.csv", out / "summary.md"]
    table.to_csv(rep.files[0])
    table.to_markdown(rep.files[1])
    rep.files += figures.plot_time_series(series, out)
    tradeoff = figures.plot_tradeoff(table, out)
    rep.files += tradeoff
    sweep = lambda_sweep(_sweep_rows(table))
    if sweep.lam.size >= 4 and np.any(sweep.lam == 0):
        try:
            rep.small_lambda = fit_small_lambda(sweep, lam_max, lam_max_power)
            rep.files += figures.plot_small_lambda(sweep, rep.small_lambda, out)
        except ValueError as exc:
            rep.notes.append(f"small-λ fit skipped: {exc}")
    elif tradeoff:
        rep.notes.append("small-λ fit needs λ = 0 and at least 3 values λ > 0")
    rep.files += figures.plot_kappa(table, out)
    ratio = table.column("alpha") / table.column("gamma") if len(table) else np.array([])
    if np.unique(ratio[np.isfinite(ratio)]).size >= 5:
        try:
            scaled = table.column("gamma") * table.column("time_to_threshold")
            rep.two_regimes = fit_two_regimes(ratio, scaled)
        except (ValueError, RuntimeError) as exc:
            rep.notes.append(f"two-regime fit skipped: {exc}")
    rep.files += figures.plot_alpha_gamma(table, rep.two_regimes, out)
    rep.control = compare_control(series)
    if rep.control:
        c = rep.control[0]
        rep.files += figures.plot_lambda_control(c.control, c.baseline, c.target_error, out)
    elif any(s.params.get("lambda_control") == "on" for s in series):
        rep.notes.append("λ-control tasks found but no λ = 0 task to compare with")
    fits_path = out / "fits.txt"
    fits_path.write_text(rep.summary_text() + "\n", encoding="utf-8")
    rep.files.append(fits_path)
    return rep
