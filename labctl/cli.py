"""The ``labctl`` command line: one front end to the run engine (the GUI is the other).

Exit codes: 0 success; 1 run failed or aborted (bench left safe); 2 user error (bad
protocol/bench file, bad arguments: message, no traceback); 3 instrument error during
``bench check``; 130 interrupted by Ctrl-C (SIGINT), 143 terminated (SIGTERM); 141 the
reader of the output went away (``labctl info … | head``), silently.

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
import importlib
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

from labctl import __version__
from labctl.extras import MissingExtraError, extra_of_module, require_extra
from labctl.logsetup import add_logging_arguments, configure_logging

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INSTRUMENT = 3
EXIT_BROKEN_PIPE = 141  # as a process ended by SIGPIPE: its reader went away
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Terminated(BaseException):
    """SIGTERM arrived while no run-specific handler was installed."""


_received: list[int] = []  # signals _on_signal saw (its exception can be swallowed)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # a second signal must not interrupt the clean-up this one starts
    for other in (signal.SIGINT, signal.SIGTERM):
        signal.signal(other, signal.SIG_IGN)
    # Python prints and drops an exception raised in a weakref callback or __del__ (the
    # import machinery's module locks among them): remember the signal so main() still
    # ends with its exit code
    _received.append(signum)
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


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labctl demo``."""
    parser.add_argument("--seconds", type=float, default=20.0, help="simulated seconds (s)")
    parser.add_argument("--seed", type=int, default=0)


def _run_extra(args: argparse.Namespace) -> str | None:
    """``labctl run`` needs the cluster extra only with --parallel or --scheduler."""
    return "cluster" if getattr(args, "parallel", False) or getattr(args, "scheduler", None) \
        else None


class Command:
    """A subcommand, imported only when it is the one being run (so ``labctl --help``
    and a light command start fast): ``module`` provides ``add`` (adds its options to
    the subparser) and ``handler`` (runs it, returns the exit code); ``extra`` is the
    labctl extra it needs (or a function of the parsed arguments giving it, or None).
    A plain class, not a dataclass: importing dataclasses costs start-up time."""

    __slots__ = ("add", "extra", "group", "handler", "help", "module", "name")

    def __init__(self, name: str, help: str, module: str, add: str, handler: str,
                 extra: str | Callable[[argparse.Namespace], str | None] | None = None,
                 group: str | None = None) -> None:
        self.name, self.help, self.module, self.add, self.handler = (
            name, help, module, add, handler)
        self.extra = extra
        self.group = group  # "bench" for ``labctl bench check``

    def load(self, parser: argparse.ArgumentParser) -> None:
        """Import the command's module and add its options to ``parser``."""
        if isinstance(self.extra, str):
            require_extra(self.extra, what=f"labctl {self.title}")
        module = importlib.import_module(self.module)
        getattr(module, self.add)(parser)
        parser.set_defaults(func=getattr(module, self.handler), command_spec=self)

    @property
    def title(self) -> str:
        """``run``, ``bench check``, ..."""
        return f"{self.group} {self.name}" if self.group else self.name


COMMANDS = (
    Command("run", "run a protocol on its bench, writing an HDF5 run file",
            "labctl.runner.cli_run", "add_run_arguments", "cmd_run", extra=_run_extra),
    Command("gui", "bench operator window: live plots, network view, run control, replay",
            "labctl.gui.cli", "add_gui_arguments", "cmd_gui", extra="gui"),
    Command("validate", "check protocol files without opening any instrument",
            "labctl.protocol.validate_cmd", "add_validate_arguments", "cmd_validate"),
    Command("analyze", "summary table, fits and figures from run files (live ones too)",
            "labctl.analysis.cli", "add_analyze_arguments", "cmd_analyze", extra="analysis"),
    Command("info", "summary table of a run file", "labctl.store.info_cmd",
            "add_info_arguments", "cmd_info"),
    Command("runs", "list the run files of a folder: status, protocol, start, duration, "
            "tasks, results", "labctl.catalog", "add_runs_arguments", "cmd_runs"),
    Command("serve", "live web view of a runs folder (catalog, live curves, network, "
            "events, figures); safe by default", "labctl.web.cli", "add_serve_arguments",
            "cmd_serve", extra="web"),
    Command("reproduce", "run one shipped protocol per claim of the papers: claim table and "
            "Markdown report", "labctl.reproduce.cli", "add_reproduce_arguments",
            "cmd_reproduce", extra="analysis"),
    Command("check", "open every instrument, self-test, leave safe", "labctl.bench.check",
            "add_bench_check_arguments", "cmd_bench_check", group="bench"),
    Command("gates", "talk to a gate-controller board (identity, status, latency): e.g. the "
            "emulated one from firmware/emulate", "labctl.drivers.serial_gates",
            "add_gates_arguments", "cmd_gates"),
    Command("demo", "short physics-engine training on the bench model", "labctl.cli",
            "add_demo_arguments", "cmd_demo"),
)


class _LazySubParsers(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Subparsers whose options are added when their command is chosen (argparse hands
    the chosen name to this action before the subparser parses the rest)."""

    pending: dict[str, Command]

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        command = self.pending.pop(values[0], None) if values else None
        if command is not None:
            command.load(self._name_parser_map[values[0]])
        super().__call__(parser, namespace, values, option_string)


def _subparsers(parser: argparse.ArgumentParser, dest: str, metavar: str,
                required: bool = False) -> _LazySubParsers:
    parser.register("action", "lazy_parsers", _LazySubParsers)
    sub = parser.add_subparsers(dest=dest, metavar=metavar, required=required,
                                action="lazy_parsers")
    sub.pending = {}
    return sub  # type: ignore[return-value]


def build_parser(load_all: bool = False) -> argparse.ArgumentParser:
    """The argument parser with every subcommand; a subcommand's module is imported (and
    its options added) only when that subcommand is parsed, or now with ``load_all``."""
    parser = argparse.ArgumentParser(
        prog="labctl", description="Run, watch and analyse coupled-learning experiments on a "
        "real or simulated twin-transistor bench.")
    parser.add_argument("--version", action="version", version=f"labctl {__version__}")
    add_logging_arguments(parser)
    sub = _subparsers(parser, "command", "COMMAND")
    groups = {"bench": _subparsers(sub.add_parser("bench", help="bench commands"),
                                   "bench_command", "BENCH_COMMAND", required=True)}
    for command in COMMANDS:
        parent = groups[command.group] if command.group else sub
        p = parent.add_parser(command.name, help=command.help)
        if load_all:
            command.load(p)
        else:
            parent.pending[command.name] = command
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``labctl`` console script; returns the process exit code."""
    _received.clear()
    old_handlers = install_signal_handlers()
    try:
        code = _main(argv)
        if _received and _received[0] == signal.SIGTERM:
            raise Terminated()
        if _received:
            raise KeyboardInterrupt()
        return code
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
        spec = args.command_spec
        extra = spec.extra(args) if callable(spec.extra) else None
        if extra:
            require_extra(extra, what=f"labctl {spec.title}")
        with configure_logging(args.log_level, args.log_file):
            return int(args.func(args))
    except MissingExtraError as exc:
        _say(str(exc))
        return EXIT_USAGE
    except BrokenPipeError:
        # the reader of our output went away (``labctl info … | head``): no noise; stdout
        # goes to /dev/null so the interpreter's final flush cannot complain either
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (RecursionError, UnicodeError, OSError, MemoryError) as exc:
        _say(f"error: {_one_line(exc)}")
        return EXIT_USAGE
    except Exception as exc:  # a bug: one line, the traceback only on request
        extra = extra_of_module(exc.name) if isinstance(exc, ModuleNotFoundError) else None
        if extra:  # an optional module imported past the checks
            _say(str(MissingExtraError(extra, [str(exc.name)], "this command")))
            return EXIT_USAGE
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
