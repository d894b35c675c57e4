"""The task table: one row per task of the run, numbered from 0 as in the run file, with
its status, λ and η as requested and as applied, final error, power and energy, and the
train/test accuracy of dataset (classification) tasks."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from labctl.gui.model import TaskRow
from labctl.units import format_si

#: (header, tooltip) per column; accuracy columns are shown only when a task has them
COLUMNS: tuple[tuple[str, str], ...] = (
    ("#", "task number, from 0 as in the run file (/tasks/task_00003 is task 3)"),
    ("name", "task name"),
    ("status", "pending, running, completed, failed, or interrupted (writer gone)"),
    ("λ req.", "λ requested by the protocol"),
    ("λ applied", "λ the gain stage applied (quantised, last row of the task)"),
    ("η applied", "η the potentiometer applied (steps of 1/129, last row of the task)"),
    ("final L", "error L at the end of the task (V²)"),
    ("final P_F", "free power at the end of the task"),
    ("energy", "training energy ∫P_F dt over the task"),
    ("train acc.", "accuracy on the training examples after training (learning off)"),
    ("test acc.", "accuracy on the held-out test examples"),
)
ACCURACY_COLUMNS = (9, 10)
STATUS_COLOURS = {"running": "#1565c0", "failed": "#c62828", "interrupted": "#c62828"}


def _number(value: Any) -> float:
    """A table value as a float (NaN when absent or not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _percent(value: Any) -> str:
    v = _number(value)
    return "-" if math.isnan(v) else f"{100 * v:.1f} %"


def row_texts(row: TaskRow) -> list[str]:
    """The cells of one task row, as shown."""
    final, params = row.final, row.params
    return [
        str(row.index), row.name, row.status,
        format_si(_number(params.get("lambda")), digits=4),
        format_si(_number(final.get("lambda")), digits=4),
        format_si(_number(final.get("eta")), digits=4),
        format_si(_number(final.get("error")), "V²"),
        format_si(_number(final.get("power_free")), "W"),
        format_si(_number(final.get("energy")), "J"),
        _percent(final.get("train_accuracy")),
        _percent(final.get("test_accuracy")),
    ]


class TaskTable(QTableWidget):
    """One row per task: number, name, status, λ requested/applied, η applied, final
    error (V²), free power (W) and energy (J) with SI prefixes, train/test accuracy."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels([c[0] for c in COLUMNS])
        for col, (_h, tip) in enumerate(COLUMNS):
            self.horizontalHeaderItem(col).setToolTip(tip)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self._shown: list[list[str]] = []
        self.show_tasks([])

    def show_tasks(self, rows: list[TaskRow]) -> None:
        """Show ``rows`` (in task order); only changed cells are rewritten."""
        texts = [row_texts(r) for r in sorted(rows, key=lambda r: r.index)]
        if texts == self._shown:
            return
        if len(texts) != self.rowCount():
            self.setRowCount(len(texts))
        for i, cells in enumerate(texts):
            for col, text in enumerate(cells):
                item = self.item(i, col)
                if item is None:
                    item = QTableWidgetItem()
                    align = Qt.AlignmentFlag.AlignLeft if col in (1, 2) \
                        else Qt.AlignmentFlag.AlignRight
                    item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
                    self.setItem(i, col, item)
                if item.text() != text:
                    item.setText(text)
                    if col == 2:
                        item.setForeground(_colour(text))
        has_accuracy = any(t[c] != "-" for t in texts for c in ACCURACY_COLUMNS)
        for col in ACCURACY_COLUMNS:
            self.setColumnHidden(col, not has_accuracy)
        self._shown = texts

    def value(self, row: int, col: int) -> str:
        """The text shown in cell (``row``, ``col``)."""
        return self.item(row, col).text()


def _colour(status: str) -> QBrush:
    """Text colour of a status cell (blue running, red failed or interrupted)."""
    return QBrush(QColor(STATUS_COLOURS.get(status, "#000000")))
