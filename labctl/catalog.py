"""The run catalog: every run file of a folder with its status and headline results.

``labctl runs [DIR]`` lists each ``*.h5`` file of the runs folder with its status
(``completed``, ``aborted``, ``interrupted``, ``live``, or ``damaged`` for a file that
cannot be read as a run file), protocol name, start (UTC), duration, tasks done/total and
the final error (V²), L/L0 and free power (W) of its last completed task.

Reading a run file costs an HDF5 open, and a damaged file can make HDF5 hang or crash, so:

* **An index that updates itself.** What was read is kept in :data:`INDEX_NAME` in the runs
  folder, one entry per file keyed by name, size and modification time (ns); a listing
  re-reads only the files that are new or changed and drops entries of files that are
  gone. The index is replaced atomically (written to a temporary file in the folder, then
  renamed), so concurrent listings never see a half-written index; the last one wins and
  both are correct. A missing, unreadable or foreign index is rebuilt. Run files are only
  ever opened read-only. A folder that cannot be written is listed without an index.
* **Files are read in a child process** (``python -m labctl.catalog``) that reports one
  JSON line per file; if it stays silent for :data:`READ_TIMEOUT_S` on one file, or dies
  (HDF5 crashing on a damaged file), that file is listed as ``damaged`` and a new child
  reads the rest. So no file can hang or crash the listing.
* **live or interrupted is decided at each listing** for files whose recorded status is
  ``running`` (as ``labctl.store.reader.Run.status`` does: is the writer process still
  there, or for a file from another machine, is its heartbeat recent), because a writer
  that was killed leaves a file that does not change any more.

A warm listing therefore reads no HDF5 at all (one ``os.scandir``, one JSON file).
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import logging
import math
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)

#: the index file kept in a runs folder
INDEX_NAME = ".labctl-runs-index.json"
#: format tag of the index; another tag means the index is rebuilt
INDEX_FORMAT = "labctl-runs-index/1"
#: a child reading one file may stay silent this long (s) before the file is called damaged
READ_TIMEOUT_S = 30.0
#: statuses a listing can show
STATUSES = ("completed", "aborted", "interrupted", "live", "damaged")
#: run-file name pattern
RUN_GLOB = "*.h5"


@dataclass
class CatalogEntry:
    """One run file as listed: ``status`` (see :data:`STATUSES`), the ``protocol`` name,
    ``start`` (ISO 8601, UTC), ``duration_s`` (s: creation to last write, or to now for a
    live run), ``tasks_done``/``tasks_total``, the final ``error`` (V²),
    ``error_normalized`` (L/L0) and ``power_free`` (W) of the last completed task (NaN if
    none), ``reason`` (abort reason, or why the file is damaged) and what identifies the
    file version (``size`` in bytes, ``mtime_ns``). ``recorded_status`` and ``writer``
    (the writing process's identity and last heartbeat, unix s) decide live/interrupted."""

    name: str
    size: int
    mtime_ns: int
    status: str = "damaged"
    recorded_status: str = ""
    protocol: str = ""
    start: str = ""
    duration_s: float = math.nan
    tasks_done: int = 0
    tasks_total: int = 0
    error: float = math.nan
    error_normalized: float = math.nan
    power_free: float = math.nan
    reason: str = ""
    writer: dict[str, Any] = field(default_factory=dict)

    @property
    def start_time(self) -> datetime | None:
        """``start`` as an aware datetime (None if unknown)."""
        try:
            t = datetime.fromisoformat(self.start)
        except ValueError:
            return None
        return t if t.tzinfo else t.replace(tzinfo=UTC)

    def to_json(self, folder: Path) -> dict[str, Any]:
        """The entry as plain JSON values (NaN as null), with the file's full ``path``."""
        out: dict[str, Any] = {"path": str(folder / self.name)}
        for key in _PUBLIC:
            value = getattr(self, key)
            out[key] = None if isinstance(value, float) and math.isnan(value) else value
        return out

    def to_dict(self) -> dict[str, Any]:
        """Every field (what the index stores); a shallow copy, faster than ``asdict``."""
        out = {key: getattr(self, key) for key in _FIELDS}
        out["writer"] = dict(self.writer)
        return out


_FIELDS = tuple(f.name for f in fields(CatalogEntry))
#: the fields ``--json`` shows (the rest only decide the status or key the index)
_PUBLIC = tuple(k for k in _FIELDS if k not in ("writer", "recorded_status", "mtime_ns"))


# ---------------------------------------------------------------------- reading one file
def read_entry(path: Path) -> CatalogEntry:
    """Read run file ``path`` (read-only, in this process: the child's side) into an
    entry; a file that is not a readable run file gives status ``damaged`` and why.

    Only what the listing shows is read (root attributes, ``/run_status``, the progress
    counters, the heartbeat and the last completed task's final values): a few
    milliseconds, where opening it as a ``labctl.store.reader.Run`` (which checks every
    dataset's layout) costs about ten times more. The status follows ``Run.status``:
    the recorded one, and for ``running`` the same writer check (:func:`_liveness`).
    A file shorter than HDF5 recorded (cut short by a full disk, a crash or a bad copy)
    is first checked completely by :func:`labctl.store.verify.verify_run_file`."""
    st = path.stat()
    entry = CatalogEntry(path.name, st.st_size, st.st_mtime_ns)
    try:
        import h5py

        from labctl.store.verify import open_h5, precheck, verify_run_file

        try:
            h5py.File(precheck(path), "r").close()
        except OSError as exc:
            if "truncated file" in str(exc):
                verify_run_file(path)
        f = open_h5(path)
        try:
            _fill(entry, f, st.st_mtime)
        finally:
            f.close()
    except Exception as exc:  # a damaged or foreign file is listed, never raised
        entry.status = "damaged"
        entry.recorded_status = ""
        entry.reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    return entry


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _fill(entry: CatalogEntry, f: Any, mtime: float) -> None:
    """Copy what the catalog shows from the open h5py run file ``f``."""
    from labctl.store import layout as lay

    attrs = f.attrs
    recorded, reason = (_text(x) for x in f["run_status"][()][:2])
    if recorded not in lay.RUN_STATES:
        raise ValueError(f"run_status {recorded[:40]!r}; allowed {', '.join(lay.RUN_STATES)}")
    entry.recorded_status, entry.reason = recorded, reason
    entry.protocol = _protocol_name(_text(attrs.get("protocol_text", "")),
                                    _text(attrs.get("instrument_snapshots", "")))
    entry.start = _text(attrs.get("created", ""))
    hb = f.get(lay.HEARTBEAT)
    heartbeat = float(hb[0]) if hb is not None and hb.shape == (1,) else mtime
    entry.writer = {k: attrs[k].item() if hasattr(attrs[k], "item") else attrs[k]
                    for k in ("writer_host", "writer_boot_id", "writer_pid",
                              "writer_start_ticks") if k in attrs}
    entry.writer = {k: _text(v) if isinstance(v, bytes) else v for k, v in entry.writer.items()}
    entry.writer["heartbeat"] = heartbeat
    entry.status = recorded if recorded != "running" else _liveness(entry, time.time())
    start = entry.start_time
    if start is not None:
        end = time.time() if entry.status == "live" else heartbeat
        entry.duration_s = max(0.0, end - start.timestamp())
    codes = f["progress"]["task_status"][()]
    done = [i for i, c in enumerate(codes) if int(c) == lay.COMPLETED]
    entry.tasks_done, entry.tasks_total = len(done), len(codes)
    if done:
        task = f[lay.TASKS_GROUP][lay.task_group_name(done[-1])].attrs
        for key in ("error", "error_normalized", "power_free"):
            value = task.get(f"final_{key}")
            if value is not None and getattr(value, "shape", ()) == ():
                setattr(entry, key, float(value))


def _protocol_name(protocol_text: str, snapshots: str) -> str:
    """The ``name`` of the protocol text stored in the file; else its file's stem."""
    import tomllib

    try:
        name = tomllib.loads(protocol_text).get("name")
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        name = None
    if isinstance(name, str) and name:
        return name
    try:
        path = json.loads(snapshots or "{}").get("protocol_path", "")
    except (ValueError, AttributeError):
        path = ""
    return Path(str(path)).stem if path else ""


def _worker(stdin: TextIO, stdout: TextIO) -> None:
    """The child: one JSON path per input line -> one JSON entry per output line."""
    for line in stdin:
        path = Path(json.loads(line))
        try:
            entry = read_entry(path)
        except OSError as exc:  # vanished while listed
            entry = CatalogEntry(path.name, 0, 0, reason=f"cannot read: {exc.strerror}")
        stdout.write(json.dumps(entry.to_dict(), allow_nan=True) + "\n")
        stdout.flush()


def read_entries(paths: Sequence[Path], timeout: float = READ_TIMEOUT_S) -> list[CatalogEntry]:
    """Entries for ``paths``, read in a child process so that no file can hang or crash
    the caller: a file on which the child stays silent ``timeout`` s or dies is
    ``damaged`` and a fresh child goes on with the next file."""
    out: list[CatalogEntry] = []
    todo = list(paths)
    while todo:
        got = _read_batch(todo, timeout)
        out.extend(got)
        todo = todo[len(got):]
        if todo:  # the child hung or died on todo[0]
            path = todo.pop(0)
            try:
                st = path.stat()
                size, mtime = st.st_size, st.st_mtime_ns
            except OSError:
                continue
            reason = (f"reading it stalled for {timeout:g} s or crashed the reader "
                      "(damaged HDF5 structure)")
            log.warning("%s: %s", path, reason)
            out.append(CatalogEntry(path.name, size, mtime, reason=reason))
    return out


#: files per reading child when many files are new (at most :data:`MAX_READERS` children)
FILES_PER_READER = 200
MAX_READERS = 4


def _read_parallel(paths: Sequence[Path], timeout: float) -> list[CatalogEntry]:
    """:func:`read_entries` split over up to :data:`MAX_READERS` children (one per CPU,
    one per :data:`FILES_PER_READER` files)."""
    n = max(1, min(MAX_READERS, os.cpu_count() or 1, len(paths) // FILES_PER_READER))
    if n == 1:
        return read_entries(paths, timeout)
    from concurrent.futures import ThreadPoolExecutor

    parts = [paths[k::n] for k in range(n)]
    with ThreadPoolExecutor(n) as pool:
        results = pool.map(lambda part: read_entries(part, timeout), parts)
        return [e for part in results for e in part]


def _child_env() -> dict[str, str]:
    """The environment of the reading child: this labctl importable first."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


class CatalogError(RuntimeError):
    """The catalog's reading process cannot run at all (not a problem of one file)."""


def _read_batch(paths: Sequence[Path], timeout: float) -> list[CatalogEntry]:
    """Read ``paths`` in one child until it ends, dies or stays silent ``timeout`` s.
    Raises :class:`CatalogError` if the child fails before reading anything (it cannot
    import labctl, say), rather than blaming every file in turn."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen([sys.executable, "-m", "labctl.catalog", "--read-worker"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=errors, env=_child_env())
        assert proc.stdin is not None and proc.stdout is not None
        data = b"".join(json.dumps(str(p)).encode() + b"\n" for p in paths)

        def feed() -> None:  # on a thread: the pipes must not fill up both ways
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.write(data)
                proc.stdin.close()

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        out: list[CatalogEntry] = []
        fd, buf = proc.stdout.fileno(), b""
        try:
            while len(out) < len(paths):
                while b"\n" not in buf:  # raw reads: select sees what is not yet read
                    ready, _, _ = select.select([fd], [], [], timeout)
                    chunk = os.read(fd, 1 << 16) if ready else b""
                    if not chunk:  # silent for timeout s, or the child died
                        return out
                    buf += chunk
                line, _, buf = buf.partition(b"\n")
                out.append(CatalogEntry(**json.loads(line)))
            return out
        finally:
            if proc.poll() is None:
                proc.kill()
            code = proc.wait()
            proc.stdout.close()
            feeder.join(5)
            if not out and code > 0:  # an exit with an error code, not a crash by signal
                errors.seek(0)
                tail = errors.read()[-500:].decode("utf-8", "replace").strip()
                raise CatalogError(f"the catalog's reading process failed (exit {code}): "
                                   f"{tail.splitlines()[-1] if tail else 'no message'}")


# ---------------------------------------------------------------------- the index
def _load_index(folder: Path) -> dict[str, CatalogEntry]:
    """The entries of the folder's index (empty if missing, unreadable or foreign)."""
    try:
        doc = json.loads((folder / INDEX_NAME).read_text(encoding="utf-8"))
        if doc.get("format") != INDEX_FORMAT:
            return {}
        return {e["name"]: CatalogEntry(**e) for e in doc["entries"]}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        if not isinstance(exc, FileNotFoundError):
            log.info("%s: index not usable (%s); rebuilding it", folder / INDEX_NAME, exc)
        return {}


def _save_index(folder: Path, entries: Iterable[CatalogEntry]) -> None:
    """Replace the folder's index atomically; a folder that cannot be written is left
    without one (logged at DEBUG)."""
    doc = {"format": INDEX_FORMAT, "entries": [e.to_dict() for e in entries]}
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{INDEX_NAME}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        log.debug("%s: not writable (%s); listing without an index", folder, exc)
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, allow_nan=True)
        os.replace(tmp, folder / INDEX_NAME)
    except OSError as exc:
        log.debug("%s: index not written (%s)", folder, exc)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _liveness(entry: CatalogEntry, now: float) -> str:
    """``live`` or ``interrupted`` for a file recorded as running, decided now as
    ``labctl.store.reader.Run.status`` decides it."""
    from labctl.store.provenance import writer_gone

    w = entry.writer
    return "interrupted" if writer_gone(w, float(w.get("heartbeat", 0.0)), now) else "live"


def scan(folder: str | Path, *, use_index: bool = True,
         timeout: float = READ_TIMEOUT_S) -> list[CatalogEntry]:
    """Every run file (``*.h5``) of ``folder``, oldest start first, reading only the files
    that are new or changed since the folder's index (and updating the index).
    ``use_index`` False reads every file and leaves the index alone."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"runs folder {str(folder)!r}: not a folder; allowed an existing "
                         "folder of run files")
    files: dict[str, os.stat_result] = {}
    with os.scandir(folder) as it:
        for d in it:
            if fnmatch.fnmatch(d.name, RUN_GLOB) and d.is_file():
                with contextlib.suppress(OSError):
                    files[d.name] = d.stat()
    index = _load_index(folder) if use_index else {}
    keep: dict[str, CatalogEntry] = {}
    todo: list[Path] = []
    for name, st in files.items():
        old = index.get(name)
        if old is not None and old.size == st.st_size and old.mtime_ns == st.st_mtime_ns:
            keep[name] = old
        else:
            todo.append(folder / name)
    fresh = _read_parallel(sorted(todo), timeout) if todo else []
    fresh = [e for e in fresh if (folder / e.name).exists()]  # not deleted meanwhile
    log.debug("%s: %d run files, %d from the index, %d read", folder, len(files),
              len(keep), len(fresh))
    for e in fresh:
        if e.status == "damaged":
            log.warning("%s: listed as damaged: %s", folder / e.name, e.reason)
    keep.update({e.name: e for e in fresh})
    if use_index and (fresh or set(index) != set(keep)):
        _save_index(folder, keep.values())
    now = time.time()
    entries = list(keep.values())
    for e in entries:
        if e.recorded_status == "running" and e.status != "damaged":
            e.status = _liveness(e, now)
            start = e.start_time
            if e.status == "live" and start is not None:
                e.duration_s = max(0.0, now - start.timestamp())
    entries.sort(key=lambda e: (e.start or _iso(e.mtime_ns / 1e9), e.name))
    return entries


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


# ---------------------------------------------------------------------- filters
def parse_since(text: str) -> datetime:
    """``--since`` text as an aware datetime: an ISO 8601 date or date-time
    (``2026-11-30``, ``2026-11-30T14:00``, ``2026-11-30T14:00+01:00``); without an offset
    it is local time. Raises ValueError naming the value and the allowed forms."""
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since: {text!r} is not a date; allowed an ISO 8601 date or "
                         "date-time such as 2026-11-30 or 2026-11-30T14:00 (local time "
                         "unless an offset such as +01:00 or Z is given)") from None
    return t if t.tzinfo else t.astimezone()


def select_entries(entries: Iterable[CatalogEntry], *, status: Sequence[str] = (),
                   protocol: str | None = None,
                   since: datetime | None = None) -> list[CatalogEntry]:
    """The entries with one of ``status`` (all if empty), whose protocol name matches
    ``protocol`` (a shell pattern such as ``sweep*``; exact otherwise), started at or
    after ``since`` (a damaged file without a start time is judged by its modification
    time)."""
    bad = [s for s in status if s not in STATUSES]
    if bad:
        raise ValueError(f"--status: {bad[0]!r}; allowed {', '.join(STATUSES)}")
    out = []
    for e in entries:
        if status and e.status not in status:
            continue
        if protocol is not None and not fnmatch.fnmatchcase(e.protocol, protocol):
            continue
        if since is not None:
            start = e.start_time or datetime.fromtimestamp(e.mtime_ns / 1e9, UTC)
            if start < since:
                continue
        out.append(e)
    return out


# ---------------------------------------------------------------------- output
def _duration(seconds: float) -> str:
    """A duration as people read it: ``42 s``, ``12 min 5 s``, ``3 h 02 min``."""
    if math.isnan(seconds):
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{seconds:.3g} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _start(entry: CatalogEntry) -> str:
    t = entry.start_time
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if t is not None else "-"


def format_table(entries: Sequence[CatalogEntry]) -> str:
    """The entries as an aligned text table (one line per run, a header first); numbers
    with SI prefixes (:func:`labctl.units.format_si`)."""
    from labctl.units import format_si

    head = ("file", "status", "protocol", "start (UTC)", "duration", "tasks", "error",
            "L/L0", "free power")
    rows = [head]
    for e in entries:
        rows.append((e.name, e.status, e.protocol or "-", _start(e), _duration(e.duration_s),
                     f"{e.tasks_done}/{e.tasks_total}" if e.tasks_total else "-",
                     format_si(e.error, "V²"), format_si(e.error_normalized),
                     format_si(e.power_free, "W")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    right = {4, 5, 6, 7, 8}
    lines = ["  ".join(c.rjust(w) if i in right else c.ljust(w)
                       for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
    notes = [f"  {e.name}: {e.reason}" for e in entries
             if e.reason and e.status in ("damaged", "aborted")]
    return "\n".join(lines + (["", "reasons:", *notes] if notes else [])) + "\n"


# ---------------------------------------------------------------------- command line
def add_runs_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labctl runs``."""
    parser.add_argument("folder", nargs="?", metavar="DIR",
                        help="runs folder (default: the one labctl run writes to)")
    parser.add_argument("--status", action="append", default=[], metavar="S",
                        help=f"only runs with this status ({', '.join(STATUSES)}); "
                        "repeatable or comma-separated")
    parser.add_argument("--protocol", metavar="P", help="only runs of this protocol name "
                        "(shell patterns such as 'sweep*' allowed)")
    parser.add_argument("--since", metavar="DATE", help="only runs started at or after "
                        "DATE (ISO 8601: 2026-11-30 or 2026-11-30T14:00, local time)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON array of runs on stdout (numbers in SI units)")
    parser.add_argument("--no-index", action="store_true",
                        help="read every file afresh and leave the folder's index alone")


def default_runs_dir() -> Path:
    """The folder ``labctl run`` writes new run files to (:func:`labctl.paths.runs_dir`)."""
    from labctl.paths import runs_dir

    return runs_dir()


def cmd_runs(args: argparse.Namespace) -> int:
    """``labctl runs``: 0 on success, 2 on bad input (one ``error:`` line)."""
    try:
        status = [s.strip() for item in args.status for s in item.split(",") if s.strip()]
        since = parse_since(args.since) if args.since else None
        select_entries((), status=status)  # checks the statuses before any file is read
        folder = Path(args.folder) if args.folder else default_runs_dir()
        entries = scan(folder, use_index=not args.no_index)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CatalogError as exc:
        print(f"labctl runs: {exc}", file=sys.stderr)
        return 1
    chosen = select_entries(entries, status=status, protocol=args.protocol, since=since)
    if args.json:
        sys.stdout.write(json.dumps([e.to_json(folder) for e in chosen]) + "\n")
    elif chosen:
        sys.stdout.write(format_table(chosen))
    else:
        print(f"no runs in {folder}" + (" matching the filters" if entries else ""),
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--read-worker"]:
        _worker(sys.stdin, sys.stdout)
    else:
        sys.exit("usage: python -m labctl.catalog --read-worker (paths on stdin); "
                 "use `labctl runs`")
