"""The writer thread takes what producers queued in batches (appends do not wake it):
order within a batch is kept, so a discard empties the task before rows queued after it
are written."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from labctl.network import periodic_lattice
from labctl.store import RunWriter, open_run

NET = periodic_lattice(4, 4)


def test_rows_queued_after_a_discard_in_the_same_batch_are_kept(tmp_path: Path) -> None:
    """The first write is held until the second attempt's rows wait behind the discard,
    so the writer takes [discard, second attempt] as one batch."""
    w = RunWriter(tmp_path / "retry.h5", [SimpleNamespace(index=0, name="t", params={})],
                  NET, flush_interval=1.0)
    gate, busy = threading.Event(), threading.Event()
    write = w._write

    def held_write(*args):
        busy.set()
        gate.wait(60.0)
        return write(*args)

    w._write = held_write  # type: ignore[method-assign]
    try:
        w.begin_task(0)
        w.append(0, {"time": np.arange(5.0)})  # first attempt
        w.flush()
        assert busy.wait(60.0)  # the writer thread is inside its first write
        w.discard_task_rows(0, "attempt 1 failed after 5 rows")
        w.append(0, {"time": 10.0 + np.arange(3.0)})  # second attempt
        w.end_task(0)
    finally:
        gate.set()
        w.close()
    with open_run(tmp_path / "retry.h5") as run:
        task = run.tasks[0]
        assert task.status == "completed"
        np.testing.assert_array_equal(task["time"], [10.0, 11.0, 12.0])
