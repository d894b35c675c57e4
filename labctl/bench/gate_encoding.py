"""How the gate-controller firmware encodes its settings (firmware/src/config.h, ctl.c).

* η: a 7-bit digital potentiometer, taps 0..128, η = tap / 129 (tap 0 = safe, no nudge).
* λ: two potentiometers set the gains of the free and clamped measurement amplifiers,
  taps 0..128 with tap_free <= tap_clamped; the edge circuit squares the amplified drops, so
  (1 − λ) = (tap_free / tap_clamped)² (PHYSICS.md §5, inferred). Safe: both 128 (λ = 0).
* gate voltages: 12-bit DAC over 0..6.144 V (1.5 mV per count); read back through a 10-bit
  ADC at 8 mV per count, 4 readings averaged, plus half a count.
"""

from __future__ import annotations

import math

import numpy as np

POT_MAX = 128
ETA_DIVISOR = 129
DAC_FULL_SCALE_V = 6.144
DAC_COUNTS = 4096
ADC_V_PER_COUNT = 8e-3
ADC_SAMPLES = 4


def eta_to_tap(eta: float) -> int:
    """Potentiometer tap for nudge amplitude η; ValueError outside 1/129 .. 128/129."""
    tap = round(float(eta) * ETA_DIVISOR)
    if not (math.isfinite(eta) and 1 <= tap <= POT_MAX):
        raise ValueError(f"eta: {eta} cannot be set; allowed {1 / ETA_DIVISOR:.4f} .. "
                         f"{POT_MAX / ETA_DIVISOR:.4f} in steps of 1/{ETA_DIVISOR}")
    return tap


def tap_to_eta(tap: int) -> float:
    """η for a potentiometer tap (0 .. 128)."""
    return tap / ETA_DIVISOR


def lambda_to_taps(lam: float) -> tuple[int, int]:
    """(tap_free, tap_clamped) closest to λ, with the clamped gain at full scale."""
    if not (math.isfinite(lam) and 0.0 <= lam < 1.0):
        raise ValueError(f"lam: {lam} cannot be set; allowed 0 <= λ < 1")
    tap_free = round(POT_MAX * math.sqrt(1.0 - lam))
    if tap_free < 1:
        top = taps_to_lambda(1, POT_MAX)
        raise ValueError(f"lam: {lam} too close to 1; allowed 0 .. {top:.6f}")
    return tap_free, POT_MAX


def taps_to_lambda(tap_free: int, tap_clamped: int) -> float:
    """λ = 1 − (tap_free / tap_clamped)² for the two amplifier gain taps."""
    if not 0 < tap_free <= tap_clamped <= POT_MAX:
        raise ValueError(f"tap_free, tap_clamped: {tap_free}, {tap_clamped}; allowed "
                         f"0 < tap_free <= tap_clamped <= {POT_MAX}")
    return 1.0 - (tap_free / tap_clamped) ** 2


def dac_quantise(volts: np.ndarray | float) -> np.ndarray:
    """Gate voltage (V) the 12-bit DAC actually produces for a request of ``volts``."""
    lsb = DAC_FULL_SCALE_V / DAC_COUNTS
    return np.round(np.asarray(volts, dtype=float) / lsb) * lsb


def adc_readback(volts: np.ndarray, noise_v: float, rng: np.random.Generator) -> np.ndarray:
    """Firmware gate read-back (V): 4 noisy 8 mV ADC readings averaged, plus half a count."""
    v = np.asarray(volts, dtype=float)
    samples = v[..., None] + noise_v * rng.standard_normal((*v.shape, ADC_SAMPLES))
    counts = np.floor(np.clip(samples, 0.0, None) / ADC_V_PER_COUNT)
    return counts.mean(axis=-1) * ADC_V_PER_COUNT + ADC_V_PER_COUNT / 2
