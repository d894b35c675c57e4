"""Every shipped protocol runs on the simulated bench end to end (shrunk in size: shorter
durations, fewer tasks and examples; the same step types and settings)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from labctl.protocol import load_protocol
from labctl.runner.session import RunSession
from labctl.store import open_run

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "protocols").glob("*.toml"))

SHRINK = [
    (r"^duration = [0-9.e+-]+", "duration = 0.3"),
    (r"^count = \d+", "count = 2"),
    (r"^epochs = \d+", "epochs = 1"),
    (r"^n_train_per_class = \d+", "n_train_per_class = 1"),
    (r"^n_test_per_class = \d+", "n_test_per_class = 2"),
    (r"^epoch_steps = \d+", "epoch_steps = 3"),
    (r"^n_train = \d+", "n_train = 3"),
    (r"^n_test = \d+", "n_test = 3"),
    (r"num = \d+", "num = 2"),
    (r"^values = \[.*\]", "values = [0.0, 0.03]"),
]


def shrunk(path: Path, tmp_path: Path) -> Path:
    text = path.read_text()
    for pattern, repl in SHRINK:
        text = re.sub(pattern, repl, text, flags=re.MULTILINE)
    out = tmp_path / path.name
    out.write_text(text)
    return out


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_protocol_runs_on_the_simulated_bench(path, tmp_path):
    protocol = load_protocol(shrunk(path, tmp_path))
    result = RunSession(protocol, tmp_path / "run.h5").run()
    assert result.status == "completed", result.reason
    with open_run(result.path) as run:
        assert run.completed_tasks() == set(range(len(run.tasks)))
        for task in run.tasks:
            assert task.n_rows > 1
            assert np.isfinite(task.final["error"]) and task.final["power_free"] > 0
            assert np.all(np.diff(task.energy) >= 0)


def test_stepwise_training_alternates_measurement_and_update_windows(write_protocol,
                                                                     tmp_path):
    text = write_protocol(duration=1.0).read_text().replace(
        'mode = "continuous"\nduration = 1.0',
        'mode = "stepwise"\nsteps = 100\nwindow = 0.02\nsettle = 0.0')
    path = tmp_path / "stepwise.toml"
    path.write_text(text)
    result = RunSession(load_protocol(path), tmp_path / "s.h5").run()
    assert result.status == "completed", result.reason
    with open_run(result.path) as run:
        task = run.tasks[0]
        assert task.n_rows == 100 + 2  # a row per step, plus initial and final readings
        np.testing.assert_allclose(np.diff(task.time[1:-1]), 0.02, rtol=1e-9)
        assert task.error[-1] < 0.5 * task.error[0]  # 2 s of learning windows learn


def test_classification_reports_test_accuracy(tmp_path):
    protocol = load_protocol(shrunk(ROOT / "protocols" / "iris.toml", tmp_path))
    result = RunSession(protocol, tmp_path / "iris.h5").run()
    with open_run(result.path) as run:
        final = run.tasks[0].final
        assert 0.0 <= final["test_accuracy"] <= 1.0 and final["test_error"] > 0
