"""What ``--resume`` needs from an earlier run file, read only after the file has been
checked completely – before any instrument opens.

A resumed run continues the old run exactly: the same protocol text, the same run seed
and the same simulated-bench clock, so every task it re-runs gives the rows it would have
given in the old run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.bench.factory import CLOCKS


class ResumeError(ValueError):
    """The file cannot be resumed (missing, damaged, foreign, or inconsistent)."""


@dataclass(frozen=True)
class ResumeSource:
    """A checked run file to resume: its path, the protocol it ran (text and the path
    it was loaded from), the run seed and clock it used and its completed tasks."""

    path: Path
    protocol_text: str
    protocol_path: str
    seed: int
    clock: str
    completed: frozenset[int]


def read_resume_source(path: str | Path) -> ResumeSource:
    """Check ``path`` completely (in a child process, at most 10 s:
    :func:`labctl.store.verify_run_file`), then read what resuming it needs.

    Raises :class:`ResumeError` (naming the file) for a missing, damaged or foreign file,
    one whose run is still being written by a live process, or one that does not record
    its seed and clock. Opens no instrument.
    """
    from labctl.store import RunFileError, open_run, verify_run_file

    p = Path(path)
    try:
        summary = verify_run_file(p)
        with open_run(p, verify=False) as run:  # verified just above
            attrs: dict[str, Any] = dict(run.attrs)
            seed, clock, status = run.seed, run.clock, run.status
    except (RunFileError, OSError) as exc:
        raise ResumeError(f"--resume: {exc}") from None
    except Exception as exc:  # a foreign HDF5 file: missing attributes, wrong types
        raise ResumeError(f"--resume {p}: cannot read it as a run file: {exc}") from None
    if status == "running":
        raise ResumeError(f"--resume {p}: its run is still going (a live writer process); "
                          "resume a run only once it has ended: completed, aborted or "
                          "interrupted")
    snapshots = attrs.get("instrument_snapshots") or {}
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ResumeError(f"--resume {p}: the file records no valid run seed ({seed!r})")
    if clock not in CLOCKS:
        raise ResumeError(f"--resume {p}: the file records no valid clock ({clock!r}); "
                          f"allowed {CLOCKS}")
    return ResumeSource(p, str(attrs.get("protocol_text", "")),
                        str(snapshots.get("protocol_path", "")), int(seed), str(clock),
                        summary.completed)
