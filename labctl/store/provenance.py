"""Who wrote a run file: provenance and writer identity (root attributes).

:func:`provenance` answers with what shapes the results (labctl version and git commit,
Python and the numerical packages, HDF5) and where the file was written (host).
:func:`writer_identity` and :func:`writer_alive` let a reader tell a live run from one
whose writer process is gone (docs/DATA_FORMAT.md, "Live, finished or interrupted").
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from labctl import __version__

#: packages whose versions shape results, recorded as ``version_<name>`` root attributes
PACKAGES = ("numpy", "scipy", "numba", "h5py")


@cache
def git_commit() -> str:
    """``git describe --always --dirty --abbrev=40`` of the labctl source tree, or
    ``"unknown"`` outside a git checkout (installed package, no git)."""
    src = Path(__file__).resolve().parents[2]
    if not (src / ".git").exists():
        return "unknown"
    try:
        out = subprocess.run(["git", "-C", str(src), "describe", "--always", "--dirty",
                              "--abbrev=40"], capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def provenance() -> dict[str, str]:
    """Root attributes describing the software and host: ``run_uuid`` (new each call),
    ``labctl_version``, ``git_commit``, ``version_python``, ``version_<package>`` for
    :data:`PACKAGES`, ``version_hdf5`` and ``host``."""
    import h5py

    out = {"run_uuid": str(uuid.uuid4()), "labctl_version": __version__,
           "git_commit": git_commit(), "version_python": platform.python_version()}
    for name in PACKAGES:
        out[f"version_{name}"] = _package_version(name)
    out["version_hdf5"] = ".".join(map(str, h5py.version.hdf5_version_tuple))
    out["host"] = socket.gethostname()
    return out


def boot_id() -> str:
    """This machine's boot id (Linux ``/proc/sys/kernel/random/boot_id``), "" elsewhere."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start_ticks(pid: int) -> int | None:
    """Start time of process ``pid`` in clock ticks since boot (``/proc/<pid>/stat``
    field 22), or None if there is no such process or no /proc."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    # the command name (field 2) may contain spaces and parentheses: split after its ')'
    fields = stat[stat.rfind(")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def writer_identity() -> dict[str, str | int]:
    """Root attributes naming the writing process: ``writer_host``, ``writer_boot_id``,
    ``writer_pid`` and ``writer_start_ticks`` (-1 where unknown)."""
    pid = os.getpid()
    ticks = process_start_ticks(pid)
    return {"writer_host": socket.gethostname(), "writer_boot_id": boot_id(),
            "writer_pid": pid, "writer_start_ticks": -1 if ticks is None else ticks}


def writer_alive(host: str, boot: str, pid: int, start_ticks: int) -> bool | None:
    """Is the writer named by these attributes still running? True/False when it ran on
    this machine since its last boot (its pid exists with the same start time), None when
    it cannot be told from here (another machine, or another boot: use the heartbeat)."""
    if not boot or host != socket.gethostname() or boot != boot_id() or pid <= 0:
        return None
    ticks = process_start_ticks(pid)
    if ticks is None:
        return False
    return start_ticks < 0 or ticks == start_ticks


def writer_gone(attrs: Mapping[str, Any], heartbeat: float, now: float | None = None) -> bool:
    """The one rule telling a crashed run from a live one, for a file recorded as running:
    ``attrs`` are its root attributes (``writer_host``, ``writer_boot_id``, ``writer_pid``,
    ``writer_start_ticks``), ``heartbeat`` its last write (unix time, s). On the writer's
    machine the process decides (gone, or its pid reused); elsewhere a heartbeat older than
    :data:`labctl.store.layout.STALE_HEARTBEAT_S` does."""
    from labctl.store.layout import STALE_HEARTBEAT_S

    alive = None
    if "writer_pid" in attrs:
        alive = writer_alive(str(attrs.get("writer_host", "")),
                             str(attrs.get("writer_boot_id", "")), int(attrs["writer_pid"]),
                             int(attrs.get("writer_start_ticks", -1)))
    if alive is None:
        return (time.time() if now is None else now) - heartbeat > STALE_HEARTBEAT_S
    return not alive

