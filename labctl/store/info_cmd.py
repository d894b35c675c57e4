"""``labctl info FILE.h5``: a summary of a run file, one row per task."""

from __future__ import annotations

import argparse
import math
import sys
from typing import TextIO

from labctl.store.reader import open_run


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    if value is None:
        return "-"
    return str(value)


def print_info(path: str, out: TextIO) -> None:
    """Write the summary of run file ``path`` to ``out``."""
    with open_run(path) as run:
        a = run.attrs
        print(f"run file:  {path}", file=out)
        print(f"status:    {run.status}" + (f" ({run.abort_reason})" if run.abort_reason
                                            else ""), file=out)
        print(f"created:   {a.get('created')}   labctl {a.get('labctl_version')}   "
              f"backend {a.get('backend')}", file=out)
        net = run.network
        print(f"network:   {net.n_nodes} nodes, {net.n_edges} edges", file=out)
        done = run.completed_tasks()
        print(f"tasks:     {len(done)} of {len(run.tasks)} completed", file=out)
        header = ["#", "name", "status", "rows", "t_end/s", "lambda", "eta", "error/V²",
                  "P_free/W", "energy/J"]
        rows = [header]
        for t in run.tasks:
            n = t.n_rows
            last = {k: float(t[k][-1]) if n else math.nan
                    for k in ("time", "error", "power_free", "energy", "lambda", "eta")}
            p = t.params
            # λ and η as applied on the bench (quantised) once rows exist, else as planned
            lam = last["lambda"] if n else p.get("lambda")
            eta = last["eta"] if n else p.get("eta")
            rows.append([str(t.index), t.name, t.status, str(n), _fmt(last["time"]),
                         _fmt(lam), _fmt(eta), _fmt(last["error"]),
                         _fmt(last["power_free"]), _fmt(last["energy"])])
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip(), file=out)


def add_info_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labctl info``: the run file."""
    parser.add_argument("file", metavar="FILE.h5", help="run file to summarise")
    parser.set_defaults(func=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    """Print the summary table; exit code 0, or 2 if the file cannot be read."""
    try:
        print_info(args.file, sys.stdout)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
