"""``labctl validate`` checks the pure-simulation protocols of ``labctl reproduce``
(``protocols/papers/``) with their own loader: the shipped ones pass, bad ones are refused
with exit 2 naming the file and the field, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.cli import main

ROOT = Path(__file__).resolve().parents[2]
PAPERS = sorted((ROOT / "protocols" / "papers").glob("*.toml"))


def test_the_shipped_simulation_protocols_validate(capsys) -> None:
    assert len(PAPERS) >= 4
    assert main(["validate", *map(str, PAPERS)]) == 0
    out = capsys.readouterr().out
    assert out.count("ok: ") == len(PAPERS) and "simulation protocol" in out


@pytest.mark.parametrize(("edit", "words"), [
    (lambda t: t.replace('claim = "kappa"', 'claim = "nonsense"'), ["claim", "nonsense"]),
    (lambda t: t.replace("networks = 12", 'networks = "many"'), ["networks"]),
    (lambda t: t.replace("networks = 12", "networks = 12\nnetwroks = 3"), ["netwroks"]),
    (lambda t: t.replace("eta = 1e-3", "eta = nan"), ["eta"]),
])
def test_a_bad_simulation_protocol_is_refused_by_name(edit, words, tmp_path, capsys) -> None:
    text = (ROOT / "protocols" / "papers" / "kappa.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(edit(text))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"error: {bad}" in err and "Traceback" not in err
    assert all(word in err for word in words), err
