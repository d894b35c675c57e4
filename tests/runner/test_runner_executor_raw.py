"""``--raw``: the full-rate DAQ stream of learning goes through the writer and reads back
with ``open_run``, sample for sample consistent with the recorded rows."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.protocol import load_protocol
from labctl.runner.session import RunSession
from labctl.store import open_run


def test_raw_stream_is_every_sample_and_the_rows_are_its_averages(write_protocol, tmp_path):
    protocol = load_protocol(write_protocol(duration=0.5))
    result = RunSession(protocol, tmp_path / "raw.h5", clock="fast", record_raw=True).run()
    assert result.status == "completed", result.reason
    rate = protocol.bench.sample_rate
    with open_run(result.path) as run:
        task = run.tasks[0]
        t, raw = task.raw_time, task.raw_samples
        assert raw.shape == (round(0.5 * rate), 32) and raw.dtype == np.float32
        np.testing.assert_allclose(np.diff(t), 1.0 / rate, rtol=1e-6)
        # the learning rows (between the initial and final readings) average the raw samples
        per_row = round(rate / protocol.record_rate)
        learn = slice(1, task.n_rows - 1)
        v_free = task.v_free[learn]
        n = v_free.shape[0]
        means = raw[: n * per_row, :16].astype(float).reshape(n, per_row, 16).mean(axis=1)
        np.testing.assert_allclose(v_free, means, atol=1e-6)  # float32 storage of volts


def test_without_raw_no_raw_datasets_fill(write_protocol, tmp_path):
    result = RunSession(load_protocol(write_protocol(duration=0.3)), tmp_path / "rows.h5",
                        clock="fast").run()
    with open_run(result.path) as run:
        assert run.tasks[0].n_raw_rows == 0


def test_rows_without_raw_match_the_raw_runs_rows_up_to_the_noise_of_a_mean(write_protocol,
                                                                           tmp_path):
    """Without ``--raw`` the DAQ hands over record-interval means (the simulator draws
    them, one noise value per row and channel); with it, the rows average every sample.
    Same seed, same physics: the two runs' node-voltage rows differ only by two
    independent means' noise, rms noise_v·√(2/k) for k samples per row."""
    protocol = load_protocol(write_protocol(duration=3.0))
    runs = {}
    for raw in (False, True):
        result = RunSession(protocol, tmp_path / f"raw{raw}.h5", clock="fast",
                            record_raw=raw).run()
        assert result.status == "completed", result.reason
        with open_run(result.path) as run:
            task = run.tasks[0]
            runs[raw] = (task.v_free[1:-1], task.v_clamped[1:-1], task.time[1:-1])
    per_row = round(protocol.bench.sample_rate / protocol.record_rate)
    sigma = protocol.bench.sim.noise_v * np.sqrt(2.0 / per_row)
    np.testing.assert_array_equal(runs[False][2], runs[True][2])  # the same row clock
    diff = np.hstack([runs[False][0] - runs[True][0], runs[False][1] - runs[True][1]])
    assert diff.shape == (round(3.0 * protocol.record_rate), 32)
    z = diff / sigma
    assert np.std(z) == pytest.approx(1.0, abs=0.05)  # 4800 values: standard error 0.01
    assert np.max(np.abs(z)) < 5.5
    assert abs(np.mean(z)) < 0.06
