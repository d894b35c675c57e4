"""Names, shapes, types and units of everything in a run file (see docs/DATA_FORMAT.md).

One place so that the writer, the reader, the verifier and the documentation agree.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: format tag written in the root attribute ``format``
FORMAT = "labctl-run/2"
#: tags the reader accepts (version 1: ``unit`` attributes, no writer identity)
READABLE_FORMATS = ("labctl-run/1", "labctl-run/2")
#: HDF5 format bounds: readable by HDF5 1.10 tools (Debian's h5dump) and SWMR-capable
LIBVER = ("v110", "v110")


class Field(NamedTuple):
    """A per-task row dataset: column ``kind`` ("" scalar per row, "edge" T×E, "node"
    T×N), its SI ``units`` (UDUNITS spelling) and a human ``long_name``."""

    kind: str
    units: str
    long_name: str


#: per-task row datasets, in file order
TASK_FIELDS: dict[str, Field] = {
    "time": Field("", "s", "time since the task started"),
    "error": Field("", "V^2", "error L = 1/2 sum_T (V_T - V_T^F)^2"),
    "error_normalized": Field("", "1", "error / initial error"),
    "power_free": Field("", "W", "power dissipated in the free network"),
    "power_clamped": Field("", "W", "power dissipated in the clamped network"),
    "power_supply": Field("", "W", "supply power measured by the SMU (V_SMU * I_SMU)"),
    "power_supply_model": Field("", "W", "supply power of the model: V_SMU * edge-law current"),
    "energy": Field("", "J", "energy dissipated in the free network since the task started"),
    "lambda": Field("", "1", "learning gain lambda applied on the bench"),
    "eta": Field("", "1", "nudge amplitude eta applied on the bench"),
    "gate_voltage": Field("edge", "V", "gate voltage of each edge transistor"),
    "conductance": Field("edge", "S", "chord conductance of each edge"),
    "v_free": Field("node", "V", "node voltage, free network"),
    "v_clamped": Field("node", "V", "node voltage, clamped network"),
}
#: fields added to the format after files were written without them: such a file lacks
#: them and reads them as NaN; any other missing dataset is damage
LATE_FIELDS = frozenset({"power_supply", "power_supply_model"})
#: dimension names of the three column kinds (also the names of the scale datasets)
DIMS = {"": ("time",), "edge": ("time", "edge"), "node": ("time", "node")}

#: per-task states in ``/progress/task_status``
PENDING, RUNNING, COMPLETED, FAILED = 0, 1, 2, 3
TASK_STATES = {PENDING: "pending", RUNNING: "running", COMPLETED: "completed",
               FAILED: "failed"}
#: run states written in the file (root attribute ``status`` and dataset ``/run_status``);
#: readers add ``interrupted`` for a ``running`` file whose writer is gone
RUN_STATES = ("running", "completed", "aborted")
#: a file from another host whose heartbeat is older than this (s) is ``interrupted``
STALE_HEARTBEAT_S = 60.0

EVENT_DTYPE = np.dtype([("t", "<f8"), ("task", "<i4"), ("kind", "S32"), ("message", "S256")])
STATUS_DTYPE = np.dtype("S1024")

TASKS_GROUP = "tasks"
METADATA_GROUP = "metadata"
NXDATA_GROUP = "data"
RAW_TIME = "raw_time"
RAW_SAMPLES = "raw_samples"
RAW_CHANNEL = "channel"
#: attributes of a task group that are not plan parameters
TASK_RESERVED_ATTRS = frozenset({"NX_class", "default", "index", "name", "status", "n_rows"})
#: the progress datasets: name -> dtype (each of shape (n_tasks,), heartbeat (1,))
PROGRESS = {"task_status": np.int8, "task_rows": np.int64, "task_raw_rows": np.int64}
HEARTBEAT = "progress/heartbeat"


def task_group_name(index: int) -> str:
    """HDF5 group name of task ``index`` inside ``/tasks`` (zero-padded, sorts in order)."""
    return f"task_{index:05d}"


def field_shape(name: str, n_edges: int, n_nodes: int) -> tuple[int, ...]:
    """Shape of one row of field ``name``: () or (E,) or (N,)."""
    kind = TASK_FIELDS[name].kind
    return {"": (), "edge": (n_edges,), "node": (n_nodes,)}[kind]
