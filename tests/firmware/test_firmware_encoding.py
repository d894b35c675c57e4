"""labctl.bench.gate_encoding on its own: the gain-stage formula, λ range and resolution,
nearest-tap selection, η and DAC encodings, and the refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labctl.bench import gate_encoding as enc


def _lambda_table() -> np.ndarray:
    return np.array([enc.taps_to_lambda(n, enc.GAIN_TAP_CLAMPED) for n in range(129)])


def test_gain_stage_is_the_nominal_x11_amplifier_trimmed_down() -> None:
    """G(n) = 1 + (R_fix + R_W + n R_AB/128)/R_g: ×11 at full tap, ×10.64 at tap 0."""
    assert enc.amplifier_gain(128) == pytest.approx(11.0, rel=1e-3)
    assert enc.amplifier_gain(0) == pytest.approx(1 + (132_000 + 75) / 13_700)
    steps = np.diff([enc.amplifier_gain(n) for n in range(129)])
    np.testing.assert_allclose(steps, 5000 / 128 / 13_700)


def test_lambda_range_and_resolution_cover_the_campaign() -> None:
    """0 .. ≥ 0.06 reachable, strictly monotonic, every step ≤ 5.2e-4 (about 5e-4)."""
    table = _lambda_table()
    assert table[-1] == 0.0 and table[0] == enc.LAMBDA_MAX >= 0.06
    steps = -np.diff(table)
    assert np.all(steps > 0)
    assert steps.max() <= 5.2e-4 and steps.min() >= 4.9e-4
    assert table[127] == pytest.approx(5.18e-4, abs=1e-6)  # smallest non-zero λ


def test_ppm_is_lambda_of_the_gains_rounded() -> None:
    """The integer ppm arithmetic equals 1 − (G_f/G_c)² to half a ppm for every pair."""
    worst = 0.0
    for tap_clamped in range(129):
        for tap_free in range(tap_clamped + 1):
            exact = 1 - (enc.amplifier_gain(tap_free) / enc.amplifier_gain(tap_clamped)) ** 2
            worst = max(worst, abs(enc.taps_to_lambda_ppm(tap_free, tap_clamped) - exact * 1e6))
    assert worst <= 0.5 + 1e-6


def test_lambda_to_taps_is_the_nearest_tap() -> None:
    """Every ppm request gets the nearest λ (ties keep the smaller λ); error ≤ half a step."""
    table_ppm = np.array([enc.taps_to_lambda_ppm(n, 128) for n in range(129)])
    for ppm in range(0, enc.LAMBDA_MAX_PPM + 1, 13):
        tap, clamped = enc.ppm_to_taps(ppm)
        dist = np.abs(table_ppm - ppm)
        best = int(np.flatnonzero(dist == dist.min()).max())  # larger tap = smaller λ
        assert (tap, clamped) == (best, 128), ppm
    assert enc.ppm_to_taps(259) == (128, 128) and enc.ppm_to_taps(260) == (127, 128)
    for lam in np.linspace(0, enc.LAMBDA_MAX, 301):
        assert abs(enc.taps_to_lambda(*enc.lambda_to_taps(float(lam))) - lam) <= 2.6e-4


@pytest.mark.parametrize("lam", [-1e-7, -0.1, enc.LAMBDA_MAX + 1e-6, 0.5, 1.0, math.nan,
                                 math.inf, "0.01"])
def test_lambda_outside_the_range_is_refused(lam: object) -> None:
    """ValueError naming lam and the allowed range."""
    with pytest.raises(ValueError, match=r"lam: .*allowed 0 <= λ <= 0\.065224"):
        enc.lambda_to_taps(lam)  # type: ignore[arg-type]


def test_bad_taps_are_refused() -> None:
    """Taps outside 0..128, non-integers, or a free gain above the clamped one."""
    for args in [(5, 4), (-1, 128), (0, 129), (1.0, 128), (True, 128)]:
        with pytest.raises(ValueError, match=r"tap_free|tap_clamped"):
            enc.taps_to_lambda_ppm(*args)  # type: ignore[arg-type]
    for ppm in (-1, enc.LAMBDA_MAX_PPM + 1, 0.5):
        with pytest.raises(ValueError, match="ppm"):
            enc.ppm_to_taps(ppm)  # type: ignore[arg-type]


def test_eta_encoding() -> None:
    """η = n/129 for n = 1..128; bench value 0.22 → 28; 0 and ≥ 128.5/129 refused."""
    assert enc.eta_to_tap(0.22) == 28 and enc.tap_to_eta(28) == 28 / 129
    assert enc.eta_to_tap(128 / 129) == 128
    for bad in (0.0, 0.003, 1.0, math.nan, -0.5):
        with pytest.raises(ValueError, match="eta"):
            enc.eta_to_tap(bad)


def test_dac_quantisation_follows_the_firmware_integer_steps() -> None:
    """Whole mV, then code = round(mV·4096/6144): 1.5 mV steps, within 0.75 mV + 0.5 mV."""
    assert enc.mv_to_dac_code(2500) == 1667 and enc.mv_to_dac_code(6144) == 4096
    volts = np.linspace(1.0, 5.5, 997)
    got = enc.dac_quantise(volts)
    assert np.all(np.abs(got - volts) <= 0.00125 + 1e-12)
    codes = got / (6.144 / 4096)
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-9)
    expected = [enc.mv_to_dac_code(enc.volts_to_mv(float(v))) * 6.144 / 4096 for v in volts]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="mv"):
        enc.mv_to_dac_code(7000)
