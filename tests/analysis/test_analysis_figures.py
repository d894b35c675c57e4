"""Figures and comparisons whose run files are too slow for the test budget (κ scan, α/γ
scan, λ control), on synthetic tables and series with known answers."""

import numpy as np
import pytest

from labctl.analysis import figures
from labctl.analysis.control import compare_control, network_fingerprint, pair_control
from labctl.analysis.frames import make_frame
from labctl.analysis.load import SUMMARY_COLUMNS, SUMMARY_UNITS, TaskSeries
from labctl.analysis.nonequilibrium import fit_nonequilibrium
from labctl.analysis.tradeoff import lambda_trend


def _row(**values):
    row = dict.fromkeys(SUMMARY_COLUMNS, float("nan"))
    row.update(file="x.h5", task=0, name="t", kind="", status="completed",
               lambda_control="off", rows=10, **values)
    return row


def _table(rows):
    return make_frame(rows, SUMMARY_COLUMNS, SUMMARY_UNITS)


def _series(name, lam, error, power, **params):
    t = np.linspace(0.0, 10.0, error.size)
    return TaskSeries("x.h5", 0, name, {"source_nodes": [0, 10], "target_nodes": [5, 15],
                                        **params},
                      t, error, error / error[0], power, power, np.cumsum(power) * t[1],
                      np.full(t.size, lam))


def test_alpha_gamma_figure_and_fit(tmp_path):
    """Synthetic γ·T = 50/(α/γ) below the break at α/γ = 1 and ∝ (α/γ)^−0.42 above: the
    break, the slope below and the authors'-window slope come back."""
    alpha = 41.7
    ratio = np.geomspace(1e-2, 1e2, 17)
    gamma = alpha / ratio
    gamma_t = np.where(ratio < 1, 50 / ratio, 50 * ratio ** -0.42)
    table = _table([_row(alpha=alpha, gamma=g, time_to_threshold=gt / g)
                    for g, gt in zip(gamma, gamma_t)])
    ratio_t = (table["alpha"] / table["gamma"]).to_numpy()
    gt = (table["gamma"] * table["time_to_threshold"]).to_numpy()
    fit = fit_nonequilibrium(ratio_t, gt, papers_statistic=True)
    assert fit.broken.x_break == pytest.approx(1.0, rel=0.2)
    assert fit.low.exponent == pytest.approx(-1.0, abs=0.02) and fit.n_low >= 5
    assert fit.window.exponent == pytest.approx(-0.42, abs=0.02) and fit.n_window >= 5
    text = "\n".join(fit.lines())
    assert "papers: −1" in text and "−0.42 ± 0.06" in text.replace("-", "−")
    plain = "\n".join(fit_nonequilibrium(ratio_t, gt).lines())  # not the papers' statistic
    assert "papers" not in plain.split("no paper value")[0] and "0.06" not in plain
    paths = figures.plot_alpha_gamma(ratio_t, gamma_t, fit, tmp_path)
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size for p in paths)
    assert figures.plot_alpha_gamma(np.array([1.0]), np.array([1.0]), None,
                                    tmp_path / "none") == []


def test_alpha_gamma_too_few_points_gives_no_number():
    ratio = np.geomspace(1e-2, 1e2, 9)
    gt = np.where(ratio < 1, 50 / ratio, 50 * ratio ** -0.5)
    with pytest.raises(ValueError, match="at least 10"):
        fit_nonequilibrium(ratio, gt)
    fit = fit_nonequilibrium(np.geomspace(1e-2, 2.0, 11), 50 / np.geomspace(1e-2, 2.0, 11)
                             * np.r_[np.ones(9), 1.0, 1.0])
    assert fit.window is None and any("fewer than 5" in n for n in fit.notes)
    assert "window" not in " ".join(fit.lines()[1:2])


def test_alpha_gamma_partial_relaxation_limited_window_says_so():
    """Bench-like γ·T (the shipped out_of_equilibrium.toml: T = 6.2 s up to the break, then
    T ≈ 0.7/γ): the window slope is given with the span it covers, no paper value, and
    notes for the partial window and the relaxation-limited regime (γ·T < 1)."""
    gamma = np.array([30, 15, 8, 4, 2, 1.2, 0.6, 0.4, 0.25, 0.06, 0.045, 0.03, 0.02, 0.015,
                      0.01])
    t = np.array([6.2] * 9 + [14, 17, 24, 34, 45, 66])
    fit = fit_nonequilibrium(41.7 / gamma, gamma * t)
    text = "\n".join(fit.lines())
    assert fit.window is not None and -0.2 < fit.window.exponent < 0.0
    assert "× the break" in fit.lines()[2] and not fit.covers_window
    assert "0.42" not in text and "papers: −1" not in text
    assert any("not the authors' window exponent" in n for n in fit.notes)
    assert any("relaxed once" in n for n in fit.notes)


def test_kappa_figure_skips_rows_without_kappa(tmp_path):
    rows = [_row(kappa=k, time_to_threshold=1e-3 / k + 1, energy_to_threshold=k + 1e-6 / k)
            for k in np.geomspace(1e-4, 1e-2, 5)]
    rows.append(_row(time_to_threshold=0.5, energy_to_threshold=1e-9))   # no κ: ignored
    paths = figures.plot_kappa(_table(rows), tmp_path)
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
    assert "'task' (x.h5, task 0)" in c.line()
    assert figures.plot_lambda_control(c.control, c.baseline, 1e-3, tmp_path)
    assert compare_control([ctrl]) == []   # nothing to compare with


@pytest.mark.parametrize("change", [
    {"target_nodes": [5, 14]}, {"source_nodes": [1, 10]}, {"gate_voltage": 3.0},
    {"target_voltages": [0.045, 0.408]}, {"eta": 0.1}, {"dataset_seed": 3}])
def test_lambda_control_refuses_a_different_task(change):
    """A λ = 0 run of another task (other nodes, targets, initial gates, η, dataset) is
    never used as the early-stopping baseline: the control task is named as unpaired."""
    err = np.geomspace(1e-2, 1e-5, 51)
    other = _series("other", 0.0, err, np.linspace(4e-4, 2e-4, 51), **change)
    ctrl = _series("ctl", 0.01, np.maximum(err, 1e-3), np.linspace(4e-4, 1e-4, 51),
                   lambda_control="on", target_error=1e-3)
    pairing = pair_control([other, ctrl])
    assert pairing.pairs == []
    assert len(pairing.unpaired) == 1 and "'ctl'" in pairing.unpaired[0]


def test_lambda_control_pairs_across_files_only_on_the_same_network():
    err = np.geomspace(1e-2, 1e-5, 51)
    base = _series("b", 0.0, err, np.linspace(4e-4, 2e-4, 51))
    ctrl = _series("c", 0.01, np.maximum(err, 1e-3), np.linspace(4e-4, 1e-4, 51),
                   lambda_control="on", target_error=1e-3)
    assert len(pair_control([base, ctrl], {"x.h5": "net-a"}).pairs) == 1
    lattice = network_fingerprint(np.array([[0, 1], [1, 2], [2, 0]]), 3)
    assert lattice == network_fingerprint(np.array([[1, 2], [0, 1], [0, 2]]), 3)
    assert lattice != network_fingerprint(np.array([[0, 1], [1, 2]]), 3)


def test_tradeoff_trend_and_diamonds(tmp_path):
    """Per-λ means: error rising and power falling with λ is a PASS with a small p; a flat
    campaign is not; fewer than 5 tasks give no number."""
    rng = np.random.default_rng(0)
    lams = np.repeat([0.0, 0.01, 0.02, 0.03, 0.04, 0.05], 8)
    err = 1e-5 * (1 + 400 * lams ** 2) * rng.lognormal(0, 0.5, lams.size)
    power = 2e-4 * (1 - 8 * lams) * rng.lognormal(0, 0.1, lams.size)
    rows = [_row(**{"lambda": lam}, final_error=e, final_power_free=p)
            for lam, e, p in zip(lams, err, power)]
    trend = lambda_trend(_table(rows))
    assert trend.holds and trend.error_trend.p < 1e-3 and trend.power_trend.rho < -0.5
    assert list(trend.count) == [8] * 6 and np.all(trend.error_sem > 0)
    assert trend.error_mean[0] == pytest.approx(err[:8].mean())
    assert "PASS" in "\n".join(trend.lines()) and "papers" not in "\n".join(trend.lines())
    paths = figures.plot_tradeoff(_table(rows), tmp_path, trend)
    assert len(paths) == 2 and paths[0].stat().st_size > 1000
    flat = [_row(**{"lambda": lam}, final_error=e, final_power_free=2e-4)
            for lam, e in zip(lams, rng.permutation(err))]
    assert not lambda_trend(_table(flat)).holds
    with pytest.raises(ValueError, match="4 usable"):
        lambda_trend(_table(rows[:2] + rows[-2:]))
