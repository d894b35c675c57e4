"""Frame (redraw) time of the live plots with 100k-point histories while the simulated
bench acquires at 10 kS/s in real time, against a naive full replot in the same run.

Each frame does what a GUI timer tick does: drain the run's event queue into the ring
buffers, ``setData`` every curve, and let Qt paint (offscreen). "labctl" is the GUI's
plot widget (peak downsampling + clip-to-view); "naive" is the same widget redrawing every
point. Frames alternate between the two so both see the same acquisition load.

    python benchmarks/bench_gui_frames.py [--frames 150] [--history 100000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from protocol_templates import protocol_text
from PySide6.QtWidgets import QApplication

from labctl.gui.model import RunModel
from labctl.gui.plots import LivePlots
from labctl.protocol import load_protocol
from labctl.runner.events import Rows, TaskStarted
from labctl.runner.session import RunSession


def prefilled_model(n: int) -> RunModel:
    """A model whose current task already holds ``n`` rows (50 rows/s of bench time)."""
    model = RunModel(capacity=n)
    model.apply(TaskStarted(0, 1, "history", {"lambda": 0.01}, n / 50.0))
    t = np.arange(n) / 50.0
    rng = np.random.default_rng(0)
    err = 2e-2 * np.exp(-t / 300.0) * (1 + 0.05 * rng.standard_normal(n))
    model.apply(Rows(0, {
        "time": t, "error": err, "error_normalized": err / 2e-2,
        "power_free": 4e-4 - 1e-7 * t, "power_clamped": 4.1e-4 - 1e-7 * t,
        "energy": 4e-4 * t, "lambda": np.full(n, 0.01), "eta": np.full(n, 0.22),
        "gate_voltage": np.full((n, 32), 2.5), "conductance": np.full((n, 32), 1e-3),
        "v_free": np.zeros((n, 16)), "v_clamped": np.zeros((n, 16))}))
    return model


def main() -> None:
    """Run the benchmark and print median / p95 frame times and their ratio."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=150, help="frames per variant")
    ap.add_argument("--history", type=int, default=100_000, help="points per curve")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    variants = {"labctl": LivePlots(downsample=True), "naive": LivePlots(downsample=False)}
    models = {k: prefilled_model(args.history) for k in variants}
    for w in variants.values():
        w.resize(1000, 700)
        w.show()
    app.processEvents()

    with tempfile.TemporaryDirectory() as tmp:
        proto_path = Path(tmp) / "p.toml"
        proto_path.write_text(protocol_text("bench_gui_frames", duration=600.0, lam=0.01))
        session = RunSession(load_protocol(proto_path), Path(tmp) / "run.h5", clock="paced")
        session.start()
        times: dict[str, list[float]] = {k: [] for k in variants}
        rows_in = 0
        rate = 0.0
        for _ in range(args.frames):
            events = session.events.drain()
            live = [Rows(0, e.data) for e in events if isinstance(e, Rows)]
            rows_in += sum(len(e.data["time"]) for e in live)
            rate = next((e.sample_rate for e in reversed(events)
                         if hasattr(e, "sample_rate")), rate)
            for name, widget in variants.items():
                t0 = time.perf_counter()
                models[name].apply_all(live)
                widget.update_from(models[name], force=True)
                app.processEvents()
                times[name].append(time.perf_counter() - t0)
            time.sleep(0.01)
        session.abort("benchmark done")
        session.wait(30)

    print(f"history {args.history} points x 6 curves, {args.frames} frames per variant; "
          f"bench acquiring at {rate / 1e3:.1f} kS/s (paced), {rows_in} live rows appended")
    stats = {k: (np.median(v) * 1e3, np.percentile(v, 95) * 1e3) for k, v in times.items()}
    for name, (med, p95) in stats.items():
        print(f"  {name:7s} frame median {med:7.2f} ms   p95 {p95:7.2f} ms   "
              f"(~{1e3 / med:5.1f} fps)")
    (m_l, p_l), (m_n, p_n) = stats["labctl"], stats["naive"]
    print(f"  speed-up vs naive full replot: median x{m_n / m_l:.1f}, p95 x{p_n / p_l:.1f}")


if __name__ == "__main__":
    main()
