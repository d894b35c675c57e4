"""A whole run as one xarray Dataset, and as a per-task pandas summary.

:func:`run_dataset` (``Run.to_xarray()``): dims ``task``, ``row`` (record index within a
task), ``edge`` and ``node``. Tasks have different lengths and time axes, so ``time`` is a
2-D coordinate (task, row) in s and every row variable is padded with NaN after a task's
last committed row (``n_rows`` says where). Per-task coordinates: ``task_name``,
``task_status``, ``n_rows`` and each plan parameter as ``param_<key>`` (numbers as float
with NaN where a task lacks it, texts as str, lists as JSON). Every variable carries
``units`` and ``long_name``. Padding is dense: for long runs pass ``fields`` to load only
what you need.

:func:`run_summary` (``Run.summary()``): a DataFrame indexed by task with columns
``name``, ``status``, ``rows``, ``duration`` (s, last ``time``), ``initial_error`` (V²),
``final_<field>`` (the last committed row of every scalar field but time) and
``param_<key>``; ``df.attrs["units"]`` maps every numeric column to its unit ("1" for
dimensionless ratios and parameters).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from labctl.extras import require_extra
from labctl.store import layout as lay

if TYPE_CHECKING:
    from labctl.store.reader import Run


def _param_columns(run: Run) -> dict[str, np.ndarray]:
    """``param_<key>`` -> one value per task (float with NaN, str, or JSON str)."""
    keys: dict[str, None] = {}
    for t in run.tasks:
        keys.update(dict.fromkeys(t.params))
    out: dict[str, np.ndarray] = {}
    for key in keys:
        values = [t.params.get(key) for t in run.tasks]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, int | float) and not isinstance(v, bool)
                           for v in present):
            out[f"param_{key}"] = np.array([np.nan if v is None else float(v)
                                            for v in values])
        else:
            out[f"param_{key}"] = np.array(
                ["" if v is None else v if isinstance(v, str) else json.dumps(v)
                 for v in values], dtype=object)
    return out


def _param_units(key: str) -> str:
    """Unit of a plan parameter (SI; "1" where dimensionless or unknown)."""
    return {"gate_voltage": "V", "kappa": "S", "duration_s": "s", "window_s": "s",
            "settle_s": "s", "alpha": "1/s", "gamma": "1/s", "record_rate": "1/s",
            "source_voltages": "V", "target_voltages": "V"}.get(key, "1")


def run_dataset(run: Run, fields: Sequence[str] | None = None) -> Any:
    """``run`` as one ``xarray.Dataset`` (see the module docstring); ``fields`` picks the
    row variables (default all; ``time`` is always loaded as the coordinate)."""
    require_extra("analysis", ("xarray",), what="Run.to_xarray()")
    import xarray as xr

    names = list(lay.TASK_FIELDS) if fields is None else list(fields)
    unknown = [n for n in names if n not in lay.TASK_FIELDS]
    if unknown:
        raise ValueError(f"fields: unknown {', '.join(map(repr, unknown))}; allowed: "
                         f"{', '.join(lay.TASK_FIELDS)}")
    run.refresh()
    n_rows = np.array([t.n_rows for t in run.tasks], dtype=np.int64)
    width = int(n_rows.max()) if len(n_rows) else 0
    n_tasks = len(run.tasks)
    net = run.network
    dims = {"": ("task", "row"), "edge": ("task", "row", "edge"),
            "node": ("task", "row", "node")}
    arrays: dict[str, np.ndarray] = {}
    for name in dict.fromkeys(["time", *names]):
        cols = lay.field_shape(name, net.n_edges, net.n_nodes)
        arr = np.full((n_tasks, width, *cols), np.nan)
        for t in run.tasks:
            arr[t.index, : n_rows[t.index]] = t[name][: n_rows[t.index]]
        arrays[name] = arr

    def attrs(name: str) -> dict[str, str]:
        f = lay.TASK_FIELDS[name]
        return {"units": f.units, "long_name": f.long_name}

    coords: dict[str, Any] = {
        "task": ("task", np.arange(n_tasks), {"long_name": "task index"}),
        "row": ("row", np.arange(width), {"long_name": "record index within a task"}),
        "edge": ("edge", np.arange(net.n_edges), {"long_name": "edge index"}),
        "node": ("node", np.arange(net.n_nodes), {"long_name": "node index"}),
        "time": (dims[""], arrays.pop("time"), attrs("time")),
        "task_name": ("task", np.array([t.name for t in run.tasks], dtype=object)),
        "task_status": ("task", np.array([t.status for t in run.tasks], dtype=object)),
        "n_rows": ("task", n_rows, {"long_name": "committed rows of each task"}),
    }
    for col, values in _param_columns(run).items():
        unit = {"units": _param_units(col[6:])} if values.dtype != object else {}
        coords[col] = ("task", values, {"long_name": f"plan parameter {col[6:]}", **unit})
    variables = {name: (dims[lay.TASK_FIELDS[name].kind], arr, attrs(name))
                 for name, arr in arrays.items()}
    a = run.attrs
    root = {k: (json.dumps(v) if isinstance(v, dict | list) else v) for k, v in a.items()
            if k not in ("NX_class", "default")}
    root["status"] = run.status
    root["metadata"] = json.dumps(run.metadata)
    return xr.Dataset(variables, coords=coords, attrs=root)


def run_summary(run: Run) -> Any:
    """``run`` as a pandas DataFrame, one row per task (see the module docstring)."""
    require_extra("analysis", ("pandas",), what="Run.summary()")
    import pandas as pd

    run.refresh()
    scalar = [n for n, f in lay.TASK_FIELDS.items() if f.kind == "" and n != "time"]
    records = []
    for t in run.tasks:
        n = t.n_rows
        rec: dict[str, Any] = {"task": t.index, "name": t.name, "status": t.status, "rows": n}
        rec["duration"] = float(t["time"][n - 1]) if n else np.nan
        rec["initial_error"] = float(t["error"][0]) if n else np.nan
        for name in scalar:
            rec[f"final_{name}"] = float(t[name][n - 1]) if n else np.nan
        records.append(rec)
    df = pd.DataFrame.from_records(records, index="task",
                                   columns=["task", "name", "status", "rows", "duration",
                                            "initial_error", *(f"final_{n}" for n in scalar)])
    units = {"rows": "1", "duration": "s", "initial_error": lay.TASK_FIELDS["error"].units}
    units.update({f"final_{n}": lay.TASK_FIELDS[n].units for n in scalar})
    for col, values in _param_columns(run).items():
        df[col] = values
        if values.dtype != object:
            units[col] = _param_units(col[6:])
    df.attrs["units"] = units
    df.attrs["path"] = str(run.path)
    df.attrs["status"] = run.status
    return df
