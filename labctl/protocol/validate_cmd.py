"""``labctl validate FILE...``: check protocol files without opening any instrument."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from labctl.protocol.errors import ProtocolError
from labctl.protocol.loader import load_protocol
from labctl.protocol.plan import compile_plan


def validate_files(paths: Iterable[str | Path], bench_path: str | Path | None = None
                   ) -> list[str]:
    """Validate each protocol file; return one message per refused file (empty = all good).

    ``bench_path`` overrides the bench named in the files (as ``labctl run --bench``).
    A bad bench file is reported once per protocol.
    """
    bench = None
    problems: list[str] = []
    if bench_path is not None:
        from labctl.bench.config import load_bench

        try:
            bench = load_bench(bench_path)
        except (ValueError, OSError) as exc:
            return [str(exc)]
    for path in paths:
        try:
            compile_plan(load_protocol(path, bench))
        except ProtocolError as exc:
            problems.append(str(exc))
    return problems


def add_validate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labctl validate``: FILE... and ``--bench FILE``."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="protocol files (TOML)")
    parser.add_argument("--bench", metavar="FILE", default=None,
                        help="validate against this bench file instead of the one named "
                             "in each protocol")
    parser.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    """Print one line per file (``ok: FILE (N tasks, ~T s)`` or the problem); exit code 0
    if every file is valid, 2 otherwise."""
    bench = None
    if args.bench is not None:
        from labctl.bench.config import load_bench

        try:
            bench = load_bench(args.bench)
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    status = 0
    for path in args.files:
        try:
            plans = compile_plan(load_protocol(path, bench))
        except ProtocolError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        total = sum(p.expected_duration_s for p in plans)
        print(f"ok: {path} ({len(plans)} tasks, about {total:.0f} s of learning)")
    return status
