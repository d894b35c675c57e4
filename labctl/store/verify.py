"""Checking that a file is a readable run file, without ever hanging the caller.

HDF5 can loop or block on a damaged file (a bit flip in a B-tree, a truncated heap), and
a thread inside HDF5 cannot be interrupted. :func:`verify_run_file` therefore does the
first open in a forked child process that checks the layout and reads all the metadata
a reader uses (attributes, shapes, the network, the chunk index of every row dataset;
:func:`check_layout` with ``deep``) and reports progress; the caller kills the child once it has
made no progress for ``timeout`` seconds (a silence limit: a big healthy file on a busy
machine may take longer in total, a stuck HDF5 is stopped within ``timeout``). A good
file costs one fork and a metadata walk (tens of milliseconds for a small run); a
damaged or foreign one raises :class:`~labctl.store.errors.RunFileError` naming the
file and what is wrong. ``open_run``, ``labctl info``, analysis, GUI replay and
``--resume`` all go through it. Command line: ``python -m labctl.store.verify FILE``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from h5py import h5a, h5d, h5g, h5o, h5t

from labctl.store import layout as lay
from labctl.store.errors import RunFileError
from labctl.store.h5view import cleared_view

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: default limit (s) for verifying one file
VERIFY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RunFileSummary:
    """What a verified run file holds: its ``format`` tag, the ``status`` it records
    (``running``, ``completed`` or ``aborted``; see ``Run.status`` for ``interrupted``),
    ``n_tasks``, each task's state and committed rows, the run ``seed`` (None if not
    recorded) and ``clock`` ("" if not recorded)."""

    path: str
    format: str
    status: str
    n_tasks: int
    task_status: tuple[str, ...]
    task_rows: tuple[int, ...]
    seed: int | None
    clock: str

    @property
    def completed(self) -> frozenset[int]:
        """Indices of the completed tasks."""
        return frozenset(i for i, s in enumerate(self.task_status) if s == "completed")


def precheck(path: str | Path) -> Path:
    """Checks that need no HDF5: the path exists, is a regular file, is not empty and
    carries the HDF5 signature (at byte 0 or a power-of-two user-block offset)."""
    p = Path(path)
    if not p.exists():
        raise RunFileError(p, "does not exist")
    if p.is_dir():
        raise RunFileError(p, "is a folder, not a run file")
    if not p.is_file():
        raise RunFileError(p, "is not a regular file")
    size = p.stat().st_size
    if size == 0:
        raise RunFileError(p, "is empty (0 bytes): not a run file")
    with open(p, "rb") as fh:
        offset = 0
        while offset < size:
            fh.seek(offset)
            if fh.read(8) == HDF5_SIGNATURE:
                return p
            offset = 512 if offset == 0 else offset * 2
    raise RunFileError(p, "is not an HDF5 file (no HDF5 signature): not a run file")


def _shape(f: h5py.File, name: str, path: Path) -> tuple[int, ...]:
    obj = f.get(name)
    if not isinstance(obj, h5py.Dataset):
        raise RunFileError(path, f"damaged: /{name} is missing or not a dataset")
    return tuple(obj.shape)


def _task_datasets(tasks: h5py.Group, gname: str, path: Path) -> tuple[Any, dict[str, Any]]:
    """Task group ``gname``'s HDF5 id and its row and raw datasets present (name → HDF5
    dataset id), through HDF5's low-level calls (h5py's objects cost twice as much per
    task); RunFileError if the group or one of those names is not what the layout
    says."""
    try:
        gid = h5o.open(tasks.id, gname.encode())
    except KeyError:
        gid = None
    if not isinstance(gid, h5g.GroupID):
        raise RunFileError(path, f"damaged: /{lay.TASKS_GROUP}/{gname} is not a group")
    found: dict[str, Any] = {}
    for name in (*lay.TASK_FIELDS, lay.RAW_TIME, lay.RAW_SAMPLES):
        key = name.encode()
        if not gid.links.exists(key):
            continue
        obj = h5o.open(gid, key)
        if not isinstance(obj, h5d.DatasetID):
            raise RunFileError(path / gname, f"damaged: /{name} is missing or not a dataset")
        found[name] = obj
    return gid, found


def check_layout(f: h5py.File, path: str | Path, *, deep: bool = False,
                 progress: Any = None) -> RunFileSummary:
    """Check that open file ``f`` has the run-file layout (format tag, every group and
    dataset, consistent shapes and counters); its summary, or RunFileError.

    ``deep`` also reads every piece of metadata a reader uses (:func:`_deep_task`): the
    check the child process makes; ``progress()`` is then called once per task."""
    p = Path(path)
    if deep:
        _read_attrs(f.id)
        for name in (lay.METADATA_GROUP, "network"):
            if isinstance(f.get(name), h5py.Group):
                _read_attrs(f[name].id)
        for name in ("network/edges", "network/positions", "raw_channels"):
            if isinstance(f.get(name), h5py.Dataset):
                f[name][()]  # small: read whole, as the reader does
    fmt = f.attrs.get("format")
    fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
    if fmt not in lay.READABLE_FORMATS:
        raise RunFileError(p, f"not a labctl run file (format attribute {fmt!r}; expected "
                              f"one of {', '.join(lay.READABLE_FORMATS)})")
    if _shape(f, "run_status", p) != (2,):
        raise RunFileError(p, "damaged: /run_status must hold 2 strings")
    status = [x.decode("utf-8", "replace") for x in f["run_status"][()]]
    if status[0] not in lay.RUN_STATES:
        raise RunFileError(p, f"damaged: /run_status says {status[0]!r}; expected one of "
                              f"{', '.join(lay.RUN_STATES)}")
    e_shape = _shape(f, "network/edges", p)
    n_edges = int(f["network"].attrs.get("n_edges", -1))
    n_nodes = int(f["network"].attrs.get("n_nodes", -1))
    if len(e_shape) != 2 or e_shape != (n_edges, 2) or n_nodes <= 0:
        raise RunFileError(p, f"damaged: /network/edges has shape {e_shape}, the network "
                              f"says {n_edges} edges and {n_nodes} nodes")
    tasks = f.get(lay.TASKS_GROUP)
    if not isinstance(tasks, h5py.Group):
        raise RunFileError(p, f"damaged: /{lay.TASKS_GROUP} is missing")
    n_tasks = len(tasks)
    names = [lay.task_group_name(i) for i in range(n_tasks)]
    if sorted(tasks) != names:
        raise RunFileError(p, f"damaged: /{lay.TASKS_GROUP} holds unexpected groups "
                              f"({', '.join(sorted(tasks)[:5])} ...)")
    counters = {}
    for name in lay.PROGRESS:
        if _shape(f, f"progress/{name}", p) != (n_tasks,):
            raise RunFileError(p, f"damaged: /progress/{name} does not have one value per "
                                  f"task ({n_tasks})")
        counters[name] = f["progress"][name][()]
    codes = counters["task_status"]
    if np.any((codes < 0) | (codes > max(lay.TASK_STATES))) \
            or np.any(counters["task_rows"] < 0) or np.any(counters["task_raw_rows"] < 0):
        raise RunFileError(p, "damaged: /progress holds impossible task states or counts")
    ev = f.get("events")
    if not isinstance(ev, h5py.Dataset) or ev.dtype.names != lay.EVENT_DTYPE.names \
            or len(ev.shape) != 1:
        raise RunFileError(p, "damaged: /events is missing or has another layout")
    rows = []
    cols = {field: lay.field_shape(field, n_edges, n_nodes) for field in lay.TASK_FIELDS}
    for i, gname in enumerate(names):
        gid, datasets = _task_datasets(tasks, gname, p)
        lengths = []
        for field in lay.TASK_FIELDS:
            if field in lay.LATE_FIELDS and field not in datasets:
                continue  # a file written before the field existed (read as NaN)
            shape = datasets[field].shape if field in datasets else None
            if shape is None or len(shape) != 1 + len(cols[field]) or shape[1:] != cols[field]:
                raise RunFileError(p, f"damaged: task {i} dataset {field!r} has shape "
                                      f"{shape}; expected (T, "
                                      f"{', '.join(map(str, cols[field]))})")
            lengths.append(shape[0])
        rows.append(int(min(counters["task_rows"][i], *lengths)))
        if deep:
            _deep_task(gid, datasets)
            if progress is not None:
                progress()
    if deep:
        _chunk_index(ev.id)
    seed = f.attrs.get("seed")
    seed_value = int(seed) if seed is not None and int(seed) >= 0 else None
    clock = f.attrs.get("clock", "")
    return RunFileSummary(
        path=str(p), format=str(fmt), status=status[0], n_tasks=n_tasks,
        task_status=tuple(lay.TASK_STATES[int(c)] for c in codes),
        task_rows=tuple(rows), seed=seed_value,
        clock=clock.decode() if isinstance(clock, bytes) else str(clock))


def _read_attrs(oid: Any) -> None:
    """Read every attribute of the object with HDF5 id ``oid`` (task parameters live in
    dense attribute storage: a fractal heap and a B-tree that a bit flip can break): each
    is opened by name, which decodes its whole message (values of fixed size included)
    from that storage; values held elsewhere (variable-length strings, in the global heap)
    are read too. HDF5's low-level calls: half of h5py's cost for a task's attributes."""
    names: list[bytes] = []
    h5a.iterate(oid, lambda name, *_: names.append(name))
    for name in names:
        attr = h5a.open(oid, name)
        if attr.get_type().get_class() not in (h5t.INTEGER, h5t.FLOAT):
            attr.read(np.empty(attr.shape, dtype=attr.dtype))


def _chunk_index(dsid: h5d.DatasetID) -> None:
    """Visit every entry of the chunk index of the dataset with HDF5 id ``dsid``, if it is
    chunked (no data is read)."""
    if dsid.get_create_plist().get_layout() == h5d.CHUNKED:
        dsid.chunk_iter(_ignore)


def _deep_task(gid: Any, datasets: dict[str, Any]) -> None:
    """A task group's metadata as a reader uses it (group id ``gid``): its attributes and
    the chunk index of every row and raw dataset (``datasets``: :func:`_task_datasets`).
    Dataset attributes (units, scales) sit in each dataset's checksummed header, read when
    it opens; their values are not read."""
    _read_attrs(gid)
    for dsid in datasets.values():
        _chunk_index(dsid)


def _ignore(_info: Any) -> None:
    """Chunk-iteration callback: visiting each chunk's index entry is the check."""


def open_h5(path: str | Path) -> h5py.File:
    """Open a run file read-only in this process: plainly if it is closed, in SWMR mode
    if a writer has it open (or was killed with it open). Raises RunFileError if HDF5
    refuses it.

    A file that a full disk left shorter than its own end-of-file address (the last
    block could not be written) is opened in SWMR mode too; one left marked "open for
    write" by a writer that could not close it is read through
    :func:`~labctl.store.h5view.cleared_view` (never modified). The plain open comes first
    because HDF5's SWMR reader retries every metadata read
    that fails its checksum (up to 100 times, with pauses), which on a damaged file looks
    like a hang; a file that a writer holds is refused by the plain open at once."""
    p = Path(path)
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        # held by a writer (live or killed), or cut short by a full disk: HDF5's SWMR
        # reader accepts both (it expects the end of file to move)
        if "already open for write" not in str(exc) and "truncated file" not in str(exc):
            raise RunFileError(p, "damaged or not a run file (HDF5: "
                                  f"{_first_line(exc)})") from None
    try:
        return _open_swmr(p)
    except OSError as exc:
        swmr_error = exc
    # a writer that could not close (full disk, killed while finishing) left the file
    # marked "open for write": read it through a view with those flags cleared
    view = cleared_view(p)
    if view is not None:
        try:
            return h5py.File(view, "r")
        except OSError:
            view.close()
    raise RunFileError(p, f"damaged or not a run file (HDF5: {_first_line(swmr_error)})")


#: metadata read attempts of our SWMR reader (HDF5's default, 100 with growing pauses,
#: turns one damaged object header into minutes; a few absorb a read torn by the writer)
SWMR_READ_ATTEMPTS = 5


@cache
def _set_read_attempts() -> Any:
    """HDF5's ``H5Pset_metadata_read_attempts`` from the library h5py loaded (h5py does
    not wrap it), or None where it cannot be found (then HDF5's default applies)."""
    try:
        with open("/proc/self/maps") as maps:
            libs = [line.split()[-1] for line in maps if "/libhdf5" in line
                    and "hl" not in line.rsplit("/", 1)[-1]]
        fn = ctypes.CDLL(libs[0]).H5Pset_metadata_read_attempts
    except (OSError, IndexError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _open_swmr(p: Path) -> h5py.File:
    """SWMR read-only open with at most :data:`SWMR_READ_ATTEMPTS` metadata reads."""
    from h5py import h5f, h5p

    fapl = h5p.create(h5p.FILE_ACCESS)  # h5py's defaults otherwise: a file open twice
    fn = _set_read_attempts()
    if fn is not None:
        fn(fapl.id, SWMR_READ_ATTEMPTS)
    fid = h5f.open(os.fsencode(p), h5f.ACC_RDONLY | h5f.ACC_SWMR_READ, fapl=fapl)
    return h5py.File(fid)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().strip("'\"").splitlines()
    return text[0] if text else type(exc).__name__


def verify_in_process(path: str | Path, progress: Any = None) -> RunFileSummary:
    """The whole check in this process (may hang on a damaged file: for the child);
    ``progress()`` is called once per object checked."""
    p = precheck(path)
    f = open_h5(p)
    try:
        return check_layout(f, p, deep=True, progress=progress)
    except RunFileError:
        raise
    except Exception as exc:
        raise RunFileError(p, f"damaged (HDF5: {_first_line(exc)})") from None
    finally:
        with contextlib.suppress(Exception):
            f.close()


def _child_result(path: Path, progress: Any = None) -> bytes:
    try:
        return json.dumps({"ok": asdict(verify_in_process(path, progress))}).encode()
    except RunFileError as exc:
        return json.dumps({"error": exc.problem}).encode()
    except BaseException as exc:  # the child reports everything and exits
        return json.dumps({"error": f"could not be checked ({type(exc).__name__}: "
                                    f"{_first_line(exc)})"}).encode()


def _from_json(path: Path, data: bytes) -> RunFileSummary:
    try:
        answer = json.loads(data.decode())
    except ValueError:
        raise RunFileError(path, "could not be checked (the checking process died: the file "
                                 "is probably damaged)") from None
    if "error" in answer:
        raise RunFileError(path, answer["error"])
    ok = answer["ok"]
    ok["task_status"] = tuple(ok["task_status"])
    ok["task_rows"] = tuple(ok["task_rows"])
    return RunFileSummary(**ok)


def verify_run_file(path: str | Path, timeout: float = VERIFY_TIMEOUT_S) -> RunFileSummary:
    """Check run file ``path`` completely, without risk of hanging: returns its
    :class:`RunFileSummary` or raises :class:`RunFileError` (damaged, foreign, empty,
    a folder, truncated, or HDF5 stuck: no object checked for ``timeout`` s – a limit
    on silence, not on total time, so a big healthy file on a busy machine passes).
    Safe to call from any thread; Ctrl-C while waiting kills the checking process and
    propagates."""
    p = precheck(path)
    if not timeout > 0:
        raise ValueError(f"timeout: {timeout} s; allowed > 0")
    if not hasattr(os, "fork"):
        return _verify_subprocess(p, timeout)
    r, w = os.pipe()
    with warnings.catch_warnings():  # Python >= 3.12 warns about fork with threads: the
        warnings.simplefilter("ignore", DeprecationWarning)  # child only runs h5py
        pid = os.fork()
    if pid == 0:  # child: check, answer, leave without running the parent's cleanups
        code = 0
        try:
            # Ctrl-C is the parent's to handle (it kills this child); SIGTERM ends it
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.close(r)
            seen = [0]

            def progress() -> None:  # a dot every 4 tasks: "still working"
                seen[0] += 1
                if seen[0] % 4 == 0:
                    os.write(w, b".")

            data = _child_result(p, progress)
            view = memoryview(b"\n" + data)
            while view:
                view = view[os.write(w, view):]
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    chunks: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RunFileError(p, f"damaged: HDF5 made no progress reading it for "
                                      f"{timeout:g} s")
            ready, _, _ = select.select([r], [], [], left)
            if ready:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
                deadline = time.monotonic() + timeout  # progress: the child is working
    finally:
        os.close(r)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return _from_json(p, b"".join(chunks).lstrip(b".").lstrip(b"\n"))


def _verify_subprocess(p: Path, timeout: float) -> RunFileSummary:
    """Where there is no fork: the check in ``python -m labctl.store.verify``."""
    try:
        out = subprocess.run([sys.executable, "-m", "labctl.store.verify", "--json", str(p)],
                             capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RunFileError(p, f"damaged: HDF5 did not finish reading it within "
                              f"{timeout:g} s") from None
    return _from_json(p, out.stdout)


def main(argv: list[str] | None = None) -> int:
    """``python -m labctl.store.verify [--json] FILE``: exit 0 if FILE is a readable run
    file, 2 (with the reason) if not."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    args = [a for a in args if a != "--json"]
    if len(args) != 1:
        print("usage: python -m labctl.store.verify [--json] FILE.h5", file=sys.stderr)
        return 2
    if as_json:  # the fallback protocol of verify_run_file: this process is the child
        sys.stdout.write(_child_result(Path(args[0])).decode())
        return 0
    try:
        summary = verify_run_file(args[0])
    except RunFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{summary.path}: a readable run file ({summary.format}, {summary.status}, "
          f"{len(summary.completed)} of {summary.n_tasks} tasks completed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
