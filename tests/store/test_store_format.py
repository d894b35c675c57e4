"""Readable everywhere: HDF5 1.10 tools, xarray (units, real dimensions), NeXus default
plot, provenance and metadata; the notebook API (whole-run xarray, pandas summary)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from labctl import open_run as top_level_open_run
from labctl.network import periodic_lattice
from labctl.store import RunWriter, open_run
from labctl.store.errors import RunFileError
from labctl.store.layout import TASK_FIELDS

NET = periodic_lattice(4, 4)
H5DUMP = shutil.which("h5dump")
needs_h5dump = pytest.mark.skipif(H5DUMP is None, reason="h5dump (Debian hdf5-tools) missing; "
                                  "CI installs it (tools/test.sh)")


def make_tasks(n: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(index=i, name=f"task{i}",
                            params={"lambda": 0.01 * (i + 1), "kind": "allostery",
                                    "gate_voltage": 2.5, "source_nodes": [0, 3]})
            for i in range(n)]


def rows(n: int, t0: float = 0.0) -> dict[str, np.ndarray]:
    t = t0 + np.arange(n) * 0.02
    return {"time": t, "error": np.exp(-t), "power_free": np.full(n, 1e-5),
            "energy": t * 1e-5, "gate_voltage": np.full((n, NET.n_edges), 2.5),
            "v_free": np.full((n, NET.n_nodes), 0.1)}


def write(path: Path, **kw) -> None:
    with RunWriter(path, make_tasks(3), NET, raw_channels=["ai0", "ai1"], seed=7,
                   clock="fast", metadata={"operator": "Ada", "sample": "chip 3"}, **kw) as w:
        for i, n in ((0, 40), (1, 25)):
            w.begin_task(i)
            w.append(i, rows(n))
            w.append_raw(i, np.arange(10) * 1e-4, np.ones((10, 2)))
            w.end_task(i)


def h5dump(*args: str) -> subprocess.CompletedProcess:
    assert H5DUMP is not None
    return subprocess.run([H5DUMP, *args], capture_output=True, text=True, timeout=120)


@needs_h5dump
def test_h5dump_of_hdf5_1_10_reads_finished_live_and_killed_files(tmp_path: Path) -> None:
    done = tmp_path / "done.h5"
    write(done)
    for args in (["-H"], []):
        out = h5dump(*args, str(done))
        assert out.returncode == 0, out.stderr
        assert 'DATASET "events"' in out.stdout and 'ATTRIBUTE "units"' in out.stdout
    full = h5dump(str(done)).stdout
    assert '"task_begin\\000' in full  # the compound events table, data included

    # a live file: HDF5 1.10 tools have no SWMR reader and refuse any file a writer holds
    # open; a copy taken after a flush, its flags cleared with h5clear, is read in full
    live = tmp_path / "live.h5"
    w = RunWriter(live, make_tasks(2), NET)
    try:
        w.begin_task(0)
        w.append(0, rows(30))
        w.flush(wait=True)
        copy = tmp_path / "live-copy.h5"
        shutil.copyfile(live, copy)
        assert subprocess.run(["h5clear", "-s", str(copy)], capture_output=True,
                              timeout=60).returncode == 0
        for args in (["-H"], []):
            out = h5dump(*args, str(copy))
            assert out.returncode == 0, out.stderr
        assert "0.56, 0.58" in h5dump("-d", "/tasks/task_00000/time", str(copy)).stdout
    finally:
        w.close()


def test_xarray_opens_a_task_with_units_and_real_dimensions(tmp_path: Path) -> None:
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    path = tmp_path / "run.h5"
    write(path)
    with xr.open_dataset(path, group="tasks/task_00000", engine="h5netcdf",
                         phony_dims="sort") as ds:
        assert not [d for d in ds.dims if str(d).startswith("phony_dim")], ds.dims
        assert ds["gate_voltage"].dims == ("time", "edge")
        assert ds["v_free"].dims == ("time", "node")
        assert ds["raw_samples"].dims == ("raw_time", "channel")
        assert ds.sizes["time"] == 40 and ds.sizes["edge"] == NET.n_edges
        for name, field in TASK_FIELDS.items():
            assert ds[name].attrs["units"] == field.units
            assert ds[name].attrs["long_name"] == field.long_name
        np.testing.assert_allclose(ds["time"].values, np.arange(40) * 0.02)
        np.testing.assert_allclose(ds["error"].values, np.exp(-np.arange(40) * 0.02))


def test_nexus_default_plot_is_error_versus_time(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    write(path)
    with h5py.File(path, "r") as f:
        assert f.attrs["NX_class"] == "NXroot"
        group = f
        while "default" in group.attrs:  # what h5web and silx follow on double-click
            group = group[group.attrs["default"]]
        assert group.name == "/tasks/task_00000/data"
        assert group.attrs["NX_class"] == "NXdata"
        assert f["tasks/task_00000"].attrs["NX_class"] == "NXentry"
        signal = group[group.attrs["signal"]]
        axes = [group[a] for a in group.attrs["axes"]]
        assert signal == f["tasks/task_00000/error"]  # the same dataset (a hard link)
        assert axes[0] == f["tasks/task_00000/time"] and axes[0].shape == signal.shape
        ds = f["tasks/task_00000/gate_voltage"]
        assert [d[0].name.rsplit("/", 1)[1] for d in ds.dims] == ["time", "edge"]
        assert ds.dims[0][0] == f["tasks/task_00000/time"]
        assert f["tasks/task_00000/v_free"].dims[1][0].name == "/tasks/task_00000/node"


def test_provenance_metadata_seed_and_clock(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    write(path)
    with open_run(path) as run:
        a = run.attrs
        assert a["format"] == "labctl-run/2"
        assert len(run.uuid) == 36 and run.uuid.count("-") == 4
        for key in ("labctl_version", "git_commit", "version_python", "version_numpy",
                    "version_scipy", "version_numba", "version_h5py", "version_hdf5",
                    "host", "writer_pid", "writer_host"):
            assert a[key] not in ("", None), key
        assert run.metadata == {"operator": "Ada", "sample": "chip 3"}
        assert run.seed == 7 and run.clock == "fast"
    other = tmp_path / "other.h5"
    write(other)
    with open_run(other) as run:
        assert run.uuid != open_run(path).uuid
    for bad, message in (({"k": 3}, "value 3 is a int; allowed a text"),
                         ({"": "x"}, "allowed a non-empty text")):
        with pytest.raises(ValueError, match=message):
            RunWriter(tmp_path / "bad.h5", make_tasks(1), NET, metadata=bad)
        assert not (tmp_path / "bad.h5").exists()


def test_whole_run_to_xarray_pads_tasks_with_nan(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    write(path)
    with top_level_open_run(path) as run:
        ds = run.to_xarray()
    assert dict(ds.sizes) == {"task": 3, "row": 40, "edge": NET.n_edges, "node": NET.n_nodes}
    assert ds["gate_voltage"].dims == ("task", "row", "edge")
    assert ds["time"].dims == ("task", "row") and ds["time"].attrs["units"] == "s"
    assert ds["error"].attrs["units"] == "V^2" and ds["energy"].attrs["units"] == "J"
    assert list(ds["n_rows"].values) == [40, 25, 0]
    assert list(ds["task_status"].values) == ["completed", "completed", "pending"]
    np.testing.assert_allclose(ds["param_lambda"].values, [0.01, 0.02, 0.03])
    assert ds["param_gate_voltage"].attrs["units"] == "V"
    np.testing.assert_allclose(ds["error"].sel(task=1).values[:25], np.exp(-np.arange(25) * 0.02))
    assert np.isnan(ds["error"].sel(task=1).values[25:]).all()
    assert np.isnan(ds["error"].sel(task=2).values).all()
    assert json.loads(ds.attrs["metadata"])["operator"] == "Ada"
    with open_run(path) as run:
        small = run.to_xarray(fields=["error"])
        assert set(small.data_vars) == {"error"}
        with pytest.raises(ValueError, match="fields: unknown 'err'"):
            run.to_xarray(fields=["err"])


def test_summary_is_one_row_per_task_with_units(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    write(path)
    with open_run(path) as run:
        df = run.summary()
    assert list(df.index) == [0, 1, 2]
    assert list(df["status"]) == ["completed", "completed", "pending"]
    assert list(df["rows"]) == [40, 25, 0]
    assert df.loc[1, "duration"] == pytest.approx(24 * 0.02)
    assert df.loc[0, "final_error"] == pytest.approx(np.exp(-39 * 0.02))
    assert df.loc[0, "initial_error"] == 1.0 and np.isnan(df.loc[2, "final_error"])
    units = df.attrs["units"]
    assert units["duration"] == "s" and units["final_error"] == "V^2"
    assert units["final_power_free"] == "W" and units["final_energy"] == "J"
    assert units["param_lambda"] == "1"
    assert all(col in units for col in df.columns if df[col].dtype.kind == "f")


def test_format_1_files_still_read(tmp_path: Path) -> None:
    """Files of format 1 (no heartbeat, writer identity, seed or clock attributes)."""
    path = tmp_path / "old.h5"
    write(path)
    with h5py.File(path, "r+") as f:
        f.attrs["format"] = "labctl-run/1"
        for key in ("writer_pid", "writer_host", "writer_boot_id", "writer_start_ticks",
                    "run_uuid", "seed", "clock"):
            del f.attrs[key]
        del f["progress/heartbeat"]
        f.attrs["instrument_snapshots"] = json.dumps({"seed": 4, "clock": "paced"})
        for group in f["tasks"].values():  # written before the supply-power datasets
            for name in ("power_supply", "power_supply_model"):
                del group[name]
    with open_run(path) as run:
        assert run.status == "completed" and run.uuid == ""
        assert (run.seed, run.clock) == (4, "paced")  # from the snapshots, as written then
        assert run.summary()["rows"].tolist() == [40, 25, 0]
        assert np.isnan(run.tasks[0].power_supply).all() and run.tasks[0].n_rows == 40
    with h5py.File(path, "r+") as f:  # any other dataset missing is damage
        del f["tasks/task_00000/power_free"]
    with pytest.raises(RunFileError, match="power_free"):
        open_run(path)
