"""``labctl validate FILE...``: check protocol files without opening any instrument.

:func:`check_file` is the one check behind ``labctl validate``, ``validate_files`` and
the tests: read the (bounded) file, validate every field against the bench, bound the
plan size, compile the plan. Every refusal is a message naming the file (and, with
``--bench``, the bench file) – never an exception.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.protocol.errors import ProtocolError
from labctl.protocol.loader import load_protocol
from labctl.protocol.plan import compile_plan


@dataclass(frozen=True)
class FileCheck:
    """Result of checking one protocol file: ``problem`` is None if it is valid, else
    the message (one line per problem); ``tasks`` and ``bench_s`` describe a valid plan."""

    path: str
    problem: str | None
    tasks: int = 0
    bench_s: float = 0.0
    simulation: str = ""  # the claim of a pure-simulation protocol (no bench time)


def load_bench_file(bench_path: str | Path) -> tuple[Any, str | None]:
    """``(BenchConfig, None)`` or ``(None, message naming the bench file)``."""
    from labctl.bench.config import load_bench

    try:
        return load_bench(bench_path), None
    except (ValueError, OSError, RecursionError, MemoryError) as exc:
        message = str(exc)
        if not message.startswith(str(bench_path)):
            message = f"{bench_path}: {message}"
        return None, message


def check_file(path: str | Path, bench: Any = None, bench_path: str | Path | None = None
               ) -> FileCheck:
    """Validate protocol ``path`` (against ``bench`` if given, loaded from ``bench_path``)
    and compile its plan; problems are returned, never raised."""
    if _is_simulation_protocol(path):
        return _check_simulation_protocol(path)
    try:
        plans = compile_plan(load_protocol(path, bench))
    except ProtocolError as exc:
        message = str(exc)
    except (ValueError, OSError, RecursionError, MemoryError, ArithmeticError) as exc:
        message = f"{path}: cannot be checked: {type(exc).__name__}: {str(exc)[:300]}"
    else:
        return FileCheck(str(path), None, len(plans),
                         sum(p.expected_duration_s for p in plans))
    if bench_path is not None:
        message = "\n".join(f"{line} [bench file {bench_path}]"
                            for line in message.splitlines())
    return FileCheck(str(path), message)


def _is_simulation_protocol(path: str | Path) -> bool:
    """A pure-simulation protocol of ``labctl reproduce`` (``protocols/papers/``): a file
    with a top-level ``claim``. Unreadable files are not: the bench-protocol loader then
    reports why."""
    from labctl.tomlread import read_toml

    try:
        _, doc = read_toml(path)
    except (ValueError, OSError, RecursionError, MemoryError):
        return False
    return "claim" in doc


def _check_simulation_protocol(path: str | Path) -> FileCheck:
    """Check a simulation protocol with its own loader (no bench, no plan: it runs on the
    physics engine); its runs are counted as networks × tasks per network."""
    from labctl.reproduce.simprotocol import SimProtocolError, load_sim_protocol

    try:
        proto = load_sim_protocol(path)
    except SimProtocolError as exc:
        return FileCheck(str(path), str(exc))
    except (ValueError, TypeError, OSError, RecursionError, MemoryError,
            ArithmeticError) as exc:
        return FileCheck(str(path), f"{path}: cannot be checked: {type(exc).__name__}: "
                                    f"{str(exc)[:300]}")
    run = proto.params(quick=False)
    tasks = int(run.get("networks", 1)) * int(run.get("tasks_per_network", 1))
    return FileCheck(str(path), None, tasks, 0.0, simulation=proto.claim)


def check_files(paths: Iterable[str | Path], bench_path: str | Path | None = None
                ) -> list[FileCheck]:
    """:func:`check_file` for each path; with a bad ``bench_path`` every file is refused
    with the bench file's message."""
    bench = None
    if bench_path is not None:
        bench, problem = load_bench_file(bench_path)
        if problem is not None:
            return [FileCheck(str(p), "\n".join(f"{p}: bench: {line}"
                                                 for line in problem.splitlines()))
                    for p in paths]
    return [check_file(p, bench, bench_path) for p in paths]


def validate_files(paths: Iterable[str | Path], bench_path: str | Path | None = None
                   ) -> list[str]:
    """Validate each protocol file; return one message per refused file (empty = all good).

    ``bench_path`` overrides the bench named in the files (as ``labctl run --bench``).
    """
    return [c.problem for c in check_files(paths, bench_path) if c.problem is not None]


def add_validate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labctl validate``: FILE... and ``--bench FILE``."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="protocol files (TOML)")
    parser.add_argument("--bench", metavar="FILE", default=None,
                        help="validate against this bench file instead of the one named "
                             "in each protocol")
    parser.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    """Print one line per file (``ok: FILE (N tasks, ~T s)``, or every problem of the
    file); exit code 0 if every file is valid, 2 otherwise."""
    status = 0
    for check in check_files(args.files, args.bench):
        if check.problem is None and check.simulation:
            print(f"ok: {check.path} (simulation protocol of the {check.simulation!r} claim, "
                  f"{check.tasks} tasks on the physics engine: labctl reproduce)")
        elif check.problem is None:
            print(f"ok: {check.path} ({check.tasks} tasks, about {check.bench_s:.0f} s of "
                  "learning)")
        else:
            for line in check.problem.splitlines():
                print(f"error: {line}", file=sys.stderr)
            status = 2
    return status
