"""Names, shapes and types of everything in a run file (see docs/DATA_FORMAT.md).

One place so that the writer, the reader and the documentation agree.
"""

from __future__ import annotations

import numpy as np

FORMAT = "labctl-run/1"

#: per-task row datasets: name -> (column kind, unit). Column kind "" = scalar per row,
#: "edge" = one value per edge (T×E), "node" = one value per node (T×N).
TASK_FIELDS: dict[str, tuple[str, str]] = {
    "time": ("", "s"),
    "error": ("", "V^2"),
    "error_normalized": ("", "1"),
    "power_free": ("", "W"),
    "power_clamped": ("", "W"),
    "energy": ("", "J"),
    "lambda": ("", "1"),
    "eta": ("", "1"),
    "gate_voltage": ("edge", "V"),
    "conductance": ("edge", "S"),
    "v_free": ("node", "V"),
    "v_clamped": ("node", "V"),
}

#: per-task states in ``/progress/task_status``
PENDING, RUNNING, COMPLETED, FAILED = 0, 1, 2, 3
TASK_STATES = {PENDING: "pending", RUNNING: "running", COMPLETED: "completed",
               FAILED: "failed"}
#: run states (root attribute ``status`` and dataset ``/run_status``)
RUN_STATES = ("running", "completed", "aborted")

EVENT_DTYPE = np.dtype([("t", "<f8"), ("task", "<i4"), ("kind", "S32"), ("message", "S256")])
STATUS_DTYPE = np.dtype("S1024")

TASKS_GROUP = "tasks"
RAW_TIME = "raw_time"
RAW_SAMPLES = "raw_samples"


def task_group_name(index: int) -> str:
    """HDF5 group name of task ``index`` inside ``/tasks`` (zero-padded, sorts in order)."""
    return f"task_{index:05d}"


def field_shape(name: str, n_edges: int, n_nodes: int) -> tuple[int, ...]:
    """Shape of one row of field ``name``: () or (E,) or (N,)."""
    kind = TASK_FIELDS[name][0]
    return {"": (), "edge": (n_edges,), "node": (n_nodes,)}[kind]
