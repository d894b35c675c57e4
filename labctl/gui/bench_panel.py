"""Bench selector and instrument status.

The operator picks a bench file (the simulated bench by default). Instruments are opened
only on a worker thread and only while no run owns them: "Check" opens the bench, reads
each instrument's identity and closes it (leaving it safe); the idle Safe-state action opens
it, drives it safe and closes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from labctl.bench import open_bench
from labctl.bench.config import DEFAULT_BENCH_FILE, BenchConfig, BenchFileError, load_bench
from labctl.units import format_si


class _Relay(QObject):
    """Carries a worker thread's result back to the GUI thread (queued signal)."""

    finished = Signal(str, object, object)  # job name, result, error text or None


def bench_identities(config: BenchConfig, clock: str = "fast") -> list[str]:
    """Open the bench of ``config``, read every instrument's identity, close it (safe)."""
    bench = open_bench(config, clock=clock)
    try:
        out = [f"DAQ: {bench.daq.identity()}", f"gates: {bench.gates.identity()}"]
        if bench.power is not None:
            out.append(f"power: {bench.power.identity()}")
        return out
    finally:
        bench.close()


def bench_safe_state(config: BenchConfig, clock: str = "fast") -> list[str]:
    """Open the bench, drive every instrument safe (learning off, sources 0 V), close it;
    returns the failures (empty when all went safe)."""
    bench = open_bench(config, clock=clock)
    failures = bench.safe_state()
    return failures + bench.close()


class BenchPanel(QGroupBox):
    """Bench file selector, its description, and the instruments' identities and state."""

    bench_changed = Signal(object)  # BenchConfig
    job_done = Signal(str, object, object)  # job name, result, error text or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Bench", parent)
        self.config: BenchConfig | None = None
        self.busy = False
        self.in_use = False
        self._relay = _Relay()
        self._relay.finished.connect(self._job_finished)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.selector = QComboBox()
        self.selector.setObjectName("bench_selector")
        for path in sorted(DEFAULT_BENCH_FILE.parent.glob("*.toml")):
            self.selector.addItem(path.name, str(path))
        self.selector.setCurrentIndex(max(0, self.selector.findText(DEFAULT_BENCH_FILE.name)))
        self.selector.currentIndexChanged.connect(
            lambda _i: self.select(self.selector.currentData()))
        browse = QPushButton("File…")
        browse.clicked.connect(self._browse)
        self.check_button = QPushButton("Check")
        self.check_button.setToolTip("Open the instruments, read their identities, close them")
        self.check_button.clicked.connect(self.check)
        row.addWidget(self.selector, 1)
        row.addWidget(browse)
        row.addWidget(self.check_button)
        layout.addLayout(row)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.state_label = QLabel("not connected")
        self.state_label.setObjectName("bench_state")
        self.state_label.setWordWrap(True)
        layout.addWidget(self.info)
        layout.addWidget(self.state_label)

    def _browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Bench file", str(DEFAULT_BENCH_FILE.parent),
                                              "Bench files (*.toml)")
        if name:
            if self.selector.findData(name) < 0:
                self.selector.addItem(Path(name).name, name)
            self.selector.setCurrentIndex(self.selector.findData(name))

    def select(self, path: str | Path | None) -> BenchConfig | None:
        """Load bench file ``path`` (None: the simulated bench); shows errors in place."""
        try:
            config = load_bench(path)
        except (BenchFileError, OSError) as exc:
            self.info.setText(f"<span style='color:#c62828'>{exc}</span>")
            return None
        self.config = config
        net = config.network
        self.info.setText(f"<b>{config.name}</b> ({config.backend}), {net.n_nodes} nodes, "
                          f"{net.n_edges} edges, {format_si(config.sample_rate, 'S/s')}")
        self.state_label.setText("not connected")
        self.bench_changed.emit(config)
        return config

    def set_in_use(self, in_use: bool, text: str = "") -> None:
        """Mark the instruments as owned by a run (no opening from the panel meanwhile)."""
        self.in_use = in_use
        self.check_button.setEnabled(not in_use and not self.busy)
        self.selector.setEnabled(not in_use)
        if text:
            self.state_label.setText(text)

    def run_job(self, name: str, fn: Callable[[BenchConfig], Any]) -> bool:
        """Run ``fn(config)`` on a worker thread; ``job_done`` reports the result.

        Refused (False) while a run owns the instruments or another job is going.
        """
        if self.config is None or self.in_use or self.busy:
            return False
        self.busy = True
        self.check_button.setEnabled(False)
        config, relay = self.config, self._relay

        def work() -> None:
            try:
                relay.finished.emit(name, fn(config), None)
            except Exception as exc:  # reported to the operator, never raised in the GUI
                relay.finished.emit(name, None, f"{type(exc).__name__}: {exc}")

        threading.Thread(target=work, name=f"labctl-gui-{name}", daemon=True).start()
        return True

    def check(self) -> bool:
        """Read the instruments' identities on a worker thread."""
        ok = self.run_job("check", bench_identities)
        if ok:
            self.state_label.setText("connecting…")
        return ok

    def _job_finished(self, name: str, result: Any, error: str | None) -> None:
        self.busy = False
        self.check_button.setEnabled(not self.in_use)
        if name == "check":
            if error:
                self.state_label.setText(f"<span style='color:#c62828'>not connected: "
                                         f"{error}</span>")
            else:
                self.state_label.setText("connected, closed again (safe):<br>"
                                         + "<br>".join(result))
        self.job_done.emit(name, result, error)
