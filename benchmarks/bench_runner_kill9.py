"""kill -9 campaign on ``labctl run``: consistency, time lost and resume identity.

Usage::

    python benchmarks/bench_runner_kill9.py [--trials 15] [--tasks 4] [--duration 0.5]

Runs one uninterrupted reference run (fast clock), then ``--trials`` times: starts
``labctl run`` on the paced simulated bench (wall time = bench time), kills it with
SIGKILL at a reproducible random moment after its file appears, checks the file
(committed row counters never beyond the data; the visible rows equal the reference's
first rows; ``open_run`` says interrupted), resumes it with ``labctl run --resume`` and
compares every task with the reference. Prints per trial and in total:

* consistent files / trials;
* bench time lost (s): bench time of the interrupted task's rows on disk, which the
  resume discards and re-runs (0 if the kill fell between tasks);
* not on disk (s): kill moment − the writer's last flush (its heartbeat): how much
  acquisition at most had not reached the file;
* wall time lost (s): kill moment − the end of the last task carried over (or the file's
  appearance), what the resume repeats;
* resumed tasks bit-identical to the reference / total.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from protocol_templates import protocol_text, random_tasks

from labctl import cli
from labctl.store import layout as lay
from labctl.store import open_run

SEED = 11


def rows_of(path: Path) -> dict[int, dict[str, np.ndarray]]:
    with open_run(path) as run:
        return {t.index: {n: np.array(t[n]) for n in lay.TASK_FIELDS} for t in run.tasks}


def trial(protocol: Path, out: Path, delay: float, ref: dict, n_tasks: int) -> dict:
    proc = subprocess.Popen([sys.executable, "-m", "labctl.cli", "run", str(protocol), "-o",
                             str(out), "--seed", str(SEED), "--clock", "paced", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not out.exists():
        if proc.poll() is not None:
            raise SystemExit("labctl run ended before its file appeared")
        time.sleep(0.002)
    appeared = time.monotonic()
    time.sleep(delay)
    killed_at, killed_wall = time.monotonic() - appeared, time.time()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    consistent = True
    with h5py.File(out, "r", swmr=True, locking=False) as f:
        counters = f["progress/task_rows"][()]
        for i in range(n_tasks):
            g = f[lay.TASKS_GROUP][lay.task_group_name(i)]
            consistent &= all(counters[i] <= g[n].shape[0] for n in lay.TASK_FIELDS)
    with open_run(out) as run:
        consistent &= run.status == "interrupted"
        done = run.completed_tasks()
        events = run.events_array()
        not_on_disk = killed_wall - run.last_write.timestamp()
        bench_lost = 0.0
        for t in run.tasks:
            n = t.n_rows
            consistent &= all(np.array_equal(t[k], ref[t.index][k][:n], equal_nan=True)
                              for k in lay.TASK_FIELDS)
            if t.index not in done and n:
                bench_lost = max(bench_lost, float(t["time"][n - 1]))
        kinds = [bytes(k).decode() for k in events["kind"]]
        ends = [float(e["t"]) for e, k in zip(events, kinds) if k == "task_end"]
        carried_end = max(ends) if ends else 0.0
    resumed = out.with_name(out.stem + "-resumed.h5")
    with contextlib.redirect_stdout(io.StringIO()):  # the summary table of each run
        code = cli.main(["run", "--resume", str(out), "-o", str(resumed), "-q"])
    got = rows_of(resumed) if code == 0 else {}
    identical = sum(all(np.array_equal(got[i][k], ref[i][k], equal_nan=True)
                        for k in lay.TASK_FIELDS) for i in got)
    return {"delay": delay, "consistent": bool(consistent), "completed_at_kill": len(done),
            "bench_lost": bench_lost, "not_on_disk": not_on_disk,
            "wall_lost": max(0.0, killed_at - carried_end), "identical": identical,
            "tasks": n_tasks,
            "resume_rc": code}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--duration", type=float, default=0.5, help="s of learning per task")
    parser.add_argument("--moments-seed", type=int, default=20261130)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        protocol = folder / "kill9.toml"
        protocol.write_text(protocol_text("kill9", duration=args.duration, lam=0.0, seed=3,
                                           tasks=random_tasks(args.tasks, 4)))
        ref_path = folder / "ref.h5"
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli.main(["run", str(protocol), "-o", str(ref_path), "--seed", str(SEED),
                             "-q"]) == 0
        ref = rows_of(ref_path)
        shortest = args.tasks * (args.duration + 0.2)  # paced wall time, s
        moments = np.random.default_rng(args.moments_seed).uniform(0, 0.95 * shortest,
                                                                   args.trials)
        results = []
        for k, delay in enumerate(moments):
            r = trial(protocol, folder / f"k{k}.h5", float(delay), ref, args.tasks)
            results.append(r)
            print(f"trial {k:2d}: kill at {r['delay']:.2f} s, {r['completed_at_kill']} tasks "
                  f"done, consistent={r['consistent']}, bench lost {r['bench_lost']:.2f} s, "
                  f"not on disk {r['not_on_disk']:.2f} s, wall lost {r['wall_lost']:.2f} s, "
                  f"resume rc {r['resume_rc']}, identical {r['identical']}/{r['tasks']}",
                  file=sys.stderr)
    print(f"consistent: {sum(r['consistent'] for r in results)}/{len(results)}")
    print(f"most bench time lost: {max(r['bench_lost'] for r in results):.2f} s")
    print(f"most time not on disk at the kill: {max(r['not_on_disk'] for r in results):.2f} s")
    print(f"most wall time lost: {max(r['wall_lost'] for r in results):.2f} s")
    print(f"resume identity: {sum(r['identical'] for r in results)}/"
          f"{sum(r['tasks'] for r in results)} tasks bit-identical")


if __name__ == "__main__":
    main()
