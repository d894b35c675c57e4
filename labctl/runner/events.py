"""Events the run engine publishes to its front ends (CLI, GUI, notebooks, notifiers).

One run publishes on one :class:`EventQueue`; any number of consumers follow it, each
through its own :class:`Subscription` (``session.subscribe(maxsize=...)``) with its own
bounded queue. Publishing never blocks the acquisition thread: a slow or stalled
consumer (a frozen GUI, a notebook that stopped reading) loses display events
(``Rows``, ``Progress``; counted in its ``dropped``), never the task-level events, and
never run-file rows, which go to the writer on their own path. The ``EventQueue`` is also
the first subscription (the front end that created the session drains it), and every
event but rows and progress is also a :mod:`logging` record of the
``labctl.runner.events`` logger.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def _created() -> Any:
    """The ``t`` field of every event: when it was created (unix time, s); not part of
    an event's equality or repr."""
    return field(default_factory=time.time, compare=False, repr=False)


@dataclass(frozen=True)
class TaskStarted:
    """Task ``index`` of ``n_tasks`` began; ``params`` as stored in the run file."""

    index: int
    n_tasks: int
    name: str
    params: dict[str, Any]
    expected_duration_s: float
    t: float = _created()


@dataclass(frozen=True)
class Rows:
    """Recorded rows of task ``index``: the run-file fields (time in s, error in V²,
    powers in W, energy in J, gate_voltage (T×E) V, conductance (T×E) S, v_free/v_clamped
    (T×N) V)."""

    index: int
    data: dict[str, np.ndarray]
    t: float = _created()


@dataclass(frozen=True)
class TaskFinished:
    """Task ``index`` ended with ``status`` and its final values (SI units)."""

    index: int
    status: str
    final: dict[str, float]
    t: float = _created()


@dataclass(frozen=True)
class Progress:
    """Acquisition statistics: simulated/bench seconds done and expected in total, the
    measured sample rate (S/s), dropped display events, elapsed wall time (s)."""

    done_s: float
    total_s: float
    sample_rate: float
    dropped_events: int
    elapsed_wall_s: float
    t: float = _created()


@dataclass(frozen=True)
class LogMessage:
    """A line for the operator's log (``level`` is "info", "warning" or "error")."""

    text: str
    level: str = "info"
    t: float = _created()


@dataclass(frozen=True)
class StateChanged:
    """The run engine changed state: idle, running, paused, completed, aborted."""

    state: str
    reason: str = ""
    t: float = _created()


@dataclass(frozen=True)
class RunFinished:
    """The run ended: ``status`` is "completed" or "aborted"; ``path`` is the run file."""

    status: str
    reason: str
    path: str
    safe_state_failures: list[str] = field(default_factory=list)
    t: float = _created()


Event = TaskStarted | Rows | TaskFinished | Progress | LogMessage | StateChanged | RunFinished


class Subscription:
    """One consumer's bounded, never-blocking queue of run events.

    When ``maxsize`` events wait, new display events (``Rows``, ``Progress``) are dropped
    and counted in :attr:`dropped` (a consumer that fell behind re-reads the run file);
    task-level events are kept, up to ``maxsize + MAX_KEPT`` waiting events, beyond which
    they too are dropped (counted in :attr:`dropped_kept`) so a consumer that never reads
    cannot grow memory without bound. 20000 events hold about half an hour of a stalled
    display at 10 DAQ blocks/s. ``name`` is for messages only. A closed subscription
    receives nothing more; iterate or :meth:`drain` to read.
    """

    #: task-level events kept beyond ``maxsize`` before they are dropped too
    MAX_KEPT = 100_000

    def __init__(self, maxsize: int = 20000, name: str = "") -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize: {maxsize!r}; allowed an integer >= 1 (events)")
        self._q: queue.Queue[Event] = queue.Queue()
        self.maxsize = maxsize
        self.name = name
        self.dropped = 0
        self.dropped_kept = 0
        self.closed = False

    def offer(self, event: Event) -> bool:
        """Queue ``event`` unless this consumer is too far behind; never blocks.
        Returns False if the event was dropped (or the subscription is closed)."""
        if self.closed:
            return False
        waiting = self._q.qsize()
        if waiting >= self.maxsize:
            if isinstance(event, Rows | Progress):
                self.dropped += 1
                return False
            if waiting >= self.maxsize + self.MAX_KEPT:
                self.dropped_kept += 1
                return False
        self._q.put_nowait(event)
        return True

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

    def close(self) -> None:
        """Stop receiving events (what is queued can still be drained)."""
        self.closed = True

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Subscription({self.name!r}, {self._q.qsize()} waiting, "
                f"{self.dropped} dropped)")


class EventQueue(Subscription):
    """The event bus of one run, and its first subscription.

    :meth:`put` (the run engine's side) hands each event to every open subscription
    without ever blocking and logs it (:func:`log_event`); :meth:`subscribe` adds a
    consumer with its own bounded queue. The ``EventQueue`` itself is drained by the front
    end that created the session (``session.events.drain()``); one that only uses its
    own subscriptions may :meth:`close` it.
    """

    def __init__(self, maxsize: int = 20000) -> None:
        super().__init__(maxsize, name="session")
        self._lock = threading.Lock()
        self._subscribers: tuple[Subscription, ...] = (self,)

    def put(self, event: Event) -> None:
        """Publish ``event`` to every subscriber without ever blocking the producer."""
        for sub in self._subscribers:  # an immutable snapshot: no lock on this path
            sub.offer(event)
        log_event(event)

    def subscribe(self, maxsize: int = 20000, name: str = "") -> Subscription:
        """A new consumer of every event published from now on (its own queue of
        ``maxsize`` events; see :class:`Subscription`). Close it when done."""
        sub = Subscription(maxsize, name or f"subscriber {len(self._subscribers)}")
        with self._lock:
            self._subscribers = (*(s for s in self._subscribers if not s.closed), sub)
        return sub

    @property
    def subscribers(self) -> tuple[Subscription, ...]:
        """The open subscriptions (this queue first, unless closed)."""
        return tuple(s for s in self._subscribers if not s.closed)


_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
#: operator lines that repeat a run-file event (an instrument's fault or recovery): the
#: run-file writer logs those already (``labctl.store.writer``), so they are not logged twice
FILE_EVENT_PREFIXES = ("fault: ", "recovered: ")


def log_event(event: Event) -> None:
    """Emit ``event`` as a record of this module's logger: task start (INFO), task end
    with its final error, L/L0, free power and λ (INFO, WARNING if not completed),
    operator log lines at their level, state changes (INFO), the run's end with its
    status, reason and file (INFO, WARNING if aborted). Rows are not logged; progress
    only at DEBUG."""
    if isinstance(event, Rows):
        return
    if isinstance(event, Progress):
        if log.isEnabledFor(logging.DEBUG):
            log.debug("progress %.1f/%.1f s of bench time, %.0f S/s, %d display events "
                      "dropped", event.done_s, event.total_s, _nan0(event.sample_rate),
                      event.dropped_events)
    elif isinstance(event, TaskStarted):
        log.info("task %d/%d %r started (%.3g s of learning expected)", event.index,
                 event.n_tasks, event.name, event.expected_duration_s)
    elif isinstance(event, TaskFinished):
        f = event.final
        log.log(logging.INFO if event.status == "completed" else logging.WARNING,
                "task %d %s: error %.4g V², L/L0 %.4g, free power %.4g W, λ %.4g",
                event.index, event.status, _get(f, "error"), _get(f, "error_normalized"),
                _get(f, "power_free"), _get(f, "lambda"))
    elif isinstance(event, LogMessage):
        if not event.text.startswith(FILE_EVENT_PREFIXES):
            log.log(_LEVELS.get(event.level, logging.INFO), "%s", event.text)
    elif isinstance(event, StateChanged):
        log.info("run state %s%s", event.state, f": {event.reason}" if event.reason else "")
    elif isinstance(event, RunFinished):
        level = logging.INFO if event.status == "completed" else logging.WARNING
        log.log(level, "run %s%s; run file %s", event.status,
                f" ({event.reason})" if event.reason else "", event.path)
        for failure in event.safe_state_failures:
            log.error("safe state not confirmed: %s", failure)


def _get(final: dict[str, float], key: str) -> float:
    value = final.get(key, math.nan)
    return float(value) if isinstance(value, int | float) else math.nan


def _nan0(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def event_to_json(event: Event) -> dict[str, Any] | None:
    """``event`` as one JSON object for scripts (``labctl run --events jsonl``); None
    for rows (scripts read them from the run file). Every object has ``event`` (its
    kind) and ``t`` (unix time, s, when the event happened, not when it was printed);
    values are in SI units, NaN and infinities become null:

    * ``progress``: ``done_s``, ``total_s`` (bench time, s), ``fraction``,
      ``sample_rate`` (S/s), ``dropped_events``, ``elapsed_s`` (wall time);
    * ``task_started``: ``task`` (index, from 0), ``n_tasks``, ``name``, ``params``,
      ``expected_duration_s``;
    * ``task_finished``: ``task``, ``status``, ``final`` (error V², error_normalized,
      power_free W, energy J, lambda, eta, duration s, ...);
    * ``fault`` / ``recovered``: ``text`` (instrument, kind, operation, cause);
    * ``log``: ``level``, ``text``;  ``state``: ``state``, ``reason``;
    * ``finished``: ``status``, ``reason``, ``path`` (the run file),
      ``safe_state_failures``.
    """
    out: dict[str, Any]
    if isinstance(event, Rows):
        return None
    if isinstance(event, Progress):
        fraction = min(1.0, event.done_s / event.total_s) if event.total_s > 0 else math.nan
        out = {"event": "progress", "done_s": event.done_s, "total_s": event.total_s,
               "fraction": fraction, "sample_rate": event.sample_rate,
               "dropped_events": event.dropped_events, "elapsed_s": event.elapsed_wall_s}
    elif isinstance(event, TaskStarted):
        out = {"event": "task_started", "task": event.index, "n_tasks": event.n_tasks,
               "name": event.name, "params": event.params,
               "expected_duration_s": event.expected_duration_s}
    elif isinstance(event, TaskFinished):
        out = {"event": "task_finished", "task": event.index, "status": event.status,
               "final": dict(event.final)}
    elif isinstance(event, LogMessage):
        kind = next((p[:-2] for p in FILE_EVENT_PREFIXES if event.text.startswith(p)), None)
        out = ({"event": kind, "text": event.text[len(kind) + 2:]} if kind else
               {"event": "log", "level": event.level, "text": event.text})
    elif isinstance(event, StateChanged):
        out = {"event": "state", "state": event.state, "reason": event.reason}
    elif isinstance(event, RunFinished):
        out = {"event": "finished", "status": event.status, "reason": event.reason,
               "path": event.path, "safe_state_failures": list(event.safe_state_failures)}
    else:
        return None
    return {"t": round(event.t, 3), **_plain(out)}


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays as Python values, non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
