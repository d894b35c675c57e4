"""How the gate-controller firmware encodes its settings: the one Python home of it.

Used by the simulated bench (:mod:`labctl.bench.simulated`) and the serial driver
(:mod:`labctl.drivers.serial_gates`); it mirrors firmware/src/config.h and ctl.c integer for
integer, so that both quantise η, λ and the gate voltages identically (firmware/PROTOCOL.md,
"Encodings and resolution").

* η: a 7-bit digital potentiometer, taps 0..128, η = tap / 129 (tap 0 = safe, no nudge).
* λ: the free and the clamped measurement amplifiers are identical non-inverting stages,
  G(n) = 1 + (R_fix + R_W + n·R_AB/128) / R_g with R_g = 13.7 kΩ, R_fix = 132 kΩ and a
  7-bit 5 kΩ rheostat (MCP4131-502, wiper R_W = 75 Ω) at tap n: ×10.64 (n = 0) .. ×11.006
  (n = 128). The edge circuit squares the amplified drops, so (1 − λ) = (G_free/G_clamped)²
  (PHYSICS.md §5). λ is reported in integer parts per million (ppm), computed exactly as
  the firmware does. The encoding keeps the clamped stage at its nominal ×11 (tap 128, so
  the learning rate does not change with λ) and trims the free stage: 129 values from 0 to
  λ_max ≈ 0.0652 in steps of 4.96e-4 .. 5.18e-4. Safe: both taps 128 (λ = 0).
* gate voltages: requested in whole mV; 12-bit DAC over 0..6.144 V, code =
  round(mV·4096/6144) (1.5 mV per count); read back through a 10-bit ADC at 8 mV per count,
  4 readings averaged, plus half a count.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

POT_MAX = 128
ETA_DIVISOR = 129
#: gain stage of each measurement amplifier (Ω): ground leg, fixed feedback, pot wiper,
#: pot end-to-end (firmware/src/config.h GAIN_*_OHM)
GAIN_RG_OHM = 13_700
GAIN_RFIX_OHM = 132_000
GAIN_RWIPER_OHM = 75
GAIN_RPOT_OHM = 5_000
#: tap of the clamped amplifier used by :func:`lambda_to_taps` (nominal ×11)
GAIN_TAP_CLAMPED = POT_MAX
PPM = 1_000_000
DAC_FULL_SCALE_MV = 6144
DAC_COUNTS = 4096
DAC_FULL_SCALE_V = DAC_FULL_SCALE_MV / 1000.0
ADC_V_PER_COUNT = 8e-3
ADC_SAMPLES = 4


def eta_to_tap(eta: float) -> int:
    """Potentiometer tap for nudge amplitude η (dimensionless); ValueError outside
    1/129 .. 128/129 (± half a step)."""
    if not (isinstance(eta, int | float | np.floating | np.integer) and math.isfinite(eta)):
        raise ValueError(f"eta: {eta!r} is not a number; allowed {1 / ETA_DIVISOR:.4f} .. "
                         f"{POT_MAX / ETA_DIVISOR:.4f} in steps of 1/{ETA_DIVISOR}")
    tap = round(float(eta) * ETA_DIVISOR)
    if not 1 <= tap <= POT_MAX:
        raise ValueError(f"eta: {eta} cannot be set; allowed {1 / ETA_DIVISOR:.4f} .. "
                         f"{POT_MAX / ETA_DIVISOR:.4f} in steps of 1/{ETA_DIVISOR}")
    return tap


def tap_to_eta(tap: int) -> float:
    """η (dimensionless) for a potentiometer tap (0 .. 128)."""
    _check_tap(tap, "tap")
    return tap / ETA_DIVISOR


def _check_tap(tap: int, name: str) -> None:
    if isinstance(tap, bool) or not isinstance(tap, int | np.integer) \
            or not 0 <= int(tap) <= POT_MAX:
        raise ValueError(f"{name}: {tap!r}; allowed integers 0 .. {POT_MAX}")


def _loop_units(tap: int) -> int:
    """128·(R_g + R_fix + R_W) + tap·R_AB = 128·R_g·G(tap), in Ω (an exact integer)."""
    return POT_MAX * (GAIN_RG_OHM + GAIN_RFIX_OHM + GAIN_RWIPER_OHM) + int(tap) * GAIN_RPOT_OHM


def amplifier_gain(tap: int) -> float:
    """Voltage gain (V/V) of a measurement amplifier whose trim pot sits at ``tap``."""
    _check_tap(tap, "tap")
    return _loop_units(tap) / (POT_MAX * GAIN_RG_OHM)


def taps_to_lambda_ppm(tap_free: int, tap_clamped: int) -> int:
    """λ = 1 − (G_free/G_clamped)² in ppm, rounded half up, for the two gain taps.

    The firmware's integer arithmetic (ctl_lambda_ppm); ValueError unless
    0 <= tap_free <= tap_clamped <= 128 (G_free > G_clamped would mean λ < 0).
    """
    _check_tap(tap_free, "tap_free")
    _check_tap(tap_clamped, "tap_clamped")
    if tap_free > tap_clamped:
        raise ValueError(f"tap_free, tap_clamped: {tap_free}, {tap_clamped}; allowed "
                         f"0 <= tap_free <= tap_clamped <= {POT_MAX}")
    a_f, a_c = _loop_units(tap_free), _loop_units(tap_clamped)
    den = a_c * a_c
    return ((a_c - a_f) * (a_c + a_f) * PPM + den // 2) // den


def taps_to_lambda(tap_free: int, tap_clamped: int) -> float:
    """λ (dimensionless) the two gain taps give, to the firmware's 1 ppm."""
    return taps_to_lambda_ppm(tap_free, tap_clamped) / PPM


#: largest λ the encoding reaches (free stage at tap 0, clamped at its nominal ×11)
LAMBDA_MAX_PPM = taps_to_lambda_ppm(0, GAIN_TAP_CLAMPED)
LAMBDA_MAX = LAMBDA_MAX_PPM / PPM


def lambda_to_ppm(lam: float) -> int:
    """λ request (dimensionless) as integer ppm; ValueError outside 0 .. LAMBDA_MAX."""
    if not (isinstance(lam, int | float | np.floating | np.integer) and math.isfinite(lam)):
        raise ValueError(f"lam: {lam!r} is not a number; allowed 0 <= λ <= {LAMBDA_MAX:.6f}")
    ppm = round(float(lam) * PPM)
    if not (lam >= 0.0 and ppm <= LAMBDA_MAX_PPM):
        raise ValueError(f"lam: {lam} cannot be set; allowed 0 <= λ <= {LAMBDA_MAX:.6f} "
                         f"(gain trim range, steps of about 5e-4)")
    return ppm


def ppm_to_taps(ppm: int) -> tuple[int, int]:
    """(tap_free, tap_clamped) nearest to λ = ppm·1e-6, clamped stage at tap 128.

    The firmware's rule (ctl_set_lambda): λ falls as tap_free rises; take the smallest tap
    whose λ is <= the request and its lower neighbour, keep the closer (a tie keeps the
    smaller λ). ValueError outside 0 .. LAMBDA_MAX_PPM.
    """
    if isinstance(ppm, bool) or not isinstance(ppm, int | np.integer) \
            or not 0 <= int(ppm) <= LAMBDA_MAX_PPM:
        raise ValueError(f"ppm: {ppm!r}; allowed integers 0 .. {LAMBDA_MAX_PPM}")
    lo, hi = 0, GAIN_TAP_CLAMPED  # invariant: λ(hi) <= ppm; answer in [lo, hi]
    while lo < hi:
        mid = (lo + hi) // 2
        if taps_to_lambda_ppm(mid, GAIN_TAP_CLAMPED) <= ppm:
            hi = mid
        else:
            lo = mid + 1
    tap = hi
    if tap > 0:
        below = ppm - taps_to_lambda_ppm(tap, GAIN_TAP_CLAMPED)
        above = taps_to_lambda_ppm(tap - 1, GAIN_TAP_CLAMPED) - ppm
        if above < below:
            tap -= 1
    return tap, GAIN_TAP_CLAMPED


def lambda_to_taps(lam: float) -> tuple[int, int]:
    """(tap_free, tap_clamped) closest to λ (dimensionless), clamped gain at nominal ×11."""
    return ppm_to_taps(lambda_to_ppm(lam))


def volts_to_mv(volts: float, name: str = "volts") -> int:
    """Gate voltage request (V) in the protocol's whole millivolts (round half to even)."""
    if not (isinstance(volts, int | float | np.floating | np.integer) and math.isfinite(volts)):
        raise ValueError(f"{name}: {volts!r} is not a finite voltage (V)")
    return round(float(volts) * 1000.0)


def mv_to_dac_code(mv: int) -> int:
    """DAC code the firmware writes for ``mv`` (0 .. 6144 mV): round(mV·4096/6144)."""
    if not 0 <= mv <= DAC_FULL_SCALE_MV:
        raise ValueError(f"mv: {mv}; allowed 0 .. {DAC_FULL_SCALE_MV} mV")
    return (mv * DAC_COUNTS + DAC_FULL_SCALE_MV // 2) // DAC_FULL_SCALE_MV


def dac_quantise(volts: np.ndarray | float) -> np.ndarray:
    """Gate voltage (V) the 12-bit DAC actually produces for a request of ``volts``.

    Same steps as the firmware: whole mV, then code = round(mV·4096/6144), 1.5 mV per code.
    Requests are limited to the DAC's 0 .. 6.144 V.
    """
    v = np.clip(np.asarray(volts, dtype=float), 0.0, DAC_FULL_SCALE_V)
    mv = np.round(v * 1000.0).astype(np.int64)
    code = (mv * DAC_COUNTS + DAC_FULL_SCALE_MV // 2) // DAC_FULL_SCALE_MV
    return code * (DAC_FULL_SCALE_V / DAC_COUNTS)


@functools.cache
def _compiled_readback() -> Any:
    """The compiled read-back arithmetic (numba loads only when a simulator reads gates)."""
    from labctl.bench.readback_kernel import adc_mean_of_readings

    return adc_mean_of_readings


def adc_readback(volts: np.ndarray, noise_v: float, rng: np.random.Generator) -> np.ndarray:
    """Firmware gate read-back (V): 4 noisy 8 mV ADC readings averaged, plus half a count."""
    adc_mean_of_readings = _compiled_readback()
    v = np.asarray(volts, dtype=float)
    normals = rng.standard_normal((*v.shape, ADC_SAMPLES))
    out = np.empty(v.shape)
    adc_mean_of_readings(np.ascontiguousarray(v).reshape(-1),
                         normals.reshape(-1, ADC_SAMPLES), float(noise_v), ADC_V_PER_COUNT,
                         out.reshape(-1))
    return out if out.ndim else out[()]
