"""Helper process for the store tests (not a test module).

Usage: python store_writer_proc.py PATH MODE
  MODE "live":   prints STARTING (stderr), creates the file, completes tasks 0 and 1, then appends
                 to task 2 forever, each row's ``time`` being the wall clock
                 (time.time()); prints READY once task 2 runs.
  MODE "fsize":  appends raw samples to task 0 until the writer fails (run under
                 RLIMIT_FSIZE), then closes; prints the StoreError and the close status.
  MODE "enospc-guarded" / "enospc-raw": on a small file system, completes tasks 0 and 1,
                 commits 50 rows of task 2, then fills the disk with another file (as
                 another program would) and appends until the writer fails; "raw" turns
                 the writer's free-space guard off so HDF5 itself hits ENOSPC. Prints the
                 StoreError and the close status, then exits normally.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from labctl.network import periodic_lattice
from labctl.store import RunWriter, StoreError


def tasks(n: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(index=i, name=f"task{i}", params={"lambda": 0.01 * i})
            for i in range(n)]


def rows(t: np.ndarray) -> dict[str, np.ndarray]:
    n = len(t)
    return {"time": t, "error": np.exp(-t % 7), "gate_voltage": np.full((n, 32), 2.5),
            "v_free": np.full((n, 16), 0.2)}


def live(path: str) -> None:
    print("STARTING", file=sys.stderr, flush=True)
    w = RunWriter(path, tasks(4), periodic_lattice(4, 4), flush_interval=0.25)
    for i in (0, 1):
        w.begin_task(i)
        w.append(i, rows(np.arange(100) * 0.02))
        w.end_task(i, final={"error": 1e-4})
    w.begin_task(2)
    w.flush(wait=True)
    print("READY", flush=True)
    while True:
        now = time.time()
        w.append(2, rows(now + np.arange(10) * 1e-4))
        time.sleep(0.02)


def fsize(path: str) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    w = RunWriter(path, tasks(2), periodic_lattice(4, 4), raw_channels=[f"ai{i}" for i in
                                                                       range(32)])
    w.begin_task(0)
    w.append(0, rows(np.arange(50) * 0.02))
    w.append_raw(0, np.arange(1000) * 1e-4, np.ones((1000, 32)))
    w.flush(wait=True)
    error = ""
    k = 0
    try:
        while k < 100_000:
            w.append_raw(0, 1 + k + np.arange(1000) * 1e-4, np.ones((1000, 32)))
            k += 1
            time.sleep(0.001)
    except StoreError as exc:
        error = str(exc)
    status = w.close("completed")
    print(f"ERROR {error}", flush=True)
    print(f"STATUS {status}", flush=True)


class UnguardedWriter(RunWriter):
    """A writer that believes the disk is empty: HDF5 meets the full disk itself."""

    def _free_bytes(self) -> int:
        return 1 << 60


def enospc(path: str, guarded: bool) -> None:
    cls = RunWriter if guarded else UnguardedWriter
    w = cls(path, tasks(3), periodic_lattice(4, 4))
    for i in (0, 1):
        w.begin_task(i)
        w.append(i, rows(np.arange(100) * 0.02))
        w.end_task(i, final={"error": 1e-4})
    w.begin_task(2)
    w.append(2, rows(np.arange(50) * 0.02))
    w.flush(wait=True)
    pad = Path(path).with_name("pad.bin")
    try:
        with open(pad, "wb") as fh:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
    except OSError:
        pass
    error = ""
    t0 = 1.0
    try:
        for _ in range(10_000):
            w.append(2, rows(t0 + np.arange(200) * 0.02))
            t0 += 4.0
            w.flush(wait=True)
    except StoreError as exc:
        error = str(exc)
    status = w.close("completed")
    print(f"ERROR {error}", flush=True)
    print(f"STATUS {status}", flush=True)


if __name__ == "__main__":
    modes = {"live": live, "fsize": fsize,
             "enospc-guarded": lambda p: enospc(p, True),
             "enospc-raw": lambda p: enospc(p, False)}
    modes[sys.argv[2]](sys.argv[1])
