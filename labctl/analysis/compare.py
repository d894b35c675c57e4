"""Simulated bench against a measured run: re-run the run's own protocol on the simulated
bench (optionally with a fitted calibration) and compare task by task."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labctl.analysis.frames import make_frame
from labctl.analysis.load import load_series

COMPARE_COLUMNS = ("task", "name", "final_error_measured", "final_error_sim",
                   "final_error_residual", "final_power_measured", "final_power_sim",
                   "final_power_residual", "log_error_rms", "power_rms")
#: units of the quantity columns of :func:`compare_runs` (``log_error_rms`` in decades)
COMPARE_UNITS = {"final_error_measured": "V^2", "final_error_sim": "V^2",
                 "final_error_residual": "V^2", "final_power_measured": "W",
                 "final_power_sim": "W", "final_power_residual": "W", "log_error_rms": "1",
                 "power_rms": "W"}


def compare_runs(measured: str | Path, simulated: str | Path) -> pd.DataFrame:
    """Per-task residuals (simulated − measured) as a DataFrame (units in
    ``attrs["units"]``), tasks matched by name: final error (V²), final free power (W), rms
    of log10 error over the common time span (decades) and rms free-power residual (W)."""
    sim = {s.name: s for s in load_series(simulated)}
    rows = []
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
        rows.append({
            "task": m.task, "name": m.name, "final_error_measured": float(m.error[-1]),
            "final_error_sim": float(s.error[-1]),
            "final_error_residual": float(s.error[-1] - m.error[-1]),
            "final_power_measured": float(m.power_free[-1]),
            "final_power_sim": float(s.power_free[-1]),
            "final_power_residual": float(s.power_free[-1] - m.power_free[-1]),
            "log_error_rms": log_rms,
            "power_rms": float(np.sqrt(np.mean((pow_s - m.power_free[: t.size]) ** 2))),
        })
    return make_frame(rows, COMPARE_COLUMNS, COMPARE_UNITS)


def simulated_twin(config: Any) -> Any:
    """The bench ``config`` (a BenchConfig) on the simulated backend: ``backend`` "sim" and
    every instrument on the simulated driver of its role, with the options that driver
    declares carried over from the named driver's section. Whatever driver a stored bench
    file names (a real DAQ, a plug-in), the twin can only open simulated instruments."""
    from labctl.bench import plugins
    from labctl.bench.config import BenchFileError

    drivers = {}
    for role, choice in config.drivers.items():
        sim_cls = plugins.resolve(plugins.DEFAULT_DRIVERS[("sim", role)])
        declared = {f.path for f in sim_cls.config_fields}
        section = {k: v for k, v in choice.options.items() if k in declared}
        twin, problems = plugins.choose(role, "sim", section, plugins.ROLES[role][0])
        if twin is None or problems:
            raise BenchFileError("; ".join(f"{k}: {m}" for k, m in problems))
        drivers[role] = twin
    return dataclasses.replace(config, backend="sim", drivers=drivers)


def twin_protocol(protocol_text: str, bench_text: str, source: str = "<run file>") -> Any:
    """The protocol ``protocol_text`` on the simulated twin of bench ``bench_text``.

    Built structurally, whatever the stored texts say: the bench text is parsed into a
    BenchConfig and made its simulated twin (:func:`simulated_twin`: no text substitution
    a quoted key or a literal string could slip past), and the protocol is validated against that
    config, so a ``bench = ...`` reference in it is never followed. Raises ProtocolError
    or BenchFileError (ValueErrors) naming ``source``.
    """
    from labctl.bench.config import bench_from_text
    from labctl.protocol import ProtocolError
    from labctl.protocol.loader import parse_protocol
    from labctl.tomlread import MAX_FILE_BYTES, TomlFileError, parse

    bench = simulated_twin(bench_from_text(bench_text, f"{source}:bench"))
    name = f"{source}:protocol"
    try:
        if len(protocol_text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
            raise TomlFileError(f"more than {MAX_FILE_BYTES} bytes")
        doc = parse(protocol_text)
    except TomlFileError as exc:
        raise ProtocolError(name, "", exc.problem) from None
    return parse_protocol(name, protocol_text, doc, bench)


def simulate_run(measured: str | Path, output: str | Path,
                 bench_text: str | None = None) -> Path:
    """Run the protocol stored in run file ``measured`` on the simulated bench and write
    ``output``. ``bench_text`` is a bench file (TOML text) for the twin, e.g. with a
    fitted ``[calibration]``; default: the measured run's bench. Either way the bench is
    made simulated structurally (:func:`twin_protocol`) and opened only through the
    simulated factory: no stored text can open a real instrument."""
    from labctl.bench import open_bench
    from labctl.runner.session import RunSession
    from labctl.store import open_run

    with open_run(measured) as run:
        protocol_text = str(run.attrs["protocol_text"])
        text = bench_text if bench_text is not None else str(run.attrs["bench_text"])
    protocol = twin_protocol(protocol_text, text, str(measured))
    config = protocol.bench
    assert config.backend == "sim"

    def open_twin() -> Any:
        return open_bench(config, clock="fast", seed=0)

    RunSession(protocol, output, clock="fast", bench_opener=open_twin).run()
    return Path(output)
