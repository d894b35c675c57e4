"""The bench operator's main window: bench, protocol, run control, live plots, network.

The window holds no experiment logic: it builds a :class:`RunSession` from the validated
protocol and talks to it only through its thread-safe front-end API. A QTimer (30 Hz)
drains the session's event queue into a :class:`RunModel` and redraws what changed. The
acquisition thread never waits for the GUI: if the GUI stalls, rows still reach the run
file, the queued events are drained at the next tick and, if display events were dropped,
the current task is re-read from the (SWMR) run file.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QFont
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStatusBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from labctl.bench.config import BenchConfig
from labctl.gui.bench_panel import BenchPanel, bench_safe_state
from labctl.gui.elided_label import ElidedLabel
from labctl.gui.gates_table import GateTable
from labctl.gui.model import SCALAR_FIELDS, RunModel, TaskRow
from labctl.gui.network_view import NetworkView
from labctl.gui.params import ERROR_STYLE, ParameterPanel, parse_value
from labctl.gui.plots import LivePlots, SummaryPlot
from labctl.gui.replay import ReplayPanel
from labctl.gui.task_table import TaskTable
from labctl.network import periodic_lattice
from labctl.protocol.model import Protocol
from labctl.runner.events import Subscription, TaskStarted
from labctl.runner.outputs import default_run_path
from labctl.runner.session import RUNS_DIR, RunSession
from labctl.store import open_run
from labctl.units import format_si

#: display refresh period (ms): at most ~30 redraws per second
FRAME_MS = 33
#: the gate table is refreshed at most this often (s)
TABLE_PERIOD_S = 0.25
#: while display events are being dropped, the task on display is re-read this often (s)
RESYNC_PERIOD_S = 0.5


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    whole = round(seconds)
    return f"{whole // 3600:d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class MainWindow(QMainWindow):
    """The operator window. ``clock`` is the simulated bench's clock ("paced" = real time,
    "fast" = as fast as the simulation goes); run files go to ``runs_dir`` (default: the
    runs folder of ``labctl run``, :func:`labctl.paths.runs_dir`)."""

    def __init__(self, *, clock: str = "paced", runs_dir: str | Path | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        if clock not in ("fast", "paced"):
            raise ValueError(f"clock: {clock!r}; allowed 'fast' or 'paced'")
        self.clock = clock
        self.seed = seed
        self.runs_dir = Path(runs_dir) if runs_dir else RUNS_DIR
        self.session: RunSession | None = None
        self.feed: Subscription | None = None  # this window's queue of the run's events
        self._ended: RunSession | None = None
        self.model = RunModel()
        self.frames = 0
        self.resyncs = 0
        self._seen_dropped = 0
        self._follow_file = False
        self._resync_t = 0.0
        self._log_shown = 0
        self._table_t = 0.0
        self._net_drawn = -1
        self._tasks_drawn = -1
        self._tasks_model: RunModel | None = None
        self.setWindowTitle("labctl – bench operator")
        network = periodic_lattice(4, 4)

        self.bench_panel = BenchPanel()
        self.params = ParameterPanel()
        self.bench_panel.bench_changed.connect(self._bench_changed)
        self.bench_panel.job_done.connect(self._bench_job_done)
        self.params.protocol_changed.connect(self._protocol_changed)

        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.abort_button = QPushButton("Abort")
        self.safe_button = QPushButton("SAFE STATE")
        self.safe_button.setObjectName("safe_state")
        self.safe_button.setStyleSheet("QPushButton { background: #c62828; color: white; "
                                       "font-weight: bold; padding: 6px; }")
        self.safe_button.setToolTip("Running: abort (the engine drives the bench safe). "
                                    "Idle: open the bench, drive it safe, close it.")
        self.start_button.clicked.connect(self.start_run)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.abort_button.clicked.connect(lambda: self.abort_run("aborted by operator"))
        self.safe_button.clicked.connect(self.safe_state)

        self.live_eta = QLineEdit()
        self.live_lambda = QLineEdit()
        self.live_applied = QLabel("applied on the bench: –")
        self.live_applied.setObjectName("live_applied")
        self.live_applied.setToolTip("η and λ of the newest row: the bench quantises "
                                     "requests (η in steps of 1/129, λ to the gain trim)")
        self.live_error = QLabel()
        self.live_error.setStyleSheet(ERROR_STYLE)
        self.live_error.setWordWrap(True)
        self.live_error.hide()
        self.live_eta.returnPressed.connect(lambda: self.apply_live("eta"))
        self.live_lambda.returnPressed.connect(lambda: self.apply_live("lambda"))

        self.plots = LivePlots()
        self.summary = SummaryPlot()
        self.network_view = NetworkView(network)
        self.gates = GateTable(network)
        self.tasks = TaskTable()
        self.log_pane = QPlainTextEdit()
        self.log_pane.setReadOnly(True)
        self.log_pane.setMaximumBlockCount(5000)
        self.replay = ReplayPanel(self.model)
        self.replay.replay_changed.connect(self._replay_changed)
        self.replay.file_opened.connect(self._replay_opened)
        self._build_layout()
        self._build_status_bar()

        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self.poll)
        self.timer.start()
        self._update_buttons()
        self.bench_panel.select(None)

    # ---------------------------------------------------------------- layout
    def _build_layout(self) -> None:
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.addWidget(self.bench_panel)
        lay.addWidget(self.params)
        run_box = QGroupBox("Run")
        grid = QVBoxLayout(run_box)
        row = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.abort_button):
            row.addWidget(b)
        grid.addLayout(row)
        grid.addWidget(self.safe_button)
        live = QFormLayout()
        live.addRow("request η", self.live_eta)
        live.addRow("request λ", self.live_lambda)
        grid.addLayout(live)
        grid.addWidget(self.live_applied)
        grid.addWidget(self.live_error)
        lay.addWidget(run_box)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(370)
        scroll.setMaximumWidth(440)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.network_view)
        right.addWidget(self.summary)
        right.setSizes([520, 380])
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.plots)
        top.addWidget(right)
        top.setSizes([900, 460])
        log_box = QGroupBox("Log")
        QVBoxLayout(log_box).addWidget(self.log_pane)
        tables = QTabWidget()
        tables.addTab(self.tasks, "Tasks")
        tables.addTab(self.gates, "Gate voltages and conductances")
        self.tables = tables
        panes = QSplitter(Qt.Orientation.Horizontal)
        panes.addWidget(log_box)
        panes.addWidget(tables)
        panes.setSizes([420, 780])
        bottom = QWidget()
        blay = QVBoxLayout(bottom)
        blay.setContentsMargins(0, 0, 0, 0)
        blay.addWidget(self.replay)
        blay.addWidget(panes, 1)
        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(top)
        centre.addWidget(bottom)
        centre.setSizes([680, 260])
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(scroll)
        body.addWidget(centre)
        body.setSizes([400, 1200])
        self.setCentralWidget(body)

    def _build_status_bar(self) -> None:
        bar = QStatusBar()
        self.status_labels: dict[str, QLabel] = {}
        for key in ("state", "rate", "dropped", "elapsed", "eta", "file"):
            # a long run-file path is elided, never widening the window
            label = ElidedLabel("") if key == "file" else QLabel("")
            label.setObjectName(f"status:{key}")
            bar.addPermanentWidget(label, 3 if key == "file" else 0)
            self.status_labels[key] = label
        self.setStatusBar(bar)
        self._update_status()

    # ---------------------------------------------------------------- bench and protocol
    def _bench_changed(self, config: BenchConfig) -> None:
        self.params.set_bench(config)
        self.network_view.set_network(config.network)
        self.gates.set_network(config.network)

    def _protocol_changed(self, protocol: Protocol) -> None:
        self.live_eta.setText(f"{protocol.eta:g}")
        lam = getattr(protocol.lam, "value", None)
        if lam is None:
            lam = getattr(protocol.lam, "lam0", None)
        if lam is None:
            lam = protocol.lam.values[0]
        self.live_lambda.setText(f"{lam:g}")

    def load_protocol(self, path: str | Path) -> Protocol | None:
        """Load and validate protocol file ``path`` in the parameter panel."""
        return self.params.load(path)

    def _bench_job_done(self, name: str, result: Any, error: str | None) -> None:
        if name == "safe":
            if error:
                self.log("error", f"safe state FAILED: {error}")
            elif result:
                self.log("error", "safe state with failures: " + "; ".join(result))
            else:
                self.log("info", "bench driven to its safe state and closed")
        elif name == "check":
            self.log("error" if error else "info",
                     f"bench check: {error}" if error else "bench check: " + "; ".join(result))
        self._update_buttons()

    # ---------------------------------------------------------------- run control
    @property
    def running(self) -> bool:
        """True while a run session owns the bench."""
        return self.session is not None and not self.session.finished

    def start_run(self) -> RunSession | None:
        """Validate the edited protocol and start it on the selected bench."""
        if self.running:
            return None
        if self.bench_panel.busy:
            self.log("warning", "the bench is busy (check or safe state); start refused")
            return None
        protocol = self.params.validate()
        if protocol is None:
            self.log("error", "start refused: the protocol has errors (shown at the fields)")
            return None
        try:
            # a safe, unused name inside the runs folder whatever the protocol is called
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            path = default_run_path(protocol.name, self.runs_dir)
            session = RunSession(protocol, path, clock=self.clock, seed=self.seed)
            feed = session.subscribe(name="labctl gui")  # before start: every event
            session.events.close()  # this window reads its own subscription only
            self.replay.close_source()
            self._reset_model()
            session.start()
        except (ValueError, OSError, RuntimeError) as exc:
            self.log("error", f"start failed: {exc}")
            return None
        self.session, self.feed = session, feed
        self.model.set_tasks([TaskRow(p.index, p.name, params=dict(p.params))
                              for p in session.plans])
        self._seen_dropped = 0
        self._follow_file = False
        self.model.status.path = str(path)
        self.model.status.total_s = session.total_s
        self.log("info", f"run started: {len(session.plans)} tasks, "
                         f"{session.total_s:g} s of bench time -> {path}")
        self.bench_panel.set_in_use(True, "in use by the run (acquisition thread)")
        self._update_buttons()
        return session

    def toggle_pause(self) -> None:
        """Pause a running run, or resume a paused one."""
        if not self.running:
            return
        assert self.session is not None
        if self.session.control.paused:
            self.session.resume()
            self.log("info", "resume requested")
        else:
            self.session.pause()
            self.log("info", "pause requested")
        self._update_buttons()

    def abort_run(self, reason: str) -> None:
        """Ask the run to stop; the engine drives the bench safe and closes the file."""
        if self.running:
            assert self.session is not None
            self.session.abort(reason)
            self.log("warning", f"abort requested: {reason}")

    def safe_state(self) -> None:
        """Always available: abort a run (engine goes safe) or, idle, drive the bench safe
        from a worker thread."""
        if self.running:
            self.abort_run("safe state requested by operator")
        elif not self.bench_panel.run_job("safe", bench_safe_state):
            self.log("warning", "safe state: the bench is busy with another job; retry")
        else:
            self.log("info", "driving the bench to its safe state…")

    def apply_live(self, which: str) -> bool:
        """Send the live η or λ field to the running session (error shown at the field)."""
        edit = self.live_eta if which == "eta" else self.live_lambda
        self.live_error.hide()
        edit.setStyleSheet("")
        if not self.running:
            return False
        assert self.session is not None
        try:
            value = parse_value(edit.text(), which)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"{which}: {edit.text()!r} is not a single number")
            (self.session.set_eta if which == "eta" else self.session.set_lambda)(float(value))
        except ValueError as exc:
            self.live_error.setText(str(exc))
            self.live_error.show()
            edit.setStyleSheet("border: 1px solid #c62828;")
            return False
        self.log("info", f"live {which} = {value:g} sent to the run")
        return True

    def _reset_model(self) -> None:
        self.model = RunModel()
        self.replay.model = self.model
        self._log_shown = 0
        self._net_drawn = -1

    # ---------------------------------------------------------------- the frame timer
    def poll(self) -> None:
        """One display frame: drain run events, catch up if needed, redraw what changed.

        If the event queue overflowed (display events dropped), the task on display is
        re-read from the run file every RESYNC_PERIOD_S until a new task starts with no
        further drops, and once more when the run has ended (the file is then complete).
        """
        session, feed = self.session, self.feed
        if session is not None and feed is not None:
            events = feed.drain()
            self.model.apply_all(events)
            dropped = feed.dropped
            self.model.status.dropped_events = dropped  # what this window lost
            if dropped > self._seen_dropped:
                # rows were lost on the display path: follow the run file for this task
                self._seen_dropped = dropped
                self._follow_file = True
            elif any(isinstance(e, TaskStarted) for e in events):
                self._follow_file = False  # the new task's rows are all in the queue
            started = [e for e in events if isinstance(e, TaskStarted)]
            if started:
                self._show_task_request(started[-1].params)
            now = time.monotonic()
            if self._follow_file and (self.model.finished
                                      or now - self._resync_t >= RESYNC_PERIOD_S):
                self._resync_t = now
                self.resync_from_file()
                self._follow_file = not self.model.finished
            if self.model.finished and not self.running:
                self._run_ended()
        elif self.replay.source is not None:
            now = time.monotonic()
            if now - self._resync_t >= RESYNC_PERIOD_S:
                self._resync_t = now
                self.replay.follow_live()
        self.redraw()

    def resync_from_file(self) -> bool:
        """Re-read the task on display from the run file (after dropped display events)."""
        if self.session is None or self.model.task.index < 0:
            return False
        try:
            with open_run(self.session.path) as run:
                task = run.tasks[self.model.task.index]
                names = (*SCALAR_FIELDS, "gate_voltage", "conductance", "v_free")
                data = {name: task[name] for name in names}
        except (OSError, ValueError, KeyError) as exc:
            self.log("warning", f"could not re-read the run file: {exc}")
            return False
        self.model.load_task_rows(self.model.task.index, self.model.task.n_tasks,
                                  self.model.task.name, self.model.task.params, data)
        self.resyncs += 1
        return True

    def redraw(self) -> None:
        """Redraw plots, network, table, log and status from the model (if changed)."""
        model = self.model
        drew = self.plots.update_from(model)
        self.summary.update_from(model)
        if model.version != self._net_drawn:
            self._net_drawn = model.version
            self.network_view.show_state(model.conductance, model.conductance_change,
                                         model.v_free, model.task.params)
            now = time.monotonic()
            if now - self._table_t >= TABLE_PERIOD_S or not self.running:
                self._table_t = now
                self.gates.show_state(model.gate_voltage, model.conductance,
                                      model.conductance_change)
        if model.tasks_version != self._tasks_drawn or model is not self._tasks_model:
            self._tasks_drawn, self._tasks_model = model.tasks_version, model
            self.tasks.show_tasks(list(model.tasks.values()))
        self._show_applied()
        for level, text in model.log[self._log_shown:]:
            self._append_log(level, text)
        self._log_shown = len(model.log)
        self._update_status()
        if drew:
            self.frames += 1

    def _show_task_request(self, params: dict[str, Any]) -> None:
        """A task started: its requested η and λ go into the live fields (unless the
        operator is editing one), so request and applied value are side by side."""
        for key, edit in (("eta", self.live_eta), ("lambda", self.live_lambda)):
            value = params.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) \
                    and not edit.hasFocus():
                edit.setText(f"{value:g}")
                edit.setStyleSheet("")

    def _show_applied(self) -> None:
        """η and λ of the newest row of the task on display (as applied by the bench)."""
        eta, lam = self.model.series("eta"), self.model.series("lambda")
        if len(eta) and len(lam):
            self.live_applied.setText(f"applied on the bench: η {format_si(eta[-1], digits=4)}"
                                      f", λ {format_si(lam[-1], digits=4)}")
        else:
            self.live_applied.setText("applied on the bench: –")

    def _replay_opened(self, path: str) -> None:
        status = self.model.status.run_status
        n = self.replay.source.n_tasks if self.replay.source is not None else 0
        self.log("warning" if status.startswith(("interrupted", "aborted")) else "info",
                 f"replay of {path}: {n} task{'' if n == 1 else 's'}, run {status}")

    def _replay_changed(self) -> None:
        if self.session is not None and self.session.finished and self.model.finished:
            self._run_ended()
            self.session = None  # the display now belongs to the replay
        self._net_drawn = -1
        self.redraw()

    def _run_ended(self) -> None:
        assert self.session is not None
        result = self.session.result
        if result is not None and self._ended is not self.session:
            self._ended = self.session
            level = "info" if result.status == "completed" else "warning"
            self.log(level, f"run {result.status}{': ' + result.reason if result.reason else ''}"
                            f"; file {result.path}")
            for failure in result.safe_state_failures:
                self.log("error", f"safe state failure: {failure}")
            self.bench_panel.set_in_use(False, f"idle (last run {result.status}; bench left "
                                               f"safe and closed)")
            self._update_buttons()

    # ---------------------------------------------------------------- helpers
    def log(self, level: str, text: str) -> None:
        """Add a line to the log pane (level "info", "warning" or "error")."""
        self.model.log.append((level, text))
        self._append_log(level, text)
        self._log_shown = len(self.model.log)

    def _append_log(self, level: str, text: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        prefix = {"warning": "WARNING ", "error": "ERROR "}.get(level, "")
        self.log_pane.appendPlainText(f"{stamp} {prefix}{text.rstrip()}")

    def _update_buttons(self) -> None:
        running = self.running
        paused = running and self.session is not None and self.session.control.paused
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.abort_button.setEnabled(running)
        self.safe_button.setEnabled(True)
        self.live_eta.setEnabled(running)
        self.live_lambda.setEnabled(running)
        self.params.validate_button.setEnabled(not running)
        self.params.open_button.setEnabled(not running)
        self.params.save_button.setEnabled(not running)
        self.replay.open_button.setEnabled(not running)

    def _update_status(self) -> None:
        s = self.model.status
        labels = self.status_labels
        state = s.state + (f" ({s.reason})" if s.reason else "")
        replaying = bool(s.run_status)
        if replaying:  # a replayed file: its status as the store reports it
            state = f"{s.state}, run {s.run_status}"
        for key in ("rate", "dropped", "elapsed", "eta"):  # statistics of a live run only
            labels[key].setVisible(not replaying)
        labels["state"].setText(f"state: {state}")
        labels["state"].setStyleSheet("color: #c62828;" if "interrupted" in state
                                      or "aborted" in state else "")
        labels["rate"].setText(f"{s.sample_rate / 1e3:.1f} kS/s" if s.sample_rate else "– kS/s")
        labels["dropped"].setText(f"dropped: {s.dropped_events}")
        labels["elapsed"].setText(f"elapsed {_fmt_duration(s.elapsed_wall_s)}")
        labels["eta"].setText(f"ETA {_fmt_duration(s.eta_s) if self.running else '–'}")
        labels["file"].setText(f"file: {s.path or '–'}")
        if self.running and self.session is not None:
            paused = self.session.control.paused
            if self.pause_button.text() != ("Resume" if paused else "Pause"):
                self._update_buttons()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing the window aborts a run and waits (≤ 10 s) for the bench to go safe."""
        if self.running and self.session is not None:
            self.session.abort("GUI closed")
            self.session.wait_quietly(10.0)
        self.timer.stop()
        self.replay.close_source()
        super().closeEvent(event)


def apply_app_style(app: Any) -> None:
    """A readable default font (10 pt) for the whole application."""
    font = QFont(app.font())
    font.setPointSize(10)
    app.setFont(font)
