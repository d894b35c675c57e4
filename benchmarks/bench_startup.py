"""Start-up time of the ``labctl`` command against a bare ``python -c pass``, in one run.

Runs each command ``--repeat`` times, interleaved (so machine load hits all alike), and
prints for each the median and the fastest wall time (s), the median's ratio to bare
Python's, the median CPU time (user + system, s: what load on a shared machine changes
least) and the goal (``labctl --help`` ≤ 0.2 s, ``labctl validate protocols/demo.toml``
≤ 0.5 s). Then it lists which heavy modules building the parser and importing the λ
controller load (the goal: none), with the number of modules each loads.

    python3 benchmarks/bench_startup.py [--repeat 15]

The ``labctl`` console script next to the interpreter is timed (the one ``pip install``
wrote); without one, ``python -m labctl.cli``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "protocols" / "demo.toml"
#: modules the parser and the λ controller must not load (s: their import alone is slow)
HEAVY = ("numba", "scipy", "h5py", "serial", "pyvisa", "nidaqmx", "matplotlib", "pandas",
         "xarray", "dask", "distributed", "PySide6", "pyqtgraph", "numpy")
PROBES = {
    "build the parser": "import labctl.cli as c; c.build_parser()",
    "import labctl.physics.control": "import labctl.physics.control",
    "validate's modules": "import labctl.protocol.validate_cmd",
}


def labctl_command() -> list[str]:
    """The installed console script, or ``python -m labctl.cli``."""
    script = Path(sys.executable).with_name("labctl")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "labctl.cli"]


def time_once(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU time (s) of one run of ``argv``; its output is discarded, failure
    raises."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def loaded_modules(code: str) -> tuple[int, list[str]]:
    """Modules loaded by running ``code`` in a fresh interpreter: (count, heavy ones)."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([len(sys.modules), sorted(m for m in {list(HEAVY)!r} "
             "if m in sys.modules)]))")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                         text=True, cwd=ROOT).stdout
    count, heavy = json.loads(out.strip().splitlines()[-1])
    return int(count), list(heavy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per command")
    args = parser.parse_args()
    labctl = labctl_command()
    cases = {  # name -> (argv, goal in s or None)
        "python -c pass": ([sys.executable, "-c", "pass"], None),
        "labctl --help": ([*labctl, "--help"], 0.2),
        "labctl validate protocols/demo.toml": ([*labctl, "validate", str(DEMO)], 0.5),
    }
    for argv, _goal in cases.values():  # warm the file cache and the .pyc files
        time_once(argv)
    times: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, (argv, _goal) in cases.items():
            wall, used = time_once(argv)
            times[name].append(wall)
            cpu[name].append(used)
    bare = statistics.median(times["python -c pass"])
    print(f"interpreter {sys.executable}, labctl as {' '.join(labctl)}, "
          f"{args.repeat} runs each, interleaved; load average {os.getloadavg()[0]:.1f}")
    print(f"{'command':40s} {'median s':>9s} {'min s':>7s} {'× bare':>7s} {'CPU s':>6s}  goal")
    for name, (_argv, goal) in cases.items():
        med, low = statistics.median(times[name]), min(times[name])
        verdict = "" if goal is None else (f"≤ {goal} s: " + ("met" if med <= goal else
                                                                "NOT met (median)"))
        print(f"{name:40s} {med:9.3f} {low:7.3f} {med / bare:7.1f} "
              f"{statistics.median(cpu[name]):6.3f}  {verdict}")
    print()
    for what, code in PROBES.items():
        count, heavy = loaded_modules(code)
        print(f"{what:32s} {count:4d} modules; heavy: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
