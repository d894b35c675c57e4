"""labctl reproduce: simulation-protocol checks, the claim table and report, docs/PROTOCOLS.md
generated from the shipped files, and one real ``labctl reproduce --quick`` (the CI run)."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.protocol import load_protocol
from labctl.reproduce import bench, shipped
from labctl.reproduce.claims import CLAIMS, PROTOCOLS
from labctl.reproduce.cli import add_reproduce_arguments, cmd_reproduce
from labctl.reproduce.report import claim_table, write_report
from labctl.reproduce.result import ClaimResult, agrees
from labctl.reproduce.simprotocol import SimProtocolError, load_sim_protocol

ROOT = Path(__file__).resolve().parents[1]
SMALL = (ROOT / "protocols" / "papers" / "small_lambda.toml").read_text(encoding="utf-8")


def test_every_claim_has_its_shipped_protocol():
    assert len({c.key for c in CLAIMS}) == len(CLAIMS) == 8
    for c in CLAIMS:
        path = PROTOCOLS / c.protocol
        if c.kind == "bench":
            load_protocol(path)
            assert c.key in bench.QUICK and c.key in bench.ANALYSES
        else:
            assert load_sim_protocol(path).claim == c.key


def test_docs_protocols_tables_are_generated_from_the_files():
    """docs/PROTOCOLS.md quotes the shipped files through generated tables: any change of
    a protocol (range, value, duration, size) without regenerating fails here."""
    doc = (ROOT / "docs" / "PROTOCOLS.md").read_text(encoding="utf-8")
    assert doc.count("<!-- shipped:") == 3
    assert shipped.update_doc(doc) == doc, (
        "docs/PROTOCOLS.md differs from the protocol files: run "
        "python3 -m labctl.reproduce.shipped docs/PROTOCOLS.md")
    for path in sorted((ROOT / "protocols").glob("*.toml")):
        assert f"`{path.name}`" in doc
    for path in sorted((ROOT / "protocols" / "papers").glob("*.toml")):
        assert f"`papers/{path.name}`" in doc


def test_docs_table_follows_a_changed_protocol(tmp_path, monkeypatch):
    """The generated table quotes the file's own values (here a changed duration)."""
    folder = tmp_path / "protocols"
    folder.mkdir()
    text = (ROOT / "protocols" / "demo.toml").read_text(encoding="utf-8")
    (folder / "demo.toml").write_text(text.replace("duration = 10.0", "duration = 12.5"))
    table = shipped.bench_table(folder)
    assert "| 12.5 s | 6 | 75 s |" in table and "10 s" not in table


@pytest.mark.parametrize(("old", "new", "words"), [
    ("steps = 100000\nselection", "steps = -3\nselection", ["run.steps = -3", "[1, 1e+07]"]),
    ("eta = 1e-3", "eta = 2.0", ["run.eta = 2.0", "[1e-06, 1]"]),
    ("alpha = 0.5 ", "alpha = true ", ["run.alpha = True", "a number"]),
    ("lam_num = 13", "lam_num = 13\nlamda_max = 3", ["run.lamda_max", "unknown key"]),
    ("lam_max = 1e-6", "lam_max = 1e-12", ["lam_min", "must be below"]),
    ('claim = "small_lambda"', 'claim = "small_lamda"', ["claim = 'small_lamda'",
                                                          "small_lambda"]),
    ("networks = 1\n", "networks = 1.5\n", ["quick.networks = 1.5", "an integer"]),
])
def test_simulation_protocol_refusals_name_file_field_value_and_range(tmp_path, old, new,
                                                                      words):
    path = tmp_path / "bad.toml"
    assert old in SMALL
    path.write_text(SMALL.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SimProtocolError) as err:
        load_sim_protocol(path)
    message = str(err.value)
    assert str(path) in message
    for w in words:
        assert w in message


def test_simulation_protocol_quick_overrides():
    sp = load_sim_protocol(ROOT / "protocols" / "papers" / "small_lambda.toml")
    full, quick = sp.params(False), sp.params(True)
    assert full["steps"] == 100000 and quick["steps"] == 8000
    assert full["eta"] == quick["eta"] == 1e-3


def test_shrink_cuts_tasks_and_epochs_and_says_so():
    p = bench.shrink(load_protocol(PROTOCOLS / "lambda_tradeoff.toml"), count=12)
    assert p.tasks[0].count == 12 and p.metadata["reproduce_quick"] == "count=12"
    p = bench.shrink(load_protocol(PROTOCOLS / "iris.toml"), epochs=3)
    assert p.tasks[0].epochs == 3 and p.metadata["reproduce_quick"] == "epochs=3"


def test_agreement_rule():
    assert agrees(1.99, 0.04, 2.0) and agrees(2.23, 0.02, 2.0)     # within 2σ + 10 %
    assert not agrees(2.5, 0.05, 2.0) and not agrees(float("nan"), 0.1, 2.0)
    assert agrees(-0.5, 0.02, -0.42, 0.06) and not agrees(-0.7, 0.02, -0.42, 0.06)


def test_claim_table_and_report(tmp_path):
    fig = tmp_path / "tradeoff" / "tradeoff.png"
    fig.parent.mkdir()
    fig.write_bytes(b"png")
    results = [
        ClaimResult("tradeoff", "bench λ trade-off", "mean error up (Fig. 3c)",
                    measured="ρ = +0.5 | p = 0.001", passed=True, figures=[fig], quick=True),
        ClaimResult("iris", "Iris", "learns Iris", measured="4 points: no number"),
        ClaimResult("kappa", "κ", "power ∝ κ", error="ValueError: boom"),
    ]
    table = claim_table(results)
    lines = table.splitlines()
    assert lines[0] == ("| claim | paper's statement (where) | measured ± uncertainty | "
                        "pass/fail |")
    assert lines[2].endswith("| PASS |") and "\\|" in lines[2] and "(quick)" in lines[2]
    assert lines[3].endswith("| n/a |") and lines[4].endswith("| ERROR |")
    report = write_report(results, tmp_path, "labctl reproduce --quick", 12.0).read_text()
    assert "![bench λ trade-off](tradeoff/tradeoff.png)" in report
    assert "quick run" in report and table in report


def test_cli_refuses_a_used_output_folder_before_running(tmp_path, capsys):
    (tmp_path / "old.h5").write_bytes(b"")
    parser = argparse.ArgumentParser()
    add_reproduce_arguments(parser)
    assert cmd_reproduce(parser.parse_args(["-o", str(tmp_path)])) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert cmd_reproduce(parser.parse_args(["-o", str(tmp_path / "n"), "--claim", "x"])) == 2
    assert "claim 'x': unknown" in capsys.readouterr().err
    assert not (tmp_path / "n").exists()


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One ``labctl reproduce --quick --parallel`` (the CI run: both cores)."""
    out = tmp_path_factory.mktemp("reproduce") / "quick"
    proc = subprocess.run([sys.executable, "-m", "labctl.cli", "reproduce", "--quick",
                           "--parallel", "-o", str(out)], capture_output=True, text=True,
                          timeout=3600)
    return proc, out


def test_reproduce_quick_claim_table(quick_run):
    proc, out = quick_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| ")][2:]
    assert len(rows) == len(CLAIMS)
    verdicts = {}
    for claim, row in zip(CLAIMS, rows):
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert cells[0] == f"{claim.title} (quick)"
        assert cells[1] == claim.statement.replace("|", "\\|")
        assert cells[2] and not cells[2].startswith("could not run")
        verdicts[claim.key] = cells[3]
    assert set(verdicts.values()) <= {"PASS", "FAIL", "n/a"}
    report = (out / "REPORT.md").read_text(encoding="utf-8")
    for target in re.findall(r"!\[[^]]*\]\(([^)]+)\)", report):
        assert (out / target).stat().st_size > 5000     # every linked figure exists
    assert (out / "tradeoff" / "lambda_tradeoff.h5").exists()
    # the statistics the quick protocols are sized to show (deterministic seeds)
    for key in ("tradeoff", "small_lambda", "kappa", "lambda_control", "iris",
                "nonlinear_regression"):
        assert verdicts[key] == "PASS", (key, proc.stdout)
    # the out-of-equilibrium verdict says which criterion decided it
    neq = json.loads((out / "nonequilibrium" / "result.json").read_text(encoding="utf-8"))
    [line] = [d for d in neq["details"] if d.startswith("verdict, criterion by criterion")]
    assert line.count(": yes") + line.count(": no") == 3
    assert (": no" in line) == (neq["verdict"] == "FAIL")


def test_cli_refuses_a_protocols_folder_without_the_protocols(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_reproduce_arguments(parser)
    args = parser.parse_args(["-o", str(tmp_path / "o"), "--protocols", str(tmp_path)])
    assert cmd_reproduce(args) == 2
    err = capsys.readouterr().err
    assert "lambda_tradeoff.toml" in err and "papers/small_lambda.toml" in err
    assert not (tmp_path / "o").exists()


def test_parallel_claims_from_a_protocols_folder(tmp_path, capsys):
    """--parallel runs each claim in its own process; --protocols takes shrunk copies."""
    folder = tmp_path / "protocols"
    folder.mkdir()
    for name in ("iris.toml", "nonlinear_regression.toml"):
        text = (PROTOCOLS / name).read_text(encoding="utf-8")
        text = re.sub(r"^epochs = \d+", "epochs = 1", text, flags=re.M)
        text = re.sub(r"^n_test(_per_class)? = \d+", r"n_test\1 = 3", text, flags=re.M)
        (folder / name).write_text(text, encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_reproduce_arguments(parser)
    out = tmp_path / "out"
    args = parser.parse_args(["-o", str(out), "--parallel", "--protocols", str(folder),
                              "--claim", "iris", "--claim", "nonlinear_regression"])
    assert cmd_reproduce(args) == 0
    rows = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| ")][2:]
    assert [r.split(" | ")[0] for r in rows] == ["| Iris classification",
                                                 "| nonlinear regression"]
    assert (out / "iris" / "iris.h5").exists() and (out / "REPORT.md").exists()
    saved = json.loads((out / "iris" / "result.json").read_text(encoding="utf-8"))
    assert saved["key"] == "iris" and saved["verdict"] in {"PASS", "FAIL", "n/a"}
    assert saved["measured"] and rows[0].split(" | ")[2] == saved["measured"]


def test_parallel_hands_out_the_longest_claims_first():
    from labctl.reproduce.cli import longest_first

    order = [c.key for c in longest_first(list(CLAIMS))]
    assert order[:3] == ["small_lambda", "kappa", "noise_floor"]
    minutes = [c.full_minutes for c in longest_first(list(CLAIMS))]
    assert minutes == sorted(minutes, reverse=True)
    assert sorted(order) == sorted(c.key for c in CLAIMS)


def test_nonequilibrium_keeps_each_finished_networks_times(tmp_path, capsys):
    """The out-of-equilibrium claim keeps only tasks that learn (at α/γ = selection_ratio
    within the caps), saves the training times of every network it finished (times.json,
    replaced after each network, with the seeds kept and not kept) and says on stderr how
    far it got: a full run stopped in its long tail keeps what it measured."""
    from labctl.reproduce import simulation
    from labctl.reproduce.simprotocol import load_sim_protocol

    p = load_sim_protocol(PROTOCOLS / "papers" / "nonequilibrium.toml").params(True)
    p.update(networks=2, ratio_num=3, ratio_min=0.5, ratio_max=5.0, max_relaxation_times=500)
    out = tmp_path / "neq"
    simulation.nonequilibrium(p, out)
    saved = json.loads((out / "times.json").read_text(encoding="utf-8"))
    assert saved["alpha_over_gamma"] == pytest.approx([0.5, 0.5 * 10**0.5, 5.0])
    # seed 1's task does not reach L/L0 < 1e-3 at α/γ = 1 within 500 relaxation times
    # (in the full run it needs 8.7e4 at α/γ = 1.87): it is not kept, seed 2 is tried
    assert saved["networks"] == [0, 2] and saved["not_kept"] == [1]
    assert len(saved["gamma_T"]) == 2 and all(len(row) == 3 for row in saved["gamma_T"])
    assert all(v is None or v > 0 for row in saved["gamma_T"] for v in row)
    assert sum(v is not None for row in saved["gamma_T"] for v in row) >= 2
    err = capsys.readouterr().err
    assert "network 1 does not learn at α/γ = 1; not kept" in err
    assert "network 0 done, 1/2 kept" in err and "network 2 done, 2/2 kept" in err
    assert not list(out.glob("*.part"))


def test_nonequilibrium_step_cap_stops_fast_runs_and_says_which(tmp_path):
    """``max_steps`` caps a run's time steps (fast learning takes dt = 0.1/α, so a time
    cap alone costs 1e6·α/γ steps); each run stopped at a cap is named in the details, and
    its time is null in times.json, never a number."""
    from labctl.reproduce import simulation
    from labctl.reproduce.simprotocol import load_sim_protocol

    p = load_sim_protocol(PROTOCOLS / "papers" / "nonequilibrium.toml").params(True)
    p.update(networks=1, ratio_num=2, ratio_min=20.0, ratio_max=50.0, max_steps=1000)
    out = tmp_path / "neq"
    outcome = simulation.nonequilibrium(p, out)
    saved = json.loads((out / "times.json").read_text(encoding="utf-8"))
    assert saved["gamma_T"] == [[None, None]]  # γT > 1000·0.1/(α/γ) ≤ 5 is not reached
    capped = [line for line in outcome.details if "stopped at the cap" in line]
    assert capped and "1000 steps" in capped[0]
    assert capped[0].startswith("2 runs") and "network 0 at α/γ 20, 50" in capped[0]
    assert outcome.passed is None
