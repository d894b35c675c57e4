"""The ``labctl`` command line: one front end to the run engine (the GUI is the other).

Exit codes: 0 success; 1 run failed or aborted (bench left safe); 2 user error (bad
protocol/bench file, bad arguments: message, no traceback); 3 instrument error during
``bench check``; 130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys

from labctl import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INSTRUMENT = 3
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="labctl", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"labctl {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``labctl`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
