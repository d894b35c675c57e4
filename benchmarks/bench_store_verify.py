"""How fast run files are checked: ``labctl info`` on the damaged corpus, and
``verify_run_file`` / ``open_run`` on good files of two sizes.

Usage::

    python benchmarks/bench_store_verify.py [--tasks 100] [--rows 10000]

1. The corpus of ``tests/store/test_store_damaged.py`` (bit flips, truncations, deleted
   and reshaped objects, foreign files): ``labctl info`` in process on each, timed;
   prints how many were refused and read, and the slowest and median times.
2. A small good file (3 tasks × 600 rows) and a big one (``--tasks`` × ``--rows`` rows
   with every field): median of 5 ``verify_run_file`` and 5 ``open_run`` calls.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labctl.network import periodic_lattice  # noqa: E402
from labctl.store import RunWriter, cmd_info, open_run, verify_run_file  # noqa: E402
from tests.store.test_store_damaged import build_corpus  # noqa: E402


def corpus_times(tmp: Path) -> None:
    corpus = build_corpus(tmp)
    times, refused = [], 0
    for path in corpus:
        t = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()) as err:
            code = cmd_info(argparse.Namespace(file=str(path)))
        times.append(time.monotonic() - t)
        refused += code == 2
        assert "Traceback" not in err.getvalue()
    worst = int(np.argmax(times))
    print(f"corpus: {len(corpus)} files, {refused} refused, {len(corpus) - refused} read; "
          f"labctl info median {np.median(times) * 1e3:.0f} ms, slowest "
          f"{times[worst] * 1e3:.0f} ms ({corpus[worst].name})")


def big_file(path: Path, n_tasks: int, n_rows: int) -> Path:
    net = periodic_lattice(4, 4)
    tasks = [SimpleNamespace(index=i, name=f"t{i}", params={}) for i in range(n_tasks)]
    with RunWriter(path, tasks, net) as w:
        for i in range(n_tasks):
            w.begin_task(i)
            w.append(i, {"time": np.arange(float(n_rows)),
                         "gate_voltage": np.ones((n_rows, net.n_edges)),
                         "v_free": np.ones((n_rows, net.n_nodes))})
            w.end_task(i)
    return path


def open_times(label: str, path: Path) -> None:
    verify, opened = [], []
    for _ in range(5):
        t = time.monotonic()
        verify_run_file(path)
        verify.append(time.monotonic() - t)
        t = time.monotonic()
        open_run(path).close()
        opened.append(time.monotonic() - t)
    print(f"{label} ({path.stat().st_size / 1e6:.0f} MB): verify_run_file median "
          f"{np.median(verify) * 1e3:.0f} ms, open_run median {np.median(opened) * 1e3:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "corpus").mkdir()
        corpus_times(root / "corpus")
        open_times("small good file (3 tasks x 600 rows)", root / "corpus" / "good.h5")
        open_times(f"big good file ({args.tasks} tasks x {args.rows} rows)",
                   big_file(root / "big.h5", args.tasks, args.rows))


if __name__ == "__main__":
    main()
