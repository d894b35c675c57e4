"""``labctl gui``: start the bench operator window (or take a scripted screenshot).

``labctl gui [--bench FILE] [--protocol FILE] [--clock fast|paced]`` opens the window;
``--screenshot PATH --run PROTOCOL --quit-after SECONDS`` runs PROTOCOL on the selected
(default: simulated) bench, grabs the window after SECONDS of wall time, saves it as PNG,
aborts the run if it is still going (the bench ends safe) and exits 0; ``--replay FILE.h5``
opens a run file for replay instead (also without ``--screenshot``).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


def add_gui_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labctl gui``."""
    parser.add_argument("--bench", metavar="FILE", default=None,
                        help="bench file (default: the shipped simulated bench, sim.toml)")
    parser.add_argument("--protocol", metavar="FILE", default=None,
                        help="protocol file to load at start")
    parser.add_argument("--clock", choices=("fast", "paced"), default="paced",
                        help="simulated bench clock: paced = real time (default), fast = as "
                             "fast as the simulation runs")
    parser.add_argument("--runs-dir", metavar="DIR", default=None,
                        help="folder for run files (default: the one labctl run writes to)")
    parser.add_argument("--screenshot", metavar="PATH", default=None,
                        help="save a PNG of the window and quit (needs --run or --replay, "
                             "and --quit-after)")
    parser.add_argument("--run", metavar="PROTOCOL", default=None,
                        help="start this protocol at once (with --screenshot)")
    parser.add_argument("--replay", metavar="FILE.h5", default=None,
                        help="open this run file (finished, interrupted or live) for replay "
                             "at start")
    parser.add_argument("--quit-after", metavar="SECONDS", type=float, default=None,
                        help="wall seconds after start to take the screenshot and quit")
    parser.add_argument("--size", metavar="WxH", default="1600x1000",
                        help="window size in pixels (default 1600x1000)")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size: {text!r}; allowed WIDTHxHEIGHT in pixels, "
                         f"e.g. 1600x1000") from None
    if not (400 <= w <= 8000 and 300 <= h <= 8000):
        raise ValueError(f"--size: {text!r}; allowed 400..8000 x 300..8000 pixels")
    return w, h


#: Qt platform plugins that need a display server, and the variable naming it
_DISPLAY_OF = {"xcb": ("DISPLAY",), "wayland": ("WAYLAND_DISPLAY",),
               "": ("DISPLAY", "WAYLAND_DISPLAY")}


def display_problem(env: dict[str, str] | os._Environ[str], platform: str) -> str | None:
    """Why Qt would abort for want of a display, or None if it can start.

    Only X11/Wayland systems (not macOS or Windows) need ``DISPLAY`` or
    ``WAYLAND_DISPLAY``; an explicit ``QT_QPA_PLATFORM`` other than xcb/wayland (offscreen,
    vnc, eglfs, ...) is the user's choice and trusted."""
    if platform.startswith(("win", "darwin", "cygwin")):
        return None
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    needs = _DISPLAY_OF.get(qpa)
    if needs is None or any(env.get(name) for name in needs):
        return None
    what = f"QT_QPA_PLATFORM={qpa} but {needs[0]} is not set" if qpa \
        else "no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    return (f"labctl gui: {what}; run it in a desktop session, under xvfb-run "
            f"(xvfb-run labctl gui ...), or without a window with QT_QPA_PLATFORM=offscreen "
            f"(e.g. with --screenshot)")


def cmd_gui(args: argparse.Namespace) -> int:
    """Run the GUI; returns the process exit code (0 ok, 2 bad arguments or inputs)."""
    shot = args.screenshot
    if shot and (not (args.run or args.replay) or args.quit_after is None):
        print("labctl gui: --screenshot needs --run PROTOCOL or --replay FILE.h5, and "
              "--quit-after SECONDS", file=sys.stderr)
        return 2
    if args.run and args.replay:
        print("labctl gui: --run and --replay exclude each other (the display shows either "
              "the new run or the file)", file=sys.stderr)
        return 2
    if args.quit_after is not None and not 0 < args.quit_after <= 3600:
        print(f"labctl gui: --quit-after: {args.quit_after}; allowed 0 < s <= 3600",
              file=sys.stderr)
        return 2
    try:
        width, height = _size(args.size)
    except ValueError as exc:
        print(f"labctl gui: {exc}", file=sys.stderr)
        return 2
    if shot and "QT_QPA_PLATFORM" not in os.environ \
            and display_problem(os.environ, sys.platform) is not None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a screenshot needs no display
    problem = display_problem(os.environ, sys.platform)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2

    try:
        import shiboken6
        from PySide6.QtWidgets import QApplication

        from labctl.gui.main_window import MainWindow, apply_app_style
    except ImportError as exc:
        print(f"labctl gui: needs the [gui] extra ({exc.name or exc}): "
              f"pip install 'labctl[gui]'", file=sys.stderr)
        return 2

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_app_style(app)
    runs_dir = args.runs_dir
    if shot and runs_dir is None:
        runs_dir = tempfile.mkdtemp(prefix="labctl-gui-")
    window = MainWindow(clock=args.clock, runs_dir=runs_dir)
    try:
        return _drive(app, window, args, width, height)
    finally:
        # destroy the window's Qt objects now, in Qt's order, not in whatever order the
        # interpreter's exit collects the Python wrappers (that crashed at exit, rc 139)
        shiboken6.delete(window)
        gc.collect()


def _drive(app: Any, window: Any, args: argparse.Namespace, width: int, height: int) -> int:
    """Set up ``window`` as the arguments ask, run the event loop; the exit code."""
    from PySide6.QtCore import QTimer

    shot = args.screenshot
    window.resize(width, height)
    if args.bench and window.bench_panel.select(args.bench) is None:
        print(f"labctl gui: {window.bench_panel.info.text()}", file=sys.stderr)
        return 2
    protocol_file = args.run or args.protocol
    if protocol_file and window.load_protocol(protocol_file) is None:
        errors = [f.error.text() for f in window.params.fields.values() if f.error.text()]
        errors += [window.params.error_for("task"), window.params.error_for("")]
        print(f"labctl gui: {protocol_file}: " + "; ".join(e for e in errors if e),
              file=sys.stderr)
        return 2
    window.show()
    exit_code = [0]
    if args.replay and not window.replay.try_open(args.replay):
        print(f"labctl gui: {window.replay.time_label.text()}", file=sys.stderr)
        return 2
    if args.run and window.start_run() is None:
        print("labctl gui: the run could not be started (see the log)", file=sys.stderr)
        return 1
    if args.quit_after is not None:
        def finish() -> None:
            window.poll()
            if shot:
                Path(shot).parent.mkdir(parents=True, exist_ok=True)
                if not window.grab().save(str(shot)):
                    print(f"labctl gui: could not write {shot}", file=sys.stderr)
                    exit_code[0] = 1
                else:
                    print(f"screenshot saved to {shot}")
            window.close()
            app.quit()

        QTimer.singleShot(int(args.quit_after * 1000), finish)
    app.exec()
    return exit_code[0]


def main(argv: list[str] | None = None) -> int:
    """``python -m labctl.gui.cli`` (the same as ``labctl gui``)."""
    parser = argparse.ArgumentParser(prog="labctl gui", description=__doc__)
    add_gui_arguments(parser)
    return cmd_gui(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
