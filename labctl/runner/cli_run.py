"""``labctl run``: run a protocol from the terminal with a progress bar and ETA.

Ctrl-C and SIGTERM abort the run cleanly: the bench is driven safe, the run file is
closed with status ``aborted`` and the reason, and ``labctl run --resume FILE`` continues
at the first task not completed.
"""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from labctl.bench.config import BenchFileError, load_bench
from labctl.protocol import ProtocolError, load_protocol
from labctl.runner.events import LogMessage, Progress, TaskFinished, TaskStarted
from labctl.runner.session import RunResult, RunSession

EXIT_OK, EXIT_ABORTED, EXIT_USAGE = 0, 1, 2
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labctl run``."""
    parser.add_argument("protocol", nargs="?", help="protocol file (protocols/*.toml); "
                        "optional with --resume, which remembers it")
    parser.add_argument("--bench", help="bench file (default: the protocol's bench)")
    parser.add_argument("-o", "--output", help="run file to write (default data/runs/"
                        "<protocol>-<time>.h5)")
    parser.add_argument("--resume", metavar="FILE", help="continue a crashed or aborted "
                        "run file at its first task not completed (writes a new file)")
    parser.add_argument("--clock", choices=("fast", "paced"), default="fast",
                        help="simulated bench: as fast as possible, or at wall-clock pace")
    parser.add_argument("--seed", type=int, default=0, help="simulated bench noise seed")
    parser.add_argument("--raw", action="store_true",
                        help="also store the full-rate DAQ stream")
    parser.add_argument("--parallel", action="store_true",
                        help="simulated bench: run the tasks on Dask (a local cluster)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler address for --parallel (e.g. tcp://host:8786)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _resume_protocol(args: argparse.Namespace) -> str:
    """The protocol path to use for ``--resume``; checks it is the one of the old run."""
    from labctl.store import open_run

    with open_run(args.resume) as old:
        stored_text = old.attrs.get("protocol_text", "")
        stored_path = old.attrs["instrument_snapshots"].get("protocol_path", "")
    path = args.protocol or stored_path
    if not path or not Path(path).exists():
        raise ProtocolError(args.resume, "--resume", f"the run's protocol file {path!r} is "
                            "gone; pass the protocol file as the first argument")
    if Path(path).read_text() != stored_text:
        raise ProtocolError(path, "--resume", f"this protocol differs from the one stored in "
                            f"{args.resume}; allowed: the identical protocol text")
    return path


def cmd_run(args: argparse.Namespace) -> int:
    """Validate, run, report; returns the exit code (see labctl.cli)."""
    try:
        if args.resume:
            if not Path(args.resume).exists():
                raise ProtocolError(args.resume, "--resume", "no such run file")
            args.protocol = _resume_protocol(args)
        if not args.protocol:
            raise ProtocolError("labctl run", "PROTOCOL", "a protocol file is required")
        bench = load_bench(args.bench) if args.bench else None
        protocol = load_protocol(args.protocol, bench)
        output = args.output
        if args.resume and not output:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            output = str(Path(args.resume).with_suffix("")) + f"-resumed-{stamp}.h5"
        session = RunSession(protocol, output, clock=args.clock, seed=args.seed,
                             resume_from=args.resume, record_raw=args.raw,
                             parallel=args.parallel or bool(args.scheduler),
                             scheduler=args.scheduler)
    except (ProtocolError, BenchFileError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return _run_with_progress(session, quiet=args.quiet)


def _run_with_progress(session: RunSession, quiet: bool) -> int:
    from tqdm import tqdm

    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        session.abort("interrupted (Ctrl-C)" if signum == signal.SIGINT
                      else "terminated (SIGTERM)")

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    n_tasks = len(session.plans)
    print(f"labctl run: {session.protocol.name}: {n_tasks} tasks, about "
          f"{session.total_s:.0f} s of learning on the {session.config.backend} bench "
          f"'{session.config.name}' -> {session.path}", file=sys.stderr)
    bar = tqdm(total=round(session.total_s, 1), unit="s", disable=quiet or None,
               mininterval=0.5, file=sys.stderr, dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]")
    try:
        session.start()
        while not session.finished:
            for event in session.events.drain():
                _show(event, bar, n_tasks, quiet)
            session.wait_quietly(0.2)
        for event in session.events.drain():
            _show(event, bar, n_tasks, quiet)
    finally:
        bar.close()
        for s, handler in old.items():
            signal.signal(s, handler)
    result = session.wait()
    _summary(result)
    if result.status == "completed":
        return EXIT_OK
    if received:
        return EXIT_SIGINT if received[0] == signal.SIGINT else EXIT_SIGTERM
    return EXIT_ABORTED


def _show(event: object, bar: Any, n_tasks: int, quiet: bool) -> None:
    if isinstance(event, Progress):
        bar.n = min(round(event.done_s, 1), bar.total)
        bar.refresh()
    elif isinstance(event, TaskStarted):
        bar.set_description_str(f"task {event.index + 1}/{n_tasks}")
    elif isinstance(event, TaskFinished) and quiet:
        print(f"task {event.index}: L/L0 = {event.final.get('error_normalized', 0):.3g}, "
              f"P_F = {event.final.get('power_free', 0):.3g} W", file=sys.stderr)
    elif isinstance(event, LogMessage) and (event.level != "info" or not quiet):
        bar.write(f"[{event.level}] {event.text}", file=sys.stderr)


def _summary(result: RunResult) -> None:
    from labctl.store.info_cmd import print_info

    print(f"run {result.status}{': ' + result.reason if result.reason else ''}",
          file=sys.stderr)
    for failure in result.safe_state_failures:
        print(f"WARNING: safe state not confirmed: {failure}", file=sys.stderr)
    if result.path.exists():
        try:
            print_info(str(result.path), sys.stdout)
        except Exception as exc:  # a damaged file (disk full) must not hide the status
            print(f"(cannot summarise {result.path}: {exc})", file=sys.stderr)
        if result.status != "completed":
            print(f"continue with: labctl run --resume {result.path}", file=sys.stderr)
