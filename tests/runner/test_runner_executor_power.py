"""Measured vs model supply power reaches the run file, ``labctl info`` and ``labctl analyze``."""

from __future__ import annotations

import io

import numpy as np

from labctl.analysis.load import summarize_run
from labctl.protocol import load_protocol
from labctl.runner.session import RunSession
from labctl.store import open_run
from labctl.store.info_cmd import print_info


def test_supply_power_in_file_info_and_analysis(write_protocol, tmp_path):
    result = RunSession(load_protocol(write_protocol(duration=2.0)), tmp_path / "p.h5",
                        clock="fast").run()
    assert result.status == "completed", result.reason
    with open_run(result.path) as run:
        task = run.tasks[0]
        measured, model = task.power_supply, task.power_supply_model
        ok = np.isfinite(measured)
        assert ok.sum() == 2 * 2 + 2 and np.all(np.isfinite(model))  # 2 Hz + 2 readings
        table = summarize_run(run)
    col = {name: table[name].iloc[0] for name in
           ("power_supply", "power_supply_model", "power_supply_residual")}
    assert col["power_supply"] == np.mean(measured[ok])
    assert np.isclose(col["power_supply_residual"], np.mean(measured[ok] - model[ok]))
    assert abs(col["power_supply_residual"]) < 0.1 * col["power_supply_model"]
    out = io.StringIO()
    print_info(str(result.path), out)
    header, first = out.getvalue().splitlines()[-2:]
    assert "P_supply" in header and "P_supply-model" in header
    assert first.split()[-1].endswith("%")
