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


def test_lines_of_an_earlier_task_are_released(tmp_path):
    """A classification task holds five source nodes; the allostery task after it holds
    two: the other three must be free nodes again, not held at 0 V by idle lines."""
    path = tmp_path / "mixed.toml"
    path.write_text(re.sub(r"(?m)^epochs = \d+", "epochs = 1",
                           (ROOT / "protocols" / "iris.toml").read_text())
                    .replace("n_train_per_class = 10", "n_train_per_class = 1")
                    .replace("n_test_per_class = 40", "n_test_per_class = 1")
                    .replace("epoch_steps = 30", "epoch_steps = 2")
                    + """
[[task]]
kind = "allostery"
name = "after"
sources = { 1 = 0.0, 5 = 0.45 }
targets = { 0 = 0.3, 15 = 0.2 }
""")
    result = RunSession(load_protocol(path), tmp_path / "mixed.h5").run()
    assert result.status == "completed", result.reason
    with open_run(result.path) as run:
        v = run.tasks[1].v_free
        np.testing.assert_allclose(v[:, [1, 5]], [[0.0, 0.45]] * len(v), atol=2e-3)
        assert np.all(v[:, [2, 8, 10]] > 0.05)  # iris inputs, now free nodes
