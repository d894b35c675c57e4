"""Analysis of run files produced by the simulated bench: λ sweep, figures, CLI, live files."""

import argparse
import dataclasses
import re
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labctl.analysis import cli
from labctl.analysis.compare import compare_runs
from labctl.analysis.frames import read_table
from labctl.analysis.load import SUMMARY_COLUMNS, SUMMARY_UNITS, load_series, load_summary
from labctl.analysis.tradeoff import lambda_trend
from labctl.protocol import load_protocol
from labctl.runner.session import RunSession
from labctl.store import open_run

ROOT = Path(__file__).resolve().parents[2]

# λ values within the bench's gain-trim range (0 … 0.065, steps of about 5e-4)
LAMBDAS = [0.0, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032]
N_TASKS = 3


def _protocol(kit, path, duration, lambdas, count=1):
    kit.write(path, name="analysis_sweep", duration=duration, lam=kit.lambda_sweep(lambdas),
              tasks=kit.random_tasks(count), record_rate=20.0, gate_voltage=3.0)
    return load_protocol(path)


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory, protocols):
    d = tmp_path_factory.mktemp("sweep")
    out = d / "sweep.h5"
    RunSession(_protocol(protocols, d / "sweep.toml", 20.0, LAMBDAS, count=N_TASKS), out,
               clock="fast").run()
    return out


def test_summary_table_rows(sweep_file):
    table = load_summary(sweep_file)
    assert isinstance(table, pd.DataFrame)
    assert tuple(table.columns) == SUMMARY_COLUMNS and len(table) == N_TASKS * len(LAMBDAS)
    assert table.attrs["units"] == SUMMARY_UNITS
    assert table.attrs["units"]["final_power_free"] == "W"
    assert table["task"].tolist() == list(range(len(table)))   # numbered from 0, as the file
    assert table["rows"].dtype == np.int64 and table["final_error"].dtype == np.float64
    assert set(table["status"]) == {"completed"}
    lam = table["lambda"]
    assert np.allclose(lam, np.tile(LAMBDAS, N_TASKS), atol=5e-4)  # quantised by the bench
    with open_run(sweep_file) as run:
        finals = [t.final["error"] for t in run.tasks]
        names = [t.name for t in run.tasks]
    assert np.allclose(table["final_error"], finals)
    assert table["name"].tolist() == names
    assert np.all(table["final_error_normalized"] < 1.0)
    assert np.all(np.diff(table["energy"]) != 0)
    assert np.all(table["gate_voltage"] == 3.0)
    series = load_series(sweep_file)
    assert len(series) == len(table) and series[0].time.shape == series[0].error.shape


def test_per_lambda_means_of_the_simulated_bench(sweep_file):
    """The bench claim (Fig. 3c): mean error rises and mean free power falls with λ —
    3 random tasks × 8 λ on the simulated bench show it at p < 0.01 (Spearman)."""
    trend = lambda_trend(load_summary(sweep_file))
    assert list(trend.count) == [N_TASKS] * len(LAMBDAS)
    assert trend.power_trend.holds and trend.power_mean[-1] < trend.power_mean[0]
    assert trend.error_trend.holds and trend.error_mean[-1] > trend.error_mean[0]


def test_cli_writes_figures_and_tables(sweep_file, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_analyze_arguments(parser)
    out = tmp_path / "out"
    rc = cli.cmd_analyze(parser.parse_args([str(sweep_file), "-o", str(out)]))
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| file" in printed and "per-λ means" in printed and "PASS" in printed
    assert "papers" not in printed and "a =" not in printed   # no exponents on the bench
    assert not (out / "small_lambda.png").exists()
    for stem in ("time_series", "tradeoff"):
        for ext in ("png", "pdf"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000
    csv = (out / "summary.csv").read_text().splitlines()
    assert len(csv) == 1 + N_TASKS * len(LAMBDAS)
    assert csv[0].startswith("file,task,name,kind,status,lambda [1],eta [1],kappa [S],")
    assert "final_error [V^2]" in csv[0] and "final_power_free [W]" in csv[0]
    assert "energy [J]" in csv[0] and "time_to_threshold [s]" in csv[0]
    # the CSV opens as it is in pandas, numbers exact; read_table gives back the frame
    table = load_summary(sweep_file)
    raw = pd.read_csv(out / "summary.csv")
    assert raw["final_power_free [W]"].tolist() == table["final_power_free"].tolist()
    assert raw["task"].tolist() == table["task"].tolist()
    back = read_table(out / "summary.csv")
    pd.testing.assert_frame_equal(back, table, check_exact=True)
    assert back.attrs["units"] == table.attrs["units"]
    md = (out / "summary.md").read_text()
    assert md.count("\n") == 2 + N_TASKS * len(LAMBDAS)
    for text in (md, printed):       # for people: SI prefixes, units in the cells
        assert re.search(r"\| +\d[\d.]* [mµn]W \|", text), text[:400]
        assert re.search(r"\| +\d[\d.]* [mµn]?J \|", text) and "| final_power_free " in text
    rc = cli.cmd_analyze(parser.parse_args([str(tmp_path / "missing.h5"), "-o", str(out)]))
    assert rc == 2 and "does not exist" in capsys.readouterr().err
    rc = cli.cmd_analyze(parser.parse_args([str(sweep_file), "--threshold", "-1"]))
    assert rc == 2 and "--threshold" in capsys.readouterr().err


def test_compare_identical_simulation_has_zero_residuals(sweep_file):
    table = compare_runs(sweep_file, sweep_file)
    assert len(table) == N_TASKS * len(LAMBDAS)
    assert np.all(table["final_power_residual"] == 0)
    assert np.all(table["log_error_rms"] == 0)
    assert table.attrs["units"]["final_power_residual"] == "W"


def test_analysis_of_a_live_run(tmp_path, protocols):
    """While the run is being written (SWMR), analysis sees the committed rows."""
    out = tmp_path / "live.h5"
    session = RunSession(_protocol(protocols, tmp_path / "live.toml", 40.0, [0.0, 0.03]), out,
                         clock="paced")
    worker = threading.Thread(target=session.run)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        table = None
        while time.monotonic() < deadline:
            if out.exists():
                try:
                    table = load_summary(out)
                except (OSError, KeyError):
                    table = None
                if table is not None and len(table) and table["rows"].iloc[0] >= 10:
                    break
            time.sleep(0.2)
        assert table is not None and len(table) >= 1
        first = table.iloc[0]
        assert first["status"] == "running"
        assert first["rows"] >= 10 and first["duration"] < 40.0
        rc = cli.main([str(out), "-o", str(tmp_path / "a")])
        assert rc == 0 and (tmp_path / "a" / "time_series.png").exists()
    finally:
        session.abort("test done")
        worker.join(timeout=30)


def test_simulate_run_with_scaled_calibration(tmp_path, protocols):
    """Re-running a run's protocol on a twin whose S are all 1.3× larger leaves every node
    voltage (and so the learning) unchanged but raises the dissipated power by 1.3×."""
    from labctl.analysis.compare import simulate_run

    measured = tmp_path / "measured.h5"
    RunSession(_protocol(protocols, tmp_path / "m.toml", 2.0, [0.0]), measured, clock="fast").run()
    with open_run(measured) as run:
        bench_text = run.attrs["bench_text"]
    scaled = bench_text.replace("S = 8.5e-4", "S = 1.105e-3")
    assert scaled != bench_text
    twin = simulate_run(measured, tmp_path / "twin.h5", bench_text=scaled)
    table = compare_runs(measured, twin)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["final_power_residual"] == pytest.approx(0.3 * row["final_power_measured"],
                                                       rel=0.02)
    assert row["log_error_rms"] < 0.05


def test_iris_train_and_test_accuracy_are_shown(tmp_path, capsys):
    """A (shrunk) Iris run: `labctl analyze` prints train and test accuracy and writes
    scores.csv; the numbers are the run file's final attributes."""
    from labctl.protocol.model import ClassificationTask

    protocol = load_protocol(ROOT / "protocols" / "iris.toml")
    task = protocol.tasks[0]
    assert isinstance(task, ClassificationTask)
    small = dataclasses.replace(task, epochs=1, epoch_steps=6, n_test_per_class=4)
    protocol = dataclasses.replace(protocol, tasks=(small,))
    run_file = tmp_path / "iris.h5"
    RunSession(protocol, run_file, clock="fast").run()
    with open_run(run_file) as run:
        final = run.tasks[0].final
    assert 0 <= final["test_accuracy"] <= 1 and 0 <= final["train_accuracy"] <= 1
    assert final["test_accuracy"] * 12 == pytest.approx(round(final["test_accuracy"] * 12))
    assert cli.main([str(run_file), "-o", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert (f"train accuracy {100 * final['train_accuracy']:.1f} %" in printed
            and f"test accuracy {100 * final['test_accuracy']:.1f} %" in printed)
    csv = (tmp_path / "a" / "scores.csv").read_text().splitlines()
    assert csv[0] == ("file,task,name,kind,train_accuracy [1],test_accuracy [1],"
                      "train_error [V^2],test_error [V^2]")
    assert len(csv) == 2
