"""The simulated bench, checked through the bench interfaces only (plus the physics model)."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from labctl.bench import open_bench
from labctl.bench.config import load_bench
from labctl.bench.faults import SimFaults
from labctl.bench.interfaces import (
    BenchError,
    InstrumentDisconnectedError,
    InstrumentFaultError,
)

CFG = load_bench()
ROUTE = {"source0": 0, "source1": 10, "target0": 5, "target1": 15}
TASK = {"source0": 0.0, "source1": 0.45, "target0": 0.091, "target1": 0.363}


@pytest.fixture
def bench():
    b = open_bench(CFG, clock="fast", seed=3)
    b.daq.route_outputs(ROUTE)
    b.daq.write_outputs(TASK)
    yield b
    assert b.close() == []


def mean_block(b) -> tuple[np.ndarray, np.ndarray]:
    blk = b.daq.read_block()
    m = blk.data.mean(axis=0)
    return m[:16], m[16:]


def test_blocks_have_the_configured_shape_and_clock(bench):
    bench.daq.start_acquisition()
    b1 = bench.daq.read_block()
    b2 = bench.daq.read_block()
    assert b1.data.shape == (1000, 32)
    assert b1.channels == CFG.channel_names
    assert (b1.first_index, b2.first_index) == (0, 1000)
    assert b2.time[0] == pytest.approx(0.1)
    noise = b1.data[:, 0].std()
    assert 4e-4 < noise < 1e-3  # realistic ~0.7 mV rms


def test_source_nodes_read_the_ao_values(bench):
    bench.daq.start_acquisition()
    free, clamped = mean_block(bench)
    assert free[0] == pytest.approx(0.0, abs=2e-4)
    assert free[10] == pytest.approx(0.45, abs=2e-4)
    assert clamped[10] == pytest.approx(0.45, abs=2e-4)
    assert np.all((free > -0.005) & (free < 0.455))


def test_clamp_nudges_targets_by_eta(bench):
    eta = bench.gates.set_eta(0.22)
    assert eta == pytest.approx(28 / 129)
    bench.daq.start_acquisition()
    free, clamped = mean_block(bench)
    for node, desired in ((5, 0.091), (15, 0.363)):
        expected = free[node] + eta * (desired - free[node])
        assert clamped[node] == pytest.approx(expected, abs=3e-4)
    bench.gates.safe_state()  # η tap 0: no nudge, the copies agree
    free, clamped = mean_block(bench)
    assert np.max(np.abs(free - clamped)) < 3e-4


def test_smu_current_is_kcl_current_out_of_its_node(bench):
    g = np.linspace(1.5, 5.0, 32)
    bench.gates.set_gates(g)
    gates = bench.gates.read_gates()
    bench.power.set_voltage(0.3)
    bench.power.set_output(True)
    amps = bench.power.measure_current()
    v = bench.daq.read_once()
    # both copies hang on the source line; edge law of PHYSICS.md §5 with read-back gates
    net, cal = CFG.network, CFG.calibration
    total = 0.0
    for copy in (v[:16], v[16:]):
        a, b = net.edges[:, 0], net.edges[:, 1]
        dv = copy[a] - copy[b]
        cur = cal.S * (gates - cal.V_T - 0.5 * (copy[a] + copy[b])) * dv
        total += cur[a == 10].sum() - cur[b == 10].sum()
    assert v[10] == pytest.approx(0.3, abs=3e-3)
    assert amps > 0
    assert amps == pytest.approx(total, rel=0.1)  # mismatch 2 %, read noise 0.7 mV


def test_smu_current_is_the_twins_edge_law_and_kirchhoff_holds(bench):
    """The simulated SMU's node current (one compiled pass) is the NumPy edge law's, summed
    over both copies, to round-off; at a node no line holds, the currents cancel (KCL)."""
    bench.gates.set_gates(np.linspace(1.5, 5.0, 32))
    bench.gates.set_eta(0.22)
    core = bench.daq.core
    f, c = core.state()
    ends = CFG.network.edges
    for node in range(16):
        law = sum(float(cur[ends[:, 0] == node].sum() - cur[ends[:, 1] == node].sum())
                  for cur in (core.twin.edge_currents(f, "free"),
                              core.twin.edge_currents(c, "clamped")))
        outflow = core.node_outflow(node)
        source = abs(core.node_outflow(0))
        assert outflow == pytest.approx(law, rel=1e-12, abs=1e-15 * source)
        if node not in ROUTE.values():
            assert abs(outflow) < 1e-9 * source  # Newton's tolerance, not the law's


@pytest.mark.parametrize("noise_v", [0.0, 0.002, 0.5])
def test_gate_read_back_is_the_mean_of_four_adc_readings(noise_v):
    """The simulated controller's read-back (a compiled pass) is, bit for bit, the firmware's
    arithmetic written in NumPy: four noisy readings, each floor(max(V, 0)/8 mV) counts,
    averaged, plus half a count."""
    from labctl.bench import gate_encoding as enc

    volts = np.random.default_rng(1).uniform(-0.3, 6.3, (5, 32))
    noise = np.random.default_rng(2).standard_normal((5, 32, enc.ADC_SAMPLES))
    counts = np.floor(np.clip(volts[..., None] + noise_v * noise, 0.0, None)
                      / enc.ADC_V_PER_COUNT)
    expected = counts.mean(axis=-1) * enc.ADC_V_PER_COUNT + enc.ADC_V_PER_COUNT / 2
    got = enc.adc_readback(volts, noise_v, np.random.default_rng(2))
    np.testing.assert_array_equal(got, expected)
    assert enc.adc_readback(volts[0, 0], noise_v, np.random.default_rng(2)) == expected[0, 0]


def test_learning_lowers_the_error(bench):
    bench.gates.set_eta(0.22)
    bench.daq.start_acquisition()
    free, _ = mean_block(bench)
    err0 = 0.5 * ((free[5] - 0.091) ** 2 + (free[15] - 0.363) ** 2)
    bench.gates.set_learning(True)
    errors = []
    for _ in range(10):  # 1 s of learning
        free, _ = mean_block(bench)
        errors.append(0.5 * ((free[5] - 0.091) ** 2 + (free[15] - 0.363) ** 2))
    bench.gates.set_learning(False)
    assert errors[-1] < 0.8 * err0
    assert np.all(np.diff(errors) < 0)  # the error falls block after block
    assert not np.allclose(bench.gates.read_gates(), 3.25, atol=0.01)


def test_learning_window_moves_gates_only_while_open(bench):
    bench.gates.set_eta(0.22)
    g0 = bench.gates.read_gates()
    bench.daq.start_acquisition()
    bench.daq.read_block()
    assert np.allclose(bench.gates.read_gates(), g0, atol=0.01)  # learning off: gates hold
    bench.gates.learning_window(0.03)
    assert not bench.gates.status()["learning"]
    assert np.max(np.abs(bench.gates.read_gates() - g0)) > 0.01
    with pytest.raises(ValueError, match=r"seconds: 0.5 s; allowed 1e-05\.\.0\.03 s"):
        bench.gates.learning_window(0.5)
    bench.gates.set_learning(True)
    with pytest.raises(BenchError, match="busy"):
        bench.gates.learning_window(0.01)


def test_gate_controller_behaves_like_the_firmware(bench):
    gc = bench.gates
    with pytest.raises(ValueError, match=r"volts \(edge 3\): 6.0 V; allowed 1\.\.5\.5 V"):
        gc.set_gate(3, 6.0)
    with pytest.raises(ValueError, match=r"edge: 32; allowed an integer 0\.\.31"):
        gc.set_gate(32, 2.0)
    with pytest.raises(ValueError, match="eta"):
        gc.set_eta(1.0)  # tap 129 > 128
    with pytest.raises(ValueError, match="lam"):
        gc.set_lambda(-0.1)
    gc.set_gate(7, 2.3456)
    assert gc.read_gate(7) == pytest.approx(2.3456, abs=0.012)  # 1.5 mV DAC, 8 mV ADC
    with pytest.raises(ValueError, match=r"lam: .*allowed 0 <= λ <= 0\.0652"):
        gc.set_lambda(0.07)  # beyond the free amplifier's trim range
    lam = gc.set_lambda(0.055)
    # free stage trimmed to tap 20 of its 5 kΩ pot (R_g 13.7 kΩ, 132 kΩ + 75 Ω wiper fixed),
    # clamped stage at its nominal ×11 (tap 128): λ = 1 − (G_free/G_clamped)²
    g_free = 1 + (132_075 + 20 * 5000 / 128) / 13_700
    g_clamped = 1 + (132_075 + 5000) / 13_700
    assert lam == pytest.approx(1 - (g_free / g_clamped) ** 2, abs=1e-6)
    assert abs(lam - 0.055) <= 2.6e-4
    assert gc.status()["gain_taps"] == [20, 128]
    gc.safe_state()
    assert gc.status() | {} == {"learning": False, "eta_tap": 0, "eta": 0.0,
                                "gain_taps": [128, 128], "lambda": 0.0, "faults": 0}


def test_routing_and_output_limits(bench):
    with pytest.raises(ValueError, match="node 10 is driven by two lines"):
        bench.daq.route_outputs({"target0": 10})
    routing = bench.daq.snapshot()["routing"]  # a refused routing leaves it unchanged
    assert {k: v for k, v in routing.items() if v is not None} == ROUTE
    with pytest.raises(ValueError, match=r"volts\['source1'\]: 0.6 V; allowed 0\.\.0\.5 V"):
        bench.daq.write_outputs({"source1": 0.6})
    with pytest.raises(ValueError, match="cannot reach node 16"):
        bench.daq.route_outputs({"source0": 16})


def test_close_leaves_everything_safe(bench):
    bench.gates.set_learning(True)
    bench.power.set_voltage(0.4)
    bench.power.set_output(True)
    assert bench.close() == []
    snap = bench.snapshot()
    assert set(snap["daq"]["ao_values"].values()) == {0.0}
    assert snap["gates"]["learning"] is False and snap["gates"]["eta_tap"] == 0
    assert snap["power"]["output_enabled"] is False
    with pytest.raises(InstrumentDisconnectedError):
        bench.daq.read_once()


def _kinds(b) -> list[tuple[str, str, str]]:
    return [(r.event, r.instrument, r.kind) for r in b.fault_log.drain()]


def test_injected_transient_faults_are_recovered_as_on_the_hardware():
    """Each injected transient fault goes through the shared retry loop: the operation
    succeeds, the fault and its recovery are recorded, the settings survive."""
    faults = SimFaults(daq_overflow_at_s=0.2, gate_timeout_at_s=0.1, gate_garbage_at_s=0.3,
                       gate_reset_at_s=0.4, smu_timeout_at_s=0.42, smu_disconnect_at_s=0.5)
    b = open_bench(CFG, faults=faults)
    b.gates.set_eta(0.22)
    lam = b.gates.set_lambda(0.03)
    b.daq.start_acquisition()
    b.daq.read_block()  # t = 0.1 s: the gate timeout is due at the next command
    b.gates.read_gates()
    assert _kinds(b) == [("fault", "gate controller", "timeout"),
                         ("recovered", "gate controller", "timeout")]
    first = b.daq.read_block().first_index  # t = 0.2 s
    gap = b.daq.read_block()  # overflow: restarted, 0.05 s (500 samples) lost
    assert gap.first_index == first + 1000 + 500
    assert _kinds(b) == [("fault", "DAQ", "overflow"), ("recovered", "DAQ", "overflow")]
    b.gates.read_gates()  # t = 0.35 s: the garbage line
    assert _kinds(b) == [("fault", "gate controller", "garbage"),
                         ("recovered", "gate controller", "garbage")]
    b.gates.set_learning(True)
    b.daq.read_block()
    gates = b.gates.read_gates()  # t = 0.45 s: the firmware restarts
    records = b.fault_log.drain()
    assert [r.event for r in records] == ["fault", "recovered"]
    assert "eta = 0.217" in records[1].message and "learning = 1" in records[1].message
    assert "gates kept (learning was on" in records[1].message
    status = b.gates.status()  # η, λ and the learning switch re-applied after the restart
    assert (status["eta_tap"], status["lambda"], status["learning"]) == (28, lam, True)
    assert gates.shape == (CFG.network.n_edges,)
    b.gates.set_learning(False)
    b.power.measure_current()  # t ≈ 0.45 s: the SMU timeout, asked again
    assert _kinds(b) == [("fault", "SMU", "timeout"), ("recovered", "SMU", "timeout")]
    b.daq.read_block()
    for _ in range(2):  # a disconnect is permanent and never retried
        with pytest.raises(InstrumentDisconnectedError):
            b.power.measure_current()
    assert _kinds(b) == []
    failures = b.close()
    assert any("power meter" in f for f in failures)


def test_a_restart_with_learning_off_recharges_only_gates_that_lost_charge():
    """Gates are static with learning off: one that moved lost charge and is re-charged;
    with learning on they moved by learning and are kept (see the test above)."""
    b = open_bench(CFG, faults=SimFaults(gate_reset_at_s=[0.1, 0.2]))
    b.gates.set_gates(np.full(CFG.network.n_edges, 3.0))
    b.daq.start_acquisition()
    b.daq.read_block()  # t = 0.1 s
    b.gates.set_lambda(0.01)  # restart 1: nothing lost
    assert "gates kept their charge" in b.fault_log.drain()[1].message
    b.daq.read_block()  # t = 0.2 s
    leaked = b.daq.core.twin.gates.copy()
    leaked[[2, 7]] = 1.5  # charge leaks away behind the controller's back
    b.daq.core.set_gates(leaked)
    b.gates.set_eta(0.22)  # restart 2
    assert re.search(r"re-applied 2 gates re-charged \(up to 15\d\d mV off\), eta = 0.217",
                     b.fault_log.drain()[1].message)
    gates = b.daq.core.twin.gates  # the others are left alone
    np.testing.assert_allclose(gates[[2, 7]], 3.0, atol=0.012)
    assert np.all(np.delete(gates, [2, 7]) == 3.0)
    assert b.gates.status()["eta_tap"] == 28
    assert b.close() == []


def test_a_persistent_fault_gives_up_with_a_clear_instrument_error():
    """A fault lasting longer than the bounded retries becomes InstrumentFaultError naming
    the instrument, the operation and the cause; it clears afterwards."""
    b = open_bench(CFG, faults=SimFaults(gate_timeout_at_s=0.0, consecutive=3))
    with pytest.raises(InstrumentFaultError,
                       match=r"gate controller: 'GATES\?' failed after 3 attempts \(timeout"):
        b.gates.read_gates()
    assert [r.event for r in b.fault_log.drain()] == ["fault"] * 3
    b.gates.read_gates()
    assert b.close() == []


def test_a_learning_window_is_never_repeated_after_a_lost_reply():
    b = open_bench(CFG, faults=SimFaults(gate_timeout_at_s=0.0))
    t0 = b.daq.core.t
    with pytest.raises(InstrumentFaultError, match="after 1 attempts"):
        b.gates.learning_window(1e-3)
    assert b.daq.core.t == t0
    assert b.close() == []


def test_a_fault_recovered_while_opening_reaches_the_bench_log():
    b = open_bench(CFG, faults=SimFaults(smu_timeout_at_s=0.0))
    assert [(r.event, r.instrument, r.message.split(":")[0]) for r in b.fault_log.drain()] \
        == [("fault", "SMU", "'*IDN?'"), ("recovered", "SMU", "'*IDN?'")]
    assert b.close() == []


def test_an_smu_that_does_not_answer_at_open_is_named():
    with pytest.raises(BenchError, match=r"SMU at .*'\*IDN\?' failed after 3 attempts"):
        open_bench(CFG, faults=SimFaults(smu_timeout_at_s=0.0, consecutive=3))


def test_fault_moments_are_validated():
    with pytest.raises(ValueError, match="gate_reset_at_s"):
        SimFaults(gate_reset_at_s=[1.0, float("nan")])
    with pytest.raises(ValueError, match="consecutive"):
        SimFaults(consecutive=0)


def test_paced_clock_follows_wall_time():
    b = open_bench(CFG, clock="paced")
    b.daq.start_acquisition()
    t0 = time.monotonic()
    for _ in range(3):
        b.daq.read_block()
    assert time.monotonic() - t0 >= 0.29
    b.close()


def test_paced_consumer_too_slow_overflows(monkeypatch):
    b = open_bench(CFG, clock="paced")
    b.daq.start_acquisition()
    real = time.monotonic
    monkeypatch.setattr(time, "monotonic", lambda: real() + 5.0)
    blk = b.daq.read_block()  # restarted: every sample up to now is lost, then on
    monkeypatch.undo()
    records = b.fault_log.drain()
    assert [(r.event, r.kind) for r in records] == [("fault", "overflow"),
                                                     ("recovered", "overflow")]
    assert "behind" in records[0].message
    assert blk.first_index >= 5.0 * CFG.sample_rate
    b.close()


def test_same_seed_same_data():
    blocks = []
    for _ in range(2):
        b = open_bench(CFG, seed=11)
        b.daq.write_outputs({"source1": 0.3})
        b.daq.start_acquisition()
        blocks.append(b.daq.read_block().data)
        b.close()
    np.testing.assert_array_equal(blocks[0], blocks[1])


def test_block_noise_is_white_gaussian_of_the_configured_rms(bench):
    """Static bench: block − steady state is white Gaussian noise of noise_v rms (V)."""
    bench.daq.start_acquisition()
    f, c = bench.daq.core.state()
    resid = np.vstack([bench.daq.read_block().data for _ in range(4)]) - np.concatenate([f, c])
    z = resid / CFG.sim.noise_v
    assert z.shape == (4000, 32)
    assert abs(z.mean()) < 0.02  # 128k draws: standard error of the mean 0.003
    assert z.std() == pytest.approx(1.0, abs=0.01)
    assert np.mean(z**4) == pytest.approx(3.0, abs=0.1)  # Gaussian kurtosis
    lag_t = np.mean(z[1:] * z[:-1])  # successive samples uncorrelated
    lag_ch = np.mean(z[:, 1:] * z[:, :-1])  # neighbouring channels uncorrelated
    assert abs(lag_t) < 0.02 and abs(lag_ch) < 0.02


def test_learning_blocks_follow_the_model_between_coarse_steps(bench):
    """With learning on, noise-free samples interpolate the model's 2 ms states linearly."""
    from labctl.physics.bench_model import TwinBench

    core = bench.daq.core
    bench.gates.set_eta(0.22)
    bench.gates.set_learning(True)
    f0, c0 = core.state()
    twin = TwinBench(CFG.network, core.params, gates0=core.twin.gates)
    twin._b.s_free, twin._b.s_clamp = core.twin._b.s_free, core.twin._b.s_clamp
    twin._b.vt_free, twin._b.vt_clamp = core.twin._b.vt_free, core.twin._b.vt_clamp
    twin.set_sources(core.twin.sources)
    twin.set_targets(core.twin.targets)
    twin.set_eta(core.twin.eta)
    twin.set_learning(True)
    data = core.run(0.1, 1000)  # noise-free
    f, c = twin.advance(0.1, 50)
    coarse = np.vstack([np.concatenate([f0, c0]), np.hstack([f, c])])
    assert np.max(np.abs(coarse[1:] - coarse[:-1])) > 1e-6  # the nodes really move
    assert np.allclose(data[19::20], coarse[1:], rtol=0, atol=1e-12)  # on the coarse steps
    assert np.allclose(data[9::20], 0.5 * (coarse[:-1] + coarse[1:]), rtol=0, atol=1e-12)


def _twin_cores(seed: int = 5):
    """Two simulated benches in the same state, learning on (the nodes move)."""
    benches = []
    for _ in range(2):
        b = open_bench(CFG, clock="fast", seed=seed)
        b.daq.route_outputs(ROUTE)
        b.daq.write_outputs(TASK)
        b.gates.set_eta(0.22)
        b.gates.set_learning(True)
        benches.append(b)
    return benches


@pytest.mark.parametrize("average", [10, 100, 1000])
def test_averaged_blocks_are_the_means_of_the_samples_noise_aside(average):
    """read_block(average=k) without noise = the mean of every k samples of the same
    physics (Kirchhoff states interpolated on the sample clock), to rounding."""
    a, b = _twin_cores()
    samples = a.daq.core.run(0.1, 1000)  # noise-free samples
    means = b.daq.core.run(0.1, 1000, 0.0, average)
    assert means.shape == (1000 // average, 32)
    np.testing.assert_allclose(means, samples.reshape(-1, average, 32).mean(axis=1),
                               rtol=0, atol=1e-13)
    assert np.ptp(samples[:, 5]) > 1e-6  # the nodes really moved within the block
    for x in (a, b):
        x.gates.set_learning(False)
        x.close()


def test_averaged_block_noise_has_the_rms_of_a_mean(bench):
    """Static bench: rows of k-sample means carry white Gaussian noise of noise_v/√k rms,
    the block's clock and sample count are those of the samples it stands for."""
    bench.daq.start_acquisition()
    f, c = bench.daq.core.state()
    blocks = [bench.daq.read_block(average=50) for _ in range(100)]
    assert blocks[0].data.shape == (20, 32) and blocks[0].n_samples == 1000
    assert [b.first_index for b in blocks[:3]] == [0, 1000, 2000]
    assert blocks[1].time[0] == pytest.approx((1000 + 24.5) / CFG.sample_rate)
    z = (np.vstack([b.data for b in blocks]) - np.concatenate([f, c])) / (
        CFG.sim.noise_v / np.sqrt(50))
    assert z.shape == (2000, 32)
    assert abs(z.mean()) < 0.02  # 64k draws: standard error 0.004
    assert z.std() == pytest.approx(1.0, abs=0.015)
    assert np.mean(z**4) == pytest.approx(3.0, abs=0.12)
    assert abs(np.mean(z[1:] * z[:-1])) < 0.02


@pytest.mark.parametrize("average", [0, 3, 1001, 2.0, True])
def test_an_average_that_does_not_divide_the_block_is_refused(bench, average):
    bench.daq.start_acquisition()
    with pytest.raises(ValueError, match=r"average: .*allowed a divisor of the block size "
                                         r"1000 samples \(1 … 1000\)"):
        bench.daq.read_block(average=average)


def _lookahead_session(b) -> dict[str, object]:
    """Blocks read with gate read-backs and SMU readings between them, then commands in
    the middle of a look-ahead; everything the instruments report."""
    b.power.set_voltage(0.45)
    b.power.set_output(True)
    b.gates.set_eta(0.22)
    b.gates.set_lambda(0.01)
    b.daq.start_acquisition()
    b.gates.set_learning(True)
    seen: dict[str, list] = {"blocks": [], "gates": [], "smu": []}
    for k in range(23):
        if k == 9:  # a command while the physics runs ahead: the twin goes back first
            b.gates.set_gate(3, 3.1)
        if k == 16:
            b.gates.set_lambda(0.03)
        seen["blocks"].append(b.daq.read_block(average=100).data)
        seen["gates"].append(b.gates.read_gates())
        if k % 5 == 4:
            seen["smu"].append(b.power.measure_current())
    b.gates.set_learning(False)
    seen["after"] = [b.daq.read_block(average=1000).data, b.gates.read_gates()]
    return seen


def test_the_lookahead_is_invisible_to_every_instrument(monkeypatch):
    """The simulated physics runs up to LOOKAHEAD_BLOCKS blocks ahead of the blocks read;
    blocks, gate read-backs, SMU currents and what follows commands given in the middle of
    a look-ahead are bit for bit those of a bench that computes one block at a time."""
    from labctl.bench import simulated
    from labctl.physics.bench_model import TwinBenchBatch

    calls = []
    original = TwinBenchBatch.advance_blocks

    def counted(self, *args):
        calls.append(args[2])
        return original(self, *args)

    monkeypatch.setattr(TwinBenchBatch, "advance_blocks", counted)
    results = []
    for blocks in (simulated.LOOKAHEAD_BLOCKS, 1):
        monkeypatch.setattr(simulated, "LOOKAHEAD_BLOCKS", blocks)
        b = open_bench(CFG, clock="fast", seed=5)
        b.daq.route_outputs(ROUTE)
        b.daq.write_outputs(TASK)
        results.append(_lookahead_session(b))
        assert b.close() == []
        if blocks > 1:
            assert max(calls) == blocks and sum(calls) > 15  # it did run ahead
    ahead, stepwise = results
    assert calls and all(n > 1 for n in calls)
    for key in ("blocks", "gates", "smu", "after"):
        assert len(ahead[key]) == len(stepwise[key])
        for x, y in zip(ahead[key], stepwise[key], strict=True):
            assert np.array_equal(x, y), key


def test_a_command_that_changes_no_held_voltage_leaves_the_twin_as_it_is(monkeypatch):
    """Writing the outputs a second time with the same values (a safe state repeated, say)
    does not re-solve the network, and the blocks that follow are bit for bit those of a
    bench that was not told twice; a changed value does re-solve it."""
    from labctl.physics.bench_model import TwinBenchBatch

    settles = []
    original = TwinBenchBatch._settle_compiled
    monkeypatch.setattr(TwinBenchBatch, "_settle_compiled",
                        lambda self: settles.append(1) or original(self))
    blocks, solves = [], []
    for repeat in (False, True, "changed"):
        b = open_bench(CFG, clock="fast", seed=9)
        b.daq.route_outputs(ROUTE)
        b.daq.write_outputs(TASK)
        b.daq.start_acquisition()
        b.gates.set_learning(True)
        b.daq.read_block(average=100)
        settles.clear()
        if repeat:
            b.daq.write_outputs(TASK if repeat is True else {**TASK, "source1": 0.44})
        blocks.append(b.daq.read_block(average=100).data)
        solves.append(len(settles))
        assert b.close() == []
    assert solves == [0, 0, 1]
    assert np.array_equal(blocks[0], blocks[1])
    assert np.max(np.abs(blocks[2][:, 10] - blocks[0][:, 10])) > 5e-3  # source1 moved
