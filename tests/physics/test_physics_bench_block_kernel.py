"""The one-call block kernel of the twin bench and the sample-clock resampler."""

import numpy as np
import pytest

from labctl.network import periodic_lattice
from labctl.physics import BenchParams, TwinBenchBatch
from labctl.physics.kernels_resample import lerp_onto_clock
from labctl.physics.tasks import random_allostery

NET = periodic_lattice(4, 4)


def _bench(**kw):
    tasks = [random_allostery(NET, s) for s in range(3)]
    bench = TwinBenchBatch(NET, BenchParams(**kw), [s for s, _ in tasks],
                           [t for _, t in tasks], lam=np.array([0.0, 0.02, 0.05]),
                           gates0=np.full(32, 2.5))
    bench.set_learning(True)
    return bench


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_one_call_per_block_equals_one_call_per_sample(noise):
    one = _bench(rule_noise=noise, seed=4)
    v_f, v_c = one.advance(0.2, 10)
    many = _bench(rule_noise=noise, seed=4)
    parts = [many.advance(0.02, 1) for _ in range(10)]
    assert np.allclose(v_f, np.concatenate([p[0] for p in parts], axis=1), rtol=0, atol=1e-11)
    assert np.allclose(v_c, np.concatenate([p[1] for p in parts], axis=1), rtol=0, atol=1e-11)
    assert np.allclose(one.gates, many.gates, rtol=1e-9, atol=0)
    assert one.t == pytest.approx(0.2, abs=1e-15) and many.t == pytest.approx(0.2, abs=1e-12)
    assert np.max(np.abs(v_f[:, -1] - v_f[:, 0])) > 1e-4  # the states really moved


def test_constant_changes_reach_the_kernel_bounds():
    """Re-scaling S (per-edge calibration) refreshes the cached current scale and curvature."""
    bench = _bench()
    scale, curv = bench._kernel_bounds()
    bench.s_free = bench.s_free * 2.0
    bench.s_clamp = bench.s_clamp * 2.0
    assert bench._kernel_bounds() == pytest.approx((2 * scale, 2 * curv), rel=1e-12)
    bench.advance(0.05, 1)  # still converges with the new constants
    assert np.all(np.isfinite(bench.v_free))


def test_lerp_matches_the_array_formula():
    rng = np.random.default_rng(1)
    coarse = rng.normal(size=(6, 4))
    noise = rng.normal(size=(40, 4))
    out = np.empty((40, 4))
    lerp_onto_clock(coarse, noise, 0.01, out)
    x = np.arange(1, 41) * (5 / 40)
    i0 = np.minimum(np.floor(x).astype(int), 4)
    w = (x - i0)[:, None]
    want = coarse[i0] * (1 - w) + coarse[i0 + 1] * w + 0.01 * noise
    assert np.allclose(out, want, rtol=0, atol=1e-15)
    assert np.allclose(out[7::8] - 0.01 * noise[7::8], coarse[1:], rtol=0, atol=1e-15)
    lerp_onto_clock(coarse[:1], noise[:0], 0.0, out)  # one coarse row: a constant state
    assert np.array_equal(out, np.broadcast_to(coarse[0], out.shape))


def test_long_noisy_sample_is_drawn_in_step_chunks():
    """A sample needing > 2¹⁸ noise values is split into step chunks: same stream, same result."""
    tasks = [random_allostery(NET, s) for s in range(8)]

    def bench():
        b = TwinBenchBatch(NET, BenchParams(rule_noise=0.05, seed=2), [s for s, _ in tasks],
                           [t for _, t in tasks], gates0=np.full(32, 2.5))
        b.set_learning(True)
        return b

    long_one = bench()
    v_f, _ = long_one.advance(2.5, 1)  # 1250 steps × 8 × 32 = 320 000 values in one sample
    short = bench()
    for _ in range(5):
        w_f, _ = short.advance(0.5, 1)
    assert np.allclose(long_one.gates, short.gates, rtol=1e-9, atol=0)
    assert np.allclose(v_f[:, -1], w_f[:, -1], rtol=0, atol=1e-11)
    assert np.max(np.abs(long_one.gates - 2.5)) > 0.05


def test_blocks_in_one_call_are_one_call_per_block_bit_for_bit():
    """advance_blocks (the simulator's look-ahead) restarts each block's Newton solves as a
    call of its own would: node voltages, gates and times at every block's end are the
    separate calls' values exactly, and so is the bench left behind."""
    one, many = _bench(), _bench()
    one.advance(0.1, 50)
    many.advance(0.1, 50)
    parts, gates, times = [], [], []
    for _ in range(6):
        parts.append(many.advance(0.1, 50))
        gates.append(many.gates.copy())
        times.append(many.t)
    v_f, v_c, g, t = one.advance_blocks(0.1, 50, 6)
    assert np.array_equal(v_f, np.concatenate([p[0] for p in parts], axis=1))
    assert np.array_equal(v_c, np.concatenate([p[1] for p in parts], axis=1))
    assert np.array_equal(g, np.stack(gates, axis=1))
    assert np.array_equal(t, np.array(times))
    assert np.array_equal(one.gates, many.gates) and one.t == many.t
    assert np.array_equal(one.v_free, many.v_free) and np.array_equal(one.v_clamp, many.v_clamp)
    assert np.max(np.abs(g[:, -1] - g[:, 0])) > 1e-4  # the gates really learned


def test_blocks_in_one_call_need_the_compiled_path_without_rule_noise():
    noisy = _bench(rule_noise=0.05)
    assert not noisy.can_advance_blocks
    with pytest.raises(ValueError, match="rule noise"):
        noisy.advance_blocks(0.1, 50, 2)
