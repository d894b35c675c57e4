"""A large simulated campaign on a Dask cluster: the single writer's memory and identity.

Usage::

    python benchmarks/bench_dask_campaign.py                      # 1000 and 10000 tasks
    python benchmarks/bench_dask_campaign.py --tasks 200 2000 --workers 2
    python benchmarks/bench_dask_campaign.py --tasks 10000 --scheduler tcp://127.0.0.1:8786

For each task count N of ``--tasks`` it runs one short-task campaign (random two-source
two-target tasks, 0.1 s of learning, 10 rows/s, λ spread over 0–0.055) through ``labctl
run --parallel`` in a subprocess – a local cluster of ``--workers`` processes, or the
cluster of ``--scheduler ADDRESS`` – and prints its wall time, throughput (tasks/s) and
the peak resident memory of the labctl process, which alone writes the run file (VmHWM,
read from /proc while it runs; the Dask workers are other processes). The baseline is
the smallest N, measured in the same run: memory that stays flat as N grows is bounded;
the benchmark prints the ratios. Finally the smallest and the largest campaigns are run
serially (no Dask, ``--no-serial`` skips them): the serial writer's peak memory as a
ratio of the smallest run's, and the two largest files compared task by task: every row
of every field must be bit-identical. CI does not run benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_runner import identical_rows
from protocol_templates import campaign_protocol


def short_campaign(count: int) -> str:
    """``count`` random tasks of 0.1 s of learning each, 10 rows/s, λ cycling through six
    values over 0–0.055 (the campaign of protocol_templates with its own seeds)."""
    return campaign_protocol(count, 0.1, name="short", seed=3, task_seed=5, n_lambdas=6)


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (MiB) of process ``pid`` so far (VmHWM), NaN if gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def run(protocol: Path, out: Path, *extra: str) -> tuple[float, float]:
    """``labctl run`` in a subprocess: (wall time from when the first task could start – its
    start serially, the cluster up on Dask – to the end in s, peak RSS of the labctl
    process in MiB)."""
    cmd = [sys.executable, "-m", "labctl.cli", "run", str(protocol), "-o", str(out),
           "--events", "jsonl", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            value = peak_rss_mib(proc.pid)
            if value == value:  # not NaN
                peak[0] = max(peak[0], value)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    first = last = None
    status = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        dask_up = event["event"] == "log" and str(event.get("text", "")).startswith("Dask:")
        if (event["event"] == "task_started" or dask_up) and first is None:
            first = event["t"]  # when the first task could start (see first_task_time)
        if event["event"] == "finished":
            last, status = event["t"], event["status"]
    err = proc.stderr.read() if proc.stderr is not None else ""
    proc.wait()
    done.set()
    watcher.join()
    if proc.returncode != 0 or status != "completed" or first is None or last is None:
        raise RuntimeError(f"labctl run failed ({proc.returncode}): {err[-2000:]}")
    return last - first, peak[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[1000, 10000],
                        help="task counts to run (the smallest is the memory baseline)")
    parser.add_argument("--workers", type=int, default=None,
                        help="local Dask workers (default: one per CPU)")
    parser.add_argument("--scheduler", default=None,
                        help="a Dask scheduler address instead of a local cluster")
    parser.add_argument("--no-serial", action="store_true",
                        help="skip the serial run of the largest campaign (identity check)")
    args = parser.parse_args()
    counts = sorted(set(args.tasks))
    if counts[0] < 1 or counts[-1] > 20000:
        parser.error("--tasks: allowed 1..20000 (a protocol's plan limit)")
    extra = ["--parallel"]
    if args.scheduler:
        extra += ["--scheduler", args.scheduler]
    elif args.workers:
        extra += ["--workers", str(args.workers)]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        warm = tmp / "warm.toml"
        warm.write_text(short_campaign(1))
        run(warm, tmp / "warm.h5")  # numba's cache, for every later process
        print(f"short-task campaigns (0.1 s learning each) on Dask ({' '.join(extra)}), "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:")
        base = None
        for n in counts:
            path = tmp / f"short{n}.toml"
            path.write_text(short_campaign(n))
            t0 = time.perf_counter()
            wall, rss = run(path, tmp / f"par{n}.h5", *extra)
            total = time.perf_counter() - t0
            base = base or (n, rss)
            size = (tmp / f"par{n}.h5").stat().st_size / 2**20
            print(f"  {n:6d} tasks: {wall:7.1f} s from first task to end ({total:.1f} s with "
                  f"start-up and file creation), {n / wall:6.1f} tasks/s; writer peak RSS "
                  f"{rss:6.0f} MiB = {rss / base[1]:.2f}x the {base[0]}-task run's "
                  f"({n / base[0]:.0f}x the tasks); file {size:.0f} MiB")
        if not args.no_serial:
            serial_base = None
            for n in sorted({counts[0], counts[-1]}):
                wall, rss = run(tmp / f"short{n}.toml", tmp / f"serial{n}.h5")
                serial_base = serial_base or (n, rss)
                line = (f"  serial, {n} tasks: {wall:.1f} s, peak RSS {rss:.0f} MiB = "
                        f"{rss / serial_base[1]:.2f}x the {serial_base[0]}-task serial run's")
                if n == counts[-1]:
                    same = identical_rows(tmp / f"par{n}.h5", tmp / f"serial{n}.h5")
                    line += f"; every row of the Dask file bit-identical to this file's: {same}"
                print(line, flush=True)
        print(f"  load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
