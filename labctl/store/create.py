"""Building a new run file's layout before SWMR mode (docs/DATA_FORMAT.md).

Everything a SWMR writer may later touch must exist before it switches to SWMR: the root
attributes (provenance, writer identity, seed, clock), ``/metadata``, the network, the
progress counters and heartbeat, the events table, and per task its NeXus ``NXentry``
group with every row dataset (units, long_name, dimension scales ``time``, ``edge``,
``node``) and the ``data`` NXdata group (error vs time) that viewers plot by default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import h5py
import numpy as np
from h5py import h5ds, h5o

from labctl.network import Network
from labctl.store import layout as lay
from labctl.store.provenance import provenance, writer_identity


def check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """The free-form run metadata as ``{str: str}``; keys must be non-empty strings
    without '/' and values strings (ValueError naming the key otherwise)."""
    out: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not key.strip() or "/" in key:
            raise ValueError(f"metadata: key {key!r}: allowed a non-empty text without '/'")
        if not isinstance(value, str):
            raise ValueError(f"metadata[{key!r}]: value {value!r} is a "
                             f"{type(value).__name__}; allowed a text")
        out[key] = value
    return out


def root_attributes(*, n_tasks: int, protocol_text: str, bench_text: str, backend: str,
                    snapshots: Mapping[str, Any] | None, seed: int | None,
                    clock: str | None) -> dict[str, Any]:
    """Every root attribute of a new run file."""
    attrs: dict[str, Any] = {
        "format": lay.FORMAT, "NX_class": "NXroot", "default": lay.TASKS_GROUP,
        "created": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "protocol_text": protocol_text, "bench_text": bench_text, "backend": backend,
        "instrument_snapshots": json.dumps(dict(snapshots or {}), default=str),
        "status": "running", "abort_reason": "", "n_tasks": n_tasks, "resumed_from": "",
        "seed": -1 if seed is None else int(seed), "clock": clock or "",
    }
    attrs.update(provenance())
    attrs.update(writer_identity())
    return attrs


def create_layout(f: h5py.File, tasks: Sequence[Any], network: Network, *,
                  root: Mapping[str, Any], metadata: Mapping[str, str],
                  raw_channels: Sequence[str], chunk_rows: int, raw_chunk_rows: int) -> None:
    """Create every object of a run file in the new (not yet SWMR) file ``f``."""
    n_tasks = len(tasks)
    f.attrs.update(dict(root))
    f.create_dataset("run_status", data=np.array([b"running", b""], dtype=lay.STATUS_DTYPE))
    meta = f.create_group(lay.METADATA_GROUP)
    meta.attrs.update(dict(metadata))
    net = f.create_group("network")
    net.attrs["n_nodes"] = network.n_nodes
    net.attrs["n_edges"] = network.n_edges
    net.create_dataset("edges", data=np.asarray(network.edges, dtype=np.int64))
    if network.positions is not None:
        net.create_dataset("positions", data=np.asarray(network.positions))
    if raw_channels:
        f.create_dataset("raw_channels", data=np.array([c.encode() for c in raw_channels]))
    prog = f.create_group("progress")
    for name, dtype in lay.PROGRESS.items():
        prog.create_dataset(name, data=np.zeros(n_tasks, dtype=dtype))
    prog.create_dataset("heartbeat", data=np.array([datetime.now(UTC).timestamp()]))
    prog["heartbeat"].attrs.update({"units": "s", "long_name": "unix time of the last "
                                    "flush by the writer"})
    f.create_dataset("events", shape=(0,), maxshape=(None,), dtype=lay.EVENT_DTYPE,
                     chunks=(256,))
    group = f.create_group(lay.TASKS_GROUP)
    group.attrs.update({"NX_class": "NXcollection", "default": lay.task_group_name(0)})
    # every task group is a copy of one template (one HDF5 call instead of a hundred),
    # then gets its own attributes and its own dimension-scale attachments
    with h5py.File(f"labctl-task-template-{id(f)}", "w", driver="core", backing_store=False,
                   libver=lay.LIBVER) as scratch:
        template = scratch.create_group("task")
        _create_task_template(template, network, raw_channels, chunk_rows, raw_chunk_rows)
        for task in tasks:
            name = lay.task_group_name(task.index)
            group.copy(template, name)
            _fill_task(group[name], task, bool(raw_channels))


def _fill_task(g: h5py.Group, task: Any, raw: bool) -> None:
    """A copied task group's own attributes (index, name, plan parameters) and the
    attachment of its datasets to its own dimension scales."""
    g.attrs.update({"index": task.index, "name": task.name})
    for key, value in task.params.items():
        if str(key) in lay.TASK_RESERVED_ATTRS:
            raise ValueError(f"tasks[{task.index}].params: {key!r} is a reserved attribute "
                             "name of a task group")
        g.attrs[str(key)] = attr_value(value)
    ids = {name: h5o.open(g.id, name.encode()) for name in (*lay.TASK_FIELDS, "edge", "node")}
    for name in lay.TASK_FIELDS:
        for axis, dim in enumerate(lay.DIMS[lay.TASK_FIELDS[name].kind]):
            if name != dim:
                h5ds.attach_scale(ids[name], ids[dim], axis)
    if raw:
        t, s, ch = (h5o.open(g.id, name.encode())
                    for name in (lay.RAW_TIME, lay.RAW_SAMPLES, lay.RAW_CHANNEL))
        h5ds.attach_scale(s, t, 0)
        h5ds.attach_scale(s, ch, 1)


def _create_task_template(g: h5py.Group, network: Network, raw_channels: Sequence[str],
                          chunk_rows: int, raw_chunk_rows: int) -> None:
    """What every task's NXentry has in common: row datasets (units, long_name), scales
    (not yet attached: attachments are per copy), and the NXdata plot."""
    g.attrs.update({"NX_class": "NXentry", "default": lay.NXDATA_GROUP, "status": "pending"})
    scales = {"edge": np.arange(network.n_edges, dtype=np.int32),
              "node": np.arange(network.n_nodes, dtype=np.int32)}
    datasets: dict[str, h5py.Dataset] = {}
    for name, field in lay.TASK_FIELDS.items():
        cols = lay.field_shape(name, network.n_edges, network.n_nodes)
        ds = g.create_dataset(name, shape=(0, *cols), maxshape=(None, *cols),
                              dtype=np.float64, chunks=(chunk_rows, *cols))
        ds.attrs.update({"units": field.units, "long_name": field.long_name})
        datasets[name] = ds
    for dim, values in scales.items():
        ds = g.create_dataset(dim, data=values)
        ds.attrs["long_name"] = f"{dim} index (see /network)"
        ds.make_scale(dim)
    datasets["time"].make_scale("time")
    if raw_channels:
        c = len(raw_channels)
        t = g.create_dataset(lay.RAW_TIME, shape=(0,), maxshape=(None,), dtype=np.float64,
                             chunks=(raw_chunk_rows,))
        t.attrs.update({"units": "s", "long_name": "time of each raw DAQ sample"})
        s = g.create_dataset(lay.RAW_SAMPLES, shape=(0, c), maxshape=(None, c),
                             dtype=np.float32, chunks=(raw_chunk_rows, c))
        s.attrs.update({"units": "V", "long_name": "raw DAQ samples, columns as "
                        "/raw_channels"})
        ch = g.create_dataset(lay.RAW_CHANNEL, data=np.arange(c, dtype=np.int32))
        ch.attrs["long_name"] = "raw DAQ column index (names in /raw_channels)"
        t.make_scale(lay.RAW_TIME)
        ch.make_scale(lay.RAW_CHANNEL)
    nx = g.create_group(lay.NXDATA_GROUP)
    nx.attrs.update({"NX_class": "NXdata", "signal": "error", "axes": ["time"],
                     "time_indices": 0})
    nx["error"] = datasets["error"]  # hard links: the same datasets, no copy
    nx["time"] = datasets["time"]


def attr_value(value: Any) -> Any:
    """A task parameter as an HDF5 attribute (numbers, strings, lists of numbers)."""
    if value is None:
        return "none"
    if isinstance(value, str | bool | int | float | np.number):
        return value
    if isinstance(value, list | tuple):
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            return arr
        return json.dumps(list(value), default=str)
    return json.dumps(value, default=str)


def chunk_bytes(n_edges: int, n_nodes: int, chunk_rows: int) -> int:
    """Bytes of one chunk of every row dataset of a task (what a new block can allocate)."""
    width = {"": 1, "edge": n_edges, "node": n_nodes}
    return 8 * chunk_rows * sum(width[f.kind] for f in lay.TASK_FIELDS.values())

