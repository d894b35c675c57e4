"""``labctl gui --screenshot ... --run ... --quit-after ...`` and its argument checks."""

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import argparse
import subprocess
import sys

import pytest
from PySide6.QtGui import QImage

from labctl.gui.cli import add_gui_arguments, cmd_gui, display_problem


def _args(*argv):
    parser = argparse.ArgumentParser()
    add_gui_arguments(parser)
    return parser.parse_args(list(argv))


def test_screenshot_run_saves_the_window_and_exits_0(tmp_path, protocols):
    """The window keeps the size asked for, even with a long run-file path in its status
    bar (the path is elided, never widening the window)."""
    protocol = protocols.write(tmp_path / "shot.toml", name="shot", seed=0)
    png = tmp_path / "img" / "gui.png"
    runs = tmp_path / ("a-long-folder-name-" * 8) / "runs"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-m", "labctl.gui.cli", "--screenshot", str(png), "--run",
         str(protocol), "--quit-after", "2", "--clock", "fast", "--runs-dir",
         str(runs), "--size", "1200x800"],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    image = QImage(str(png))
    assert (image.width(), image.height()) == (1200, 800)
    assert len(list(runs.glob("shot-*.h5"))) == 1


def test_screenshot_needs_run_and_quit_after(capsys):
    assert cmd_gui(_args("--screenshot", "x.png")) == 2
    assert "--run" in capsys.readouterr().err
    assert cmd_gui(_args("--size", "12x10")) == 2
    assert "--size" in capsys.readouterr().err
    assert cmd_gui(_args("--screenshot", "x.png", "--run", "p.toml",
                         "--quit-after", "-1")) == 2
    assert "--quit-after" in capsys.readouterr().err


def test_without_a_display_one_line_and_exit_2(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "labctl.cli", "gui"], capture_output=True,
                          text=True, env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and proc.stdout == ""
    assert "no display" in lines[0] and "QT_QPA_PLATFORM=offscreen" in lines[0]
    assert "xvfb-run" in lines[0]


@pytest.mark.parametrize(("env", "platform", "problem"), [
    ({}, "linux", "no display"),
    ({"DISPLAY": ":0"}, "linux", None),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", None),
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux", None),
    ({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "w"}, "linux", "QT_QPA_PLATFORM=xcb but "
                                                                  "DISPLAY is not set"),
    ({"QT_QPA_PLATFORM": "wayland"}, "linux", "WAYLAND_DISPLAY is not set"),
    ({}, "darwin", None),
    ({}, "win32", None),
])
def test_display_problem(env, platform, problem):
    found = display_problem(env, platform)
    assert (found is None) == (problem is None)
    if problem is not None:
        assert problem in found


def test_replay_option_refuses_a_damaged_file_and_excludes_run(tmp_path, capsys):
    assert cmd_gui(_args("--run", "p.toml", "--replay", "x.h5")) == 2
    assert "--replay" in capsys.readouterr().err
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not a run file\n" * 100)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-m", "labctl.gui.cli", "--replay", str(junk),
                           "--screenshot", str(tmp_path / "s.png"), "--quit-after", "1"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "propagateSizeHints" not in line]
    assert len(errors) == 1 and "replay refused" in errors[0] and str(junk) in errors[0]
    assert not (tmp_path / "s.png").exists()
