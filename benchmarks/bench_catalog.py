"""``labctl runs`` on a folder of many run files: cold (no index) and warm (index up to
date) listing times, against a plain ``os.scandir`` of the folder in the same run.

Usage::

    python benchmarks/bench_catalog.py [--files 1000] [--tasks 3] [--rows 20] [--dir DIR]

Writes ``--files`` small run files with the real :class:`labctl.store.RunWriter` (a 4x4
network, ``--tasks`` tasks of ``--rows`` rows each; every 10th file aborted, the rest
completed; two writing processes) into a fresh folder (``--dir``, default a temporary
one; a ``--dir`` holding exactly the files of an earlier benchmark run is reused, its
index removed), then times, each as its own ``labctl runs DIR --json`` process (so
start-up is included, as a user sees it):

* baseline: ``python -c`` listing the folder with ``os.scandir`` and ``stat`` (the least
  any listing costs), and ``labctl --help`` (labctl's own start-up);
* cold: no index yet (every file is read once, in the catalog's child process);
* warm: the index is up to date (no file read), three times;
* one changed: one file touched, the rest from the index (one reading child is
  started: its imports of h5py and NumPy are most of that time).

Each listing is checked: as many entries as files, the statuses as written.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from labctl.catalog import INDEX_NAME
from labctl.network import periodic_lattice
from labctl.store import RunWriter

PROTOCOL = 'name = "bench-catalog"\nbench = "sim"\n'


def _write_one(args: tuple[Path, int, int, int]) -> None:
    """Run file number ``k`` in ``folder``: aborted if ``k % 10 == 9``, else completed."""
    folder, k, n_tasks, n_rows = args
    net = periodic_lattice(4, 4)
    tasks = [SimpleNamespace(index=i, name=f"task{i}", params={"lambda": 0.01 * i})
             for i in range(n_tasks)]
    t = np.arange(n_rows) * 0.02
    rows = {"time": t, "error": 1e-3 * np.exp(-t), "error_normalized": np.exp(-t),
            "power_free": np.full(n_rows, 4.6e-4), "gate_voltage": np.full((n_rows, 32), 2.5),
            "v_free": np.full((n_rows, 16), 0.2)}
    final = {"error": 1e-3 * np.exp(-t[-1]), "error_normalized": float(np.exp(-t[-1])),
             "power_free": 4.6e-4}
    with RunWriter(folder / f"run-{k:05d}.h5", tasks, net, protocol_text=PROTOCOL,
                   seed=k, clock="fast", chunk_rows=64) as w:
        for task in tasks:
            w.begin_task(task.index)
            w.append(task.index, rows)
            w.end_task(task.index, final=final)
        if k % 10 == 9:
            w.close("aborted", "benchmark: aborted on purpose")


def write_runs(folder: Path, n_files: int, n_tasks: int, n_rows: int) -> None:
    """``n_files`` run files in ``folder`` (two writing processes)."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_write_one, [(folder, k, n_tasks, n_rows) for k in range(n_files)])


def timed(cmd: list[str]) -> tuple[float, str]:
    """Wall time (s) and stdout of ``cmd``."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t0, out


def check(listing: str, n_files: int) -> None:
    """The listing has every file with its written status."""
    entries = json.loads(listing)
    assert len(entries) == n_files, (len(entries), n_files)
    aborted = sum(e["status"] == "aborted" for e in entries)
    completed = sum(e["status"] == "completed" for e in entries)
    assert aborted == n_files // 10 and completed == n_files - aborted, (aborted, completed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--tasks", type=int, default=3)
    ap.add_argument("--rows", type=int, default=20)
    ap.add_argument("--dir", type=Path, default=None,
                    help="folder to write the runs into (must be empty or absent)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
        folder = args.dir or Path(tmp) / "runs"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / INDEX_NAME).unlink(missing_ok=True)
        names = sorted(p.name for p in folder.iterdir())
        if names == [f"run-{k:05d}.h5" for k in range(args.files)]:
            print(f"reusing the {args.files} run files in {folder}")
        elif names:
            sys.exit(f"{folder}: holds other files; the benchmark writes its own run files")
        else:
            t0 = time.perf_counter()
            write_runs(folder, args.files, args.tasks, args.rows)
            print(f"wrote {args.files} run files with RunWriter in "
                  f"{time.perf_counter() - t0:.1f} s -> {folder}")
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"{args.files} files, {size / 2**20:.1f} MiB")
        runs = [sys.executable, "-m", "labctl.cli", "runs", str(folder), "--json"]
        baseline = [sys.executable, "-c", "import os, sys; print(sum(1 for d in "
                    "os.scandir(sys.argv[1]) if d.name.endswith('.h5') and d.stat()))",
                    str(folder)]
        base = [timed(baseline)[0] for _ in range(3)]
        print(f"baseline (python + os.scandir + stat): {statistics.median(base):.3f} s "
              "(median of 3)")
        helps = [timed([sys.executable, "-m", "labctl.cli", "--help"])[0] for _ in range(3)]
        print(f"labctl --help (start-up alone): {statistics.median(helps):.3f} s (median of 3)")
        cold, out = timed(runs)
        check(out, args.files)
        assert (folder / INDEX_NAME).is_file()
        print(f"labctl runs, cold (no index, {args.files} files read): {cold:.2f} s")
        warm = []
        for _ in range(3):
            t, out = timed(runs)
            check(out, args.files)
            warm.append(t)
        print(f"labctl runs, warm (index up to date): {statistics.median(warm):.3f} s "
              f"(median of 3: {', '.join(f'{w:.3f}' for w in warm)})")
        touched = folder / "run-00000.h5"
        os.utime(touched, ns=(time.time_ns(), time.time_ns()))
        one, out = timed(runs)
        check(out, args.files)
        print(f"labctl runs, one file changed: {one:.3f} s")
        print(f"warm - baseline: {statistics.median(warm) - statistics.median(base):+.3f} s; "
              f"cold per file: {1000 * cold / args.files:.1f} ms")


if __name__ == "__main__":
    main()
