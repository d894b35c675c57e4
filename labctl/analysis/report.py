"""Everything ``labctl analyze`` produces from a set of run files: summary table, the claim
statistics that apply, figures, collected in an :class:`AnalysisReport`.

Honesty rules: a paper's value is printed only beside the statistic the paper computed
(the bench λ campaign gets the per-λ means and a trend test, never small-λ exponents: the
paper fits those to N = 64 simulations only); a statistic with fewer than 5 usable points
is replaced by a sentence saying so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from labctl.analysis import figures
from labctl.analysis.control import ControlPairing, network_fingerprint, pair_control
from labctl.analysis.datasets import dataset_scores, score_lines
from labctl.analysis.frames import format_table, write_table
from labctl.analysis.load import (
    DEFAULT_ERROR_THRESHOLD,
    fixed_lambda,
    load_series,
    load_summary,
)
from labctl.analysis.nonequilibrium import NonequilibriumFit, fit_nonequilibrium
from labctl.analysis.tradeoff import TradeoffTrend, lambda_trend
from labctl.store import open_run


@dataclass
class AnalysisReport:
    """Results of :func:`analyze`: the summary ``table`` and the dataset ``scores`` (Iris
    accuracy …) as DataFrames (units in ``attrs["units"]``), the written ``files``
    (figures, CSV, Markdown), the statistics that applied, and ``notes`` saying what was
    skipped and why."""

    table: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    trend: TradeoffTrend | None = None
    nonequilibrium: NonequilibriumFit | None = None
    control: ControlPairing | None = None
    scores: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def summary_text(self) -> str:
        """The statistics and notes as lines of text."""
        lines: list[str] = []
        if self.trend is not None:
            lines += self.trend.lines()
        if self.nonequilibrium is not None:
            lines += self.nonequilibrium.lines()
        if self.control is not None:
            lines += [c.line() for c in self.control.pairs]
            lines += self.control.unpaired
        if self.scores is not None and len(self.scores):
            lines += score_lines(self.scores)
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _networks(paths: list[Path]) -> dict[str, str]:
    """File name → network fingerprint of each run file."""
    out = {}
    for p in paths:
        with open_run(p) as run:
            net = run.network
            out[run.path.name] = network_fingerprint(net.edges, net.n_nodes)
    return out


def _as_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    return [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]


def analyze(paths: str | Path | Iterable[str | Path], out_dir: str | Path, *,
            error_threshold: float = DEFAULT_ERROR_THRESHOLD) -> AnalysisReport:
    """Load ``paths`` (run files, live ones too), write ``summary.csv`` (units in the
    headers, :func:`labctl.analysis.frames.write_table`), ``summary.md`` (for people: SI
    prefixes), ``fits.txt`` (the statistics) and every applicable figure (PNG + PDF) into
    ``out_dir``.

    ``error_threshold`` (V²) defines the training time.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = _as_paths(paths)
    table = load_summary(files, error_threshold)
    series = load_series(files)
    rep = AnalysisReport(table)
    rep.files += [out / "summary.csv", out / "summary.md"]
    write_table(table, rep.files[0])
    rep.files[1].write_text(format_table(table), encoding="utf-8")
    rep.files += figures.plot_time_series(series, out)
    _tradeoff(rep, out)
    _nonequilibrium(rep, out)
    rep.files += figures.plot_kappa(table, out)
    rep.control = pair_control(series, _networks(files))
    if rep.control.pairs:
        for i, c in enumerate(rep.control.pairs):
            rep.files += figures.plot_lambda_control(
                c.control, c.baseline, c.target_error, out,
                stem="lambda_control" if i == 0 else f"lambda_control_{i}")
    rep.scores = dataset_scores(files)
    if len(rep.scores):
        rep.files.append(out / "scores.csv")
        write_table(rep.scores, rep.files[-1])
    fits_path = out / "fits.txt"
    fits_path.write_text(rep.summary_text() + "\n", encoding="utf-8")
    rep.files.append(fits_path)
    return rep


def _tradeoff(rep: AnalysisReport, out: Path) -> None:
    """Per-λ means and trend tests over the fixed-λ tasks of the files that vary λ (a
    λ-control file's λ = 0 baselines, or a fixed-λ run, would bias the λ = 0 mean)."""
    rows = fixed_lambda(rep.table)
    distinct = rows["lambda"].round(6).groupby(rows["file"]).nunique()
    fixed = rows[rows["file"].isin(distinct.index[distinct >= 2])]
    lam = fixed["lambda"].to_numpy(dtype=float)
    if np.unique(np.round(lam[np.isfinite(lam)], 6)).size < 2:
        return
    try:
        rep.trend = lambda_trend(fixed)
    except ValueError as exc:
        rep.notes.append(f"λ trade-off: {exc}")
    rep.files += figures.plot_tradeoff(fixed, out, rep.trend)


def _nonequilibrium(rep: AnalysisReport, out: Path) -> None:
    """γ·T against α/γ when the runs scan α/γ."""
    t = rep.table
    if not len(t):
        return
    alpha, gamma, time = (t[c].to_numpy(dtype=float)
                          for c in ("alpha", "gamma", "time_to_threshold"))
    ratio = alpha / gamma
    if np.unique(ratio[np.isfinite(ratio)]).size < 2:
        return
    gamma_time = gamma * time
    try:
        rep.nonequilibrium = fit_nonequilibrium(ratio, gamma_time)
    except (ValueError, RuntimeError) as exc:
        rep.notes.append(f"out of equilibrium: {exc}")
    rep.files += figures.plot_alpha_gamma(ratio, gamma_time, rep.nonequilibrium, out)
