"""Reading run files for the web pages: finished ones, and live ones as they grow (SWMR).

A :class:`RunFollower` keeps one read-only handle on a run file (``labctl.store.open_run``:
verified once in a child process, then opened plainly or in SWMR mode; never for writing)
and re-reads the writer's counters at most every :data:`REFRESH_S` seconds however many
browsers ask, so following a run costs the server a few small HDF5 reads per interval.
:class:`Followers` keeps at most :data:`MAX_OPEN` of them (least recently used closed
first). All numbers are SI (V, V², W, J, s); NaN becomes JSON ``null``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from labctl.store import open_run
from labctl.store.errors import RunFileError
from labctl.store.reader import Run

#: a run's counters are re-read at most this often (s)
REFRESH_S = 0.25
#: run files kept open at once
MAX_OPEN = 8
#: the curves of a run page: dataset -> (label, SI unit)
CURVES: dict[str, tuple[str, str]] = {
    "error": ("error L", "V²"),
    "error_normalized": ("normalised error L/L0", ""),
    "power_free": ("free power (model)", "W"),
    "power_supply": ("supply power measured by the SMU", "W"),
    "power_supply_model": ("supply power of the model", "W"),
    "lambda": ("λ applied", ""),
    "energy": ("energy, free network", "J"),
}
#: points sent for one task at most (longer tasks are thinned evenly)
MAX_POINTS = 20_000
#: events sent per request at most
MAX_EVENTS = 2000


def _plain(values: Iterable[Any]) -> list[float | None]:
    """Floats for JSON, NaN and ±inf as None."""
    return [v if isinstance(v, float) and math.isfinite(v) else None
            for v in (float(x) for x in values)]


def _num(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class RunFollower:
    """One run file, read-only, shared by every request about it (thread-safe); verified
    in a child process when opened (``labctl.store.open_run``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._run: Run = open_run(path)
        # completed tasks as last shown, while the file's recorded status stays the same
        self._done: dict[int, dict[str, Any]] = {}
        self._done_for = ""
        self._refreshed = time.monotonic()
        self.last_used = time.monotonic()

    def _fresh(self) -> Run:
        """The run, re-read if a writer may have added to it since :data:`REFRESH_S`."""
        run = self._run
        now = time.monotonic()
        self.last_used = now
        if run.recorded_status == "running" and now - self._refreshed >= REFRESH_S:
            run.refresh()
            self._refreshed = now
        return run

    def meta(self) -> dict[str, Any]:
        """Status, provenance, the tasks (state, rows, λ, η, finals) and the network."""
        with self._lock:
            run = self._fresh()
            attrs = run.attrs
            net = run.network
            positions = (net.positions.tolist() if net.positions is not None else
                         [[i % 4, -(i // 4)] for i in range(net.n_nodes)])
            if run.recorded_status != self._done_for:  # closed meanwhile: finals written
                self._done, self._done_for = {}, run.recorded_status
            tasks = []
            for t in run.tasks:
                status = t.status
                done = self._done.get(t.index)
                if done is not None and status == "completed":
                    tasks.append({**done, "status": status})
                    continue
                params = t.params
                entry = {
                    "index": t.index, "name": t.name, "status": status,
                    "n_rows": t.n_rows, "lambda": _num(params.get("lambda")),
                    "eta": _num(params.get("eta")),
                    "duration_s": _num(params.get("duration_s")),
                    "sources": params.get("source_nodes") or [],
                    "targets": params.get("target_nodes") or [],
                    "final": _finals(t)}
                if status == "completed":  # its rows and finals no longer change
                    self._done[t.index] = entry
                tasks.append(entry)
            snapshots = attrs.get("instrument_snapshots") or {}
            return {
                "name": self.path.name, "status": run.status,
                "recorded_status": run.recorded_status, "reason": run.abort_reason,
                "last_write": run.last_write.isoformat(timespec="seconds"),
                "created": _text(attrs.get("created", "")),
                "protocol": _protocol_name(attrs, snapshots),
                "backend": _text(attrs.get("backend", "")), "seed": run.seed,
                "clock": run.clock, "labctl_version": _text(attrs.get("labctl_version", "")),
                "metadata": run.metadata, "tasks": tasks,
                "network": {"n_nodes": net.n_nodes, "edges": net.edges.tolist(),
                            "positions": positions}}

    def rows(self, task: int, start: int = 0, max_points: int = MAX_POINTS) -> dict[str, Any]:
        """Rows ``start``.. of task ``task`` (every ``stride``-th so that at most
        ``max_points`` are sent), the curves of :data:`CURVES` against ``time`` (s), and
        the newest row's gate voltages (V, per edge) and free node voltages (V)."""
        with self._lock:
            run = self._fresh()
            if not 0 <= task < len(run.tasks):
                raise IndexError(f"task {task}: allowed 0..{len(run.tasks) - 1}")
            t = run.tasks[task]
            n = t.n_rows
            start = min(max(0, start), n)
            stride = max(1, math.ceil((n - start) / max(1, max_points)))
            out: dict[str, Any] = {"task": task, "status": t.status, "run_status": run.status,
                                   "start": start, "stride": stride, "next": n, "n_rows": n}
            columns = {}
            for name in ("time", *CURVES):
                columns[name] = _plain(t.source(name)[start:n:stride]) if n > start else []
            out["columns"] = columns
            if n > 0:
                out["gate_voltage"] = _plain(t.source("gate_voltage")[n - 1])
                out["v_free"] = _plain(t.source("v_free")[n - 1])
                out["last_time"] = float(t.source("time")[n - 1])
            return out

    def count(self, task: int) -> tuple[int, str, str]:
        """(committed rows, task state, run status) of task ``task``: the cheap check of a
        long poll (no data read)."""
        with self._lock:
            run = self._fresh()
            if not 0 <= task < len(run.tasks):
                raise IndexError(f"task {task}: allowed 0..{len(run.tasks) - 1}")
            t = run.tasks[task]
            return t.n_rows, t.status, run.status

    def events(self, start: int = 0) -> dict[str, Any]:
        """Events ``start``.. of the run's log (at most :data:`MAX_EVENTS` per call): time
        since the run was created (s), task (from 0; -1 for the run), kind, message."""
        with self._lock:
            run = self._fresh()
            table = run.events_array()
            start = min(max(0, start), len(table))
            part = table[start:start + MAX_EVENTS]
            return {"start": start, "next": start + len(part), "events": [
                {"t": float(e["t"]), "task": int(e["task"]), "kind": _text(e["kind"]),
                 "message": _text(e["message"])} for e in part]}

    @property
    def finished(self) -> bool:
        """True once the file records the end of its run (completed or aborted)."""
        with self._lock:
            return self._fresh().recorded_status != "running"

    def close(self) -> None:
        """Close the file handle."""
        with self._lock:
            self._run.close()


#: final values shown for a task: its ``final_*`` attributes once the run file is closed,
#: before that (a live or interrupted run) the last committed row of a completed task
FINALS = ("error", "error_normalized", "power_free", "energy")


def _finals(task: Any) -> dict[str, Any]:
    final = {k: _num(v) for k, v in task.final.items()}
    n = task.n_rows
    if not final and task.status == "completed" and n > 0:
        final = {k: _num(float(task.source(k)[n - 1])) for k in FINALS}
    return final


def _protocol_name(attrs: dict[str, Any], snapshots: dict[str, Any]) -> str:
    """The protocol's ``name`` from the stored protocol text (the file's name otherwise)."""
    import tomllib

    try:
        name = tomllib.loads(_text(attrs.get("protocol_text", ""))).get("name")
    except (tomllib.TOMLDecodeError, ValueError):
        name = None
    return str(name) if name else Path(str(snapshots.get("protocol_path", ""))).stem


class Followers:
    """The open :class:`RunFollower` objects by path, at most :data:`MAX_OPEN`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: OrderedDict[Path, RunFollower] = OrderedDict()
        # files found damaged, by (size, mtime): not verified again until they change
        self._refused: dict[Path, tuple[tuple[int, int], RunFileError]] = {}

    def get(self, path: Path) -> RunFollower:
        """The follower of run file ``path`` (opened on first use; RunFileError if the
        file is damaged or not a run file)."""
        with self._lock:
            follower = self._open.get(path)
            if follower is not None:
                self._open.move_to_end(path)
                return follower
        st = path.stat()
        version = (st.st_size, st.st_mtime_ns)
        refused = self._refused.get(path)
        if refused is not None and refused[0] == version:
            raise refused[1]
        try:
            follower = RunFollower(path)
        except RunFileError as exc:
            self._refused[path] = (version, exc)
            raise
        with self._lock:
            if path in self._open:  # another request opened it meanwhile
                follower.close()
                return self._open[path]
            self._open[path] = follower
            while len(self._open) > MAX_OPEN:
                _, old = self._open.popitem(last=False)
                old.close()
            return follower

    def close(self) -> None:
        """Close every file."""
        with self._lock:
            for follower in self._open.values():
                follower.close()
            self._open.clear()
