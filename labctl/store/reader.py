"""Reading run files – finished, interrupted or still being written (SWMR).

Example (see docs/DATA_FORMAT.md)::

    with open_run("data/runs/demo.h5") as run:
        run.status, run.tasks[0].params["lambda"], run.tasks[0].error
        df = run.summary()          # pandas, one row per task, df.attrs["units"]
        ds = run.to_xarray()        # xarray, dims (task, row, edge, node)

Every open first verifies the file in a child process
(:func:`~labctl.store.verify.verify_run_file`), so a damaged or foreign file is refused
with :class:`~labctl.store.errors.RunFileError` within the timeout instead of hanging.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from labctl.network import Network
from labctl.store import layout as lay
from labctl.store.errors import RunFileError
from labctl.store.provenance import writer_gone
from labctl.store.verify import (
    VERIFY_TIMEOUT_S,
    check_layout,
    precheck,
    verify_run_file,
)
from labctl.store.verify import (
    open_h5 as _open_h5,
)


@contextmanager
def open_h5(path: str | Path, *, verify: bool = True) -> Iterator[h5py.File]:
    """The raw h5py file of a run, read-only (verified first), closed on exit."""
    if verify:
        verify_run_file(path)
    f = _open_h5(precheck(path))
    try:
        yield f
    finally:
        f.close()


def completed_tasks(path: str | Path) -> set[int]:
    """Indices of the tasks a run file records as completed (works after a crash)."""
    return set(verify_run_file(path).completed)


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


class TaskData:
    """One task of a run: ``params`` (dict), ``final`` values, ``status`` and its arrays.

    Row arrays are attributes named as the datasets: ``time`` (s), ``error`` (V²),
    ``error_normalized``, ``power_free``/``power_clamped`` (W), ``energy`` (J),
    ``lambda_`` or ``["lambda"]``, ``eta``, ``gate_voltage`` and ``conductance`` (T×E,
    V and S), ``v_free``/``v_clamped`` (T×N, V); ``raw_time``/``raw_samples`` if stored.
    Only rows the writer has committed are returned: the smaller of the row counter and
    the rows present in every dataset.
    """

    def __init__(self, run: Run, group: h5py.Group, index: int) -> None:
        self._run = run
        self._group = group
        self.index = index

    @cached_property
    def attrs(self) -> dict[str, Any]:
        """Every attribute of the task group (parameters, and finals once closed)."""
        return {k: _decode(v) for k, v in self._group.attrs.items()}

    @property
    def name(self) -> str:
        """The task's unique name."""
        return str(self.attrs["name"])

    @property
    def params(self) -> dict[str, Any]:
        """The task parameters from the plan (λ, η, nodes, seeds, ...)."""
        return {k: v for k, v in self.attrs.items()
                if k not in lay.TASK_RESERVED_ATTRS and not k.startswith("final_")}

    @property
    def final(self) -> dict[str, float]:
        """Final values (``final_<name>`` attributes, present once the run is closed)."""
        return {k[6:]: v for k, v in self.attrs.items() if k.startswith("final_")}

    @property
    def status(self) -> str:
        """``pending``, ``running``, ``completed`` or ``failed`` (live value)."""
        return lay.TASK_STATES[int(self._run._progress("task_status")[self.index])]

    @property
    def datasets(self) -> frozenset[str]:
        """Names of the datasets in the task group."""
        return frozenset(self._group)

    def _length(self, name: str) -> int:
        ds = self._group[name]
        if self._run.live:
            ds.refresh()
        return int(ds.shape[0])

    @property
    def n_rows(self) -> int:
        """Rows committed so far: the row counter, capped by the rows on disk."""
        key = ("rows", self.index)
        if key not in self._run._cache:
            counter = int(self._run._progress("task_rows")[self.index])
            self._run._cache[key] = min(counter, *(self._length(f) for f in lay.TASK_FIELDS
                                                   if f in self._group))
        return int(self._run._cache[key])

    @property
    def n_raw_rows(self) -> int:
        """Raw DAQ samples committed so far (0 without a raw stream)."""
        if lay.RAW_TIME not in self._group:
            return 0
        counter = int(self._run._progress("task_raw_rows")[self.index])
        return min(counter, self._length(lay.RAW_TIME), self._length(lay.RAW_SAMPLES))

    def __getitem__(self, name: str) -> np.ndarray:
        if name in lay.TASK_FIELDS:
            n = self.n_rows
        elif name in (lay.RAW_TIME, lay.RAW_SAMPLES) and name in self._group:
            n = self.n_raw_rows
        else:
            raise KeyError(f"{name!r}: not a dataset of this task; allowed: "
                           f"{', '.join(lay.TASK_FIELDS)}, raw_time, raw_samples")
        if name not in self._group and name in lay.LATE_FIELDS:
            return np.full(n, np.nan)  # a field newer than the file (power_supply)
        return self._group[name][:n]

    def source(self, name: str) -> Any:
        """The stored dataset ``name`` itself, to read in slices (no copy), or its rows as
        an array when the file predates the field; only the first :meth:`n_rows`
        (or :attr:`n_raw_rows`) rows are committed."""
        if name in self._group:
            return self._group[name]
        return self[name]

    def __getattr__(self, name: str) -> np.ndarray:
        key = "lambda" if name == "lambda_" else name
        if key in lay.TASK_FIELDS or key in (lay.RAW_TIME, lay.RAW_SAMPLES):
            return self[key]
        raise AttributeError(name)

    def to_xarray(self) -> Any:
        """The task as an ``xarray.Dataset`` (dims time, edge, node; ``units`` and
        ``long_name`` on every variable; params as attrs)."""
        import xarray as xr

        data = {name: self[name] for name in lay.TASK_FIELDS}
        variables = {name: (lay.DIMS[f.kind], data[name], _var_attrs(name))
                     for name, f in lay.TASK_FIELDS.items() if name != "time"}
        attrs = {k: (json.dumps(v) if isinstance(v, list) else v)
                 for k, v in self.attrs.items() if k not in ("NX_class", "default")}
        return xr.Dataset(variables, coords={"time": ("time", data["time"],
                                                      _var_attrs("time"))}, attrs=attrs)

    def __repr__(self) -> str:
        return f"TaskData({self.index}, {self.name!r}, {self.status}, {self.n_rows} rows)"


def _var_attrs(name: str) -> dict[str, str]:
    f = lay.TASK_FIELDS[name]
    return {"units": f.units, "long_name": f.long_name}


class Run:
    """An open run file. ``status`` is ``running`` (a live writer), ``completed``,
    ``aborted`` or ``interrupted`` (the file says running but its writer is gone);
    call :meth:`refresh` to see new rows (the arrays of each task refresh on access).

    ``verify`` (default) first checks the whole file in a child process
    (:func:`~labctl.store.verify.verify_run_file`, at most ``timeout`` s), so a damaged
    file raises :class:`RunFileError` instead of hanging; reopen a file already verified
    with ``verify=False``.
    """

    def __init__(self, path: str | Path, *, verify: bool = True,
                 timeout: float = VERIFY_TIMEOUT_S) -> None:
        self.path = Path(path)
        if verify:
            verify_run_file(self.path, timeout)
        self._file = _open_h5(precheck(self.path))
        try:
            layout = check_layout(self._file, self.path)
            self._cache: dict[Any, Any] = {}
            group = self._file[lay.TASKS_GROUP]
            self.tasks = [TaskData(self, group[lay.task_group_name(i)], i)
                          for i in range(layout.n_tasks)]
            self.refresh()
        except BaseException:
            self._file.close()
            raise

    def refresh(self) -> None:
        """Re-read the progress counters, heartbeat and status written by a live writer."""
        self._cache.clear()
        for task in getattr(self, "tasks", ()):
            task.__dict__.pop("attrs", None)
        self._file["run_status"].refresh()
        self._status = [_decode(x) for x in self._file["run_status"][()]]
        hb = self._file.get(lay.HEARTBEAT)
        if isinstance(hb, h5py.Dataset) and hb.shape == (1,):
            hb.refresh()
            self._heartbeat = float(hb[0])
        else:  # format 1: the file's modification time is the best we know
            self._heartbeat = self.path.stat().st_mtime
        self._gone = self._status[0] == "running" and self._writer_gone()

    def _writer_gone(self) -> bool:
        return writer_gone(self.attrs, self._heartbeat)

    def _progress(self, name: str) -> np.ndarray:
        if name not in self._cache:
            ds = self._file["progress"][name]
            ds.refresh()
            self._cache[name] = ds[()]
        return self._cache[name]

    @property
    def live(self) -> bool:
        """True if a writer was still writing the file at the last refresh."""
        return self.status == "running"

    @property
    def status(self) -> str:
        """``running``, ``completed``, ``aborted`` or ``interrupted`` (written as running,
        but the writer process is gone: killed, crashed, or the machine stopped; for a file
        from another machine, no heartbeat for 60 s)."""
        return "interrupted" if self._gone else str(self._status[0])

    @property
    def recorded_status(self) -> str:
        """The status as written in the file: ``running``, ``completed`` or ``aborted``."""
        return str(self._status[0])

    @property
    def abort_reason(self) -> str:
        """Why the run was aborted ("" otherwise)."""
        return str(self._status[1])

    @property
    def last_write(self) -> datetime:
        """When the writer last flushed the file (its heartbeat; UTC)."""
        return datetime.fromtimestamp(self._heartbeat, UTC)

    @cached_property
    def attrs(self) -> dict[str, Any]:
        """Root attributes (version, created, provenance, protocol/bench text, ...)."""
        out = {k: _decode(v) for k, v in self._file.attrs.items()}
        try:
            out["instrument_snapshots"] = json.loads(out.get("instrument_snapshots") or "{}")
        except (TypeError, ValueError):
            out["instrument_snapshots"] = {}
        return out

    @property
    def seed(self) -> int | None:
        """The run's random seed (None if the file does not record one)."""
        value = self.attrs.get("seed")
        if isinstance(value, int) and value >= 0:
            return value
        old = self.attrs["instrument_snapshots"].get("seed")
        return int(old) if isinstance(old, int) else None

    @property
    def clock(self) -> str:
        """The simulated bench's clock ("fast" or "paced"; "" if not recorded)."""
        return str(self.attrs.get("clock") or self.attrs["instrument_snapshots"].get("clock")
                   or "")

    @property
    def uuid(self) -> str:
        """The run's UUID ("" for format-1 files)."""
        return str(self.attrs.get("run_uuid", ""))

    @cached_property
    def metadata(self) -> dict[str, str]:
        """The free-form run metadata (protocol ``[metadata]`` and ``--meta``)."""
        g = self._file.get(lay.METADATA_GROUP)
        return {k: str(_decode(v)) for k, v in g.attrs.items()} if g is not None else {}

    @cached_property
    def network(self) -> Network:
        """The bench network stored with the run."""
        g = self._file["network"]
        pos = g["positions"][()] if "positions" in g else None
        return Network(g["edges"][()], int(g.attrs["n_nodes"]), positions=pos)

    @property
    def raw_channels(self) -> tuple[str, ...]:
        """Column names of the raw DAQ stream (empty if none was stored)."""
        if "raw_channels" not in self._file:
            return ()
        return tuple(_decode(c) for c in self._file["raw_channels"][()])

    def events_array(self) -> np.ndarray:
        """The events table as stored (structured array of ``EVENT_DTYPE``)."""
        ds = self._file["events"]
        ds.refresh()
        return ds[()]

    @property
    def events(self) -> list[tuple[float, int, str, str]]:
        """Logged events as (t since creation in s, task or -1, kind, message)."""
        return [(float(t), int(k), _decode(a), _decode(m)) for t, k, a, m in self.events_array()]

    def completed_tasks(self) -> set[int]:
        """Indices of completed tasks (live)."""
        return {t.index for t in self.tasks if t.status == "completed"}

    def to_xarray(self, fields: Sequence[str] | None = None) -> Any:
        """The whole run as one ``xarray.Dataset``; see :func:`labctl.store.tables.run_dataset`."""
        from labctl.store.tables import run_dataset

        return run_dataset(self, fields)

    def summary(self) -> Any:
        """One row per task as a pandas DataFrame; see :func:`labctl.store.tables.run_summary`."""
        from labctl.store.tables import run_summary

        return run_summary(self)

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, {self.status}, {len(self.tasks)} tasks)"


def open_run(path: str | Path, *, verify: bool = True,
             timeout: float = VERIFY_TIMEOUT_S) -> Run:
    """Open run file ``path`` for reading (finished, interrupted or live). The file is
    verified first (at most ``timeout`` s; :class:`RunFileError` if damaged or foreign).
    Close it when done (or use ``with open_run(p) as run:``)."""
    return Run(path, verify=verify, timeout=timeout)


__all__ = ["Run", "RunFileError", "TaskData", "completed_tasks", "open_h5", "open_run"]
