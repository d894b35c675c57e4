"""Events the run engine publishes to its front ends (CLI progress bar, GUI).

Events travel on a bounded queue: a slow consumer (a frozen GUI) loses display events,
never run-file rows, which go to the writer on their own path.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TaskStarted:
    """Task ``index`` of ``n_tasks`` began; ``params`` as stored in the run file."""

    index: int
    n_tasks: int
    name: str
    params: dict[str, Any]
    expected_duration_s: float


@dataclass(frozen=True)
class Rows:
    """Recorded rows of task ``index``: the run-file fields (time in s, error in V²,
    powers in W, energy in J, gate_voltage (T×E) V, conductance (T×E) S, v_free/v_clamped
    (T×N) V)."""

    index: int
    data: dict[str, np.ndarray]


@dataclass(frozen=True)
class TaskFinished:
    """Task ``index`` ended with ``status`` and its final values (SI units)."""

    index: int
    status: str
    final: dict[str, float]


@dataclass(frozen=True)
class Progress:
    """Acquisition statistics: simulated/bench seconds done and expected in total, the
    measured sample rate (S/s), dropped display events, elapsed wall time (s)."""

    done_s: float
    total_s: float
    sample_rate: float
    dropped_events: int
    elapsed_wall_s: float


@dataclass(frozen=True)
class LogMessage:
    """A line for the operator's log (``level`` is "info", "warning" or "error")."""

    text: str
    level: str = "info"


@dataclass(frozen=True)
class StateChanged:
    """The run engine changed state: idle, running, paused, completed, aborted."""

    state: str
    reason: str = ""


@dataclass(frozen=True)
class RunFinished:
    """The run ended: ``status`` is "completed" or "aborted"; ``path`` is the run file."""

    status: str
    reason: str
    path: str
    safe_state_failures: list[str] = field(default_factory=list)


Event = TaskStarted | Rows | TaskFinished | Progress | LogMessage | StateChanged | RunFinished


class EventQueue:
    """A bounded, never-blocking event queue: when ``maxsize`` events wait, new ``Rows``
    and ``Progress`` events are dropped (counted in :attr:`dropped`; a front end that fell
    behind re-reads the run file), other events are always kept. 20000 events hold about
    half an hour of a stalled GUI at 10 blocks/s."""

    def __init__(self, maxsize: int = 20000) -> None:
        self._q: queue.Queue[Event] = queue.Queue()
        self.maxsize = maxsize
        self.dropped = 0

    def put(self, event: Event) -> None:
        """Publish ``event`` without ever blocking the producer."""
        if isinstance(event, Rows | Progress) and self._q.qsize() >= self.maxsize:
            self.dropped += 1
            return
        self._q.put_nowait(event)

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event, waiting up to ``timeout`` s (None if there is none)."""
        try:
            return self._q.get(timeout=timeout) if timeout else self._q.get_nowait()
        except queue.Empty:
            return None

    def drain(self, limit: int = 100_000) -> list[Event]:
        """Every event queued so far (at most ``limit``), without waiting."""
        out: list[Event] = []
        while len(out) < limit:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                break
        return out
