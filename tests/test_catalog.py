"""``labctl runs``: every run file of a folder with its status and headline results,
through an index that updates itself and never touches the run files."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from labctl import catalog
from labctl.catalog import INDEX_NAME, add_runs_arguments, cmd_runs, scan
from labctl.network import periodic_lattice
from labctl.store import RunWriter, open_run

NET = periodic_lattice(4, 4)
WRITER_PROC = Path(__file__).parent / "store" / "store_writer_proc.py"


def tasks(n: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(index=i, name=f"task{i}", params={"lambda": 0.0}) for i in range(n)]


def open_writer(path: Path, name: str, n_tasks: int = 3) -> RunWriter:
    return RunWriter(path, tasks(n_tasks), NET, protocol_text=f'name = "{name}"\n',
                     flush_interval=0.2)


def finish_tasks(w: RunWriter, done: int, error: float = 2.5e-4) -> None:
    """Complete tasks 0..done-1 (the last with final error ``error`` V², 460 µW)."""
    t = np.arange(5) * 0.02
    for i in range(done):
        w.begin_task(i)
        w.append(i, {"time": t, "error": np.full(5, error)})
        w.end_task(i, final={"error": error, "error_normalized": 0.25, "power_free": 4.6e-4})


@pytest.fixture
def runs(tmp_path: Path):
    """A runs folder with a completed, an aborted, a live and two damaged files; yields
    (folder, the live writer)."""
    folder = tmp_path / "runs"
    folder.mkdir()
    with open_writer(folder / "a-completed.h5", "sweep-eta") as w:
        finish_tasks(w, 3)
    w = open_writer(folder / "b-aborted.h5", "sweep-lambda")
    finish_tasks(w, 1, error=1e-3)
    w.close("aborted", "interrupted (Ctrl-C)")
    live = open_writer(folder / "c-live.h5", "control", n_tasks=4)
    finish_tasks(live, 2)
    live.begin_task(2)
    live.flush(wait=True)
    (folder / "d-garbage.h5").write_bytes(b"not an HDF5 file at all" * 10)
    whole = (folder / "a-completed.h5").read_bytes()
    (folder / "e-truncated.h5").write_bytes(whole[: len(whole) // 3])
    (folder / "notes.txt").write_text("not a run file")
    yield folder, live
    live.close("aborted", "test over")


def by_name(entries) -> dict[str, catalog.CatalogEntry]:
    return {e.name: e for e in entries}


def digest(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Size, mtime and content hash of every run file (to show they are never written)."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns,
                     hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.glob("*.h5"))}


def test_every_run_is_listed_with_its_status_and_results(runs):
    folder, _ = runs
    e = by_name(scan(folder))
    assert set(e) == {"a-completed.h5", "b-aborted.h5", "c-live.h5", "d-garbage.h5",
                      "e-truncated.h5"}
    assert {n: x.status for n, x in e.items()} == {
        "a-completed.h5": "completed", "b-aborted.h5": "aborted", "c-live.h5": "live",
        "d-garbage.h5": "damaged", "e-truncated.h5": "damaged"}
    a, b, c = e["a-completed.h5"], e["b-aborted.h5"], e["c-live.h5"]
    assert (a.protocol, a.tasks_done, a.tasks_total) == ("sweep-eta", 3, 3)
    assert (a.error, a.error_normalized, a.power_free) == (2.5e-4, 0.25, 4.6e-4)
    assert (b.protocol, b.tasks_done, b.reason) == ("sweep-lambda", 1, "interrupted (Ctrl-C)")
    assert b.error == 1e-3
    assert (c.protocol, c.tasks_done, c.tasks_total) == ("control", 2, 4)
    for x in (a, b, c):
        start = x.start_time
        assert start is not None and abs(datetime.now(UTC) - start) < timedelta(hours=1)
        assert 0 <= x.duration_s < 3600
    assert "not a run file" in e["d-garbage.h5"].reason or e["d-garbage.h5"].reason
    assert e["e-truncated.h5"].reason
    # the status is the one the store's reader gives
    for name in ("a-completed.h5", "b-aborted.h5", "c-live.h5"):
        with open_run(folder / name) as run:
            assert e[name].status == ("live" if run.status == "running" else run.status)


def test_a_killed_writer_leaves_an_interrupted_run_even_from_the_index(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    path = folder / "killed.h5"
    proc = subprocess.Popen([sys.executable, str(WRITER_PROC), str(path), "live"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the helper may say other things before READY
            if line.strip() == "READY":
                break
        else:
            pytest.fail("the writer process ended before it was ready")
        assert by_name(scan(folder))["killed.h5"].status == "live"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    first = by_name(scan(folder))["killed.h5"]  # the file changed since: read again
    assert first.status == "interrupted" and first.tasks_done == 2
    # unchanged file, from the index: still decided afresh (the writer is gone)
    index = json.loads((folder / INDEX_NAME).read_text())
    assert [x["recorded_status"] for x in index["entries"]] == ["running"]
    assert by_name(scan(folder))["killed.h5"].status == "interrupted"
    with open_run(path) as run:
        assert run.status == "interrupted"


def test_the_index_rereads_only_new_or_changed_files(runs, monkeypatch):
    folder, live = runs
    before = digest(folder)
    scan(folder)
    assert (folder / INDEX_NAME).is_file()
    read: list[str] = []
    real = catalog.read_entries

    def counting(paths, timeout=catalog.READ_TIMEOUT_S):
        read.extend(p.name for p in paths)
        return real(paths, timeout)

    monkeypatch.setattr(catalog, "read_entries", counting)
    live.flush(wait=True)  # the live file keeps changing; the others do not
    first = by_name(scan(folder))
    assert set(read) <= {"c-live.h5"}
    read.clear()
    with open_writer(folder / "f-new.h5", "new") as w:
        finish_tasks(w, 3)
    (folder / "a-completed.h5").unlink()
    second = by_name(scan(folder))
    assert "f-new.h5" in read and "a-completed.h5" not in second
    assert second["f-new.h5"].status == "completed"
    assert second["b-aborted.h5"] == first["b-aborted.h5"]
    names = {x["name"] for x in json.loads((folder / INDEX_NAME).read_text())["entries"]}
    assert "a-completed.h5" not in names and "f-new.h5" in names
    # the listing never wrote into a run file
    after = digest(folder)
    for name in ("b-aborted.h5", "d-garbage.h5", "e-truncated.h5"):
        assert after[name] == before[name]


@pytest.mark.parametrize("damage", ["not json {", '{"format": "other/9", "entries": []}',
                                    '{"format": "labctl-runs-index/1", "entries": [{"x": 1}]}'])
def test_a_damaged_or_foreign_index_is_rebuilt(runs, damage):
    folder, _ = runs
    (folder / INDEX_NAME).write_text(damage)
    assert by_name(scan(folder))["a-completed.h5"].status == "completed"
    assert json.loads((folder / INDEX_NAME).read_text())["format"] == catalog.INDEX_FORMAT


def test_an_index_that_cannot_be_written_leaves_the_listing_correct(runs):
    """Where the index cannot be written (here its name is taken by a folder; a read-only
    runs folder is the same), every listing reads the files and still lists them."""
    folder, _ = runs
    (folder / INDEX_NAME).mkdir()
    for _ in range(2):
        assert by_name(scan(folder))["a-completed.h5"].status == "completed"
    assert (folder / INDEX_NAME).is_dir()
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_reader_that_stays_silent_gets_the_file_listed_as_damaged(runs):
    """No Python child answers within 1 ms: every file is then refused by the watchdog
    (each with a fresh child), and the listing still ends with every file."""
    folder, _ = runs
    entries = by_name(scan(folder, use_index=False, timeout=0.001))
    assert len(entries) == 5
    assert all(e.status == "damaged" and "stalled" in e.reason for e in entries.values())
    assert not (folder / INDEX_NAME).exists()


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_runs_arguments(parser)
    code = cmd_runs(parser.parse_args(list(argv)))
    out, err = capsys.readouterr()
    return code, out, err


def test_filters_and_json_output(runs, capsys):
    folder, _ = runs
    code, out, _ = run_cli(capsys, str(folder), "--json")
    listing = json.loads(out)
    assert code == 0 and len(listing) == 5
    a = next(x for x in listing if x["name"] == "a-completed.h5")
    assert a["path"] == str(folder / "a-completed.h5") and a["power_free"] == 4.6e-4
    assert "writer" not in a and "recorded_status" not in a
    garbage = next(x for x in listing if x["name"] == "d-garbage.h5")
    assert garbage["error"] is None and garbage["status"] == "damaged"

    def names(*argv: str) -> list[str]:
        code, out, _ = run_cli(capsys, str(folder), "--json", *argv)
        assert code == 0
        return sorted(x["name"] for x in json.loads(out))

    assert names("--status", "live") == ["c-live.h5"]
    assert names("--status", "completed,aborted") == ["a-completed.h5", "b-aborted.h5"]
    assert names("--status", "damaged") == ["d-garbage.h5", "e-truncated.h5"]
    assert names("--protocol", "sweep*") == ["a-completed.h5", "b-aborted.h5"]
    assert names("--protocol", "control") == ["c-live.h5"]
    tomorrow = (datetime.now() + timedelta(days=1)).date().isoformat()
    assert names("--since", tomorrow) == []
    yesterday = (datetime.now() - timedelta(days=1)).date().isoformat()
    assert len(names("--since", yesterday)) == 5
    old = (datetime.now() - timedelta(days=30)).timestamp()
    os.utime(folder / "d-garbage.h5", (old, old))  # a damaged file is dated by its mtime
    assert "d-garbage.h5" not in names("--since", yesterday)


def test_the_table_reads_like_a_person_would(runs, capsys):
    folder, _ = runs
    code, out, _ = run_cli(capsys, str(folder), "--status", "completed,aborted")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["file", "status", "protocol"]
    completed = next(line for line in lines if line.startswith("a-completed.h5"))
    assert "3/3" in completed and "460 µW" in completed and "2.5×10⁻⁴ V²" in completed
    assert any("b-aborted.h5: interrupted (Ctrl-C)" in line for line in lines)


@pytest.mark.parametrize(("argv", "message"), [
    (["--status", "finished"], "--status: 'finished'; allowed completed, aborted"),
    (["--since", "last tuesday"], "--since: 'last tuesday' is not a date"),
])
def test_bad_options_are_refused_in_one_line(runs, capsys, argv, message):
    folder, _ = runs
    code, out, err = run_cli(capsys, str(folder), *argv)
    assert code == 2 and out == "" and err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_a_missing_folder_is_refused(tmp_path, capsys):
    code, _, err = run_cli(capsys, str(tmp_path / "nowhere"))
    assert code == 2 and "not a folder" in err


def test_an_empty_folder_says_so(tmp_path, capsys):
    code, out, err = run_cli(capsys, str(tmp_path))
    assert code == 0 and out == "" and "no runs in" in err


def test_a_reader_that_cannot_start_is_one_error_not_a_list_of_damaged_files(
        runs, capsys, monkeypatch):
    folder, _ = runs
    monkeypatch.setattr(sys, "executable", shutil.which("false"))
    code, out, err = run_cli(capsys, str(folder))
    assert code == 1 and out == ""
    assert err.startswith("labctl runs: the catalog's reading process failed (exit 1)")
    assert not (folder / INDEX_NAME).exists()
