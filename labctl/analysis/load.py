"""Load run files into a tidy summary table (a pandas DataFrame, one row per task, units in
``df.attrs["units"]``; see :mod:`labctl.analysis.frames`) and per-task time series.

Works on finished, crashed and live (SWMR) run files: every value is computed from the rows
the writer has committed so far, not from the ``final_*`` attributes written at close.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labctl.store import open_run
from labctl.store.reader import Run, TaskData

if TYPE_CHECKING:  # pandas is imported on first use: `labctl analyze --help` stays fast
    import pandas as pd

#: Default error threshold (V²) for the training time, as in the papers (L = 1e-4).
DEFAULT_ERROR_THRESHOLD = 1e-4

#: Columns of the summary table, in order (units in the docstring of :func:`summarize_task`).
SUMMARY_COLUMNS = (
    "file", "task", "name", "kind", "status", "lambda", "eta", "kappa", "gate_voltage",
    "alpha", "gamma", "lambda_control", "rows", "duration", "initial_error", "final_error",
    "final_error_normalized", "final_power_free", "final_power_clamped", "energy",
    "time_to_threshold", "energy_to_threshold",
    "power_supply", "power_supply_model", "power_supply_residual",
)
#: Unit of every quantity column of the summary (UDUNITS spelling, "1" dimensionless);
#: ``file``, ``task``, ``name``, ``kind``, ``status`` and ``lambda_control`` are labels.
SUMMARY_UNITS = {
    "lambda": "1", "eta": "1", "kappa": "S", "gate_voltage": "V", "alpha": "1/s",
    "gamma": "1/s", "rows": "1", "duration": "s", "initial_error": "V^2",
    "final_error": "V^2", "final_error_normalized": "1", "final_power_free": "W",
    "final_power_clamped": "W", "energy": "J", "time_to_threshold": "s",
    "energy_to_threshold": "J", "power_supply": "W", "power_supply_model": "W",
    "power_supply_residual": "W",
}


@dataclass(frozen=True)
class TaskSeries:
    """Time series of one task: ``time`` (s), ``error`` (V²), ``error_normalized`` (1),
    ``power_free``/``power_clamped`` (W), ``energy`` (J), ``lam`` (λ, 1), plus which file
    and task they come from and the task's parameters."""

    file: str
    task: int
    name: str
    params: dict[str, Any]
    time: np.ndarray
    error: np.ndarray
    error_normalized: np.ndarray
    power_free: np.ndarray
    power_clamped: np.ndarray
    energy: np.ndarray
    lam: np.ndarray


def task_series(task: TaskData, file: str = "") -> TaskSeries:
    """The committed time series of ``task`` (an open run's task) as a :class:`TaskSeries`."""
    return TaskSeries(
        file=file, task=task.index, name=task.name, params=dict(task.params),
        time=np.asarray(task.time, dtype=float), error=np.asarray(task.error, dtype=float),
        error_normalized=np.asarray(task.error_normalized, dtype=float),
        power_free=np.asarray(task.power_free, dtype=float),
        power_clamped=np.asarray(task.power_clamped, dtype=float),
        energy=np.asarray(task.energy, dtype=float), lam=np.asarray(task["lambda"], dtype=float))


def first_crossing(time: np.ndarray, values: np.ndarray, threshold: float) -> float:
    """First time (s) at which ``values`` fall to ``threshold`` or below, linearly
    interpolated between rows (in log scale where both are positive); NaN if never."""
    time = np.asarray(time, dtype=float)
    values = np.asarray(values, dtype=float)
    if time.shape != values.shape:
        raise ValueError(f"time, values: shapes {time.shape} and {values.shape} differ")
    if not threshold > 0:
        raise ValueError(f"threshold: {threshold}; allowed > 0")
    below = np.flatnonzero(values <= threshold)
    if below.size == 0:
        return float("nan")
    i = int(below[0])
    if i == 0:
        return float(time[0])
    y0, y1 = values[i - 1], values[i]
    if y0 > 0 and y1 > 0:
        frac = (np.log(y0) - np.log(threshold)) / (np.log(y0) - np.log(y1))
    else:
        frac = (y0 - threshold) / (y0 - y1)
    return float(time[i - 1] + frac * (time[i] - time[i - 1]))


def _num(value: Any) -> float:
    """A parameter as float (NaN if absent or not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return float("nan")
    return float(value)


def _last(arr: np.ndarray) -> float:
    """Last finite value of a row array (NaN if none)."""
    finite = np.flatnonzero(np.isfinite(arr))
    return float(arr[finite[-1]]) if finite.size else float("nan")


def summarize_task(task: TaskData, file: str = "",
                   error_threshold: float = DEFAULT_ERROR_THRESHOLD) -> dict[str, Any]:
    """One summary row for ``task``.

    Columns: ``lambda`` the λ actually applied (last recorded row; the plan's value if no
    row yet; the bench quantises λ), ``eta`` η, ``kappa`` initial uniform conductance (S,
    NaN if the gates were set directly), ``gate_voltage`` initial gate (V: the plan's value,
    else the mean first gate reading), ``alpha``/``gamma`` simulated rates (1/s),
    ``initial_error``/``final_error`` (V²), ``final_error_normalized`` (1),
    ``final_power_free``/``final_power_clamped`` (W), ``energy`` ∫P^F dt over the task (J),
    ``time_to_threshold`` first time (s) the error reaches ``error_threshold`` (V²) and
    ``energy_to_threshold`` the energy spent until then (J), NaN if never;
    ``power_supply`` the SMU's measured supply power and ``power_supply_model`` the
    model's (both W, means over the rows with an SMU reading), ``power_supply_residual``
    their mean difference measured − model (W); NaN without an SMU.
    """
    s = task_series(task, file)
    p = s.params
    gate = _num(p.get("gate_voltage"))
    if np.isnan(gate) and len(s.time):
        gates = np.asarray(task.gate_voltage, dtype=float)
        gate = float(np.nanmean(gates[0])) if gates.size else float("nan")
    lam = _last(s.lam) if len(s.lam) else _num(p.get("lambda"))
    t_thr = first_crossing(s.time, s.error, error_threshold) if len(s.time) else float("nan")
    e_thr = (float(np.interp(t_thr, s.time, s.energy)) if np.isfinite(t_thr)
             else float("nan"))
    return {
        "file": file, "task": task.index, "name": task.name, "kind": str(p.get("kind", "")),
        "status": task.status, "lambda": lam, "eta": _num(p.get("eta")),
        "kappa": _num(p.get("kappa")), "gate_voltage": gate, "alpha": _num(p.get("alpha")),
        "gamma": _num(p.get("gamma")),
        "lambda_control": str(p.get("lambda_control", "off")) if p.get("lambda_control")
        else "off",
        "rows": len(s.time), "duration": float(s.time[-1]) if len(s.time) else float("nan"),
        "initial_error": float(s.error[0]) if len(s.error) else float("nan"),
        "final_error": _last(s.error), "final_error_normalized": _last(s.error_normalized),
        "final_power_free": _last(s.power_free), "final_power_clamped": _last(s.power_clamped),
        "energy": _last(s.energy), "time_to_threshold": t_thr, "energy_to_threshold": e_thr,
        **_supply_power(task),
    }


def _supply_power(task: Any) -> dict[str, float]:
    """Measured vs model supply power of a task (W; see :func:`summarize_task`)."""
    measured = np.asarray(task["power_supply"], dtype=float)
    model = np.asarray(task["power_supply_model"], dtype=float)
    ok = np.isfinite(measured) & np.isfinite(model)
    if not ok.any():
        return dict.fromkeys(("power_supply", "power_supply_model", "power_supply_residual"),
                             float("nan"))
    return {"power_supply": float(measured[ok].mean()),
            "power_supply_model": float(model[ok].mean()),
            "power_supply_residual": float((measured[ok] - model[ok]).mean())}


def _paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, str | Path):
        return [Path(paths)]
    out = [Path(p) for p in paths]
    if not out:
        raise ValueError("paths: no run file given; allowed one or more .h5 run files")
    return out


def _summary_rows(run: Run, error_threshold: float) -> list[dict[str, Any]]:
    """Summary rows of an open run's started tasks; a task still running in an
    interrupted run (its writer is gone) gets status ``interrupted``."""
    run.refresh()
    interrupted = run.status == "interrupted"  # written as running, the writer is gone
    rows = []
    for task in run.tasks:
        if task.status == "pending" and task.n_rows == 0:
            continue
        row = summarize_task(task, run.path.name, error_threshold)
        if interrupted and row["status"] == "running":
            row["status"] = "interrupted"
        rows.append(row)
    return rows


def summarize_run(run: Run, error_threshold: float = DEFAULT_ERROR_THRESHOLD) -> pd.DataFrame:
    """The summary table of an open run as a DataFrame (one row per task that has
    started; units in ``attrs["units"]``); a task still running in an interrupted run
    (its writer is gone) has status ``interrupted``."""
    from labctl.analysis.frames import make_frame

    return make_frame(_summary_rows(run, error_threshold), SUMMARY_COLUMNS, SUMMARY_UNITS)


def load_summary(paths: str | Path | Iterable[str | Path],
                 error_threshold: float = DEFAULT_ERROR_THRESHOLD) -> pd.DataFrame:
    """Summary table of every started task of one or many run files (live files too), a
    DataFrame with the columns :data:`SUMMARY_COLUMNS` in order and their units in
    ``attrs["units"]`` (:data:`SUMMARY_UNITS`).

    ``error_threshold`` (V², > 0) defines ``time_to_threshold``. Tasks still pending are
    left out. See :func:`summarize_task` for the columns.
    """
    if not error_threshold > 0:
        raise ValueError(f"error_threshold: {error_threshold}; allowed > 0 V²")
    rows: list[dict[str, Any]] = []
    for path in _paths(paths):
        with open_run(path) as run:
            rows += _summary_rows(run, error_threshold)
    from labctl.analysis.frames import make_frame

    return make_frame(rows, SUMMARY_COLUMNS, SUMMARY_UNITS)


def fixed_lambda(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of fixed-λ tasks (``lambda_control`` is ``off``; every row of a table
    without that column): the λ-controlled tasks left out."""
    if "lambda_control" not in table.columns:
        return table
    return table[table["lambda_control"] == "off"]


def load_series(paths: str | Path | Iterable[str | Path]) -> list[TaskSeries]:
    """Time series of every started task of one or many run files, in file/task order."""
    out: list[TaskSeries] = []
    for path in _paths(paths):
        with open_run(path) as run:
            out += [task_series(t, run.path.name) for t in run.tasks if t.n_rows > 0]
    return out

