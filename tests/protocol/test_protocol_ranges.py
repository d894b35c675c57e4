"""Every number of a protocol has a physical range (declared once, in protocol/fields.py):
the cases the fault campaign found, all problems of a file at once with "did you mean",
plan sizes bounded before expansion, the docs tables generated from the declarations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labctl.bench.config import load_bench
from labctl.protocol import ProtocolError, compile_plan, load_protocol
from labctl.protocol.doctables import update_docs
from labctl.protocol.fields import bench_context
from labctl.protocol.plan import MAX_TASK_RUNS, plan_size
from labctl.protocol.validate_cmd import check_files

ROOT = Path(__file__).resolve().parents[2]
BASE = """name = "r"
eta = 0.22
{top}
[learning]
duration = {duration}
{extra}
[[task]]
kind = "allostery"
sources = {{ 0 = 0.0, 10 = 0.45 }}
targets = {{ 5 = 0.091, 15 = 0.363 }}
"""
CONTROL = """[lambda]
mode = "control"
target_error = {target_error}
rho = {rho}
p = 0.5
lam0 = 0.001
"""


def write(tmp_path: Path, top: str = "", duration: str = "1.0", extra: str = "") -> Path:
    path = tmp_path / "p.toml"
    path.write_text(BASE.format(top=top, duration=duration, extra=extra))
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ProtocolError) as info:
        compile_plan(load_protocol(path))
    return str(info.value)


# the campaign's accepted-then-failing values, each with the range it must name
@pytest.mark.parametrize(("top", "duration", "extra", "expect"), [
    ("record_rate = 1e-320", "1.0", "", "record_rate: 1e-320 Hz is out of range; allowed "
     "1 Hz (one row per task: 1 / learning time) <= value <= 10000 Hz (the DAQ sample rate)"),
    ("record_rate = 20000.0", "1.0", "", "<= 10000 Hz (the DAQ sample rate)"),
    ("", "1e-320", "", "learning.duration: 1e-320 s is out of range; allowed 0.1 s "
     "(one DAQ block) <= value"),
    ("", "0.05", "", "learning.duration: 0.05 s is out of range"),
    ("", "1.0", CONTROL.format(target_error=1e-3, rho=1e308),
     "lambda.rho: 1e+308 s is out of range; allowed 0.1 s (one DAQ block) <= value <= "
     "86400 s"),
    ("", "1.0", "[sim]\nalpha = 18446744073709551616\n",
     "sim.alpha: 18446744073709551616 1/s is out of range; allowed 0.001 1/s <= value <= "
     "500 1/s"),
    ("", "1.0", CONTROL.format(target_error=100, rho=1.0),
     "lambda.target_error: 100 V² is out of range; allowed 1e-12 V² <= value <= 0.72 V² "
     "(½ N_T V_node,max², the largest error the bench can produce)"),
    ("eta = 1e-320", "1.0", "", "eta: 1e-320 is out of range; allowed 0.007752"),
    ('name = "' + "n" * 10_000 + '"', "1.0", "", "is too long; allowed at most 64"),
    ('name = "../x"', "1.0", "", "allowed 1..64 characters of A-Za-z0-9_.-"),
])
def test_out_of_range_values_are_refused_with_their_range(tmp_path, top, duration, extra,
                                                         expect):
    text = BASE.format(top="", duration=duration, extra=extra)
    if top.startswith(("eta", "name")):
        text = text.replace(re.search(rf"^{top.split()[0]} = .*$", text, re.M).group(),
                            top)
    else:
        text = text.replace('eta = 0.22\n', f"eta = 0.22\n{top}\n")
    path = tmp_path / "p.toml"
    path.write_text(text)
    message = refusal(path)
    assert message.startswith(f"{path}: ")
    assert expect in message, message


def test_max_error_is_half_the_target_count_times_the_node_range_squared():
    """L = ½ Σ_T (Ṽ_T − V_T)², both voltages in [0, V_node,max]: ½ N_T V_node,max²."""
    lab1 = ROOT / "labctl" / "resources" / "benches" / "lab1.toml"
    for bench in (load_bench(), load_bench(lab1)):
        n_targets = sum(1 for ln in bench.output_lines if ln.role == "target")
        expected = 0.5 * n_targets * bench.limits.node_voltage_max ** 2
        assert bench_context(bench)["max_error"] == pytest.approx(expected, rel=1e-3)


def test_a_typo_gives_did_you_mean_and_the_missing_field(tmp_path):
    path = write(tmp_path)
    path.write_text(path.read_text().replace("duration = 1.0", "duraton = 1.0"))
    message = refusal(path)
    assert (f"{path}: learning.duraton: unknown key 'learning.duraton' for learning mode "
            "'continuous' (did you mean 'duration'?)") in message
    assert f"{path}: learning.duration: required field is missing" in message


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    path = write(tmp_path, top="record_rate = nan\nrepeats = 0\nseeed = 3",
                 duration="-1", extra="[sim]\ngamma = [1e9, -1]\n")
    path.write_text(path.read_text().replace("15 = 0.363", "15 = 9.0"))
    lines = refusal(path).splitlines()
    fields = [ln.split(": ")[1] for ln in lines]
    assert set(fields) >= {"record_rate", "repeats", "seeed", "learning.duration",
                           "sim.gamma[0]", "sim.gamma[1]", "task[0].targets.15"}, lines
    assert all(ln.startswith(f"{path}: ") for ln in lines)


def test_plan_size_is_bounded_before_anything_is_expanded(tmp_path):
    path = ROOT / "protocols" / "lambda_tradeoff.toml"
    text = path.read_text().replace("seed = ", "repeats = 100\nseed = ", 1)
    text = re.sub(r"values = \{[^}]*\}|values = \[[^]]*\]",
                  "values = { start = 0.0, stop = 0.05, num = 100 }", text, count=1)
    text = text.replace('assign = "cycle"', 'assign = "product"')
    big = tmp_path / "big.toml"
    big.write_text(text)
    message = refusal(big)
    assert f"{big}: plan: 1500000 task runs (100 repeats × 150 tasks × 100 lambda values); " \
           f"allowed at most {MAX_TASK_RUNS}: reduce repeats" in message
    shipped = load_protocol(path)
    assert plan_size(shipped).task_runs == len(compile_plan(shipped)) == 150


def test_plan_size_matches_the_compiled_plan_for_every_shipped_protocol():
    bench = load_bench()
    for path in sorted((ROOT / "protocols").glob("*.toml")):
        protocol = load_protocol(path, bench)
        plans = compile_plan(protocol)
        size = plan_size(protocol)
        assert size.task_runs == len(plans), path
        assert size.bench_s == pytest.approx(sum(p.expected_duration_s for p in plans)), path


def test_validate_with_bench_names_the_bench_file_in_every_message(tmp_path):
    lab1 = ROOT / "labctl" / "resources" / "benches" / "lab1.toml"
    iris = ROOT / "protocols" / "iris.toml"
    [problem] = [c.problem for c in check_files([iris], lab1)]
    assert problem and all(line.startswith(str(iris)) and line.endswith(f"[bench file {lab1}]")
                           for line in problem.splitlines())


def test_docs_tables_are_generated_from_the_declarations():
    doc = (ROOT / "docs" / "PROTOCOLS.md").read_text(encoding="utf-8")
    assert doc.count("<!-- fields:") >= 10
    assert update_docs(doc) == doc, "run: python3 -m labctl.protocol.doctables docs/PROTOCOLS.md"


def test_metadata_is_free_form_but_bounded(tmp_path):
    path = write(tmp_path, extra='[metadata]\noperator = "ana"\ntemperature_K = 293.5\n'
                                 'calibrated = true\nruns = 3\nnotes = "a\\nb"\n')
    assert load_protocol(path).metadata == {"operator": "ana", "temperature_K": "293.5",
                                            "calibrated": "true", "runs": "3",
                                            "notes": "a\nb"}
    bad = write(tmp_path, extra='[metadata]\n"bad key" = 1\nx = nan\ny = "\\u0007"\n'
                                'z = [1]\nw = "' + "w" * 5000 + '"\n')
    fields = [ln.split(": ")[1] for ln in refusal(bad).splitlines()]
    assert fields == ["metadata.bad key", "metadata.x", "metadata.y", "metadata.z",
                      "metadata.w"]


def test_the_fault_policy_reaches_every_task_plan(tmp_path):
    plans = compile_plan(load_protocol(write(tmp_path, top='on_task_fault = "retry"\n'
                                                            "max_task_retries = 3")))
    assert {(p.fault_policy.on_task_fault, p.fault_policy.max_task_retries)
            for p in plans} == {("retry", 3)}
    assert compile_plan(load_protocol(write(tmp_path)))[0].fault_policy.on_task_fault == \
        "abort"
    message = refusal(write(tmp_path, top='on_task_fault = "skip"\nmax_task_retries = 3'))
    assert "max_task_retries: only allowed with on_task_fault = 'retry'" in message
    message = refusal(write(tmp_path, top='on_task_fault = "retry"\nmax_task_retries = 99'))
    assert "max_task_retries: 99 is out of range; allowed 1 <= value <= 10" in message
