"""Output paths and disk space of run files, checked before any instrument opens.

:func:`check_output_path` finds every reason a new run file could not be created at a
path (it exists, its folder is missing or read-only, it names a folder, the name is too
long, an interrupted creation left ``<name>.creating``) and raises
:class:`~labctl.store.errors.OutputPathError` naming the path. :func:`estimate_run_bytes`
tells how much disk a run of given tasks will take, :func:`check_free_space` refuses a
disk that cannot hold it plus the reserve the writer keeps to close the file cleanly
(:func:`close_reserve_bytes`).
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from labctl.store import layout as lay
from labctl.store.errors import DiskSpaceError, OutputExistsError, OutputPathError

#: suffix of the file while it is being created (renamed once in SWMR mode)
CREATING_SUFFIX = ".creating"
#: longest file name (bytes) on Linux file systems, and longest path (bytes)
NAME_MAX = 255
PATH_MAX = 4096
#: default chunk lengths of the row and raw datasets (rows, samples)
CHUNK_ROWS = 512
RAW_CHUNK_ROWS = 8192


def creating_path(path: str | Path) -> Path:
    """The temporary name of ``path`` while the writer builds it."""
    p = Path(path)
    return p.with_name(p.name + CREATING_SUFFIX)


def check_output_path(path: str | Path, *, create_parents: bool = False) -> Path:
    """Check that a new run file can be created at ``path``; return it as a Path.

    Raises :class:`OutputExistsError` if anything (a file, a folder, a symlink, even a
    dangling one) is there, and :class:`OutputPathError` if the name is empty, too long
    (more than 255 bytes with the ``.creating`` suffix, or a path over 4096 bytes), names
    a folder, if ``<name>.creating`` was left by an interrupted creation, or if the folder
    is missing (allowed with ``create_parents``: then the nearest existing ancestor is
    checked), not a folder, not writable or on a read-only file system. Never creates
    anything.
    """
    raw = os.fsencode(path)
    if not raw.strip():
        raise OutputPathError(repr(str(path)), "the name is empty; give a file name such as "
                                               "runs/my-run.h5")
    if b"\0" in raw:
        raise OutputPathError(repr(str(path)), "the name contains a NUL byte; choose a name "
                                               "without it")
    p = Path(os.fsdecode(raw))
    if raw.endswith(b"/") or p.name in ("", ".", ".."):
        raise OutputPathError(p, "names a folder, not a file; add a file name, e.g. "
                                 f"{p / 'run.h5'}")
    name_bytes = len(os.fsencode(p.name + CREATING_SUFFIX))
    if name_bytes > NAME_MAX:
        raise OutputPathError(_short(p), f"the file name is {name_bytes - len(CREATING_SUFFIX)} "
                              f"bytes long; allowed at most {NAME_MAX - len(CREATING_SUFFIX)} "
                              "bytes; choose a shorter name")
    full = os.fsencode(os.path.abspath(p)) + CREATING_SUFFIX.encode()
    if len(full) >= PATH_MAX:
        raise OutputPathError(_short(p), f"the full path is {len(full)} bytes long; allowed "
                              f"less than {PATH_MAX - len(CREATING_SUFFIX)}; choose a shorter "
                              "path")
    if os.path.isdir(p):
        raise OutputPathError(p, "is a folder; give a file name inside it, e.g. "
                                 f"{p / 'run.h5'}")
    if os.path.lexists(p):
        raise OutputExistsError(p)
    tmp = creating_path(p)
    if os.path.lexists(tmp):
        raise OutputPathError(p, f"{tmp} exists: a run file creation was interrupted there; "
                                 "remove that file or choose another output name")
    folder = Path(os.path.abspath(p)).parent
    while not os.path.lexists(folder):
        if not create_parents:
            raise OutputPathError(p, f"the folder {folder} does not exist; create it or "
                                     "choose another output folder")
        folder = folder.parent
    if not folder.is_dir():
        raise OutputPathError(p, f"{folder} is not a folder; choose another output folder")
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        raise OutputPathError(p, f"the folder {folder} is on a read-only file system; "
                                 "choose another output folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(p, f"the folder {folder} is not writable; choose another "
                                 "output folder")
    return p


def _short(p: Path) -> str:
    """A path for a message: very long names are cut in the middle."""
    text = str(p)
    return text if len(text) <= 120 else f"{text[:60]}...{text[-40:]} ({len(text)} chars)"


def close_reserve_bytes(n_tasks: int) -> int:
    """Free disk space (bytes) the writer keeps so that it can always close the file and
    write its final attributes: 1 MiB plus 16 KiB per task."""
    return 2**20 + 16 * 2**10 * max(int(n_tasks), 0)


def _rows_up(n: int, chunk: int) -> int:
    """``n`` rounded up to whole chunks (HDF5 allocates chunks whole)."""
    return math.ceil(max(int(n), 0) / chunk) * chunk


def row_bytes(n_edges: int, n_nodes: int) -> int:
    """Bytes of one row of every per-task dataset (float64)."""
    width = {"": 1, "edge": n_edges, "node": n_nodes}
    return 8 * sum(width[f.kind] for f in lay.TASK_FIELDS.values())


def estimate_task_bytes(n_rows: int, n_edges: int, n_nodes: int, *, n_raw: int = 0,
                        n_raw_channels: int = 0, chunk_rows: int = CHUNK_ROWS,
                        raw_chunk_rows: int = RAW_CHUNK_ROWS) -> int:
    """Disk bytes of one task with ``n_rows`` rows and ``n_raw`` raw samples of
    ``n_raw_channels`` float32 columns: whole chunks plus 48 KiB of HDF5 metadata."""
    data = _rows_up(n_rows, chunk_rows) * row_bytes(n_edges, n_nodes)
    raw = _rows_up(n_raw, raw_chunk_rows) * (8 + 4 * n_raw_channels) if n_raw_channels else 0
    return data + raw + 48 * 2**10


def expected_rows(task: Any) -> int:
    """Rows a task plan will record: its ``expected_duration_s`` (s) times its
    ``params["record_rate"]`` (rows/s), plus the initial and final readings."""
    duration = float(task.expected_duration_s)
    rate = float(task.params["record_rate"])
    return math.ceil(duration * rate) + 2


#: fewest rows of a row-dataset chunk (a task of a few rows then costs a few KiB)
MIN_CHUNK_ROWS = 16


def chunk_rows_for(tasks: Iterable[Any]) -> int:
    """Rows per chunk of the row datasets of a run of ``tasks`` (plans, as for
    :func:`expected_rows`): the longest task's rows rounded up to a power of two, between
    :data:`MIN_CHUNK_ROWS` and :data:`CHUNK_ROWS`. HDF5 allocates chunks whole, so a
    campaign of short tasks would otherwise take a 512-row chunk per dataset and task."""
    longest = max((expected_rows(t) for t in tasks), default=CHUNK_ROWS)
    rows = 1 << max(0, math.ceil(math.log2(max(1, longest))))
    return min(CHUNK_ROWS, max(MIN_CHUNK_ROWS, rows))


def estimate_run_bytes(tasks: Iterable[Any], n_edges: int, n_nodes: int, *,
                       n_raw_channels: int = 0, sample_rate_hz: float = 0.0,
                       text_bytes: int = 0) -> int:
    """Disk bytes a run of ``tasks`` (plans with ``expected_duration_s`` and
    ``params["record_rate"]``) will take: every task's chunks (:func:`estimate_task_bytes`
    with chunks of :func:`chunk_rows_for` rows; raw samples at ``sample_rate_hz`` if
    ``n_raw_channels``), the stored protocol and bench texts (``text_bytes``) and 256 KiB
    of file metadata and events."""
    tasks = list(tasks)
    chunk_rows = chunk_rows_for(tasks)
    total = 256 * 2**10 + int(text_bytes)
    for task in tasks:
        n_raw = math.ceil(float(task.expected_duration_s) * sample_rate_hz) \
            if n_raw_channels else 0
        total += estimate_task_bytes(expected_rows(task), n_edges, n_nodes, n_raw=n_raw,
                                     n_raw_channels=n_raw_channels, chunk_rows=chunk_rows)
    return total


def free_space_needed(expected_bytes: int, n_tasks: int) -> int:
    """Free disk bytes a run needs: what it will write plus the closing reserve."""
    return int(expected_bytes) + close_reserve_bytes(n_tasks)


def check_free_space(path: str | Path, expected_bytes: int, n_tasks: int) -> None:
    """Raise :class:`DiskSpaceError` if the file system of ``path`` (or of its nearest
    existing folder) has less free space than :func:`free_space_needed`."""
    folder = Path(os.path.abspath(path)).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    need = free_space_needed(expected_bytes, n_tasks)
    if free < need:
        raise DiskSpaceError(path, f"the disk has {free / 2**20:.1f} MiB free; this run needs "
                                   f"about {need / 2**20:.1f} MiB ({expected_bytes / 2**20:.1f} "
                                   "MiB of data and the reserve to close the file); free some "
                                   "space or choose another output folder")
