"""Nonlinear-regression claim: the bias source in the protocol, the test examples rebuilt
from a run's parameters, the best straight line's error, the residual's modes, and the
claim's analysis of a (small) real run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from labctl.analysis import nonlinear
from labctl.network import periodic_lattice
from labctl.physics.bench_model import BenchParams, TwinBench
from labctl.protocol import ProtocolError, load_protocol, load_protocol_text
from labctl.protocol.plan import compile_plan
from labctl.reproduce import bench
from labctl.runner.datasets import build_examples

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = (ROOT / "protocols" / "nonlinear_regression.toml").read_text(encoding="utf-8")


def _text(**changes: str) -> str:
    """The shipped protocol with ``key = value`` lines replaced (value as TOML text)."""
    text = SHIPPED
    for key, value in changes.items():
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
        assert n == 1, key
    return text


def test_without_a_bias_the_offset_is_out_of_reach():
    """The physics behind the bias node: with only x and 0 V held, the target node of the
    twin network reads 0 V at x = 0 and never more than x, whatever the gates."""
    net = periodic_lattice(4, 4)
    rng = np.random.default_rng(1)
    tb = TwinBench(net, BenchParams(), gates0=rng.uniform(1.0, 5.5, net.n_edges))
    for x in (0.0, 0.05, 0.3):
        tb.set_sources({0: x, 10: 0.0})
        tb.set_targets({5: 0.1})
        v, _ = tb.advance(0.0, 1)
        assert -1e-9 <= v[-1, 5] <= x + 1e-9
    tb.set_sources({0: 0.0, 10: 0.0, 15: 0.45})
    v, _ = tb.advance(0.0, 1)
    assert 0.05 < v[-1, 5] < 0.45


def test_shipped_protocol_holds_the_bias_node_in_every_example():
    protocol = load_protocol(ROOT / "protocols" / "nonlinear_regression.toml")
    task = protocol.tasks[0]
    bias, ground = task.bias_node, task.ground_node
    assert bias is not None and task.bias_volts == pytest.approx(0.45)
    plan = compile_plan(protocol)[0]
    assert (bias, pytest.approx(0.45)) in [(n, v) for n, v in plan.sources]
    assert plan.params["bias_node"] == bias
    data = build_examples(task, task.seed)
    assert all(ex.sources[bias] == pytest.approx(0.45) and ex.sources[ground] == 0.0
               for ex in data.train + data.test)


@pytest.mark.parametrize(("bias", "message"), [("0", "input or ground"),
                                               ("5", "target_node")])
def test_bias_node_must_be_a_free_node(bias, message):
    with pytest.raises(ProtocolError, match=message):
        load_protocol_text(_text(bias_node=bias), source_name="nl.toml")


def test_bias_volts_above_the_source_limit_is_refused():
    with pytest.raises(ProtocolError, match="bias_volts"):
        load_protocol_text(_text(bias_volts="0.9"), source_name="nl.toml")


def test_test_examples_are_the_run_engines():
    """The analysis rebuilds exactly the held-out examples the executor presented."""
    protocol = load_protocol(ROOT / "protocols" / "nonlinear_regression.toml")
    plan = compile_plan(protocol)[0]
    task = protocol.tasks[0]
    x, y = nonlinear.test_examples(plan.params)
    want = build_examples(task, task.seed).test
    assert x.size == task.n_test == len(want)
    np.testing.assert_array_equal(x, [ex.sources[task.input_node] for ex in want])
    np.testing.assert_array_equal(y, [ex.targets[task.target_node] for ex in want])
    np.testing.assert_allclose(y, 0.1 + 0.3 * x + 0.5 * x ** 2, rtol=1e-12)


def test_line_error_is_the_least_squares_residual():
    # y = x² on x = −1, 0, 1: best line y = 2/3, residuals 1/3, −2/3, 1/3 → ½·(2/9) = 1/9
    assert nonlinear.line_error(np.array([-1.0, 0.0, 1.0]), np.array([1.0, 0.0, 1.0])) \
        == pytest.approx(1 / 9)
    x = np.linspace(0, 0.45, 50)
    assert nonlinear.line_error(x, 0.2 + 0.7 * x) == pytest.approx(0.0, abs=1e-25)
    with pytest.raises(ValueError, match="at least 3"):
        nonlinear.line_error(np.array([0.0, 1.0]), np.array([0.0, 1.0]))


def test_error_modes_recover_known_mean_slope_and_curvature():
    """Rows of 3 epochs whose residual is a0 + a1 u + a2 P2(u), the amplitudes shrinking
    epoch by epoch: the fit returns them per epoch and says when each was halved."""
    params = {"x_range": [0.0, 0.45], "input_node": 0, "target_node": 5, "n_train": 4,
              "duration_s": 0.5, "learning_mode": "continuous",
              "coefficients": [0.1, 0.3, 0.5]}
    amps = np.array([[4e-3, 6e-3, 8e-3], [1e-3, 5e-3, 7e-3], [5e-4, 2e-3, 6e-3]])
    rng = np.random.default_rng(0)
    times, rows = [], []
    for e in range(3):
        for k in range(40):  # 40 rows over the epoch's 4 × 0.5 s
            t = e * 2.0 + (k + 1) * 0.05
            x = rng.uniform(0.0, 0.45)
            u = (2 * x - 0.45) / 0.45
            resid = amps[e, 0] + amps[e, 1] * u + amps[e, 2] * 0.5 * (3 * u * u - 1)
            v = np.zeros(16)
            v[0], v[5] = x, 0.1 + 0.3 * x + 0.5 * x * x + resid
            times.append(t)
            rows.append(v)
    modes = nonlinear.error_modes(params, np.array(times), np.array(rows))
    np.testing.assert_array_equal(modes.epoch, [1, 2, 3])
    np.testing.assert_allclose(modes.amplitude, amps, rtol=1e-6, atol=1e-12)
    assert modes.removed_epoch(0) == 2.0 and modes.removed_epoch(1) == 3.0
    assert np.isnan(modes.removed_epoch(2))
    assert "curvature mode" in modes.lines()[2] and "not halved" in modes.lines()[2]
    assert "from epoch 2 on" in modes.lines()[0]


def test_a_passing_dip_does_not_remove_a_mode():
    """A mode that dips below half (while changing sign) and comes back is not removed
    then: it counts from the epoch it stays down."""
    amp = np.array([[10.0], [3.0], [9.0], [4.0], [2.0]]) * np.ones((1, 3))
    modes = nonlinear.ModeHistory(np.arange(1.0, 6.0), amp, np.full(5, 10))
    assert modes.removed_epoch(0) == 4.0


def test_stepwise_example_duration():
    params = {"learning_mode": "stepwise", "steps": 3, "window_s": 0.01, "settle_s": 0.002}
    assert nonlinear.example_duration(params) == pytest.approx(3 * 0.014)


def _run(tmp_path: Path, n_test: int) -> Path:
    text = _text(epochs="2", n_train="4", n_test=str(n_test))
    path = tmp_path / "nonlinear_regression.toml"
    path.write_text(text, encoding="utf-8")
    return bench.run_protocol(path, tmp_path / "out", None)


def test_claim_analysis_of_a_real_run(tmp_path):
    """A short run: the claim compares the recorded test error with the best line through
    the same test examples, lists the three modes and draws the figure."""
    run_file = _run(tmp_path, 6)
    outcome = bench.nonlinear_regression(run_file, tmp_path / "fig")
    x, y = nonlinear.test_examples(_params(run_file))
    line = nonlinear.line_error(x, y)
    assert f"{line:.3g} V²" in outcome.measured and "6 held-out examples" in outcome.measured
    test = float(re.search(r"test error (\S+) V²", outcome.measured).group(1))
    assert outcome.passed is (test < line)
    assert [d.split(" mode")[0] for d in outcome.details[1:]] == list(nonlinear.MODES)
    assert [p.name for p in outcome.figures] == ["nonlinear_regression.png"]
    assert outcome.figures[0].stat().st_size > 10_000


def test_claim_refuses_a_statistic_on_fewer_than_5_test_examples(tmp_path):
    outcome = bench.nonlinear_regression(_run(tmp_path, 3), tmp_path / "fig")
    assert outcome.passed is None and "fewer than 5" in outcome.measured
    assert outcome.figures == []


def _params(run_file: Path) -> dict:
    from labctl.store import open_run

    with open_run(run_file) as run:
        return dict(run.tasks[0].params)
