"""The run-file writer: one thread owns the HDF5 file; producers only enqueue.

Life of a run file (layout in docs/DATA_FORMAT.md):

1. :class:`RunWriter` refuses an output path that exists (:class:`OutputExistsError`),
   creates ``<name>.creating`` exclusively (never through a planted symlink), every task
   group and dataset (chunked, unlimited, with units and dimension scales), the network
   and the root attributes, switches to SWMR mode – after which HDF5 allows no new objects
   or attributes, only writes to existing datasets – and links the file to its final
   name, which never replaces an existing file.
2. Producers call :meth:`begin_task`, :meth:`append`, :meth:`append_raw`,
   :meth:`end_task` and :meth:`log_event`; each validates its arguments at once (a bad
   name or shape raises ValueError in the caller), copies the data and puts it on a queue.
3. The writer thread writes in blocks and flushes at least every ``flush_interval`` s,
   so a SWMR reader follows the run and a ``kill -9`` loses at most about that much. Each
   write is three steps, each flushed before the next: rows and events, then the row
   counters and the heartbeat, then task states. A reader therefore never sees a counter
   beyond the rows on disk, nor a task completed before all its rows are counted.
4. :meth:`close` drains the queue, records the run status in the pre-created
   ``/run_status`` dataset, leaves SWMR mode and reopens the file to write the final
   attributes (status, abort reason, each task's final values).

If the disk fails, the writer thread stops writing, every later producer call raises
:class:`StoreError`, and :meth:`close` still marks the run aborted where it can; HDF5
handles are closed on the writer's side, deterministically, so a failed close never
leaves a broken handle to the garbage collector.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import h5py
import numpy as np
from h5py import h5a, h5d, h5s, h5t

from labctl.network import Network
from labctl.store import layout as lay
from labctl.store.create import check_metadata, chunk_bytes, create_layout, root_attributes
from labctl.store.errors import DiskSpaceError, OutputExistsError, StoreError
from labctl.store.paths import (
    CHUNK_ROWS,
    RAW_CHUNK_ROWS,
    check_output_path,
    close_reserve_bytes,
    creating_path,
    free_space_needed,
)

__all__ = ["RunWriter", "StoreError", "TaskLike"]

log = logging.getLogger(__name__)
#: run-file event kinds also logged as warnings (the others as info)
WARNING_EVENTS = ("fault", "task_fault", "task_skipped", "task_retry", "daq_gap",
                  "open_failure", "safe_state_failure")


class TaskLike(Protocol):
    """What the writer needs of a task plan: its index, unique name and parameters."""

    index: int
    name: str
    params: Mapping[str, Any]


_STOP = object()
#: bytes queued since the writer thread was last woken that wake it (and that make it
#: write before its periodic write is due)
WAKE_BYTES = 8 * 2**20
#: memory (bytes, Python objects included) a producer that may wait lets the writer
#: thread fall behind before it waits (:meth:`RunWriter.wait_for_room`): the collector
#: of a parallel run, the executor on the simulator's fast clock
PRODUCER_BACKLOG_BYTES = 16 * 2**20
#: most memory (bytes) HDF5's metadata cache may take while the final attributes are
#: written: with its default it kept about 12 KiB per task group touched (0.15 GiB for
#: 10 000 tasks) until the file closed
METADATA_CACHE_BYTES = 8 * 2**20
#: tasks whose dataset handles the writer thread keeps between writes
DATASET_CACHE_TASKS = 64
#: longest wait (s) for a reader in this same process to let go before the final reopen
FINAL_REOPEN_WAIT_S = 10.0


class RunWriter:
    """Owns one run file through a writer thread; every public method is thread-safe.

    ``path`` must not exist (:class:`OutputExistsError`; every other path problem raises
    :class:`~labctl.store.errors.OutputPathError`, see
    :func:`~labctl.store.paths.check_output_path`). ``tasks`` (indices 0..n-1) fix the
    file's task groups up front; ``network`` is stored once; ``raw_channels`` (names of
    the DAQ columns) enables the raw-stream datasets. ``resume_from`` copies the completed
    tasks of an older run file of the same plan (see :attr:`completed`). ``seed`` and
    ``clock`` (the run's random seed and simulated clock) and ``metadata`` (free-form
    text pairs: operator, sample, notes) are stored for readers and ``--resume``.
    ``flush_interval`` (s) bounds what a crash can lose; ``max_queue_bytes`` bounds memory:
    beyond it producers get :class:`StoreError`. ``min_free_bytes`` is the disk space
    kept free so the file can always be closed cleanly (default
    :func:`~labctl.store.paths.close_reserve_bytes`): the writer stops (as after a write
    error) before a block would eat into it. ``expected_bytes``, what the run will write
    (:func:`~labctl.store.paths.estimate_run_bytes`), is checked against the free space
    at creation (:class:`~labctl.store.errors.DiskSpaceError`). ``interrupt_check`` is
    called between the blocks the carry-over copies; whatever it raises (an operator's
    abort) stops the construction, removes the unfinished file and propagates, so a
    resume of a large recording answers Ctrl-C and SIGTERM within one block.
    """

    def __init__(self, path: str | Path, tasks: Sequence[TaskLike], network: Network, *,
                 protocol_text: str = "", bench_text: str = "", backend: str = "sim",
                 snapshots: Mapping[str, Any] | None = None,
                 raw_channels: Sequence[str] | None = None,
                 resume_from: str | Path | None = None, flush_interval: float = 0.5,
                 max_queue_bytes: int = 512 * 2**20, chunk_rows: int = CHUNK_ROWS,
                 raw_chunk_rows: int = RAW_CHUNK_ROWS, min_free_bytes: int | None = None,
                 expected_bytes: int | None = None, seed: int | None = None,
                 clock: str | None = None,
                 metadata: Mapping[str, str] | None = None,
                 interrupt_check: Callable[[], None] | None = None) -> None:
        self.path = check_output_path(path)
        if backend not in ("sim", "hardware"):
            raise ValueError(f"backend: expected 'sim' or 'hardware', got {backend!r}")
        if not 0 < flush_interval <= 1.0:
            raise ValueError(f"flush_interval: allowed 0 < value <= 1 s, got {flush_interval}")
        indices = [int(t.index) for t in tasks]
        if indices != list(range(len(indices))):
            raise ValueError("tasks: indices must be 0, 1, 2, ... in order")
        names = [str(t.name) for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError("tasks: task names must be unique")
        meta = check_metadata(metadata)
        self.n_tasks = len(indices)
        self.n_edges = network.n_edges
        self.n_nodes = network.n_nodes
        self.raw_channels = tuple(raw_channels or ())
        self._field_shapes = {name: lay.field_shape(name, self.n_edges, self.n_nodes)
                              for name in lay.TASK_FIELDS}
        self.flush_interval = float(flush_interval)
        self.max_queue_bytes = int(max_queue_bytes)
        self.min_free_bytes = (close_reserve_bytes(self.n_tasks) if min_free_bytes is None
                               else int(min_free_bytes))
        self._chunk_bytes = chunk_bytes(self.n_edges, self.n_nodes, chunk_rows)
        self._raw_chunk_bytes = raw_chunk_rows * (8 + 4 * len(self.raw_channels))
        if expected_bytes is not None:
            free = self._free_bytes()
            need = free_space_needed(expected_bytes, self.n_tasks)
            if free < need:
                raise DiskSpaceError(self.path, f"the disk has {free / 2**20:.1f} MiB free; "
                                     f"this run needs about {need / 2**20:.1f} MiB; free some "
                                     "space or choose another output folder")
        self._t0 = time.monotonic()
        self._state = [lay.PENDING] * self.n_tasks  # producer-side view
        self._final: dict[int, dict[str, float]] = {}
        self._lock = threading.Lock()
        #: producers add items under it; ``notify`` wakes the writer thread, ``_room``
        #: wakes producers waiting in :meth:`wait_for_room`
        self._cond = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)
        self._queued_bytes = 0
        self._error: BaseException | None = None
        self._error_reported = False
        self._closed = False
        # Built under a temporary name, created exclusively (O_EXCL: fails on anything
        # there, a planted symlink included), and linked to its final name once in SWMR
        # mode: a reader polling for the file never opens it before SWMR, which would
        # lock the writer out of switching.
        creating = creating_path(self.path)
        try:
            # no chunk cache: every block goes straight to the file, so a failed write
            # leaves no dirty chunk behind that HDF5 would retry (and fail) at close
            self._file: h5py.File | None = h5py.File(creating, "x", libver=lay.LIBVER,
                                                     rdcc_nbytes=0)
        except FileExistsError as exc:
            raise OutputExistsError(creating) from exc
        except OSError as exc:
            if os.path.lexists(creating):
                raise OutputExistsError(creating) from exc
            raise StoreError(f"run file {self.path}: cannot create {creating}: {exc}") from exc
        try:
            create_layout(self._file, tasks, network,
                          root=root_attributes(n_tasks=self.n_tasks,
                                               protocol_text=protocol_text,
                                               bench_text=bench_text, backend=backend,
                                               snapshots=snapshots, seed=seed, clock=clock),
                          metadata=meta, raw_channels=self.raw_channels,
                          chunk_rows=chunk_rows, raw_chunk_rows=raw_chunk_rows)
            self.completed: frozenset[int] = frozenset()
            if resume_from is not None:
                self.completed = frozenset(self._carry_over(Path(resume_from), names,
                                                            interrupt_check))
                for i in self.completed:
                    self._state[i] = lay.COMPLETED
            # per-task bookkeeping in arrays sized up front: the writer's memory does not
            # grow as tasks end (rows written, raw samples written, the last row's scalars)
            self._rows = self._file["progress/task_rows"][()].astype(np.int64)
            self._raw_rows = self._file["progress/task_raw_rows"][()].astype(np.int64)
            self._dataset_cache: dict[int, dict[str, h5d.DatasetID]] = {}
            self._scalar_fields = [n for n, cols in self._field_shapes.items() if not cols]
            #: per task, the scalar fields of its last row written (the final attributes);
            #: NaN rows for tasks this writer has not written
            self._last_values = np.full((self.n_tasks, len(self._scalar_fields)), np.nan)
            self._has_last = np.zeros(self.n_tasks, dtype=bool)
            self._progress_cache: dict[str, h5py.Dataset] = {}
            self._n_events = int(self._file["events"].shape[0])
            # where /run_status lies in the file (contiguous, allocated): a full disk
            # cannot stop an in-place write of the final status there
            self._status_offset: int | None = self._file["run_status"].id.get_offset()
            self._detached = False
            self._file.flush()
            self._file.swmr_mode = True
            _link_no_replace(creating, self.path)
        except BaseException:
            _close_h5(self._file)
            self._file = None
            creating.unlink(missing_ok=True)
            raise
        self._items: list[tuple[tuple[Any, ...], int]] = []
        self._unwoken_bytes = 0
        self._wake = False
        self._thread = threading.Thread(target=self._run, name=f"RunWriter({self.path.name})",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ creation
    def _carry_over(self, old_path: Path, names: list[str],
                    interrupt_check: Callable[[], None] | None = None) -> set[int]:
        """Copy the completed tasks of ``old_path`` into this (not yet SWMR) file; the old
        file is verified first (:func:`~labctl.store.verify.verify_run_file`), so a
        damaged one is refused instead of hanging. Rows are copied in blocks of
        :data:`CARRY_OVER_ROWS`, with ``interrupt_check`` called before each."""
        from labctl.store.reader import open_run

        assert self._file is not None
        check = interrupt_check or (lambda: None)
        done: set[int] = set()
        with open_run(old_path) as old:
            old_names = [t.name for t in old.tasks]
            if old_names != names:
                raise ValueError(f"resume_from: {old_path} holds a different plan "
                                 f"({len(old_names)} tasks) than this run ({len(names)} tasks)")
            for task in old.tasks:
                check()
                if task.status != "completed":
                    continue
                i = task.index
                dst = self._file[lay.TASKS_GROUP][lay.task_group_name(i)]
                n = task.n_rows
                for name in lay.TASK_FIELDS:
                    _copy_rows(task.source(name), dst[name], n, check)
                if self.raw_channels and lay.RAW_TIME in task.datasets:
                    n_raw = task.n_raw_rows
                    for name in (lay.RAW_TIME, lay.RAW_SAMPLES):
                        _copy_rows(task.source(name), dst[name], n_raw, check)
                    self._file["progress/task_raw_rows"][i] = n_raw
                self._file["progress/task_rows"][i] = n
                self._file["progress/task_status"][i] = lay.COMPLETED
                done.add(i)
            events = old.events_array()
        self._file["events"].resize(len(events), axis=0)
        self._file["events"][...] = events
        self._file.attrs["resumed_from"] = str(old_path)
        return done

    # ------------------------------------------------------------------ producers
    def _check(self) -> None:
        if self._error is not None:
            self._error_reported = True
            raise StoreError(f"run file {self.path}: writing failed: {self._error}") \
                from self._error
        if self._closed:
            raise StoreError(f"run file {self.path}: the writer is closed")

    def _check_index(self, index: int, *, running: bool = False) -> int:
        if isinstance(index, bool) or not isinstance(index, int | np.integer) \
                or not 0 <= index < self.n_tasks:
            raise ValueError(f"index: task {index!r} does not exist; allowed "
                             f"0..{self.n_tasks - 1}")
        if running and self._state[index] != lay.RUNNING:
            raise ValueError(f"index: task {index} is {lay.TASK_STATES[self._state[index]]}, "
                             "not running; call begin_task first")
        return int(index)

    def _put(self, item: tuple[Any, ...], nbytes: int = 0, *, wake: bool = False) -> None:
        """Queue ``item`` for the writer thread. Only items that must be written at once
        (``wake``: a discard, a flush request, the close) or a backlog past
        :data:`WAKE_BYTES` wake the thread; rows, events and task states wait for its next
        periodic write (within ``flush_interval``), so a producer never hands the GIL to
        the writer thread once per DAQ block."""
        with self._cond:
            if self._queued_bytes + nbytes > self.max_queue_bytes:
                raise StoreError(f"run file {self.path}: the writer is more than "
                                 f"{self.max_queue_bytes / 2**20:.0f} MiB behind; "
                                 "the disk is too slow")
            self._queued_bytes += nbytes
            self._unwoken_bytes += nbytes
            self._items.append((item, nbytes))
            if wake or self._unwoken_bytes > WAKE_BYTES:
                self._unwoken_bytes = 0
                self._wake = True
                self._cond.notify()

    @property
    def backlog_bytes(self) -> int:
        """Memory (bytes) held by what was handed to the writer and is not yet written
        (queued or being written; Python objects included, see :func:`_held_bytes`)."""
        with self._cond:
            return self._queued_bytes

    def wait_for_room(self, max_bytes: int, timeout: float | None = None) -> bool:
        """Block until at most ``max_bytes`` wait to be written (backpressure for a producer
        that may wait, such as the collector of a parallel run; never the acquisition
        thread of a hardware run). True if there is room, False after ``timeout`` s;
        raises :class:`StoreError` if the writer failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queued_bytes > max_bytes and self._error is None:
                self._unwoken_bytes = 0
                self._wake = True  # write what waits now
                self._cond.notify()
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._room.wait(0.5 if left is None else min(left, 0.5))
        self._check()
        return True

    def begin_task(self, index: int) -> None:
        """Mark task ``index`` as running (rows may then be appended)."""
        self._check()
        index = self._check_index(index)
        if self._state[index] == lay.RUNNING:
            raise ValueError(f"index: task {index} is already running")
        self._state[index] = lay.RUNNING
        self._put(("status", index, lay.RUNNING))
        self.log_event("task_begin", f"task {index} begins", task=index)

    def append(self, index: int, rows: Mapping[str, Any]) -> None:
        """Append T rows to running task ``index``.

        ``rows`` maps field names of :data:`labctl.store.layout.TASK_FIELDS` to arrays:
        shape (T,) for scalars, (T, E) for per-edge and (T, N) for per-node fields; all
        with the same T. ``time`` is required; missing fields are stored as NaN.
        """
        self._check()
        index = self._check_index(index, running=True)
        if "time" not in rows:
            raise ValueError("rows: the 'time' field (s) is required")
        block: dict[str, np.ndarray] = {}
        n_rows = None
        for name, value in rows.items():
            if name not in self._field_shapes:
                raise ValueError(f"rows: unknown field {name!r}; allowed: "
                                 f"{', '.join(lay.TASK_FIELDS)}")
            arr = np.array(value, dtype=np.float64, copy=True)
            cols = self._field_shapes[name]
            if n_rows is None:
                n_rows = arr.shape[0] if arr.ndim else -1
            if arr.shape != (n_rows, *cols):
                shape = ", ".join(["T", *map(str, cols)])
                raise ValueError(f"rows[{name!r}]: expected shape ({shape}) with T = "
                                 f"{n_rows} rows, got {arr.shape}")
            block[name] = arr
        if not n_rows:
            return
        self._put(("rows", index, block), _held_bytes(block, *block.values()))

    def append_raw(self, index: int, time_s: Any, samples: Any) -> None:
        """Append raw DAQ samples to running task ``index``: ``time_s`` (S,) in s and
        ``samples`` (S, C) in V, columns in the order of ``raw_channels``."""
        self._check()
        index = self._check_index(index, running=True)
        if not self.raw_channels:
            raise ValueError("samples: this run file was created without raw_channels")
        t = np.array(time_s, dtype=np.float64, copy=True)
        s = np.array(samples, dtype=np.float32, copy=True)
        if t.ndim != 1 or s.shape != (t.shape[0], len(self.raw_channels)):
            raise ValueError(f"samples: expected time (S,) and samples (S, "
                             f"{len(self.raw_channels)}), got {t.shape} and {s.shape}")
        if t.shape[0]:
            self._put(("raw", index, t, s), _held_bytes(t, s))

    def end_task(self, index: int, status: str = "completed",
                 final: Mapping[str, float] | None = None) -> None:
        """Mark task ``index`` completed (or ``"failed"``); ``final`` values (SI) become
        ``final_<name>`` attributes at close, next to the last row of every field."""
        self._check()
        index = self._check_index(index, running=True)
        if status not in ("completed", "failed"):
            raise ValueError(f"status: expected 'completed' or 'failed', got {status!r}")
        final_values = {str(k): float(v) for k, v in (final or {}).items()}
        code = lay.COMPLETED if status == "completed" else lay.FAILED
        self._state[index] = code
        self._final[index] = final_values
        self.log_event("task_end", f"task {index} {status}", task=index)
        self._put(("status", index, code))

    def discard_task_rows(self, index: int, reason: str) -> None:
        """Drop every row and raw sample of running task ``index`` written so far.

        For a task run again from its start (``on_task_fault = "retry"``): the task then
        holds the rows of one attempt only. The dropped attempt is recorded as a
        ``task_retry`` event quoting ``reason`` (what failed, after how many rows)."""
        self._check()
        index = self._check_index(index, running=True)
        self.log_event("task_retry", reason, task=index)
        self._put(("discard", index), wake=True)

    def log_event(self, kind: str, message: str = "", task: int = -1) -> None:
        """Record an event (η/λ change, pause, fault, ...) with the time since the file
        was created (s); ``kind`` ≤ 32 and ``message`` ≤ 256 UTF-8 bytes (longer is cut)."""
        self._check()
        t = time.monotonic() - self._t0
        level = logging.WARNING if kind in WARNING_EVENTS or kind.startswith("refused_") \
            else logging.INFO
        log.log(level, "%s: %s%s", kind, message, f" (task {task})" if task >= 0 else "")
        row = (t, int(task), _clip(kind, 32), _clip(message, 256))
        self._put(("event", row), _held_bytes(row, *row))

    def flush(self, wait: bool = False, timeout: float = 30.0) -> None:
        """Ask the writer thread to write and flush everything queued so far; with
        ``wait`` block until that is on disk (at most ``timeout`` s; for tests and
        checkpoints, never inside the acquisition loop)."""
        self._check()
        done = threading.Event() if wait else None
        self._put(("flush", done), wake=True)
        if done is not None:
            done.wait(timeout)
            self._check()

    @property
    def error(self) -> BaseException | None:
        """The write error that stopped the writer thread, if any."""
        return self._error

    def close(self, status: str = "completed", reason: str = "") -> str:
        """Write everything queued, record ``status`` (``"completed"`` or ``"aborted"``,
        with ``reason``) and close the file. Returns the status recorded.

        After a write error the status is ``"aborted"`` with the error in the reason; the
        error is raised as :class:`StoreError` if no producer call has reported it yet.
        Idempotent.
        """
        if status not in ("completed", "aborted"):
            raise ValueError(f"status: expected 'completed' or 'aborted', got {status!r}")
        if self._closed:
            return self._final_status
        self._closed = True
        with self._cond:
            self._items.append(((_STOP,), 0))
            self._wake = True
            self._cond.notify()
        self._thread.join()
        if self._error is not None:
            status = "aborted"
            reason = "; ".join(r for r in (reason, f"run file write failed: {self._error}") if r)
        self._final_status = status
        self._write_status_in_place(status, reason)
        self._finalise(status, reason)
        if self._error is not None and not self._error_reported:
            self._error_reported = True
            raise StoreError(f"run file {self.path}: writing failed: {self._error}") \
                from self._error
        return status

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is None:
            self.close("completed")
        else:
            with contextlib.suppress(StoreError):
                self.close("aborted", f"{exc_type.__name__}: {exc}")

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        pending = _Pending()
        last_flush = time.monotonic()
        stop = False
        while not stop:
            with self._cond:
                # sleep until woken (a discard, a flush request, the close, a large
                # backlog, a producer waiting for room) or the next periodic write is due
                while not self._wake:
                    timeout = self.flush_interval - (time.monotonic() - last_flush)
                    if timeout <= 0:
                        break
                    self._cond.wait(timeout)
                self._wake = False
                items, self._items = self._items, []
            force = False
            for item, nbytes in items:
                pending.nbytes += nbytes
                kind = item[0]
                if kind is _STOP:
                    stop = force = True
                elif kind == "rows":
                    pending.rows.setdefault(item[1], []).append(item[2])
                elif kind == "raw":
                    pending.raw.setdefault(item[1], []).append((item[2], item[3]))
                elif kind == "status":
                    pending.status[item[1]] = item[2]
                elif kind == "event":
                    pending.events.append(item[1])
                elif kind == "discard":
                    # rows queued before it go; the task is emptied at once, before any
                    # row queued after it (in this batch too) is written
                    pending.rows.pop(item[1], None)
                    pending.raw.pop(item[1], None)
                    self._write_pending(pending, discard=item[1])
                    pending = _Pending()
                    last_flush = time.monotonic()
                elif kind == "flush":
                    force = True
                    if item[1] is not None:
                        pending.waiters.append(item[1])
            due = time.monotonic() - last_flush >= self.flush_interval
            if force or due or pending.nbytes > WAKE_BYTES:
                self._write_pending(pending)
                pending = _Pending()
                last_flush = time.monotonic()

    def _write_pending(self, pending: _Pending, discard: int | None = None) -> None:
        """Write what ``pending`` holds (then empty task ``discard``, if given), release its
        bytes from the backlog and wake whoever waits for it."""
        if self._error is None:
            try:
                self._write(pending.rows, pending.raw, pending.status, pending.events)
                if discard is not None:
                    self._truncate(discard)
            except Exception as exc:  # disk full, I/O error: surface to producers
                # no traceback: its frames would keep HDF5 objects alive
                self._error = exc.with_traceback(None)
                exc.__context__ = exc.__cause__ = None
        with self._cond:
            self._queued_bytes -= pending.nbytes
            self._room.notify_all()
        for event in pending.waiters:
            event.set()

    def _write(self, rows: dict[int, list[dict[str, np.ndarray]]],
               raw: dict[int, list[tuple[np.ndarray, np.ndarray]]],
               status: dict[int, int], events: list[tuple[Any, ...]]) -> None:
        """Write one block in three flushed steps: data (and tasks now running), then
        counters and heartbeat, then ended tasks' states (so no reader sees a count or a
        completed task ahead of the data)."""
        f = self._file
        assert f is not None
        progress = self._progress_datasets()
        # a task that began is shown running at once (that needs no new space), a task
        # that ended only after its rows count (step 3)
        _set_items(progress["task_status"],
                   {i: code for i, code in status.items() if code == lay.RUNNING})
        status = {i: code for i, code in status.items() if code != lay.RUNNING}
        nbytes = (sum(a.nbytes for blocks in rows.values() for b in blocks for a in b.values())
                  + sum(t.nbytes + x.nbytes for blocks in raw.values() for t, x in blocks))
        if nbytes:
            # a block can start one new chunk per dataset of each task it touches
            alloc = (nbytes + self._chunk_bytes * len(rows)
                     + self._raw_chunk_bytes * len(raw))
            free = self._free_bytes()
            if free - alloc < self.min_free_bytes:
                raise _ReserveReachedError(
                    errno.ENOSPC, f"disk almost full: {free / 2**20:.1f} MiB free, a block "
                    f"needs {alloc / 2**20:.1f} MiB and {self.min_free_bytes / 2**20:.1f} MiB "
                    "are kept in reserve to close the file")
        tasks = f[lay.TASKS_GROUP]
        new_rows: dict[int, int] = {}
        last_values: dict[int, list[float]] = {}
        for index, blocks in rows.items():
            n_new = sum(len(b["time"]) for b in blocks)
            start = int(self._rows[index])
            datasets = self._task_datasets(index)
            last: list[float] = []
            for name, cols in self._field_shapes.items():
                parts = [b[name] if name in b else np.full((len(b["time"]), *cols), np.nan)
                         for b in blocks]
                data = np.concatenate(parts) if len(parts) > 1 else parts[0]
                _append_rows(datasets[name], start, data)
                if not cols:
                    last.append(float(data[-1]))
            new_rows[index] = start + n_new
            last_values[index] = last
        new_raw: dict[int, int] = {}
        for index, blocks in raw.items():
            g = tasks[lay.task_group_name(index)]
            start = int(self._raw_rows[index])
            t = np.concatenate([b[0] for b in blocks])
            s = np.concatenate([b[1] for b in blocks])
            for name, data in ((lay.RAW_TIME, t), (lay.RAW_SAMPLES, s)):
                g[name].resize(start + len(t), axis=0)
                g[name][start:] = data
            new_raw[index] = start + len(t)
        if events:
            ev = f["events"]
            ev.resize(self._n_events + len(events), axis=0)
            ev[self._n_events:] = np.array(events, dtype=lay.EVENT_DTYPE)
            self._n_events += len(events)
        f.flush()  # 1. the data is on disk ...
        _set_items(progress["task_rows"], new_rows)
        _set_items(progress["task_raw_rows"], new_raw)
        for index, n in new_rows.items():
            self._rows[index] = n
            self._last_values[index] = last_values[index]
            self._has_last[index] = True
        for index, n in new_raw.items():
            self._raw_rows[index] = n
        progress["heartbeat"][0] = time.time()
        f.flush()  # 2. ... before the counters that make it visible ...
        if status:
            _set_items(progress["task_status"], status)
            f.flush()  # 3. ... and a task is completed only once all its rows count

    def _task_datasets(self, index: int) -> dict[str, h5d.DatasetID]:
        """Task ``index``'s row datasets, low-level handles (kept for the few tasks being
        written; a campaign of short tasks opens each task's datasets once)."""
        found = self._dataset_cache.get(index)
        if found is None:
            if len(self._dataset_cache) >= DATASET_CACHE_TASKS:
                self._dataset_cache.clear()
            assert self._file is not None
            fid, group = self._file.id, lay.task_group_name(index)
            found = self._dataset_cache[index] = {
                name: h5d.open(fid, f"/{lay.TASKS_GROUP}/{group}/{name}".encode())
                for name in lay.TASK_FIELDS}
        return found

    def _progress_datasets(self) -> dict[str, h5py.Dataset]:
        """The progress counters, task states and heartbeat datasets (handles kept)."""
        if not self._progress_cache:
            assert self._file is not None
            prog = self._file["progress"]
            self._progress_cache = {name: prog[name] for name in (*lay.PROGRESS, "heartbeat")}
        return self._progress_cache

    def _truncate(self, index: int) -> None:
        """Empty task ``index``'s datasets: counters first, so no reader counts rows that
        are gone."""
        f = self._file
        assert f is not None
        f["progress/task_rows"][index] = 0
        f["progress/task_raw_rows"][index] = 0
        self._rows[index] = self._raw_rows[index] = 0
        self._has_last[index] = False
        f.flush()
        g = f[lay.TASKS_GROUP][lay.task_group_name(index)]
        for name in (*lay.TASK_FIELDS, lay.RAW_TIME, lay.RAW_SAMPLES):
            if name in g:
                g[name].resize(0, axis=0)
        f.flush()

    def _free_bytes(self) -> int:
        """Free space (bytes) on the file system holding the run file."""
        return int(shutil.disk_usage(self.path.parent).free)

    # ------------------------------------------------------------------ closing
    def _write_status_in_place(self, status: str, reason: str) -> None:
        """Record the status in ``/run_status`` (works in SWMR mode and on a full disk:
        the dataset is allocated at creation), then close the file on this thread."""
        f = self._file
        if f is None:
            return
        record = np.array([status.encode(), reason.encode()[:1024]], dtype=lay.STATUS_DTYPE)
        hdf5_failed = _disk_full(self._error) and not isinstance(self._error, _ReserveReachedError)
        if hdf5_failed and self._detach_and_record(f, record):
            self._detached = True
        else:
            with contextlib.suppress(Exception):
                f["run_status"][...] = record
                f[lay.HEARTBEAT][0] = time.time()
                f.flush()
        self._file = None
        self._dataset_cache.clear()  # handles of the closed file
        self._progress_cache = {}
        problem = _close_h5(f)
        if problem and self._error is None:
            self._error = OSError(problem)

    def _detach_and_record(self, f: h5py.File, record: np.ndarray) -> bool:
        """After a full disk: keep the file on disk exactly as of its last successful
        flush (a consistent SWMR file, as after a kill) and write the status record into
        the bytes ``/run_status`` already occupies (no allocation, so it works on a full
        disk). HDF5's own closing writes are sent to /dev/null: half-done on a full disk,
        they left metadata that no reader could open. True if done."""
        offset = self._status_offset
        try:
            fd = f.id.get_vfd_handle()
        except Exception:
            return False
        if offset is None or not isinstance(fd, int) or fd < 0:
            return False
        try:
            null = os.open(os.devnull, os.O_RDWR)
            try:
                os.dup2(null, fd)
            finally:
                os.close(null)
            out = os.open(self.path, os.O_WRONLY)
            try:
                os.pwrite(out, record.tobytes(), offset)
                os.fsync(out)
            finally:
                os.close(out)
        except OSError:
            return False
        return True

    def _finalise(self, status: str, reason: str) -> None:
        """Reopen without SWMR and write root status and each task's final attributes.

        File locking is off for this reopen: this process was the file's only writer and
        has closed it, while SWMR readers (a GUI replaying the live file, a notebook) may
        still hold it open and would otherwise lock the final attributes out. Skipped after
        a full disk (less free than the closing reserve): a non-SWMR writer that cannot
        close leaves the file marked "open for write", which no reader accepts;
        ``/run_status`` already holds status and reason."""
        with contextlib.suppress(OSError):
            if self._detached or (_disk_full(self._error)
                                  and self._free_bytes() < close_reserve_bytes(0)):
                return
        deadline = time.monotonic() + FINAL_REOPEN_WAIT_S
        while True:
            try:
                f = h5py.File(self.path, "r+", locking=False)
                _bound_metadata_cache(f)
                break
            except OSError as exc:
                # HDF5 refuses a read-write open while this same process holds the file
                # open read-only (a GUI re-reading its own live run): that reader lets go
                # within moments, so wait for it rather than lose the final attributes
                if time.monotonic() < deadline and _held_by_this_process(exc):
                    time.sleep(0.05)
                    continue
                if self._error is None:
                    self._error = exc.with_traceback(None)
                return
            except Exception as exc:
                if self._error is None:
                    self._error = exc.with_traceback(None)
                return
        try:
            f.attrs["status"] = status
            f.attrs["abort_reason"] = reason
            codes = f["progress/task_status"][()]
            rows = f["progress/task_rows"][()]
            tasks = f[lay.TASKS_GROUP]
            for i in range(self.n_tasks):
                g = tasks[lay.task_group_name(i)]
                g.attrs["status"] = lay.TASK_STATES[int(codes[i])]
                n = int(min(rows[i], g["time"].shape[0]))
                _set_number_attr(g.id, "n_rows", n)
                if n > 0:
                    # the last row as this writer wrote it, else (carried over) as read
                    last = (dict(zip(self._scalar_fields, self._last_values[i], strict=True))
                            if self._has_last[i] and n == self._rows[i] else None)
                    for name, field in lay.TASK_FIELDS.items():
                        if field.kind == "":
                            value = last[name] if last else float(g[name][n - 1])
                            _set_number_attr(g.id, f"final_{name}", value)
                for key, value in self._final.get(i, {}).items():
                    _set_number_attr(g.id, f"final_{key}", value)
        except Exception as exc:
            if self._error is None:
                self._error = exc.with_traceback(None)
        problem = _close_h5(f)
        if problem and self._error is None:
            self._error = OSError(problem)


@dataclasses.dataclass
class _Pending:
    """What the writer thread has taken off the queue and not yet written."""

    rows: dict[int, list[dict[str, np.ndarray]]] = dataclasses.field(default_factory=dict)
    raw: dict[int, list[tuple[np.ndarray, np.ndarray]]] = dataclasses.field(default_factory=dict)
    status: dict[int, int] = dataclasses.field(default_factory=dict)
    events: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    waiters: list[threading.Event] = dataclasses.field(default_factory=list)
    nbytes: int = 0


class _ReserveReachedError(OSError):
    """The writer stopped before a block would eat into the closing reserve (HDF5 itself
    never failed, so the file closes normally)."""


def _held_by_this_process(exc: OSError) -> bool:
    """Whether HDF5 refused an open because this same process holds the file open
    (read-only, or with other file-locking flags)."""
    text = str(exc)
    return "already open" in text or "locking flag values don't match" in text


def _disk_full(exc: BaseException | None) -> bool:
    """Is ``exc`` a full disk, quota or file-size limit?"""
    if exc is None:
        return False
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return True
    text = str(exc)
    return any(s in text for s in ("No space left", "File too large", "Disk quota",
                                   "errno = 28", "errno = 27", "errno = 122"))


CARRY_OVER_ROWS = 65536  # rows copied between two interrupt checks of a resume


def _copy_rows(src: Any, dst: h5py.Dataset, n: int, check: Callable[[], None]) -> None:
    """Copy the first ``n`` rows of ``src`` (a dataset or array) to ``dst`` in blocks,
    calling ``check`` before each block."""
    dst.resize(n, axis=0)
    for start in range(0, n, CARRY_OVER_ROWS):
        check()
        stop = min(n, start + CARRY_OVER_ROWS)
        dst[start:stop] = src[start:stop]


def _bound_metadata_cache(f: h5py.File) -> None:
    """Hold HDF5's metadata cache of ``f`` to :data:`METADATA_CACHE_BYTES` (the SWMR
    writer keeps HDF5's default: measured, a cap there cost 2–3 % of a campaign's time
    and did not lower its memory)."""
    config = f.id.get_mdc_config()
    config.set_initial_size = True
    config.initial_size = METADATA_CACHE_BYTES // 2
    config.min_size = METADATA_CACHE_BYTES // 4
    config.max_size = METADATA_CACHE_BYTES
    f.id.set_mdc_config(config)


def _held_bytes(*objects: Any) -> int:
    """Memory (bytes) that ``objects`` hold while queued: an array's data and header, a
    block's dict, an event's strings (1-row blocks hold more in headers than in data)."""
    return sum(sys.getsizeof(o) for o in objects)


def _append_rows(dsid: h5d.DatasetID, start: int, data: np.ndarray) -> None:
    """Grow dataset ``dsid`` to ``start + len(data)`` rows and write ``data`` (float64)
    after row ``start`` (low-level HDF5 calls: a campaign of short tasks writes many small
    blocks, where h5py's high-level selection costs more than the write)."""
    data = np.ascontiguousarray(data, dtype=np.float64)
    shape = (start + data.shape[0], *data.shape[1:])
    dsid.set_extent(shape)
    file_space = dsid.get_space()
    file_space.select_hyperslab((start,) + (0,) * (data.ndim - 1), data.shape)
    dsid.write(h5s.create_simple(data.shape), file_space, data)


def _set_number_attr(oid: Any, name: str, value: float | int) -> None:
    """Attribute ``name`` of object ``oid`` = ``value``, a scalar float64 or, for a Python
    int, int64 (the types h5py gives them), replacing an existing one."""
    arr = np.array(value, dtype=np.int64 if isinstance(value, int | np.integer)
                   and not isinstance(value, bool) else np.float64)
    key = name.encode()
    if h5a.exists(oid, key):
        h5a.delete(oid, key)
    attr = h5a.create(oid, key, h5t.py_create(arr.dtype), h5s.create(h5s.SCALAR))
    attr.write(arr)


def _set_items(ds: h5py.Dataset, values: Mapping[int, int]) -> None:
    """Write ``values`` (index -> value) into the 1-D dataset ``ds``: one write of the
    span they cover when they are close together, else one write per index."""
    if not values:
        return
    lo, hi = min(values), max(values) + 1
    if len(values) == 1 or hi - lo > 4 * len(values) + 64:
        for index, value in values.items():
            ds[index] = value
        return
    span = ds[lo:hi]
    for index, value in values.items():
        span[index - lo] = value
    ds[lo:hi] = span


def _clip(text: str, n: int) -> bytes:
    data = str(text).encode("utf-8")[:n]
    return data.decode("utf-8", "ignore").encode("utf-8")


def _link_no_replace(src: Path, dst: Path) -> None:
    """Give file ``src`` the name ``dst`` without ever replacing an existing ``dst``:
    a hard link (fails atomically if ``dst`` exists), then ``src`` is unlinked. On file
    systems without hard links: an exclusive check, then a rename."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError as exc:
        raise OutputExistsError(dst) from exc
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(dst):
            raise OutputExistsError(dst) from exc
        os.rename(src, dst)
        return
    os.unlink(src)


def _close_h5(f: h5py.File) -> str:
    """Close ``f`` and every HDF5 object of it, whatever fails; "" or what went wrong.

    h5py's ``File.close`` stops at the first object whose close fails (a dataset whose
    cached chunks cannot be written to a full disk) and leaves the rest – and the file –
    open for the garbage collector and HDF5's exit handler, which crashed the process
    (SIGSEGV). The writer keeps no chunk cache (nothing dirty is left to fail), and here
    every object id is released explicitly, retrying until none of the file is open.
    """
    from h5py import h5f, h5i

    problems: list[str] = []
    fid = f.id
    for _ in range(4):
        try:
            if not fid.valid:
                break
            f.close()
            break
        except Exception as exc:
            problems.append(str(exc).splitlines()[0])
        with contextlib.suppress(Exception):
            for oid in h5f.get_obj_ids(fid, h5f.OBJ_ALL | h5f.OBJ_LOCAL):
                with contextlib.suppress(Exception):
                    if oid.valid and oid != fid:
                        h5i.dec_ref(oid)
    if fid.valid:
        with contextlib.suppress(Exception):
            fid._close()
    return "; ".join(dict.fromkeys(problems))
