"""The ``labctl`` command line: one front end to the run engine (the GUI is the other).

Exit codes: 0 success; 1 run failed or aborted (bench left safe); 2 user error (bad
protocol/bench file, bad arguments: message, no traceback); 3 instrument error during
``bench check``; 130 interrupted by Ctrl-C (SIGINT), 143 terminated (SIGTERM).

No traceback at any moment: :func:`main` installs its SIGINT/SIGTERM handlers before any
heavy import, so a signal in the first second ends the command with one line (the
signal becomes an exception, so every ``finally`` – closing instruments – still runs);
``labctl run`` and the GUI replace them with their own abort handlers while a run is on.
Unreadable input that slips past the loaders (RecursionError, UnicodeDecodeError,
OSError, MemoryError) is reported as a user error; any other exception as an internal
error in one line (``LABCTL_TRACEBACK=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from types import FrameType

from labctl import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INSTRUMENT = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Terminated(BaseException):
    """SIGTERM arrived while no run-specific handler was installed."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # a second signal must not interrupt the clean-up this one starts
    for other in (signal.SIGINT, signal.SIGTERM):
        signal.signal(other, signal.SIG_IGN)
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


def install_signal_handlers() -> dict[int, object]:
    """SIGINT -> KeyboardInterrupt, SIGTERM -> :class:`Terminated` (main thread only);
    returns the previous handlers (empty off the main thread)."""
    old: dict[int, object] = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            old[signum] = signal.signal(signum, _on_signal)
    except ValueError:  # not the main thread (main() called from a worker)
        pass
    return old


def cmd_demo(args: argparse.Namespace) -> int:
    """A short simulated training of the bench network, printing error and power."""
    from labctl.physics.demo import run_demo

    return run_demo(args.seconds, args.seed)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    from labctl.analysis.cli import add_analyze_arguments, cmd_analyze
    from labctl.bench.check import add_bench_check_arguments, cmd_bench_check
    from labctl.drivers.serial_gates import add_gates_arguments, cmd_gates
    from labctl.gui.cli import add_gui_arguments, cmd_gui
    from labctl.protocol.validate_cmd import add_validate_arguments, cmd_validate
    from labctl.reproduce.cli import add_reproduce_arguments, cmd_reproduce
    from labctl.runner.cli_run import add_run_arguments, cmd_run
    from labctl.store.info_cmd import add_info_arguments, cmd_info

    parser = argparse.ArgumentParser(
        prog="labctl", description="Run, watch and analyse coupled-learning experiments on a "
        "real or simulated twin-transistor bench.")
    parser.add_argument("--version", action="version", version=f"labctl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench = sub.add_parser("bench", help="bench commands")
    bench_sub = bench.add_subparsers(dest="bench_command", metavar="BENCH_COMMAND",
                                     required=True)
    commands = [  # (parent, name, help, add arguments, handler)
        (sub, "run", "run a protocol on its bench, writing an HDF5 run file",
         add_run_arguments, cmd_run),
        (sub, "gui", "bench operator window: live plots, network view, run control, replay",
         add_gui_arguments, cmd_gui),
        (sub, "validate", "check protocol files without opening any instrument",
         add_validate_arguments, cmd_validate),
        (sub, "analyze", "summary table, fits and figures from run files (live ones too)",
         add_analyze_arguments, cmd_analyze),
        (sub, "info", "summary table of a run file", add_info_arguments, cmd_info),
        (sub, "reproduce", "run one shipped protocol per claim of the papers: claim table "
         "and Markdown report", add_reproduce_arguments, cmd_reproduce),
        (bench_sub, "check", "open every instrument, self-test, leave safe",
         add_bench_check_arguments, cmd_bench_check),
        (sub, "gates", "talk to a gate-controller board (identity, status, latency): e.g. "
         "the emulated one from firmware/emulate", add_gates_arguments, cmd_gates),
    ]
    for parent, name, text, add_arguments, handler in commands:
        p = parent.add_parser(name, help=text)
        add_arguments(p)
        p.set_defaults(func=handler)

    p = sub.add_parser("demo", help="short physics-engine training on the bench model")
    p.add_argument("--seconds", type=float, default=20.0, help="simulated seconds (s)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``labctl`` console script; returns the process exit code."""
    old_handlers = install_signal_handlers()
    try:
        return _main(argv)
    except KeyboardInterrupt:
        _say("labctl: interrupted (SIGINT)")
        return EXIT_INTERRUPTED
    except Terminated:
        _say("labctl: terminated (SIGTERM)")
        return EXIT_TERMINATED
    finally:
        for signum, handler in old_handlers.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def _main(argv: list[str] | None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return int(args.func(args))
    except (RecursionError, UnicodeError, OSError, MemoryError) as exc:
        _say(f"error: {_one_line(exc)}")
        return EXIT_USAGE
    except Exception as exc:  # a bug: one line, the traceback only on request
        if os.environ.get("LABCTL_TRACEBACK"):
            raise
        _say(f"labctl: internal error: {_one_line(exc)} (LABCTL_TRACEBACK=1 shows where)")
        return EXIT_FAILED


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def _say(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr closed
        print(text, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
