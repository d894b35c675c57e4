"""``labctl reproduce [--quick] [-o DIR] [--parallel] [--claim KEY ...]``: run one shipped
protocol per claim of the papers, print the claim table and write ``DIR/REPORT.md``."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

from labctl.reproduce.claims import CLAIMS, PROTOCOLS, Claim, by_key, run_claim
from labctl.reproduce.result import ClaimResult


def add_reproduce_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``labctl reproduce`` to ``parser``."""
    parser.add_argument("--quick", action="store_true",
                        help="reduced protocols (fewer tasks, steps, epochs): minutes, for CI")
    parser.add_argument("-o", "--output", type=Path, default=Path("reproduce"), metavar="DIR",
                        help="new or empty folder for the report, figures and run files "
                             "(default ./reproduce)")
    parser.add_argument("--parallel", action="store_true",
                        help="run the claims in parallel processes (one per CPU)")
    parser.add_argument("--protocols", type=Path, default=PROTOCOLS, metavar="DIR",
                        help="the shipped protocols folder (default: the source checkout's "
                             "protocols/, or the copy installed with labctl; it holds "
                             "papers/ too)")
    parser.add_argument("--claim", action="append", metavar="KEY",
                        help="only this claim (repeatable): "
                             + ", ".join(c.key for c in CLAIMS))


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Run the claims; 0 if every claim ran (whatever its verdict), 1 if one could not
    run, 2 on bad arguments (before anything runs)."""
    from labctl.reproduce.report import claim_table, write_report

    out: Path = args.output
    try:
        claims = [by_key(k) for k in args.claim] if args.claim else list(CLAIMS)
        missing = [c.protocol for c in claims if not (args.protocols / c.protocol).is_file()]
        if missing:
            raise ValueError(f"--protocols {args.protocols}: {', '.join(missing)} not found; "
                             "allowed a folder holding the shipped protocols (a source "
                             "checkout's protocols/, or labctl/shipped_protocols of an "
                             "installed labctl)")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ValueError(f"-o {out}: exists and is not an empty folder; allowed a new or "
                             "empty folder (run files are never overwritten)")
        out.mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError) as exc:
        print(f"labctl reproduce: {exc}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    if args.parallel:
        results = _run_parallel(claims, out, args.quick, args.protocols)
    else:
        results = []
        for c in claims:
            print(f"reproduce: {c.key} …", file=sys.stderr, flush=True)
            results.append(run_claim(c, out, args.quick, protocols=args.protocols))
    wall = time.monotonic() - t0
    command = "labctl reproduce" + (" --quick" if args.quick else "") + (
        " --parallel" if args.parallel else "") + f" -o {out}" + "".join(
        f" --claim {c.key}" for c in claims if args.claim)
    report = write_report(results, out, command, wall)
    print(claim_table(results), end="")
    print(f"wall time {wall:.0f} s; report: {report}")
    return 1 if any(r.error for r in results) else 0


def _run_parallel(claims: list[Claim], out: Path, quick: bool, protocols: Path
                  ) -> list[ClaimResult]:
    """Each claim in its own worker process (one per CPU, fresh interpreters), the longest
    (:attr:`Claim.full_minutes`) handed out first so that no worker idles while another
    still has a queue; results come back in ``claims`` order. Ctrl-C or SIGTERM of the
    command terminates the workers instead of waiting for them."""
    pool = multiprocessing.get_context("spawn").Pool(min(len(claims), os.cpu_count() or 1))
    try:
        jobs = {c.key: pool.apply_async(run_claim, (c, out, quick, False, protocols))
                for c in longest_first(claims)}
        results = [jobs[c.key].get() for c in claims]
        pool.close()
        return results
    finally:
        pool.terminate()
        pool.join()


def longest_first(claims: list[Claim]) -> list[Claim]:
    """``claims`` by decreasing :attr:`Claim.full_minutes` (stable for equal estimates)."""
    return sorted(claims, key=lambda c: -c.full_minutes)
