"""Every malformed or hostile protocol and bench file is refused cleanly, before anything
opens: the generated corpus of :mod:`hostile_corpus` (> 300 files) through the check
``labctl validate`` uses, samples through ``labctl run`` and ``labctl bench check``, and
the worst cases through a real ``labctl validate`` process (exit 2, the file named, no
traceback, bounded memory). Timings are in ``benchmarks/bench_hostile_inputs.py``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labctl import cli
from labctl.bench.config import BenchFileError, load_bench
from labctl.protocol.validate_cmd import check_file, check_files

sys.path.insert(0, str(Path(__file__).parent))
from hostile_corpus import ROOT, Case, corpus

CASES = corpus()
BY_NAME = {c.name: c for c in CASES}
DEMO = ROOT / "protocols" / "demo.toml"
#: the worst inputs (size, depth, encoding, devices, plan size), run as real processes
WORST = ("protocol-demo-deep-array-100000", "protocol-demo-not-utf8",
         "protocol-bench-ref-dev-zero", "protocol-tradeoff-repeats-100-sweep-100",
         "protocol-demo-20000-unknown-keys", "protocol-demo-description-500k",
         "protocol-demo-oversized-2MiB", "protocol-bench-ref-sparse-8GiB-bench",
         "protocol-demo-kappa-num-10000x-repeats", "protocol-tradeoff-count-100000",
         "protocol-demo-name-100k")
#: a process running labctl's main() that reports its own peak memory (kB) last
# Peak memory is the process's own VmHWM (/proc/self/status), not ru_maxrss: Linux
# carries a parent's peak across fork and exec into ru_maxrss, so a child of a large test
# process would report the parent's memory.
WRAPPER = ("import sys\nfrom labctl.cli import main\nrc = main(sys.argv[1:])\n"
           "hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')]\n"
           "print(f'maxrss_kb={hwm[0]}', file=sys.stderr)\nsys.exit(rc)\n")
MAX_RSS_KB = 500 * 1024


def test_the_corpus_is_large_and_varied():
    assert len(CASES) >= 300
    assert sum(c.kind == "bench" for c in CASES) >= 100
    assert all(name in BY_NAME for name in WORST)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_hostile_file_is_refused_naming_it(case: Case, tmp_path):
    path = case.write(tmp_path)
    if case.kind == "protocol":
        problem = check_file(path).problem
        assert problem is not None, f"{case.name} was accepted"
        assert all(line.startswith(str(path)) for line in problem.splitlines()), problem
    else:
        problem = check_files([DEMO], path)[0].problem  # labctl validate --bench
        assert problem is not None, f"{case.name} was accepted"
        assert all(str(path) in line for line in problem.splitlines()), problem
        with pytest.raises(BenchFileError) as info:
            load_bench(path)
        assert str(info.value).startswith(f"{path}: ")
    assert case.expect in problem, problem
    assert "Traceback" not in problem


def _sample(kind: str, count: int) -> list[Case]:
    cases = [c for c in CASES if c.kind == kind]
    return cases[:: max(1, len(cases) // count)][:count]


@pytest.fixture
def no_instruments(monkeypatch):
    """Opening any bench fails the test: refusals must come first."""
    def refuse(*args, **kwargs):
        pytest.fail("an instrument was opened")

    for target in ("labctl.runner.session.open_bench", "labctl.bench.check.open_bench",
                   "labctl.bench.factory.open_bench"):
        monkeypatch.setattr(target, refuse)


@pytest.mark.parametrize("case", _sample("protocol", 20), ids=lambda c: c.name)
def test_labctl_run_refuses_before_opening_the_bench(case, tmp_path, capsys, no_instruments):
    path = case.write(tmp_path / "in")
    out = tmp_path / "run.h5"
    assert cli.main(["run", str(path), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("case", _sample("bench", 15), ids=lambda c: c.name)
def test_labctl_run_and_bench_check_refuse_a_bad_bench(case, tmp_path, capsys, no_instruments):
    path = case.write(tmp_path / "in")
    assert cli.main(["bench", "check", str(path)]) == 2
    captured = capsys.readouterr()
    assert str(path) in captured.out and "Traceback" not in captured.out + captured.err
    out = tmp_path / "run.h5"
    assert cli.main(["run", str(DEMO), "--bench", str(path), "-o", str(out), "-q"]) == 2
    assert str(path) in capsys.readouterr().err
    assert not out.exists()


def _labctl(*args: str, script: bool = False) -> subprocess.CompletedProcess[str]:
    command = ([shutil.which("labctl") or "labctl"] if script
               else [sys.executable, "-c", WRAPPER])
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def _rss_kb(stderr: str) -> int:
    return int(stderr.rsplit("maxrss_kb=", 1)[1].split()[0])


def test_worst_cases_through_a_labctl_validate_process(tmp_path):
    paths = [BY_NAME[name].write(tmp_path / name) for name in WORST]
    proc = _labctl("validate", *map(str, paths))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for path in paths:
        assert f"error: {path}" in proc.stderr
    assert _rss_kb(proc.stderr) < MAX_RSS_KB


@pytest.mark.skipif(shutil.which("labctl") is None, reason="console script not installed")
def test_the_console_script_refuses_cleanly(tmp_path):
    path = BY_NAME["protocol-demo-deep-array-100000"].write(tmp_path)
    proc = _labctl("validate", str(path), script=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(path) in proc.stderr


def test_validate_with_a_non_utf8_bench_names_the_bench_in_every_message(tmp_path):
    bench = BY_NAME["bench-sim-not-utf8"].write(tmp_path)
    proc = _labctl("validate", "--bench", str(bench), str(DEMO),
                   str(ROOT / "protocols" / "iris.toml"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 2 and all(str(bench) in ln for ln in errors), proc.stderr
    assert _rss_kb(proc.stderr) < MAX_RSS_KB
