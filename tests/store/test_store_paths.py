"""Never lose a run: output-path checks, exclusive creation, no-replace rename, disk space."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from labctl.network import periodic_lattice
from labctl.store import (
    DiskSpaceError,
    OutputExistsError,
    OutputPathError,
    RunWriter,
    StoreError,
    check_free_space,
    check_output_path,
    close_reserve_bytes,
    estimate_run_bytes,
    open_run,
)
from labctl.store import paths as store_paths
from labctl.store.paths import CHUNK_ROWS, MIN_CHUNK_ROWS, chunk_rows_for, row_bytes
from labctl.store.writer import _link_no_replace

NET = periodic_lattice(4, 4)


def tasks(n: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(index=i, name=f"t{i}", params={"lambda": 0.1}) for i in range(n)]


def write_run(path: Path, n_rows: int = 10) -> None:
    with RunWriter(path, tasks(1), NET) as w:
        w.begin_task(0)
        w.append(0, {"time": np.arange(float(n_rows))})
        w.end_task(0)


def test_an_existing_run_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    write_run(path, 10)
    before = path.read_bytes()
    with pytest.raises(OutputExistsError) as info:
        RunWriter(path, tasks(2), NET)
    assert str(path) in str(info.value) and "choose another output name" in str(info.value)
    assert isinstance(info.value, StoreError) and isinstance(info.value, ValueError)
    assert path.read_bytes() == before
    assert not (tmp_path / "run.h5.creating").exists()
    with open_run(path) as run:
        assert run.tasks[0].n_rows == 10


def test_the_final_link_never_replaces_a_file_that_appeared_meanwhile(tmp_path: Path) -> None:
    src, dst = tmp_path / "a.creating", tmp_path / "a.h5"
    src.write_bytes(b"new")
    dst.write_bytes(b"old run")
    with pytest.raises(OutputExistsError):
        _link_no_replace(src, dst)
    assert dst.read_bytes() == b"old run" and src.exists()
    dst.unlink()
    _link_no_replace(src, dst)
    assert dst.read_bytes() == b"new" and not src.exists()


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    path = tmp_path / "run.h5"
    (tmp_path / "run.h5.creating").symlink_to(victim)
    with pytest.raises(OutputPathError, match="creation was interrupted"):
        RunWriter(path, tasks(1), NET)
    assert victim.read_text() == "precious"
    # even if the link appears after the path check, creation is exclusive (O_EXCL)
    (tmp_path / "run.h5.creating").unlink()
    real_check = store_paths.check_output_path

    def plant_then_check(p: Path, **kw: object) -> Path:
        out = real_check(p)
        (tmp_path / "run.h5.creating").symlink_to(victim)
        return out

    import labctl.store.writer as writer_mod

    writer_mod.check_output_path, saved = plant_then_check, writer_mod.check_output_path
    try:
        with pytest.raises(OutputExistsError):
            RunWriter(path, tasks(1), NET)
    finally:
        writer_mod.check_output_path = saved
    assert victim.read_text() == "precious" and not path.exists()


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "sub", "is a folder"),
    (lambda d: d / "missing" / "run.h5", "does not exist"),
    (lambda d: d / ("x" * 250 + ".h5"), "allowed at most 246 bytes"),
    (lambda d: d / ("deep/" * 900) / "run.h5", "full path is"),
    (lambda d: d / "notdir.txt" / "run.h5", "is not a folder"),
    (lambda d: f"{d}/", "names a folder"),
    (lambda d: "", "the name is empty"),
    (lambda d: d / "old.h5", "already exists"),
    (lambda d: d / "dangling.h5", "already exists"),
    (lambda d: d / "left.h5", "left.h5.creating exists"),
])
def test_bad_output_paths_are_refused(tmp_path: Path, make, message: str) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "notdir.txt").write_text("x")
    (tmp_path / "old.h5").write_text("x")
    (tmp_path / "dangling.h5").symlink_to(tmp_path / "nowhere")
    (tmp_path / "left.h5.creating").write_text("x")
    path = make(tmp_path)
    with pytest.raises(OutputPathError) as info:
        check_output_path(path)
    assert message in str(info.value)
    assert str(info.value).startswith("output file ")


def test_missing_parents_are_allowed_on_request(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "run.h5"
    assert check_output_path(path, create_parents=True) == path
    assert not (tmp_path / "a").exists()


def test_read_only_folder_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if not os.access(ro, os.W_OK):  # an ordinary user: permission bits suffice
            with pytest.raises(OutputPathError, match="not writable"):
                check_output_path(ro / "run.h5")
            return
        # root ignores permission bits: a read-only file system it cannot write either
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)],
                          capture_output=True, check=False).returncode != 0:
            pytest.skip("root without permission to mount a read-only file system")
        try:
            with pytest.raises(OutputPathError, match="read-only file system"):
                check_output_path(ro / "run.h5")
        finally:
            subprocess.run(["umount", str(ro)], check=False)
    finally:
        ro.chmod(0o755)


def test_estimate_matches_the_file_written(tmp_path: Path) -> None:
    plans = [SimpleNamespace(index=i, name=f"t{i}", expected_duration_s=20.0,
                             params={"record_rate": 50.0}) for i in range(3)]
    rows = 20 * 50 + 2
    estimate = estimate_run_bytes(plans, NET.n_edges, NET.n_nodes)
    path = tmp_path / "run.h5"
    with RunWriter(path, plans, NET) as w:
        for i in range(3):
            w.begin_task(i)
            w.append(i, {"time": np.arange(float(rows)), "gate_voltage":
                         np.ones((rows, NET.n_edges))})
            w.end_task(i)
    size = path.stat().st_size
    assert 0.6 * estimate <= size <= estimate, (size, estimate)


def test_short_tasks_get_small_chunks_and_the_estimate_follows(tmp_path: Path) -> None:
    """A campaign of 4-row tasks: 16-row chunks, so each task costs KiB, not a 512-row
    chunk per dataset; the estimate uses the same chunks and stays an upper bound."""
    plans = [SimpleNamespace(index=i, name=f"t{i}", expected_duration_s=0.2,
                             params={"record_rate": 10.0}) for i in range(20)]
    assert chunk_rows_for(plans) == MIN_CHUNK_ROWS == 16
    assert chunk_rows_for([*plans, SimpleNamespace(expected_duration_s=20.0, params={
        "record_rate": 10.0})]) == 256
    assert chunk_rows_for([SimpleNamespace(expected_duration_s=1e4, params={
        "record_rate": 10.0})]) == CHUNK_ROWS
    estimate = estimate_run_bytes(plans, NET.n_edges, NET.n_nodes)
    path = tmp_path / "short.h5"
    with RunWriter(path, plans, NET, chunk_rows=chunk_rows_for(plans)) as w:
        for i in range(20):
            w.begin_task(i)
            w.append(i, {"time": np.arange(4.0)})
            w.end_task(i)
    size = path.stat().st_size
    assert size <= estimate < 20 * CHUNK_ROWS * row_bytes(NET.n_edges, NET.n_nodes), \
        (size, estimate)


def test_the_free_space_reserve_follows_the_run(tmp_path: Path, monkeypatch) -> None:
    """A 3 MB run fits on a disk with 10 MB free; the reserve is small and per task."""
    mb = 10**6
    assert close_reserve_bytes(10) < 2 * 2**20

    def disk(free: int):
        return lambda _p: shutil._ntuple_diskusage(10**9, 10**9 - free, free)

    monkeypatch.setattr(store_paths.shutil, "disk_usage", disk(10 * mb))
    check_free_space(tmp_path / "run.h5", 3 * mb, n_tasks=10)
    monkeypatch.setattr(store_paths.shutil, "disk_usage", disk(3 * mb))
    with pytest.raises(DiskSpaceError, match="MiB free; this run needs about"):
        check_free_space(tmp_path / "run.h5", 3 * mb, n_tasks=10)
    import labctl.store.writer as writer_mod

    monkeypatch.setattr(writer_mod.shutil, "disk_usage", disk(3 * mb))
    with pytest.raises(DiskSpaceError):
        RunWriter(tmp_path / "run.h5", tasks(2), NET, expected_bytes=3 * mb)
    assert not (tmp_path / "run.h5").exists()
    monkeypatch.setattr(writer_mod.shutil, "disk_usage", disk(10 * mb))
    RunWriter(tmp_path / "run.h5", tasks(2), NET, expected_bytes=3 * mb).close()
