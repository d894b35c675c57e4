"""Threshold crossing and fit helpers on data with known answers."""

import numpy as np
import pytest

from labctl.analysis.fits import fit_power_law, fit_two_regimes, pareto_front
from labctl.analysis.load import first_crossing


def test_first_crossing_interpolates_in_log():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    err = np.array([1e-2, 1e-3, 1e-5, 1e-6])
    assert first_crossing(t, err, 1e-4) == pytest.approx(1.5)
    assert first_crossing(t, err, 1e-2) == 0.0
    assert np.isnan(first_crossing(t, err, 1e-7))
    with pytest.raises(ValueError, match="threshold"):
        first_crossing(t, err, 0.0)


def test_power_law_fit_recovers_exponent_with_error():
    rng = np.random.default_rng(0)
    x = np.geomspace(1e-3, 1e-1, 12)
    y = 3.0 * x ** 2 * np.exp(0.05 * rng.standard_normal(x.size))
    fit = fit_power_law(x, y)
    assert abs(fit.exponent - 2.0) < 3 * fit.exponent_err + 0.02
    assert 0 < fit.exponent_err < 0.1 and fit.n == 12
    assert fit(0.01) == pytest.approx(3e-4, rel=0.2)
    with pytest.raises(ValueError, match="usable points"):
        fit_power_law([1.0, 2.0], [1.0, 2.0])


def test_pareto_front():
    err = np.array([1.0, 2.0, 0.5, 3.0, 2.5])
    power = np.array([5.0, 3.0, 6.0, 1.0, 4.0])
    assert pareto_front(err, power).tolist() == [2, 0, 1, 3]


def test_two_regime_fit():
    x = np.geomspace(1e-2, 1e2, 17)
    y = np.where(x < 1.0, x ** -1.0, x ** -0.5)
    fit = fit_two_regimes(x, y)
    assert fit.slope_low == pytest.approx(-1.0, abs=0.02)
    assert fit.slope_high == pytest.approx(-0.5, abs=0.02)
    assert fit.x_break == pytest.approx(1.0, rel=0.2)
