"""Compilation of protocols into task plans, and the ``labctl validate`` command."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from labctl.bench.config import load_bench
from labctl.protocol import (
    ConfigureSim,
    ControlLambda,
    Learn,
    RouteOutputs,
    SafeState,
    SetGates,
    SetLambda,
    SetOutputs,
    StepwiseTrain,
    add_validate_arguments,
    compile_plan,
    load_protocol,
)

ROOT = Path(__file__).resolve().parents[2]
LAB1 = ROOT / "labctl" / "resources" / "benches" / "lab1.toml"


def write(tmp_path: Path, body: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


BASE = """name = "t"
eta = 0.22
{top}
[learning]
{learning}
{extra}
[[task]]
kind = "allostery"
name = "a"
sources = {{ 0 = 0.0, 10 = 0.45 }}
targets = {{ 5 = 0.091, 15 = 0.363 }}
[[task]]
kind = "allostery"
name = "b"
sources = {{ 1 = 0.45, 3 = 0.0 }}
targets = {{ 9 = 0.2 }}
"""


def proto(tmp_path: Path, top: str = "", learning: str = "duration = 2.0", extra: str = ""):
    return load_protocol(write(tmp_path, BASE.format(top=top, learning=learning,
                                                     extra=extra)))


def test_allostery_plan_steps_and_params(tmp_path: Path) -> None:
    plans = compile_plan(proto(tmp_path))
    assert [p.name for p in plans] == ["a", "b"]
    steps = plans[0].steps
    assert isinstance(steps[0], RouteOutputs)
    assert dict(steps[0].routing) == {"source0": 0, "source1": 10, "target0": 5,
                                      "target1": 15}
    assert [type(s) for s in steps[1:]] == [SetGates, type(steps[2]), SetLambda, SetOutputs,
                                            type(steps[5]), Learn, type(steps[7]), SafeState]
    assert steps[1] == SetGates(volts=(1.0 + 5.5) / 2)  # default: mid gate range
    assert dict(steps[4].volts) == {"source0": 0.0, "source1": 0.45, "target0": 0.091,
                                    "target1": 0.363}
    assert steps[6] == Learn(2.0, 50.0)
    p = plans[1].params
    assert p["source_nodes"] == [1, 3] and p["target_voltages"] == [0.2]
    assert p["eta"] == 0.22 and p["lambda"] == 0.0 and p["duration_s"] == 2.0
    assert plans[1].expected_duration_s == 2.0


def test_sweeps_multiply_and_cycle(tmp_path: Path) -> None:
    product = compile_plan(proto(tmp_path, extra="[lambda]\nmode = 'sweep'\n"
                                 "values = {start = 0.0, stop = 0.05, num = 3}\n"
                                 "[init]\nkappa = [5e-4, 1e-3]", top="repeats = 2"))
    assert len(product) == 2 * 2 * 2 * 3
    assert product[0].name == "a kappa=0.0005 lambda=0 r0"
    assert [p.params["lambda"] for p in product[:3]] == [0.0, 0.025, 0.05]
    assert product[3].steps[1] == SetGates(kappa=1e-3)
    assert len({p.name for p in product}) == len(product)
    assert product[0].params["seed"] != product[12].params["seed"]  # other repeat
    cycle = compile_plan(proto(tmp_path, extra="[lambda]\nmode = 'sweep'\n"
                               "values = [0.0, 0.02, 0.04]\nassign = 'cycle'"))
    assert [p.params["lambda"] for p in cycle] == [0.0, 0.02]


def test_stepwise_and_control_and_sim(tmp_path: Path) -> None:
    plans = compile_plan(proto(tmp_path, learning="mode = 'stepwise'\nsteps = 40\n"
                               "window = 1e-4\nsettle = 2e-3"))
    assert StepwiseTrain(40, 1e-4, 2e-3) in plans[0].steps
    assert plans[0].expected_duration_s == pytest.approx(40 * (1e-4 + 4e-3))
    plans = compile_plan(proto(tmp_path, extra="[lambda]\nmode = 'control'\n"
                               "target_error = 1e-3\nrho = 1.0\np = 0.02\nlam0 = 0.001\n"
                               "[sim]\ngamma = [10.0, 100.0]\nnoise = 5e-4"))
    assert len(plans) == 4 and plans[1].name == "a gamma=100"
    assert ControlLambda(2.0, 50.0, 1e-3, 1.0, 0.02, 0.001, 0.06522, 10.0) in plans[0].steps
    assert ConfigureSim(gamma=100.0, noise=5e-4) in plans[1].steps
    assert plans[1].params["gamma"] == 100.0


def test_random_tasks_are_reproducible_and_valid(tmp_path: Path) -> None:
    body = """name = "r"
eta = 0.22
[learning]
duration = 20.0
[[task]]
kind = "random_allostery"
name = "rnd"
count = 40
seed = 9
source_voltages = [0.0, 0.45]
target_voltages = [[0.091, 0.363], [0.045, 0.408]]
"""
    path = write(tmp_path, body)
    a = compile_plan(load_protocol(path))
    b = compile_plan(load_protocol(path))
    assert [p.sources + p.targets for p in a] == [p.sources + p.targets for p in b]
    assert len({p.sources + p.targets for p in a}) > 30
    for p in a:
        nodes = [n for n, _ in p.sources + p.targets]
        assert len(set(nodes)) == 4
        assert [v for _, v in p.sources] == [0.0, 0.45]
        assert [v for _, v in p.targets] in ([0.091, 0.363], [0.045, 0.408])
        assert p.params["generator_index"] == p.index
    # on the fixed-wired hardware bench the same generator can only use the wired nodes
    hw = compile_plan(load_protocol(path, load_bench(LAB1)))
    lines = load_bench(LAB1).output_lines
    wired = {r: {n for ln in lines if ln.role == r for n in ln.nodes} for r in ("source",
                                                                             "target")}
    assert all({n for n, _ in p.sources} <= wired["source"] for p in hw)
    assert all({n for n, _ in p.targets} <= wired["target"] for p in hw)


def test_cmd_validate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    add_validate_arguments(parser)
    good = ROOT / "protocols" / "demo.toml"
    bad = Path(__file__).parent / "bad" / "eta_zero.toml"
    args = parser.parse_args([str(good)])
    assert args.func(args) == 0
    assert "ok: " in capsys.readouterr().out
    args = parser.parse_args([str(good), str(bad)])
    assert args.func(args) == 2
    captured = capsys.readouterr()
    assert "eta_zero.toml: eta:" in captured.err and "demo.toml" in captured.out
    args = parser.parse_args([str(good), "--bench", str(tmp_path / "none.toml")])
    assert args.func(args) == 2
