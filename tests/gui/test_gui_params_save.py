"""The parameter panel validates edits in memory and saves them into the protocol file
with the user's comments and layout kept."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import tomllib
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from labctl.gui.params import ParameterPanel

COMMENTED = """# Corners task, tuned by hand on the bench (keep these notes!)
name = "commented"   # shown in the run list
bench = "sim"
eta = 0.22           # nudge amplitude: 0.22 worked best on chip 3
record_rate = 50.0
seed = 3

[lambda]
mode = "fixed"
value = 0.0  # no regularisation yet

[learning]
mode = "continuous"
duration = 1.0  # s

[init]
gate_voltage = 2.5

# --- tasks ---
[[task]]
kind = "allostery"
name = "corners"
sources = { 0 = 0.0, 10 = 0.45 }
targets = { 5 = 0.091, 15 = 0.363 }  # 20/80 %

[[task]]
kind = "allostery"
name = "other"  # a second task, unchecked below
sources = { 0 = 0.0, 10 = 0.45 }
targets = { 5 = 0.2, 15 = 0.3 }
"""


@pytest.fixture
def panel(qtbot, tmp_path) -> ParameterPanel:
    p = ParameterPanel()
    qtbot.addWidget(p)
    path = tmp_path / "commented.toml"
    path.write_text(COMMENTED)
    assert p.load(path) is not None
    return p


def test_validation_writes_no_file(panel, tmp_path):
    before = sorted(os.listdir(tmp_path))
    panel.set_field("eta", "0.3")
    assert panel.validate() is not None
    panel.set_field("eta", "7")  # refused: the loader's message at the field
    assert panel.validate() is None
    assert panel.error_for("eta").startswith("eta: ")
    assert sorted(os.listdir(tmp_path)) == before


def test_saving_an_edit_keeps_the_users_comments(panel, tmp_path):
    path = tmp_path / "commented.toml"
    panel.set_field("eta", "0.3")
    panel.set_field("learning.duration", "2.5")
    panel.tasks.item(1).setCheckState(Qt.CheckState.Unchecked)
    assert panel.save() == path
    text = path.read_text()
    # only the edited values changed; every comment of the kept parts is there
    expected = (COMMENTED.replace("eta = 0.22 ", "eta = 0.3 ")
                .replace("duration = 1.0  # s", "duration = 2.5  # s"))
    expected = expected[:expected.index('\n[[task]]\nkind = "allostery"\nname = "other"')] + "\n"
    assert text == expected
    doc = tomllib.loads(text)
    assert doc["eta"] == 0.3 and doc["learning"]["duration"] == 2.5
    assert [t["name"] for t in doc["task"]] == ["corners"]
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    # the saved file is what the panel now holds; reloading it gives the same protocol
    again = ParameterPanel()
    assert again.load(path) is not None and again.protocol.eta == 0.3


def test_a_refused_edit_is_not_saved(panel, tmp_path):
    path = tmp_path / "commented.toml"
    panel.set_field("eta", "-1")
    assert panel.save() is None
    assert path.read_text() == COMMENTED


def test_save_as_another_file_leaves_the_original(panel, tmp_path):
    panel.set_field("lambda.value", "0.03")
    copy = tmp_path / "copy.toml"
    assert panel.save(copy) == copy
    assert (tmp_path / "commented.toml").read_text() == COMMENTED
    assert "value = 0.03  # no regularisation yet" in copy.read_text()
    assert panel.path == copy


def test_a_protocol_that_cannot_be_read_is_named(qtbot, tmp_path):
    p = ParameterPanel()
    qtbot.addWidget(p)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"eta = \xff")
    assert p.load(bad) is None
    assert str(bad) in p.error_for("") and "UTF-8" in p.error_for("")
    assert p.load(Path(tmp_path / "missing.toml")) is None


@pytest.mark.parametrize("path", sorted(
    (Path(__file__).resolve().parents[2] / "protocols").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_protocol_saves_unchanged_when_nothing_is_edited(qtbot, tmp_path, path):
    p = ParameterPanel()
    qtbot.addWidget(p)
    assert p.load(path) is not None, p.error_for("")
    copy = tmp_path / path.name
    assert p.save(copy) == copy
    assert copy.read_bytes() == path.read_bytes()
