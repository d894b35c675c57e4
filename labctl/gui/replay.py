"""Replaying a run file (finished, or live while another process writes it).

:class:`ReplaySource` reads one task of an HDF5 run file up to a chosen bench time and
fills a :class:`RunModel`, so the replay is drawn by the same plots as a live run.
:class:`ReplayPanel` is its operator control: open a file, pick a task, drag the time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QWidget,
)

from labctl.gui.model import SCALAR_FIELDS, RunModel, TaskRow
from labctl.store import open_run
from labctl.store.info_cmd import status_line
from labctl.store.reader import Run, TaskData

#: steps of the time slider
SLIDER_STEPS = 1000
VECTOR_FIELDS = ("gate_voltage", "conductance", "v_free")
#: values of a task's last row shown in the task table when the file has no finals yet
#: (a live or interrupted run: finals are written when the run closes)
LAST_ROW_FIELDS = ("error", "error_normalized", "power_free", "power_clamped", "energy",
                   "lambda", "eta")


class ReplaySource:
    """An open run file whose tasks can be shown up to any bench time (s)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # verified on opening: a damaged or foreign file raises RunFileError (a
        # ValueError) within 10 s instead of hanging the window
        self.run: Run = open_run(self.path)
        self._finals: dict[int, dict[str, float]] = {}  # completed tasks' values

    def close(self) -> None:
        """Close the run file."""
        self.run.close()

    def reopen(self) -> None:
        """Close and open the run file again (to follow a file another process writes)."""
        self.run.close()  # HDF5 shares one handle per file and process: close first
        self.run = open_run(self.path, verify=False)  # verified when first opened

    @property
    def n_tasks(self) -> int:
        """Number of tasks in the run file."""
        return len(self.run.tasks)

    def task_names(self) -> list[str]:
        """Task names, in file order."""
        return [t.name for t in self.run.tasks]

    def duration(self, index: int) -> float:
        """Bench time recorded so far in task ``index`` (s; 0 if it has no rows)."""
        self.run.refresh()
        t = self.run.tasks[index].time
        return float(t[-1]) if len(t) else 0.0

    def fill(self, model: RunModel, index: int, until_s: float | None = None) -> int:
        """Show task ``index`` up to bench time ``until_s`` (None = all) in ``model``,
        plus the summary of every task finished so far; returns the rows shown."""
        self.run.refresh()
        task = self.run.tasks[index]
        t = task.time
        n = len(t) if until_s is None else int(np.searchsorted(t, until_s, side="right"))
        data = {name: task[name][:n] for name in (*SCALAR_FIELDS, *VECTOR_FIELDS)}
        model.summary.clear()
        model.load_task_rows(index, self.n_tasks, task.name, task.params, data)
        rows = self.task_rows()
        model.set_tasks(rows)
        for row in rows:
            if row.status == "completed":
                model.finish_task(row.index, row.name, row.final)
        model.status.state = "replay"
        model.status.run_status = status_line(self.run)
        model.status.path = str(self.path)
        return n

    def task_rows(self) -> list[TaskRow]:
        """Every task of the file for the task table: status as the store reports it (a
        task left running by a writer that is gone is ``interrupted``), plan parameters,
        and final values (from the file's finals, else from the task's last row)."""
        interrupted = self.run.status == "interrupted"
        rows = []
        for task in self.run.tasks:
            status = task.status
            if status == "running" and interrupted:
                status = "interrupted"
            final = self._finals.get(task.index)
            if final is None:
                final = _final_values(task)
                if status == "completed":
                    self._finals[task.index] = final
            rows.append(TaskRow(task.index, task.name, status, task.params, final))
        return rows


def _final_values(task: TaskData) -> dict[str, float]:
    """The task's final values: as written at close, with the last row's values for any
    that are missing (a run not closed yet, or closed by a crash)."""
    final = dict(task.final)
    n = task.n_rows
    if n:
        missing = [k for k in LAST_ROW_FIELDS if k not in final]
        for key in missing:
            final[key] = float(task[key][-1])
    return final


class ReplayPanel(QWidget):
    """Open-run-file button, task selector and a time slider over the chosen task."""

    replay_changed = Signal()
    #: a run file was opened for replay (its path)
    file_opened = Signal(str)

    def __init__(self, model: RunModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.source: ReplaySource | None = None
        self._shown_final = False
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.open_button = QPushButton("Open run file…")
        self.open_button.clicked.connect(self._browse)
        self.task_box = QComboBox()
        self.task_box.setMinimumContentsLength(18)
        self.task_box.currentIndexChanged.connect(lambda _i: self.show_time())
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setValue(SLIDER_STEPS)
        self.slider.valueChanged.connect(lambda _v: self.show_time())
        self.slider.setEnabled(False)
        self.time_label = QLabel("replay: no file")
        layout.addWidget(self.open_button)
        layout.addWidget(self.task_box)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.time_label)

    def _browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open run file", "", "Run files (*.h5)")
        if name:
            self.try_open(name)

    def try_open(self, path: str | Path) -> bool:
        """Open ``path`` for replay; a damaged, foreign or missing file is refused with
        its reason in the replay label (no traceback). True if it opened."""
        try:
            self.open(path)
        except (OSError, ValueError) as exc:
            self.time_label.setText(f"replay refused: {exc}")
            return False
        return True

    def open(self, path: str | Path) -> None:
        """Open run file ``path`` for replay (raises ValueError/OSError if unreadable)."""
        source = ReplaySource(path)
        if self.source is not None:
            self.source.close()
        self.source = source
        self._shown_final = False
        self.task_box.blockSignals(True)
        self.task_box.clear()
        self.task_box.addItems([f"{i}: {n}" for i, n in enumerate(source.task_names())])
        self.task_box.blockSignals(False)
        self.slider.setEnabled(True)
        self.slider.setValue(SLIDER_STEPS)
        self.show_time()
        self.file_opened.emit(str(source.path))

    def follow_live(self) -> bool:
        """If the open file is still being written and the slider is at its end, show the
        newest rows; True if it redrew. Called periodically by the window."""
        if self.source is None or self.slider.value() < SLIDER_STEPS or self._shown_final:
            return False
        try:
            self.source.reopen()  # a fresh view: the writer's final status is seen for sure
        except (OSError, ValueError):  # the writer is between opens; try at the next tick
            return False
        self._shown_final = not self.source.run.live
        self.show_time()
        return True

    def close_source(self) -> None:
        """Stop replaying (closes the file)."""
        if self.source is not None:
            self.source.close()
            self.source = None
        self.slider.setEnabled(False)
        self.task_box.clear()
        self.time_label.setText("replay: no file")

    def show_time(self) -> None:
        """Redraw the selected task up to the slider's time."""
        if self.source is None or self.task_box.currentIndex() < 0:
            return
        index = self.task_box.currentIndex()
        frac = self.slider.value() / SLIDER_STEPS
        try:
            total = self.source.duration(index)
            until = None if frac >= 1.0 else total * frac
            rows = self.source.fill(self.model, index, until)
        except (OSError, ValueError, KeyError) as exc:  # a live file between writer opens
            self.time_label.setText(f"replay: file not readable now ({type(exc).__name__})")
            return
        shown = total if until is None else until
        self.time_label.setText(f"{self.source.run.status}: t = {shown:.2f} s of "
                                f"{total:.2f} s ({rows} rows)")
        self.replay_changed.emit()
