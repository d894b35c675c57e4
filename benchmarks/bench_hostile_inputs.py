"""How fast and how lean bad input is refused: the hostile corpus of
``tests/protocol/hostile_corpus.py``.

Usage::

    python benchmarks/bench_hostile_inputs.py [--processes 10]

1. In process, through the check ``labctl validate`` uses (protocols) or ``labctl validate
   --bench`` (bench files): every case timed, the slowest listed, the peak Python memory of
   the worst ones measured with tracemalloc.
2. The slowest cases again as ``labctl validate FILE`` processes (``labctl.cli.main`` in a
   fresh interpreter that reports its own ``resource.getrusage`` peak RSS): wall time,
   exit code and peak memory of each.

Prints the corpus size, the clean refusals (refused, file named, no traceback), and the
worst refusal time and memory with the command that produced them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "protocol"))

from hostile_corpus import Case, corpus  # noqa: E402

from labctl.protocol.validate_cmd import check_file, check_files  # noqa: E402

DEMO = ROOT / "protocols" / "demo.toml"
#: ``labctl`` in a fresh interpreter, reporting its own peak memory (kB) last on stderr
# Peak memory is the process's own VmHWM (/proc/self/status), not ru_maxrss: Linux
# carries a parent's peak across fork and exec into ru_maxrss, so a child of a large test
# process would report the parent's memory.
WRAPPER = ("import sys\nfrom labctl.cli import main\nrc = main(sys.argv[1:])\n"
           "hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')]\n"
           "print(f'maxrss_kb={hwm[0]}', file=sys.stderr)\nsys.exit(rc)\n")


def refuse(case: Case, path: Path) -> str | None:
    """The refusal message of ``case`` written at ``path`` (None if accepted)."""
    if case.kind == "protocol":
        return check_file(path).problem
    return check_files([DEMO], path)[0].problem


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=10,
                        help="slowest cases re-run as labctl processes")
    args = parser.parse_args()
    cases = corpus()
    timings: list[tuple[float, Case, Path]] = []
    clean = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases):
            path = case.write(Path(tmp) / f"c{i}")
            t0 = time.perf_counter()
            problem = refuse(case, path)
            timings.append((time.perf_counter() - t0, case, path))
            if problem and str(path) in problem and "Traceback" not in problem:
                clean += 1
        timings.sort(key=lambda t: t[0], reverse=True)
        total = sum(t for t, _, _ in timings)
        print(f"corpus: {len(cases)} files ({sum(c.kind == 'protocol' for c in cases)} "
              f"protocol, {sum(c.kind == 'bench' for c in cases)} bench); clean refusals: "
              f"{clean}/{len(cases)}; in-process total {total:.2f} s")
        print("slowest in process (s, tracemalloc peak MiB):")
        for dt, case, path in timings[:args.processes]:
            tracemalloc.start()
            refuse(case, path)
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            print(f"  {dt:7.3f}  {peak:7.1f}  {case.name}")
        print("as processes (labctl validate FILE; bench files: labctl validate --bench FILE "
              "protocols/demo.toml):")
        worst_t = worst_rss = 0.0
        worst_cmd = ""
        for _, case, path in timings[:args.processes]:
            argv = (["validate", str(path)] if case.kind == "protocol"
                    else ["validate", "--bench", str(path), str(DEMO)])
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", WRAPPER, *argv], capture_output=True,
                                  text=True, timeout=600)
            dt = time.perf_counter() - t0
            rss = int(proc.stderr.rsplit("maxrss_kb=", 1)[1].split()[0]) / 1024
            tb = "Traceback" in proc.stderr
            print(f"  {dt:6.2f} s  {rss:6.0f} MiB  exit {proc.returncode}"
                  f"{'  TRACEBACK' if tb else ''}  {case.name}")
            if dt > worst_t:
                worst_t, worst_cmd = dt, "labctl " + " ".join(argv)
            worst_rss = max(worst_rss, rss)
        print(f"worst process: {worst_t:.2f} s ({worst_cmd}); largest peak RSS "
              f"{worst_rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
