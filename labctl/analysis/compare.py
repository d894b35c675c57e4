"""Simulated bench against a measured run: re-run the run's own protocol on the simulated
bench (optionally with a fitted calibration) and compare task by task."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from labctl.analysis.load import load_series
from labctl.analysis.table import Table

COMPARE_COLUMNS = ("task", "name", "final_error_measured", "final_error_sim",
                   "final_error_residual", "final_power_measured", "final_power_sim",
                   "final_power_residual", "log_error_rms", "power_rms")


def compare_runs(measured: str | Path, simulated: str | Path) -> Table:
    """Per-task residuals (simulated − measured), tasks matched by name: final error (V²),
    final free power (W), rms of log10 error over the common time span (decades) and rms
    free-power residual (W)."""
    sim = {s.name: s for s in load_series(simulated)}
    table = Table(COMPARE_COLUMNS)
    for m in load_series(measured):
        s = sim.get(m.name)
        if s is None or len(s.time) < 2 or len(m.time) < 2:
            continue
        t_end = min(m.time[-1], s.time[-1])
        t = m.time[m.time <= t_end]
        err_s = np.interp(t, s.time, s.error)
        pow_s = np.interp(t, s.time, s.power_free)
        ok = (m.error[: t.size] > 0) & (err_s > 0)
        log_rms = float(np.sqrt(np.mean((np.log10(err_s[ok]) - np.log10(m.error[: t.size][ok]))
                                        ** 2))) if ok.any() else float("nan")
        table.append({
            "task": m.task, "name": m.name, "final_error_measured": float(m.error[-1]),
            "final_error_sim": float(s.error[-1]),
            "final_error_residual": float(s.error[-1] - m.error[-1]),
            "final_power_measured": float(m.power_free[-1]),
            "final_power_sim": float(s.power_free[-1]),
            "final_power_residual": float(s.power_free[-1] - m.power_free[-1]),
            "log_error_rms": log_rms,
            "power_rms": float(np.sqrt(np.mean((pow_s - m.power_free[: t.size]) ** 2))),
        })
    return table


def simulate_run(measured: str | Path, output: str | Path,
                 bench_text: str | None = None) -> Path:
    """Run the protocol stored in run file ``measured`` on the simulated bench and write
    ``output``. ``bench_text`` is a bench file (TOML text, backend "sim") for the twin, e.g.
    with a fitted ``[calibration]``; default: the measured run's bench with backend "sim"."""
    from labctl.bench.config import bench_from_text
    from labctl.protocol import load_protocol
    from labctl.runner.session import RunSession
    from labctl.store import open_run

    with open_run(measured) as run:
        protocol_text = run.attrs["protocol_text"]
        text = bench_text if bench_text is not None else run.attrs["bench_text"]
    bench = bench_from_text(text, f"{measured}:bench")
    if bench.backend != "sim":
        import re

        bench = bench_from_text(re.sub(r'(?m)^backend\s*=\s*"\w+"', 'backend = "sim"', text),
                                f"{measured}:bench")
    with tempfile.TemporaryDirectory() as tmp:
        proto_path = Path(tmp) / "protocol.toml"
        proto_path.write_text(protocol_text, encoding="utf-8")
        protocol = load_protocol(proto_path, bench=bench)
        RunSession(protocol, output, clock="fast").run()
    return Path(output)
