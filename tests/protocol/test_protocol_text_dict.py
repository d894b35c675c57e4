"""Protocols from text or a dict, validated exactly as files are."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from labctl.protocol import (
    ProtocolError,
    compile_plan,
    load_protocol,
    load_protocol_dict,
    load_protocol_text,
)
from labctl.tomlread import MAX_FILE_BYTES

SHIPPED = sorted((Path(__file__).resolve().parents[2] / "protocols").glob("*.toml"))


def _same(a, b) -> None:
    """Two Protocols describe the same run."""
    assert (a.name, a.eta, a.lam, a.learning, a.tasks, a.record_rate, a.seed) == (
        b.name, b.eta, b.lam, b.learning, b.tasks, b.record_rate, b.seed)
    assert [(p.name, p.params) for p in compile_plan(a)] == [
        (p.name, p.params) for p in compile_plan(b)]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_text_and_dict_give_the_files_protocol(path):
    from_file = load_protocol(path)
    from_text = load_protocol_text(path.read_text(), source_name=path)
    _same(from_text, from_file)
    assert from_text.text == from_file.text and from_text.path == from_file.path
    from_dict = load_protocol_dict(tomllib.loads(path.read_text()), source_name=path)
    _same(from_dict, from_file)
    assert tomllib.loads(from_dict.text) == tomllib.loads(from_file.text)


def test_every_problem_names_the_source(protocols):
    text = protocols.toml(name="edited").replace("eta = 0.22", "eta = 7\netta = 1")
    with pytest.raises(ProtocolError) as info:
        load_protocol_text(text, source_name="protocols/edited.toml")
    problems = dict(info.value.problems)
    assert str(info.value).startswith("protocols/edited.toml: ")
    assert "eta" in problems and "etta" in problems
    assert "did you mean 'eta'" in problems["etta"]


def test_a_relative_bench_resolves_from_the_source_folder(protocols, tmp_path):
    bench = (Path(__file__).resolve().parents[2] / "labctl" / "resources" / "benches"
             / "sim.toml")
    (tmp_path / "benches").mkdir()
    (tmp_path / "benches" / "mine.toml").write_text(bench.read_text())
    text = protocols.toml(bench="benches/mine.toml")
    assert load_protocol_text(text, source_name=tmp_path / "p.toml").bench is not None
    with pytest.raises(ProtocolError, match=r"cannot load bench 'benches/mine\.toml'"):
        load_protocol_text(text, source_name=tmp_path / "elsewhere" / "p.toml")


def test_text_has_the_bounds_of_a_file():
    with pytest.raises(ProtocolError, match=f"allowed at most {MAX_FILE_BYTES} bytes"):
        load_protocol_text("# " + "x" * MAX_FILE_BYTES, source_name="big")
    with pytest.raises(ProtocolError, match="nested more than"):
        load_protocol_text("a = " + "[" * 100 + "]" * 100, source_name="deep")
    with pytest.raises(ProtocolError, match="not valid TOML"):
        load_protocol_text("eta = = 1", source_name="bad")
    with pytest.raises(ProtocolError, match="expected text"):
        load_protocol_text(b"eta = 1", source_name="bytes")  # type: ignore[arg-type]


def test_a_dict_with_numpy_values_is_accepted(protocols):
    doc = tomllib.loads(protocols.toml(name="np"))
    doc["eta"] = np.float64(0.3)
    doc["seed"] = np.int64(11)
    doc["init"]["gate_voltage"] = np.float32(2.5)
    p = load_protocol_dict(doc)
    assert (p.eta, p.seed, p.path) == (0.3, 11, "<dict>")
    assert "eta = 0.3" in p.text


def test_values_toml_cannot_hold_are_named(protocols):
    doc = tomllib.loads(protocols.toml(name="none"))
    doc["lambda"]["value"] = None
    doc["learning"][3] = 1.0
    doc["metadata"] = {"sample": object()}
    with pytest.raises(ProtocolError) as info:
        load_protocol_dict(doc, source_name="notebook")
    fields = [field for field, _ in info.value.problems]
    assert fields == ["lambda.value", "learning.3", "metadata.sample"]
    assert "leave an unset field out" in dict(info.value.problems)["lambda.value"]
    assert str(info.value).startswith("notebook: lambda.value: None (NoneType)")
