"""``labctl info FILE.h5``: a summary of a run file, one row per task."""

from __future__ import annotations

import argparse
import math
import sys
from typing import TextIO

from labctl.store.errors import RunFileError
from labctl.store.reader import Run, open_run
from labctl.units import format_si


def _fmt(value: object, unit: str = "") -> str:
    """One table cell: numbers with SI prefixes (:func:`labctl.units.format_si`)."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        return format_si(float(value), unit, digits=4)
    if value is None:
        return "-"
    return str(value)


def print_info(path: str, out: TextIO, task_limit: int | None = None) -> None:
    """Write the summary of run file ``path`` to ``out``: the run, then one line per task,
    or with more than ``task_limit`` tasks the first and last ``task_limit``/2 of them and
    a line saying how many are left out (their files are not read)."""
    with open_run(path) as run:
        a = run.attrs
        print(f"run file:  {path}", file=out)
        print(f"status:    {status_line(run)}", file=out)
        print(f"created:   {a.get('created')}   labctl {a.get('labctl_version')}   "
              f"backend {a.get('backend')}", file=out)
        if "run_uuid" in a:
            seed = "-" if run.seed is None else run.seed
            print(f"run:       {a['run_uuid']}   seed {seed}   clock {run.clock or '-'}   "
                  f"host {a.get('host')}   commit {str(a.get('git_commit'))[:12]}", file=out)
        for key, value in run.metadata.items():
            print(f"metadata:  {key} = {value}", file=out)
        net = run.network
        print(f"network:   {net.n_nodes} nodes, {net.n_edges} edges", file=out)
        done = run.completed_tasks()
        print(f"tasks:     {len(done)} of {len(run.tasks)} completed", file=out)
        # requested: the protocol's value; applied: what the bench set (quantised), from
        # the task's last row ("-" before it has rows)
        header = ["#", "name", "status", "rows", "t_end", "λ requested", "λ applied",
                  "η requested", "η applied", "error", "P_free", "energy", "P_supply",
                  "P_supply-model"]
        rows = [header]
        tasks = list(run.tasks)
        hidden = 0
        gap_before = -1  # index in ``rows`` before which the left-out tasks are named
        if task_limit is not None and len(tasks) > task_limit:
            half = max(1, task_limit // 2)
            hidden = len(tasks) - 2 * half
            tasks = tasks[:half] + tasks[-half:]
            gap_before = 1 + half  # the header, then the first half
        for t in tasks:
            n = t.n_rows
            last = {k: float(t[k][-1]) if n else math.nan
                    for k in ("time", "error", "power_free", "energy", "lambda", "eta")}
            p = t.params
            rows.append([str(t.index), t.name, t.status, str(n), _fmt(last["time"], "s"),
                         _fmt(p.get("lambda")), _fmt(last["lambda"]),
                         _fmt(p.get("eta")), _fmt(last["eta"]), _fmt(last["error"], "V²"),
                         _fmt(last["power_free"], "W"), _fmt(last["energy"], "J"),
                         *_supply(t["power_supply"], t["power_supply_model"])])
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for k, r in enumerate(rows):
            if k == gap_before:
                print(f"… {hidden} tasks not shown (`labctl info {path}` lists every one)",
                      file=out)
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip(), file=out)


def _supply(measured: object, model: object) -> list[str]:
    """Mean measured supply power (W, the SMU's readings) and its mean residual against
    the model's supply power, relative; "-" without an SMU reading."""
    import numpy as np

    meas, mod = np.asarray(measured, float), np.asarray(model, float)
    ok = np.isfinite(meas) & np.isfinite(mod)
    if not ok.any():
        return ["-", "-"]
    mean_model = float(mod[ok].mean())
    resid = float((meas[ok] - mod[ok]).mean())
    return [_fmt(float(meas[ok].mean()), "W"), f"{resid / mean_model:+.2%}" if mean_model
            else _fmt(resid, "W")]


def status_line(run: Run) -> str:
    """The run's status for people: ``interrupted (last wrote <UTC time>)`` for a run
    whose writer is gone, the abort reason for an aborted one."""
    status = run.status
    if status == "interrupted":
        when = run.last_write.strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"interrupted (last wrote {when}; the writer process is gone)"
    if status == "running":
        return f"running (last wrote {run.last_write.strftime('%H:%M:%S UTC')})"
    return status + (f" ({run.abort_reason})" if run.abort_reason else "")


def add_info_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labctl info``: the run file."""
    parser.add_argument("file", metavar="FILE.h5", help="run file to summarise")
    parser.set_defaults(func=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    """Print the summary table; exit code 0, or 2 if the file cannot be read (damaged,
    foreign, missing: one line naming the file, never a traceback)."""
    try:
        print_info(args.file, sys.stdout)
    except RunFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # the reader of our output went away (``| head``): labctl.cli ends quietly
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        print(f"error: run file {args.file}: cannot be read ({type(exc).__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''})", file=sys.stderr)
        return 2
    return 0
