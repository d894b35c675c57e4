"""Fitting the twin's per-edge calibration to a run of a bench with known, perturbed S, V_T."""

import re
from pathlib import Path

import numpy as np

from labctl.analysis.calibration import fit_calibration
from labctl.bench import open_bench
from labctl.bench.config import load_bench
from labctl.protocol import load_protocol
from labctl.runner.session import RunSession

SIM_BENCH = Path(__file__).resolve().parents[2] / "labctl" / "resources" / "benches" / "sim.toml"


S_TRUE = 8.5e-4 * (1 + 0.2 * np.random.default_rng(11).uniform(-1, 1, 32))    # A/V²
VT_TRUE = 0.62 + 0.08 * np.random.default_rng(12).uniform(-1, 1, 32)           # V


def _run_perturbed_bench(kit, tmp_path, lam, duration, count, sources=(0.0, 0.45)):
    """Run random allostery tasks on a sim bench whose per-edge S and V_T are S_TRUE, VT_TRUE."""
    text = SIM_BENCH.read_text()
    text = re.sub(r"(?m)^S = .*$", "S = [" + ", ".join(f"{v:.6e}" for v in S_TRUE) + "]", text)
    text = re.sub(r"(?m)^V_T = .*$", "V_T = [" + ", ".join(f"{v:.5f}" for v in VT_TRUE) + "]",
                  text)
    (tmp_path / "bench.toml").write_text(text)
    kit.write(tmp_path / "p.toml", name="calib", bench="bench.toml", duration=duration,
              lam=kit.lambda_fixed(lam), record_rate=20.0, seed=0, gate_voltage=3.0,
              tasks=kit.random_tasks(count, seed=9, sources=sources,
                                     targets="[[0.091, 0.363], [0.045, 0.408]]"))
    out = tmp_path / "run.h5"
    RunSession(load_protocol(tmp_path / "p.toml"), out, clock="fast").run()
    return out


def test_recovers_perturbed_calibration(tmp_path, protocols):
    """Gates that move (λ = 0.03 slides them along the solution manifold) separate S from
    V_T; the fit then recovers the bench file's per-edge values."""
    fit = fit_calibration(_run_perturbed_bench(protocols, tmp_path, 0.03, 10.0, 8))
    s_true, vt_true = S_TRUE, VT_TRUE
    s_err = np.abs(fit.S / s_true - 1)
    vt_err = np.abs(fit.V_T - vt_true)
    print(f"\nS rel. error median {np.median(s_err):.3f} max {s_err.max():.3f}; "
          f"V_T error median {np.median(vt_err) * 1e3:.1f} mV max {vt_err.max() * 1e3:.1f} mV; "
          f"noise {fit.noise_v:.2e} V, gate {fit.gate_noise_v:.2e} V, "
          f"separation {fit.separation:.3g}")
    # the twin's own 2 % transistor mismatch bounds how close S can come
    assert np.median(s_err) < 0.04 and np.median(vt_err) < 0.02
    # far better than the nominal calibration the perturbation started from
    assert np.median(s_err) < 0.3 * np.median(np.abs(8.5e-4 / s_true - 1))
    assert np.median(vt_err) < 0.3 * np.median(np.abs(0.62 - vt_true))
    # the bootstrap errors are of the size of the actual errors (not wildly optimistic),
    # measured against the transistors the simulator really built: the bench file's S
    # times the twin's own random mismatch (same seed as the run), mean of both copies
    b = open_bench(load_bench(tmp_path / "bench.toml"), seed=0).daq.core.twin._b
    s_built = 0.5 * (np.ravel(b.s_free)[-32:] + np.ravel(b.s_clamp)[-32:])
    s_built *= s_true.mean() / s_built.mean()  # the fit's overall scale is the bench mean
    assert np.median(np.abs(fit.S / s_built - 1)) < 10 * np.median(fit.S_err / fit.S)
    assert abs(fit.S.mean() / s_true.mean() - 1) < 1e-6   # scale fixed to the bench mean
    assert "[calibration]" in fit.to_toml() and fit.to_toml().count(",") == 62
    assert 0 < fit.noise_v < 0.01 and fit.separation > 5


def test_weak_signal_reports_large_errors(tmp_path, protocols):
    """Sources 10 mV apart drive currents near the noise floor (0.7 mV rms per sample):
    the fit must say so (large errors) rather than return confident wrong numbers."""
    run = _run_perturbed_bench(protocols, tmp_path, 0.0, 2.0, 2, sources=(0.20, 0.21))
    fit = fit_calibration(run)
    actual = np.abs(fit.S / S_TRUE - 1)
    assert np.median(fit.S_err / fit.S) > 0.1
    assert np.median(actual) < 3 * np.median(fit.S_err / fit.S)  # errors cover the truth
