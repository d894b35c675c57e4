"""What ``--resume`` needs from an earlier run file, read only after the file has been
checked completely – before any instrument opens.

A resumed run continues the old run exactly: the same protocol text, the same run seed
and the same simulated-bench clock, so every task it re-runs gives the rows it would have
given in the old run.
"""

from __future__ import annotations

import json
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


def _verify(path: Path) -> None:
    """Check every part of the file (bounded time); raise ResumeError naming the fault."""
    try:
        from labctl.store import verify_run_file
    except ImportError:  # transitional: the store's full check is being added (issue 10)
        return
    try:
        verify_run_file(path)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ResumeError(f"--resume {path}: not a usable run file: {exc}") from None


def read_resume_source(path: str | Path) -> ResumeSource:
    """Check ``path`` completely, then read what resuming it needs.

    Raises :class:`ResumeError` (naming the file) for a missing, damaged or foreign file
    or one that does not record its seed and clock.
    """
    from labctl.store import open_run

    p = Path(path)
    if not p.is_file():
        raise ResumeError(f"--resume {p}: no such run file")
    _verify(p)
    try:
        with open_run(p) as run:
            attrs: dict[str, Any] = dict(run.attrs)
            snapshots = attrs.get("instrument_snapshots") or {}
            if isinstance(snapshots, str):
                snapshots = json.loads(snapshots)
            seed = getattr(run, "seed", None)
            clock = getattr(run, "clock", None)
            completed = frozenset(int(t.index) for t in run.tasks if t.status == "completed")
    except ResumeError:
        raise
    except Exception as exc:  # a foreign file: missing attributes, wrong types
        raise ResumeError(f"--resume {p}: cannot read it as a run file: {exc}") from None
    seed = snapshots.get("seed") if seed is None else seed
    clock = snapshots.get("clock") if clock is None else clock
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ResumeError(f"--resume {p}: the file records no valid run seed ({seed!r})")
    if clock not in CLOCKS:
        raise ResumeError(f"--resume {p}: the file records no valid clock ({clock!r}); "
                          f"allowed {CLOCKS}")
    return ResumeSource(p, str(attrs.get("protocol_text", "")),
                        str(snapshots.get("protocol_path", "")), int(seed), str(clock),
                        completed)
