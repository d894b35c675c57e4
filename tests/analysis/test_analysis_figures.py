"""Figures and comparisons whose run files are too slow for the test budget (κ scan, α/γ
scan, λ control), on synthetic tables and series with known answers."""

import numpy as np
import pytest

from labctl.analysis import figures
from labctl.analysis.control import compare_control
from labctl.analysis.fits import fit_two_regimes
from labctl.analysis.load import SUMMARY_COLUMNS, TaskSeries
from labctl.analysis.table import Table


def _row(**values):
    row = dict.fromkeys(SUMMARY_COLUMNS, float("nan"))
    row.update(file="x.h5", name="t", status="completed", lambda_control="off", **values)
    return row


def _series(name, lam, error, power, **params):
    t = np.linspace(0.0, 10.0, error.size)
    return TaskSeries("x.h5", 0, name, {"source_nodes": [0, 10], "target_nodes": [5, 15],
                                        **params},
                      t, error, error / error[0], power, power, np.cumsum(power) * t[1],
                      np.full(t.size, lam))


def test_alpha_gamma_figure_and_fit(tmp_path):
    alpha = 41.7
    gamma = alpha / np.geomspace(1e-2, 1e2, 9)
    ratio = alpha / gamma
    gamma_t = np.where(ratio < 1, 50 / ratio, 50 / np.sqrt(ratio))
    table = Table(SUMMARY_COLUMNS, [_row(alpha=alpha, gamma=g, time_to_threshold=gt / g)
                                    for g, gt in zip(gamma, gamma_t)])
    fit = fit_two_regimes(ratio, table.column("gamma") * table.column("time_to_threshold"))
    assert fit.slope_low == pytest.approx(-1.0, abs=0.05)
    assert fit.slope_high == pytest.approx(-0.5, abs=0.05)
    paths = figures.plot_alpha_gamma(table, fit, tmp_path)
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size for p in paths)
    one = Table(SUMMARY_COLUMNS, [_row(alpha=alpha, gamma=1.0, time_to_threshold=1.0)])
    assert figures.plot_alpha_gamma(one, None, tmp_path / "none") == []


def test_kappa_figure_skips_rows_without_kappa(tmp_path):
    rows = [_row(kappa=k, time_to_threshold=1e-3 / k + 1, energy_to_threshold=k + 1e-6 / k)
            for k in np.geomspace(1e-4, 1e-2, 5)]
    rows.append(_row(time_to_threshold=0.5, energy_to_threshold=1e-9))   # no κ: ignored
    paths = figures.plot_kappa(Table(SUMMARY_COLUMNS, rows), tmp_path)
    assert len(paths) == 2 and paths[0].stat().st_size > 1000


def test_lambda_control_against_early_stopping(tmp_path):
    err = np.geomspace(1e-2, 1e-5, 101)
    base = _series("task", 0.0, err, np.linspace(4e-4, 2e-4, 101))
    ctrl = _series("task", 0.01, np.maximum(err, 1e-3), np.linspace(4e-4, 1e-4, 101),
                   lambda_control="on", target_error=1e-3)
    (c,) = compare_control([base, ctrl])
    assert c.time_early_stop == pytest.approx(10.0 / 3, rel=1e-6)   # L = 1e-3 at t = 10/3 s
    p_stop = 4e-4 - 2e-4 * (1 / 3)
    assert c.power_early_stop == pytest.approx(p_stop, rel=1e-3)
    assert c.saving == pytest.approx(1 - 1e-4 / p_stop, rel=1e-3)
    assert figures.plot_lambda_control(c.control, c.baseline, 1e-3, tmp_path)
    assert compare_control([ctrl]) == []   # nothing to compare with
