"""Re-simulating a run file never opens a real instrument, whatever its stored texts say:
the twin's bench is made simulated structurally, not by editing text."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from labctl.analysis.compare import simulate_run, twin_protocol
from labctl.protocol import load_protocol
from labctl.runner.session import RunSession
from labctl.store import open_run

ROOT = Path(__file__).resolve().parents[2]
LAB1 = (ROOT / "labctl" / "resources" / "benches" / "lab1.toml").read_text(encoding="utf-8")
NETWORK_TABLE = '[network]\nkind = "periodic_lattice"   # node n = row*cols + col (see ' \
                'labctl/network.py)\nrows = 4\ncols = 4\n'

#: ways of writing "this bench is the real hardware" that a line-based edit can miss
HARDWARE_TEXTS = {
    "plain": LAB1,
    "literal string": LAB1.replace('backend = "hardware"', "backend = 'hardware'"),
    "quoted key": LAB1.replace('backend = "hardware"', '"backend" = "hardware"'),
    "literal key": LAB1.replace('backend = "hardware"', "'backend'='''hardware'''"),
    "no spaces": LAB1.replace('backend = "hardware"', 'backend="hardware"'),
    "indented, commented": LAB1.replace('backend = "hardware"',
                                        '   backend   =   "hardware"   # the real one'),
    "escaped": LAB1.replace('backend = "hardware"', 'backend = "hard\\u0077are"'),
    "inline network table": LAB1.replace(
        NETWORK_TABLE, 'network = { kind = "periodic_lattice", rows = 4, cols = 4 }\n'),
}


@pytest.fixture(autouse=True)
def no_hardware(monkeypatch):
    """Any attempt to build a hardware driver fails the test."""
    def refuse(*args, **kwargs):
        pytest.fail("a hardware driver was constructed")

    monkeypatch.setattr("labctl.bench.factory._open_hardware", refuse)
    for name in ("labctl.drivers.nidaq.NidaqDaq", "labctl.drivers.serial_gates."
                 "SerialGateController", "labctl.drivers.smu.open_smu"):
        with contextlib.suppress(ImportError, AttributeError):  # library missing: no driver
            monkeypatch.setattr(name, refuse)


def test_the_variants_really_say_hardware():
    import tomllib

    assert NETWORK_TABLE in LAB1
    for text in HARDWARE_TEXTS.values():
        assert tomllib.loads(text)["backend"] == "hardware"
    assert len({*HARDWARE_TEXTS.values()}) == len(HARDWARE_TEXTS)


@pytest.mark.parametrize("variant", list(HARDWARE_TEXTS))
def test_twin_protocol_is_on_the_simulated_bench(variant, protocols):
    text = protocols.toml(name="twin", duration=0.2, bench="/dev/zero")
    protocol = twin_protocol(text, HARDWARE_TEXTS[variant], "stored.h5")
    assert protocol.bench.backend == "sim"
    assert protocol.bench.name == "lab1"  # the stored bench's wiring and limits are kept
    assert [ln.nodes for ln in protocol.bench.output_lines] == [(0,), (10,), (5,), (15,)]
    assert protocol.bench_ref == "/dev/zero"  # recorded, never followed


@pytest.mark.parametrize("variant", ["literal string", "quoted key", "inline network table"])
def test_simulate_run_on_a_hardware_run_file_stays_simulated(variant, protocols, tmp_path):
    measured = tmp_path / "measured.h5"
    path = protocols.write(tmp_path / "m.toml", name="m", duration=0.2)
    RunSession(load_protocol(path), measured, clock="fast").run()
    twin = simulate_run(measured, tmp_path / "twin.h5", bench_text=HARDWARE_TEXTS[variant])
    with open_run(twin) as run:
        assert run.status == "completed"
        assert "backend" in run.attrs["bench_text"]
        assert run.completed_tasks() == {0}
