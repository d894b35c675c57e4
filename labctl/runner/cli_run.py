"""``labctl run``: run a protocol from the terminal with a progress bar and ETA.

Everything is checked before any instrument opens (protocol, bench file, ``--meta``, the
output path, the old file of ``--resume``); bad input exits 2 with one ``error:`` line.
Ctrl-C and SIGTERM abort the run cleanly: the bench is driven safe, the run file is
closed with status ``aborted`` and the reason, and ``labctl run --resume FILE`` continues
at the first task not completed, with the seed and clock recorded in FILE. A run that
ends aborted (instrument failure, full disk) exits 1 naming its file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from labctl.bench.config import BenchFileError, load_bench
from labctl.logsetup import terminal_logging
from labctl.protocol import ProtocolError, load_protocol
from labctl.runner.events import (
    LogMessage,
    Progress,
    TaskFinished,
    TaskStarted,
    event_to_json,
)
from labctl.runner.resume import ResumeSource, read_resume_source
from labctl.units import format_si, task_label

if TYPE_CHECKING:
    from labctl.runner.session import RunResult, RunSession

EXIT_OK, EXIT_ABORTED, EXIT_USAGE = 0, 1, 2
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labctl run``."""
    parser.add_argument("protocol", nargs="?", help="protocol file (protocols/*.toml); "
                        "optional with --resume, which remembers it")
    parser.add_argument("--bench", help="bench file (default: the protocol's bench)")
    parser.add_argument("-o", "--output", help="new run file to write; an existing file "
                        "is refused (default <runs>/<protocol>-<UTC time>-<random>.h5, <runs>: "
                        "$LABCTL_DATA_DIR/runs, else data/runs of the project folder you are "
                        "in, else the per-user one)")
    parser.add_argument("--resume", metavar="FILE", help="continue a crashed or aborted "
                        "run file at its first task not completed, with its seed and clock "
                        "(writes a new file next to it)")
    parser.add_argument("--clock", choices=("fast", "paced"), default=None,
                        help="simulated bench: as fast as possible (default), or at "
                        "wall-clock pace")
    parser.add_argument("--seed", type=int, default=None, help="run seed of the simulated "
                        "bench (transistor mismatch, every task's noise; default 0)")
    parser.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                        help="free-form run metadata stored in the run file (operator, "
                        "sample, notes); repeatable; adds to the protocol's [metadata]")
    parser.add_argument("--raw", action="store_true",
                        help="also store the full-rate DAQ stream")
    parser.add_argument("--parallel", action="store_true",
                        help="simulated bench: run the tasks on Dask (a local cluster)")
    parser.add_argument("--workers", type=int, metavar="N", default=None,
                        help="with --parallel: local Dask worker processes (default one "
                        "per CPU; 1..256)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler address for --parallel: a loopback address "
                        "(tcp://127.0.0.1:8786), or a remote one over TLS (tls://host:8786 "
                        "with --tls-ca-file and --tls-cert) or with --allow-insecure-scheduler")
    parser.add_argument("--tls-ca-file", metavar="FILE",
                        help="CA certificate the remote scheduler's certificate must chain to")
    parser.add_argument("--tls-cert", metavar="FILE", help="client certificate (PEM)")
    parser.add_argument("--tls-key", metavar="FILE",
                        help="client key (PEM), if not in the --tls-cert file")
    parser.add_argument("--allow-insecure-scheduler", action="store_true",
                        help="connect to a remote scheduler over plain TCP (no encryption, "
                        "no authentication; results are unpickled here): trusted networks only")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--events", choices=("jsonl",), default=None,
                        help="for scripts: one JSON object per line on stdout (progress, "
                        "task start/end, faults, finished with the run file and status; "
                        "docs/ARCHITECTURE.md) instead of the progress bar and table")


def parse_meta(items: list[str]) -> dict[str, str]:
    """``--meta KEY=VALUE`` options as a dict; keys as in a protocol's ``[metadata]``
    (1..64 of A-Z a-z 0-9 _ - .), values at most 4096 characters, at most 64 keys.
    Raises ProtocolError naming the option and what is allowed."""
    from labctl.protocol.fields import MAX_METADATA_KEY, MAX_METADATA_KEYS, MAX_METADATA_TEXT

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        shown = item if len(item) <= 80 else item[:80] + "..."
        if not sep:
            raise ProtocolError("labctl run", "--meta", f"{shown!r}: expected KEY=VALUE")
        if not 1 <= len(key) <= MAX_METADATA_KEY or not all(
                c.isascii() and (c.isalnum() or c in "_-.") for c in key):
            raise ProtocolError("labctl run", "--meta", f"key {key[:80]!r}: allowed 1.."
                                f"{MAX_METADATA_KEY} characters of A-Z a-z 0-9 _ - .")
        if len(value) > MAX_METADATA_TEXT or any(
                ord(c) < 32 and c not in "\t\n" for c in value):
            raise ProtocolError("labctl run", f"--meta {key}", f"value of {len(value)} "
                                f"characters; allowed at most {MAX_METADATA_TEXT}, no "
                                "control characters")
        out[key] = value
    if len(out) > MAX_METADATA_KEYS:
        raise ProtocolError("labctl run", "--meta", f"{len(out)} keys; allowed at most "
                            f"{MAX_METADATA_KEYS}")
    return out


def _resume_protocol(args: argparse.Namespace, source: ResumeSource) -> str:
    """The protocol path to use for ``--resume``; checks it is the one of the old run."""
    path = args.protocol or source.protocol_path
    if not path or not Path(path).is_file():
        raise ProtocolError(args.resume, "--resume", f"the run's protocol file {path!r} is "
                            "gone; pass the protocol file as the first argument")
    if Path(path).read_text() != source.protocol_text:
        raise ProtocolError(path, "--resume", f"this protocol differs from the one stored in "
                            f"{args.resume}; allowed: the identical protocol text")
    return path


def cmd_run(args: argparse.Namespace) -> int:
    """Validate, run, report; returns the exit code (see labctl.cli).

    Everything is checked before any instrument opens: the protocol, the bench file, the
    ``--meta`` options, the old file of ``--resume`` (completely) and the output path;
    any problem prints one ``error:`` line and returns 2.
    """
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    hook = sys.unraisablehook
    received = _note_signals()

    def quiet_lost_signal(unraisable: Any) -> None:
        # Ctrl-C/SIGTERM raised where Python cannot propagate it (inside an import's
        # lock callback, a finaliser): recorded in ``received``, not a traceback
        if not issubclass(unraisable.exc_type, Exception):
            return
        hook(unraisable)

    sys.unraisablehook = quiet_lost_signal
    try:
        return _cmd_run(args, received)
    finally:
        sys.unraisablehook = hook
        for signum, handler in handlers.items():
            with contextlib.suppress(ValueError, TypeError):  # not the main thread
                signal.signal(signum, handler)


def _cmd_run(args: argparse.Namespace, received: list[int]) -> int:
    try:
        meta = parse_meta(args.meta)
        source = None
        if args.resume:
            source = read_resume_source(args.resume)
            args.protocol = _resume_protocol(args, source)
        if not args.protocol:
            raise ProtocolError("labctl run", "PROTOCOL", "a protocol file is required")
        scheduler = None
        if args.scheduler:  # checked before anything is loaded, opened or connected
            from labctl.runner.parallel import scheduler_access

            scheduler = scheduler_access(
                args.scheduler, tls_ca_file=args.tls_ca_file, tls_cert=args.tls_cert,
                tls_key=args.tls_key, allow_insecure=args.allow_insecure_scheduler)
        bench = load_bench(args.bench) if args.bench else None
        protocol = load_protocol(args.protocol, bench)
        # the run engine (physics kernels, Dask) loads only once the cheap checks passed,
        # so bad input is refused in about a second
        from labctl.runner.session import RunSession

        session = RunSession(protocol, args.output, clock=args.clock, seed=args.seed,
                             resume_from=source, metadata=meta, record_raw=args.raw,
                             parallel=args.parallel or bool(args.scheduler),
                             scheduler=scheduler, workers=args.workers)
    except (ProtocolError, BenchFileError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return _run_with_progress(session, quiet=args.quiet, received=received,
                              events=getattr(args, "events", None))


def _note_signals() -> list[int]:
    """Record every SIGINT/SIGTERM from now on, then let labctl's handler act (it raises
    KeyboardInterrupt or Terminated). Python may swallow an exception raised inside an
    import or a finaliser ("Exception ignored in ..."); the record keeps such a signal
    from being lost, so the run does not start after it. Returns the record."""
    received: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue

        def note(n: int, frame: FrameType | None, previous: Any = previous) -> None:
            received.append(n)
            previous(n, frame)

        try:
            signal.signal(signum, note)
        except ValueError:  # not the main thread: signals are not ours to handle
            break
    return received


def _exit_code(received: list[int]) -> int:
    return EXIT_SIGINT if received[0] == signal.SIGINT else EXIT_SIGTERM


def _run_with_progress(session: RunSession, quiet: bool, received: list[int],
                       events: str | None = None) -> int:
    """Start the run with Ctrl-C/SIGTERM as clean aborts, show its progress, summarise;
    ``received`` records signals (also those that came before); ``events`` "jsonl":
    JSON lines on stdout for scripts instead of the bar and the summary table."""
    from tqdm import tqdm

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        session.abort("interrupted (Ctrl-C)" if signum == signal.SIGINT
                      else "terminated (SIGTERM)")

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    if received:  # a signal came while checking and its exception was lost: do not start
        for s, handler in old.items():
            signal.signal(s, handler)
        print("labctl run: interrupted before the run started; nothing was opened",
              file=sys.stderr)
        return _exit_code(received)
    n_tasks = len(session.plans)
    print(f"labctl run: {session.protocol.name}: {n_tasks} tasks, about "
          f"{session.total_s:.0f} s of learning on the {session.config.backend} bench "
          f"'{session.config.name}' -> {session.path}", file=sys.stderr)
    bar = tqdm(total=round(session.total_s, 1), unit="s",
               disable=quiet or events is not None or None,
               mininterval=0.5, file=sys.stderr, dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]")
    feed = session.subscribe(name="labctl run")  # this front end reads its own queue
    session.events.close()

    def show(batch: list[Any]) -> None:
        if events == "jsonl":
            _write_jsonl(batch)
        else:
            for event in batch:
                _show(event, bar, n_tasks, quiet)

    try:
        session.start()
        while not session.finished:
            show(feed.drain())
            session.wait_quietly(0.2)
        show(feed.drain())
    finally:
        bar.close()
        for s, handler in old.items():
            signal.signal(s, handler)
    result = session.wait()
    _summary(result, table=events is None)
    if result.status == "completed":
        return EXIT_OK
    if received:
        return _exit_code(received)
    return EXIT_ABORTED


def _show(event: object, bar: Any, n_tasks: int, quiet: bool) -> None:
    if isinstance(event, Progress):
        bar.n = min(round(event.done_s, 1), bar.total)
        bar.refresh()
    elif isinstance(event, TaskStarted):
        bar.set_description_str(task_label(event.index, n_tasks))
    elif isinstance(event, TaskFinished) and quiet:
        final = event.final
        print(f"task {event.index}: "
              f"L/L0 = {format_si(final.get('error_normalized', float('nan')))}, "
              f"P_F = {format_si(final.get('power_free', float('nan')), 'W')}",
              file=sys.stderr)
    elif isinstance(event, LogMessage) and (event.level != "info" or not quiet) \
            and not terminal_logging():  # with --log-level, logging shows these lines
        bar.write(f"[{event.level}] {event.text}", file=sys.stderr)


def _write_jsonl(batch: list[Any]) -> None:
    """One JSON object per event on stdout (only the newest progress of the batch); a
    reader that went away (closed pipe) is ignored: the run goes on into its file."""
    last_progress = max((i for i, e in enumerate(batch) if isinstance(e, Progress)),
                        default=-1)
    lines = []
    for i, event in enumerate(batch):
        if isinstance(event, Progress) and i != last_progress:
            continue
        obj = event_to_json(event)
        if obj is not None:
            lines.append(json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n")
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.write("".join(lines))
        sys.stdout.flush()


#: tasks listed by the summary at the end of ``labctl run`` (first and last half; ``labctl
#: info`` lists every task)
SUMMARY_TASKS = 40


def _summary(result: RunResult, table: bool = True) -> None:
    from labctl.store.info_cmd import print_info

    print(f"run {result.status}{': ' + result.reason if result.reason else ''}",
          file=sys.stderr)
    print(f"run file: {result.path}", file=sys.stderr)
    for failure in result.safe_state_failures:
        print(f"WARNING: safe state not confirmed: {failure}", file=sys.stderr)
    if result.path.exists():
        try:
            if table:
                print_info(str(result.path), sys.stdout, task_limit=SUMMARY_TASKS)
        except Exception as exc:  # a damaged file (disk full) must not hide the status
            print(f"(cannot summarise {result.path}: {exc})", file=sys.stderr)
        if result.status != "completed":
            print(f"continue with: labctl run --resume {result.path}", file=sys.stderr)
