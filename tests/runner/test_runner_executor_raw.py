"""``--raw``: the full-rate DAQ stream of learning goes through the writer and reads back
with ``open_run``, sample for sample consistent with the recorded rows."""

from __future__ import annotations

import numpy as np

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
