"""The gate-voltage table: one row per edge with its gate voltage and conductance."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from labctl.network import Network

COLUMNS = ("edge", "nodes", "gate (V)", "G (mS)", "ΔG 1 s (µS)")


class GateTable(QTableWidget):
    """Per edge: its node pair, gate voltage (V), conductance (shown in mS) and the change
    of conductance over the last second of bench time (shown in µS)."""

    def __init__(self, network: Network, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.set_network(network)

    def set_network(self, network: Network) -> None:
        """One empty row per edge of ``network``."""
        self.setRowCount(network.n_edges)
        for i, (a, b) in enumerate(network.edges):
            for col, text in enumerate((str(i), f"{a}–{b}", "–", "–", "–")):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(i, col, item)

    def show_state(self, gate_voltage: np.ndarray | None, conductance: np.ndarray | None,
                   change: np.ndarray | None) -> None:
        """Fill in gate voltages (V), conductances (S) and their recent change (S)."""
        for col, values, scale, fmt in ((2, gate_voltage, 1.0, "{:.4f}"),
                                        (3, conductance, 1e3, "{:.4g}"),
                                        (4, change, 1e6, "{:+.3g}")):
            if values is None:
                continue
            for row, v in enumerate(np.asarray(values, dtype=float)[: self.rowCount()]):
                self.item(row, col).setText(fmt.format(v * scale))

    def value(self, row: int, col: int) -> str:
        """The text shown in cell (``row``, ``col``)."""
        return self.item(row, col).text()
