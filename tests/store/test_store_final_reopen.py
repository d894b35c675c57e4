"""The writer's final reopen (read-write, to write the final attributes) waits for a
reader in the same process (the GUI re-reading its own live run) instead of losing the
final attributes: HDF5 refuses a read-write open while this process holds the file
read-only."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np

from labctl.network import periodic_lattice
from labctl.store import RunWriter, open_run

NET = periodic_lattice(4, 4)


def test_final_attributes_are_written_after_a_same_process_reader_lets_go(
        tmp_path: Path) -> None:
    path = tmp_path / "held.h5"
    w = RunWriter(path, [SimpleNamespace(index=0, name="t", params={})], NET,
                  flush_interval=0.1)
    w.begin_task(0)
    w.append(0, {"time": np.arange(4.0)})
    w.end_task(0)
    w.flush()
    reader = h5py.File(path, "r", swmr=True)  # held open by this process
    closed = threading.Event()
    closer = threading.Thread(target=lambda: (w.close(), closed.set()))
    closer.start()
    try:
        # the writer cannot finish while the reader holds the file
        assert not closed.wait(0.5)
    finally:
        reader.close()
    closer.join(60.0)
    assert closed.is_set()
    with open_run(path) as run:
        assert run.status == "completed"
        task = run.tasks[0]
        assert task.status == "completed"
        with h5py.File(path, "r") as f:
            assert f.attrs["status"] == "completed"
            assert int(f["tasks"][next(iter(f["tasks"]))].attrs["n_rows"]) == 4


def test_final_reopen_holds_the_metadata_cache_to_its_bound(tmp_path: Path,
                                                              monkeypatch) -> None:
    """The final reopen touches every task group; with HDF5's default metadata cache it
    kept about 12 KiB per group until the close (0.15 GiB for 10 000 tasks), so it runs
    with the cache held to METADATA_CACHE_BYTES, and the final attributes are all there."""
    from labctl.store import writer as writer_module

    seen: list[tuple[str, int]] = []  # (mode, metadata cache bound) of each file closed
    real_close = writer_module._close_h5

    def spying_close(f: h5py.File) -> str:
        seen.append((f.mode, f.id.get_mdc_config().max_size))
        return real_close(f)

    monkeypatch.setattr(writer_module, "_close_h5", spying_close)
    path = tmp_path / "bounded.h5"
    tasks = [SimpleNamespace(index=i, name=f"t{i}", params={}) for i in range(3)]
    w = RunWriter(path, tasks, NET, flush_interval=0.1)
    for i in range(3):
        w.begin_task(i)
        w.append(i, {"time": np.arange(4.0), "error": np.full(4, 0.5)})
        w.end_task(i)
    w.close()
    assert seen[-1] == ("r+", writer_module.METADATA_CACHE_BYTES)  # the final reopen
    with open_run(path) as run:
        assert [t.status for t in run.tasks] == ["completed"] * 3
    with h5py.File(path, "r") as f:
        assert all(f[f"tasks/task_{i:05d}"].attrs["final_error"] == 0.5 for i in range(3))
