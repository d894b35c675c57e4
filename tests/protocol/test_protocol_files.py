"""Shipped protocols validate; every file of the malformed corpus is refused precisely."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labctl.bench.config import load_bench
from labctl.protocol import ProtocolError, compile_plan, load_protocol, validate_files

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "protocols").glob("*.toml"))
BAD = sorted((Path(__file__).parent / "bad").glob("*.toml"))
REQUIRED = {"demo", "lambda_tradeoff", "init_scan", "lambda_control", "out_of_equilibrium",
            "iris", "nonlinear_regression"}


def test_every_required_protocol_is_shipped() -> None:
    assert {p.stem for p in SHIPPED} >= REQUIRED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_protocol_validates_and_compiles(path: Path) -> None:
    protocol = load_protocol(path, load_bench())
    plans = compile_plan(protocol)
    assert plans and [p.index for p in plans] == list(range(len(plans)))
    assert len({p.name for p in plans}) == len(plans)
    assert all(p.expected_duration_s > 0 for p in plans)


def test_iris_needs_five_source_lines() -> None:
    two_line_bench = load_bench(ROOT / "labctl" / "resources" / "benches" / "lab1.toml")
    unreachable = r"task\[0\]\.input_nodes: node 2 cannot be reached by any source line"
    with pytest.raises(ProtocolError, match=unreachable):
        load_protocol(ROOT / "protocols" / "iris.toml", two_line_bench)


def test_corpus_is_large_enough() -> None:
    assert len(BAD) >= 30


def expectation(path: Path) -> str:
    match = re.search(r"^# expect: (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"{path} has no '# expect:' line"
    return match.group(1).strip()


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_malformed_protocol_is_refused(path: Path) -> None:
    with pytest.raises(ProtocolError) as info:
        compile_plan(load_protocol(path))
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expectation(path) in message, message


def test_validate_files_collects_one_problem_per_bad_file() -> None:
    problems = validate_files([*SHIPPED[:2], *BAD[:3]])
    assert len(problems) == 3
    assert all(str(p) in msg for p, msg in zip(BAD[:3], problems))
