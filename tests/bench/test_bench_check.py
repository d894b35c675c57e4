"""``labctl bench check`` on the simulated bench, a bad file and a failing instrument."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

from labctl.bench import check
from labctl.bench.check import add_bench_check_arguments, cmd_bench_check, run_check

HERE = Path(__file__).resolve().parent


def test_check_passes_on_the_simulated_bench(capsys):
    parser = argparse.ArgumentParser()
    add_bench_check_arguments(parser)
    args = parser.parse_args([])
    assert cmd_bench_check(args) == 0
    out = capsys.readouterr().out
    assert "LABCTL,GATEFW" in out and "SIMSMU" in out and "simulated DAQ" in out
    assert "bench left safe" in out and out.rstrip().endswith("bench check: OK")
    # the SMU's measured supply power beside the model's, with the residual (a few % at
    # most: 2 % transistor mismatch on the simulated bench)
    line = next(ln for ln in out.splitlines() if "supply power measured" in ln)
    residual = float(line.rsplit("(", 1)[1].rstrip(")%")) / 100
    assert "model" in line and "residual" in line and abs(residual) < 0.05


def test_bad_bench_file_exits_2_with_the_message():
    out = io.StringIO()
    path = HERE / "bad_benches" / "gate_max_above_controller.toml"
    assert run_check(str(path), out=out) == 2
    assert "limits.gate_max" in out.getvalue()


def test_model_mismatch_fails_with_exit_3(monkeypatch):
    # a wrongly wired bench: the model's node voltages are not what the DAQ measures
    real = check._model_state

    def shifted(cfg, gates, sources):
        twin, v = real(cfg, gates, sources)
        return twin, np.roll(v, 1)

    monkeypatch.setattr(check, "_model_state", shifted)
    out = io.StringIO()
    assert run_check(None, out=out) == 3
    text = out.getvalue()
    assert "FAILED: node voltages differ from the model" in text
    assert "bench left safe" in text
