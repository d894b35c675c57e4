"""Reading run files – finished, crashed or still being written (SWMR).

Example (see docs/DATA_FORMAT.md)::

    with open_run("data/runs/demo.h5") as run:
        run.status, run.tasks[0].params["lambda"], run.tasks[0].error
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from labctl.network import Network
from labctl.store import layout as lay


def _open(path: str | Path) -> h5py.File:
    """Open a run file read-only: SWMR first (live or killed writers), plain otherwise."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"run file {p} does not exist")
    try:
        return h5py.File(p, "r", libver="latest", swmr=True)
    except OSError:
        try:
            return h5py.File(p, "r")
        except OSError as exc:
            raise OSError(f"run file {p} cannot be opened ({exc}); if its writer was killed "
                          f"try 'h5clear -s {p}'") from exc


@contextmanager
def open_h5(path: str | Path) -> Iterator[h5py.File]:
    """The raw h5py file of a run, read-only, closed on exit."""
    f = _open(path)
    try:
        yield f
    finally:
        f.close()


def completed_tasks(path: str | Path) -> set[int]:
    """Indices of the tasks a run file records as completed (works after a crash)."""
    with open_h5(path) as f:
        ds = f["progress/task_status"]
        return {int(i) for i in np.flatnonzero(ds[()] == lay.COMPLETED)}


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
    Only rows the writer has committed are returned.
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
        skip = {"index", "name", "status", "n_rows"}
        return {k: v for k, v in self.attrs.items()
                if k not in skip and not k.startswith("final_")}

    @property
    def final(self) -> dict[str, float]:
        """Final values (``final_<name>`` attributes, present once the run is closed)."""
        return {k[6:]: v for k, v in self.attrs.items() if k.startswith("final_")}

    @property
    def status(self) -> str:
        """``pending``, ``running``, ``completed`` or ``failed`` (live value)."""
        return lay.TASK_STATES[int(self._run._progress("task_status")[self.index])]

    @property
    def n_rows(self) -> int:
        """Rows committed so far."""
        return int(self._run._progress("task_rows")[self.index])

    def __getitem__(self, name: str) -> np.ndarray:
        if name in lay.TASK_FIELDS:
            n = self.n_rows
        elif name in (lay.RAW_TIME, lay.RAW_SAMPLES) and name in self._group:
            n = int(self._run._progress("task_raw_rows")[self.index])
        else:
            raise KeyError(f"{name!r}: not a dataset of this task; allowed: "
                           f"{', '.join(lay.TASK_FIELDS)}, raw_time, raw_samples")
        ds = self._group[name]
        if self._run.live:
            ds.refresh()
        return ds[: min(n, ds.shape[0])]

    def __getattr__(self, name: str) -> np.ndarray:
        key = "lambda" if name == "lambda_" else name
        if key in lay.TASK_FIELDS or key in (lay.RAW_TIME, lay.RAW_SAMPLES):
            return self[key]
        raise AttributeError(name)

    def to_xarray(self) -> Any:
        """The task as an ``xarray.Dataset`` (dims time, edge, node; params as attrs)."""
        import xarray as xr

        data = {name: self[name] for name in lay.TASK_FIELDS}
        dims = {"": ("time",), "edge": ("time", "edge"), "node": ("time", "node")}
        variables = {name: (dims[lay.TASK_FIELDS[name][0]], arr,
                            {"units": lay.TASK_FIELDS[name][1]})
                     for name, arr in data.items() if name != "time"}
        attrs = {k: (json.dumps(v) if isinstance(v, list) else v)
                 for k, v in self.attrs.items()}
        return xr.Dataset(variables, coords={"time": ("time", data["time"], {"units": "s"})},
                          attrs=attrs)

    def __repr__(self) -> str:
        return f"TaskData({self.index}, {self.name!r}, {self.status}, {self.n_rows} rows)"


class Run:
    """An open run file. ``live`` is True while its status is ``running``; call
    :meth:`refresh` to see new rows (the arrays of each task refresh on access)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = _open(self.path)
        if self._file.attrs.get("format") != lay.FORMAT:
            found = self._file.attrs.get("format")
            self._file.close()
            raise ValueError(f"{self.path}: not a labctl run file (format {found!r}, "
                             f"expected {lay.FORMAT!r})")
        self._cache: dict[str, np.ndarray] = {}
        group = self._file[lay.TASKS_GROUP]
        self.tasks = [TaskData(self, group[lay.task_group_name(i)], i)
                      for i in range(len(group))]
        self.refresh()

    @property
    def live(self) -> bool:
        """True if the file was still being written at the last refresh."""
        return self.status == "running"

    def refresh(self) -> None:
        """Re-read the progress counters and status written by a live writer."""
        self._cache.clear()
        for task in getattr(self, "tasks", ()):
            task.__dict__.pop("attrs", None)
        self._file["run_status"].refresh()
        self._status = [_decode(x) for x in self._file["run_status"][()]]

    def _progress(self, name: str) -> np.ndarray:
        if name not in self._cache:
            ds = self._file["progress"][name]
            ds.refresh()
            self._cache[name] = ds[()]
        return self._cache[name]

    @cached_property
    def attrs(self) -> dict[str, Any]:
        """Root attributes (version, created, protocol/bench text, backend, ...)."""
        out = {k: _decode(v) for k, v in self._file.attrs.items()}
        out["instrument_snapshots"] = json.loads(out.get("instrument_snapshots") or "{}")
        return out

    @property
    def status(self) -> str:
        """``running``, ``completed`` or ``aborted`` (a killed run stays ``running``)."""
        return str(self._status[0])

    @property
    def abort_reason(self) -> str:
        """Why the run was aborted ("" otherwise)."""
        return str(self._status[1])

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

    @property
    def events(self) -> list[tuple[float, int, str, str]]:
        """Logged events as (t since creation in s, task or -1, kind, message)."""
        ds = self._file["events"]
        ds.refresh()
        return [(float(t), int(k), _decode(a), _decode(m)) for t, k, a, m in ds[()]]

    def completed_tasks(self) -> set[int]:
        """Indices of completed tasks (live)."""
        return {t.index for t in self.tasks if t.status == "completed"}

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, {self.status}, {len(self.tasks)} tasks)"


def open_run(path: str | Path) -> Run:
    """Open run file ``path`` for reading (finished, crashed or live). Close it when done
    (or use ``with open_run(p) as run:``)."""
    return Run(path)
