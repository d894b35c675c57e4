"""What the GUI shows, as plain data (no Qt): the current task's histories, the latest
network state and the sweep summary, fed by run-engine events or read from a run file.

:class:`RunModel` is the single place the display state lives. The live window feeds it
:mod:`labctl.runner.events`; the replay view feeds it rows read from an HDF5 run file, so
both draw through the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labctl.gui.ringbuffer import RingBuffer
from labctl.runner.events import (
    Event,
    LogMessage,
    Progress,
    Rows,
    RunFinished,
    StateChanged,
    TaskFinished,
    TaskStarted,
)
from labctl.units import task_label

#: scalar run-file fields kept as histories for the live plots (time s, error V², powers
#: W, energy J, λ and η dimensionless)
SCALAR_FIELDS = ("time", "error", "error_normalized", "power_free", "power_clamped",
                 "energy", "lambda", "eta")
#: bench time over which "recent change" of the conductances is measured (s)
RECENT_WINDOW_S = 1.0
#: default history length per quantity (samples): 100k rows = 33 min at 50 rows/s
DEFAULT_CAPACITY = 100_000


@dataclass
class SummaryPoint:
    """One finished task of a sweep: final error (V²), free power (W), λ and its name."""

    index: int
    name: str
    lam: float
    error: float
    power_free: float


@dataclass
class TaskRow:
    """One task of the run for the task table: index (from 0, as in the run file), name,
    status (``pending``, ``running``, ``completed``, ``failed``, or ``interrupted`` for a
    task a crashed writer left running), plan parameters (λ, η as requested) and final
    values (SI units; λ and η as applied; ``train_accuracy``/``test_accuracy`` (1) of
    dataset tasks)."""

    index: int
    name: str
    status: str = "pending"
    params: dict[str, Any] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)


@dataclass
class Status:
    """Run statistics for the status bar: bench seconds done/total (s), sample rate (S/s),
    dropped display events, elapsed wall time (s), engine state and reason."""

    done_s: float = 0.0
    total_s: float = 0.0
    sample_rate: float = 0.0
    dropped_events: int = 0
    elapsed_wall_s: float = 0.0
    state: str = "idle"
    reason: str = ""
    path: str = ""
    #: the run file's status for people, as the store reports it (replay only): e.g.
    #: ``interrupted (last wrote 2026-11-30 15:25:38 UTC; the writer process is gone)``
    run_status: str = ""

    @property
    def eta_s(self) -> float | None:
        """Estimated wall time left (s), from the bench-time rate so far; None if unknown."""
        if self.done_s <= 0 or self.elapsed_wall_s <= 0 or self.total_s <= 0:
            return None
        rate = self.done_s / self.elapsed_wall_s
        return max(0.0, (self.total_s - self.done_s) / rate)


@dataclass
class TaskView:
    """The task on display: index, count, name and parameters (from the plan)."""

    index: int = -1
    n_tasks: int = 0
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)


class RunModel:
    """Display state of one run.

    ``histories[f]`` holds the current task's samples of scalar field ``f`` (see
    :data:`SCALAR_FIELDS`); ``gate_voltage`` (V), ``conductance`` (S) and ``v_free`` (V)
    the newest row of each edge/node vector; ``conductance_change`` the change of each
    edge's conductance over the last :data:`RECENT_WINDOW_S` of bench time (S);
    ``summary`` one point per finished task; ``tasks`` one :class:`TaskRow` per task
    known (every task of the plan once :meth:`set_tasks` was called). ``version`` grows
    whenever anything that is drawn changed, so views redraw only when needed.
    ``rows_seen[i]`` counts the rows of task ``i`` received.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.histories = {name: RingBuffer(capacity) for name in SCALAR_FIELDS}
        self.task = TaskView()
        self.status = Status()
        self.summary: list[SummaryPoint] = []
        self.tasks: dict[int, TaskRow] = {}
        self.tasks_version = 0  #: grows whenever a task row changes
        self.log: list[tuple[str, str]] = []
        self.rows_seen: dict[int, int] = {}
        self.gate_voltage: np.ndarray | None = None
        self.conductance: np.ndarray | None = None
        self.v_free: np.ndarray | None = None
        self.conductance_change: np.ndarray | None = None
        self._g_times = RingBuffer(4096)
        self._g_rows: list[np.ndarray] = []
        self.version = 0
        self.finished = False

    # ---------------------------------------------------------------- feeding
    def start_task(self, index: int, n_tasks: int, name: str, params: dict[str, Any]) -> None:
        """A new task is on display: its histories start empty."""
        self.task = TaskView(index, n_tasks, name, dict(params))
        row = self.tasks.setdefault(index, TaskRow(index, name))
        row.name, row.params = name, dict(params)
        if row.status == "pending":
            row.status = "running"
        self.tasks_version += 1
        for buf in self.histories.values():
            buf.clear()
        self._g_times.clear()
        self._g_rows.clear()
        self.conductance_change = None
        self.rows_seen.setdefault(index, 0)
        self.version += 1

    def add_rows(self, index: int, data: dict[str, np.ndarray]) -> None:
        """Append run-file rows of task ``index`` (ignored if another task is on display)."""
        n = len(data.get("time", ()))
        self.rows_seen[index] = self.rows_seen.get(index, 0) + n
        if index != self.task.index or n == 0:
            return
        for name, buf in self.histories.items():
            if name in data:
                buf.extend(data[name])
        self.gate_voltage = np.asarray(data["gate_voltage"])[-1].copy()
        self.v_free = np.asarray(data["v_free"])[-1].copy()
        g = np.asarray(data["conductance"])
        self.conductance = g[-1].copy()
        self._track_change(np.asarray(data["time"], dtype=float), g)
        self.version += 1

    def _track_change(self, times: np.ndarray, g: np.ndarray) -> None:
        """Keep (time, conductance) rows thinned to ~20 per window; update the change."""
        step = RECENT_WINDOW_S / 20.0
        bins = np.floor(times / step)
        first = np.ones(len(bins), dtype=bool)
        first[1:] = bins[1:] != bins[:-1]
        if len(self._g_times):
            first &= bins > np.floor(self._g_times.view()[-1] / step)
        keep = np.flatnonzero(first)[-self._g_times.capacity:]
        self._g_times.extend(times[keep])
        self._g_rows.extend(row.copy() for row in g[keep])
        excess = len(self._g_rows) - len(self._g_times)
        if excess > 0:
            del self._g_rows[:excess]
        t_now = float(times[-1])
        ts = self._g_times.view()
        ref = int(np.searchsorted(ts, t_now - RECENT_WINDOW_S))
        ref = min(ref, len(self._g_rows) - 1)
        self.conductance_change = self.conductance - self._g_rows[ref]

    def set_tasks(self, rows: list[TaskRow]) -> None:
        """The run's tasks, all of them (from the plan, or from a run file)."""
        self.tasks = {r.index: r for r in rows}
        self.tasks_version += 1
        self.version += 1

    def finish_task(self, index: int, name: str, final: dict[str, float],
                    status: str = "completed") -> None:
        """Task ``index`` ended with ``status`` and ``final`` values: update its task row
        and, if completed, add its sweep-summary point."""
        row = self.tasks.setdefault(index, TaskRow(index, name))
        row.status, row.final = status, dict(final)
        self.tasks_version += 1
        self.summary = [p for p in self.summary if p.index != index]
        if status == "completed":
            self.summary.append(SummaryPoint(
                index, name, float(final.get("lambda", np.nan)),
                float(final.get("error", np.nan)), float(final.get("power_free", np.nan))))
        self.version += 1

    def apply(self, event: Event) -> None:
        """Update from one run-engine event."""
        if isinstance(event, Rows):
            self.add_rows(event.index, event.data)
        elif isinstance(event, TaskStarted):
            self.start_task(event.index, event.n_tasks, event.name, event.params)
        elif isinstance(event, TaskFinished):
            known = self.tasks.get(event.index)
            name = known.name if known is not None else (
                self.task.name if event.index == self.task.index else task_label(event.index))
            self.finish_task(event.index, name, event.final, event.status)
        elif isinstance(event, Progress):
            s = self.status
            s.done_s, s.total_s = event.done_s, event.total_s
            s.sample_rate, s.dropped_events = event.sample_rate, event.dropped_events
            s.elapsed_wall_s = event.elapsed_wall_s
        elif isinstance(event, LogMessage):
            self.log.append((event.level, event.text))
        elif isinstance(event, StateChanged):
            self.status.state, self.status.reason = event.state, event.reason
        elif isinstance(event, RunFinished):
            self.status.state, self.status.reason = event.status, event.reason
            self.status.path = event.path
            self.finished = True
            self.version += 1

    def apply_all(self, events: list[Event]) -> None:
        """Update from a batch of events, in order."""
        for event in events:
            self.apply(event)

    def load_task_rows(self, index: int, n_tasks: int, name: str, params: dict[str, Any],
                       data: dict[str, np.ndarray]) -> None:
        """Replace the display with task ``index``'s rows (replay, or catching up from the
        run file after display events were dropped)."""
        self.start_task(index, n_tasks, name, params)
        self.rows_seen[index] = 0
        self.add_rows(index, data)

    # ---------------------------------------------------------------- reading
    def series(self, name: str) -> np.ndarray:
        """The current task's samples of scalar field ``name`` (see SCALAR_FIELDS)."""
        return self.histories[name].view()
