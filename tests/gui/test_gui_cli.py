"""``labctl gui --screenshot ... --run ... --quit-after ...`` and its argument checks."""

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import argparse
import subprocess
import sys

from PySide6.QtGui import QImage

from labctl.gui.cli import add_gui_arguments, cmd_gui


def _args(*argv):
    parser = argparse.ArgumentParser()
    add_gui_arguments(parser)
    return parser.parse_args(list(argv))


def test_screenshot_run_saves_the_window_and_exits_0(tmp_path, protocols):
    protocol = protocols.write(tmp_path / "shot.toml", name="shot", seed=0)
    png = tmp_path / "img" / "gui.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-m", "labctl.gui.cli", "--screenshot", str(png), "--run",
         str(protocol), "--quit-after", "2", "--clock", "fast", "--runs-dir",
         str(tmp_path / "runs"), "--size", "1200x800"],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    image = QImage(str(png))
    assert (image.width(), image.height()) == (1200, 800)
    assert len(list((tmp_path / "runs").glob("shot-*.h5"))) == 1


def test_screenshot_needs_run_and_quit_after(capsys):
    assert cmd_gui(_args("--screenshot", "x.png")) == 2
    assert "--run" in capsys.readouterr().err
    assert cmd_gui(_args("--size", "12x10")) == 2
    assert "--size" in capsys.readouterr().err
    assert cmd_gui(_args("--screenshot", "x.png", "--run", "p.toml",
                         "--quit-after", "-1")) == 2
    assert "--quit-after" in capsys.readouterr().err
