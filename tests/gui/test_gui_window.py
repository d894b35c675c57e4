"""The operator window driven like an operator would, on the simulated bench (offscreen)."""

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from labctl.gui.main_window import MainWindow
from labctl.store import open_run
from labctl.units import format_si

WAIT_MS = 60_000


@pytest.fixture
def write_protocol(tmp_path, protocols):
    """Two allostery tasks of ``duration`` s (one per λ) on the simulated bench."""

    def make(duration=1.5, lambdas=(0.0, 0.03), name="tiny"):
        return protocols.write(tmp_path / f"{name}.toml", name=name, duration=duration,
                               lam=protocols.lambda_sweep(lambdas), seed=1)

    return make


@pytest.fixture
def make_window(qtbot, tmp_path, write_protocol):
    def make(clock="fast", **kw):
        window = MainWindow(clock=clock, runs_dir=tmp_path / "runs")
        qtbot.addWidget(window)
        window.resize(1400, 900)
        window.show()
        assert window.load_protocol(write_protocol(**kw)) is not None
        return window
    return make


def wait_finished(qtbot, window):
    qtbot.waitUntil(lambda: window.session is not None and window.session.finished
                    and window.model.finished, timeout=WAIT_MS)
    window.poll()


def test_run_updates_plots_network_table_and_summary(qtbot, make_window):
    window = make_window()
    assert window.plots.samples == 0
    qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
    assert window.session is not None and not window.start_button.isEnabled()
    wait_finished(qtbot, window)
    with open_run(window.session.path) as run:
        assert run.status == "completed"
        last_rows = run.tasks[1].n_rows
    assert last_rows > 0
    assert window.plots.samples == last_rows
    assert 0 < window.plots.points_drawn("power_clamped") <= last_rows
    assert window.network_view.updates > 0
    assert window.summary.n_points == 2
    assert window.gates.value(0, 2) != "–"  # gate voltage of edge 0 is on display
    assert "completed" in window.status_labels["state"].text()
    assert window.start_button.isEnabled() and not window.abort_button.isEnabled()


def test_pause_stops_rows_and_resume_completes(qtbot, make_window):
    window = make_window(clock="paced", duration=1.0)
    session = window.start_run()
    qtbot.waitUntil(lambda: window.model.rows_seen.get(0, 0) > 0, timeout=WAIT_MS)
    qtbot.mouseClick(window.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.model.status.state == "paused", timeout=WAIT_MS)
    assert window.pause_button.text() == "Resume"
    seen = dict(window.model.rows_seen)
    qtbot.wait(400)
    window.poll()
    assert window.model.rows_seen == seen  # nothing acquired while paused
    qtbot.mouseClick(window.pause_button, Qt.MouseButton.LeftButton)
    wait_finished(qtbot, window)
    assert session.result.status == "completed"
    with open_run(session.path) as run:
        kinds = [kind for _, _, kind, _ in run.events]
    assert "pause" in kinds and "resume" in kinds


@pytest.mark.parametrize("button", ["abort_button", "safe_button"])
def test_abort_and_safe_state_end_the_run_aborted_and_safe(qtbot, make_window, button):
    window = make_window(clock="paced", duration=3.0)
    session = window.start_run()
    qtbot.waitUntil(lambda: window.model.rows_seen.get(0, 0) > 0, timeout=WAIT_MS)
    assert window.bench_panel.in_use and not window.bench_panel.check_button.isEnabled()
    qtbot.mouseClick(getattr(window, button), Qt.MouseButton.LeftButton)
    wait_finished(qtbot, window)
    assert session.result.status == "aborted"
    assert session.result.safe_state_failures == []
    with open_run(session.path) as run:
        assert run.status == "aborted"
        assert run.tasks[1].n_rows == 0  # the second task never ran
    assert "aborted" in window.status_labels["state"].text()
    assert not window.bench_panel.in_use


def test_blocked_gui_loses_no_rows_and_plots_catch_up(qtbot, make_window):
    window = make_window(clock="paced", duration=1.2)
    session = window.start_run()
    time.sleep(2.0)  # the GUI thread is frozen while the acquisition thread goes on
    wait_finished(qtbot, window)
    assert session.result.status == "completed"
    with open_run(session.path) as run:
        file_rows = {t.index: t.n_rows for t in run.tasks}
    assert all(n > 0 for n in file_rows.values())
    assert window.model.rows_seen == file_rows
    assert window.plots.samples == file_rows[1]


def test_dropped_display_events_are_reread_from_the_run_file(qtbot, make_window):
    window = make_window(clock="paced", duration=1.2)
    session = window.start_run()
    window.feed.maxsize = 3  # the window's event queue overflows while the GUI is frozen
    time.sleep(2.0)
    wait_finished(qtbot, window)
    assert window.feed.dropped > 0
    assert window.resyncs >= 1
    with open_run(session.path) as run:
        last_rows = run.tasks[1].n_rows
    assert window.plots.samples == last_rows


def test_bad_parameters_are_refused_at_their_field(qtbot, make_window):
    window = make_window()
    panel = window.params
    panel.set_field("eta", "2")
    assert panel.validate() is None
    assert "eta" in panel.error_for("eta") and "allowed" in panel.error_for("eta")
    assert window.start_run() is None and window.session is None
    panel.set_field("eta", "0.2")
    panel.set_field("lambda.values", "0.0, 1.5")
    assert panel.validate() is None
    assert panel.error_for("eta") == ""
    assert "lambda.values[1]" in panel.error_for("lambda.values")
    panel.set_field("lambda.values", "0.0")
    panel.set_field("init.gate_voltage", "nine")
    assert panel.validate() is None
    assert "init.gate_voltage" in panel.error_for("init.gate_voltage")
    panel.set_field("init.gate_voltage", "9.0")
    assert panel.validate() is None
    assert "allowed" in panel.error_for("init.gate_voltage")
    panel.set_field("init.gate_voltage", "2.5")
    panel.tasks.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert panel.validate() is None and "task" in panel.error_for("task")
    panel.tasks.item(0).setCheckState(Qt.CheckState.Checked)
    protocol = panel.validate()
    assert protocol is not None and protocol.eta == 0.2
    assert [p.params["lambda"] for p in window.start_run().plans] == [0.0]


def test_lambda_controller_fields_are_validated(qtbot, make_window):
    window = make_window()
    panel = window.params
    panel.lambda_mode.setCurrentText("control")
    assert panel.validate() is None  # target error, ρ, p and λ0 are required
    lambda_fields = [f for f in panel.fields if f.startswith("lambda.")]
    assert len(lambda_fields) == 6
    assert any("required" in panel.error_for(f) for f in lambda_fields)
    for field, text in (("lambda.target_error", "1e-3"), ("lambda.rho", "1"),
                        ("lambda.p", "0.02"), ("lambda.lam0", "0.06"),
                        ("lambda.lam_max", "0.05"), ("lambda.update_rate", "10")):
        panel.set_field(field, text)
    assert panel.validate() is None
    assert "allowed" in panel.error_for("lambda.lam0")
    panel.set_field("lambda.lam0", "1e-3")
    protocol = panel.validate()
    assert protocol is not None and protocol.lam.lam0 == 1e-3


def test_live_eta_and_lambda_reach_the_run_file(qtbot, make_window):
    window = make_window(clock="paced", duration=1.5, lambdas=(0.0,))
    session = window.start_run()
    qtbot.waitUntil(lambda: window.model.rows_seen.get(0, 0) > 0, timeout=WAIT_MS)
    window.live_lambda.setText("1.5")
    assert not window.apply_live("lambda")
    assert "lambda" in window.live_error.text() and window.live_error.isVisibleTo(window)
    window.live_lambda.setText("0.05")
    window.live_eta.setText("0.3")
    assert window.apply_live("lambda") and window.apply_live("eta")
    wait_finished(qtbot, window)
    with open_run(session.path) as run:
        lam, eta = run.tasks[0].lambda_, run.tasks[0].eta
    assert lam[0] == pytest.approx(0.0) and lam[-1] == pytest.approx(0.05, abs=2e-3)
    assert eta[-1] == pytest.approx(0.3, abs=1e-2)


def test_replay_of_a_finished_run_with_the_time_slider(qtbot, make_window):
    window = make_window()
    session = window.start_run()
    wait_finished(qtbot, window)
    window.replay.open(session.path)
    window.replay.task_box.setCurrentIndex(0)
    with open_run(session.path) as run:
        rows = run.tasks[0].n_rows
        t = run.tasks[0].time
    assert window.plots.samples == rows
    window.replay.slider.setValue(500)
    shown = window.plots.samples
    assert shown == int((t <= t[-1] * 0.5).sum())
    assert 0 < shown < rows
    assert window.summary.n_points == 2
    assert window.network_view.updates > 0


def test_idle_safe_state_and_check_open_the_bench_off_the_gui_thread(qtbot, make_window):
    window = make_window()
    with qtbot.waitSignal(window.bench_panel.job_done, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(window.safe_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == "safe" and blocker.args[2] is None and blocker.args[1] == []
    assert "safe state" in window.log_pane.toPlainText()
    with qtbot.waitSignal(window.bench_panel.job_done, timeout=WAIT_MS) as blocker:
        assert window.bench_panel.check()
    assert blocker.args[0] == "check" and blocker.args[2] is None
    assert "connected" in window.bench_panel.state_label.text()


def test_replay_follows_a_run_file_written_by_another_process(qtbot, make_window, tmp_path,
                                                             write_protocol):
    window = make_window()
    protocol = write_protocol(duration=2.0, name="live")
    out = tmp_path / "live.h5"
    proc = subprocess.Popen([sys.executable, "-m", "labctl.cli", "run", str(protocol), "-o",
                             str(out), "--clock", "paced", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def has_rows():
            try:
                with open_run(out) as run:
                    return run.tasks[0].n_rows > 0
            except (OSError, ValueError, KeyError):
                return False
        qtbot.waitUntil(has_rows, timeout=WAIT_MS)
        window.replay.open(out)
        assert window.plots.samples > 0
    finally:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    with open_run(out) as run:
        rows = run.tasks[0].n_rows
        assert run.status == "completed"
    qtbot.waitUntil(lambda: window.plots.samples == rows, timeout=WAIT_MS)
    assert f"({rows} rows)" in window.replay.time_label.text()


def test_run_shows_tasks_from_0_requested_and_applied_values_and_si_units(qtbot, make_window):
    window = make_window()
    session = window.start_run()
    wait_finished(qtbot, window)
    # the header numbers tasks as the run file does, and tells requested from applied
    title = window.plots.title.text
    assert "task 1 of 0–1: " in title
    with open_run(session.path) as run:
        applied = float(run.tasks[1]["lambda"][-1])
        eta = float(run.tasks[1]["eta"][-1])
        finals = [t.final for t in run.tasks]
    assert applied != 0.03  # the gain stage quantises the request
    assert "λ requested 0.03, applied " + f"{applied:.4g}" in title
    assert "η requested" in title and f"applied {eta:.4g}" in title
    assert f"η {eta:.4g}" in window.live_applied.text()
    # the task table: every task of the plan, numbered from 0, finals with SI prefixes
    table = window.tasks
    assert table.rowCount() == 2
    assert [table.value(i, 0) for i in range(2)] == ["0", "1"]
    assert [table.value(i, 2) for i in range(2)] == ["completed", "completed"]
    assert table.value(1, 3) == "0.03" and table.value(1, 4) == f"{applied:.4g}"
    power = finals[1]["power_free"]
    assert table.value(1, 7) == format_si(power, "W") and "µW" in table.value(1, 7)
    assert table.value(1, 8).endswith("J") and table.value(1, 6).endswith("V²")
    assert table.isColumnHidden(9) and table.isColumnHidden(10)  # no dataset task
    # power and energy axes carry SI-prefixed units; the sweep summary's ticks too
    power_axis = window.plots.plots["power"].getAxis("left")
    assert power_axis.labelUnits == "W" and power_axis.labelUnitPrefix == "µ"
    assert window.plots.plots["energy"].getAxis("left").labelUnits == "J"
    assert window.plots.plots["lambda"].getAxis("left").autoSIPrefixScale == 1.0
    window.grab()  # a paint: the view ranges follow the data
    ticks = window.summary.tick_labels("bottom") + window.summary.tick_labels("left")
    assert any(t.endswith("µW") for t in ticks) and any(t.endswith("V²") for t in ticks)
    assert window.summary.n_points == 2 and "applied λ" in window.summary.legend_text


def test_replay_of_an_interrupted_run_says_so(qtbot, make_window, tmp_path, write_protocol):
    window = make_window()
    protocol = write_protocol(duration=30.0, name="killed")
    out = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-m", "labctl.cli", "run", str(protocol), "-o",
                             str(out), "--clock", "paced", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def has_rows():
            try:
                with open_run(out) as run:
                    return run.tasks[0].n_rows > 0
            except (OSError, ValueError, KeyError):
                return False
        qtbot.waitUntil(has_rows, timeout=WAIT_MS)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert window.replay.try_open(out)
    state = window.status_labels["state"].text()
    assert "interrupted (last wrote " in state and "UTC" in state
    assert window.replay.time_label.text().startswith("interrupted: t = ")
    assert [window.tasks.value(i, 2) for i in range(2)] == ["interrupted", "pending"]
    assert window.tasks.value(0, 6).endswith("V²")  # the last row's values are shown
    assert window.plots.samples > 0 and window.summary.n_points == 0
    window.grab()
    assert window.summary.tick_labels("bottom") == []


def test_replay_of_an_iris_run_shows_train_and_test_accuracy(qtbot, make_window, tmp_path):
    text = (Path(__file__).resolve().parents[2] / "protocols" / "iris.toml").read_text()
    for key, value in (("duration", "0.1"), ("n_train_per_class", "2"),
                       ("n_test_per_class", "2"), ("epoch_steps", "3"), ("epochs", "1")):
        text, n = re.subn(rf"(?m)^{key} = [0-9.]+", f"{key} = {value}", text)
        assert n == 1, key
    protocol = tmp_path / "iris_small.toml"
    protocol.write_text(text)
    out = tmp_path / "iris.h5"
    proc = subprocess.run([sys.executable, "-m", "labctl.cli", "run", str(protocol), "-o",
                           str(out), "--clock", "fast", "-q"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    with open_run(out) as run:
        final = run.tasks[0].final
    window = make_window()
    assert window.replay.try_open(out)
    table = window.tasks
    assert not table.isColumnHidden(9) and not table.isColumnHidden(10)
    assert table.value(0, 9) == f"{100 * final['train_accuracy']:.1f} %"
    assert table.value(0, 10) == f"{100 * final['test_accuracy']:.1f} %"
