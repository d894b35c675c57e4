"""Re-simulating a run file never opens a real instrument, whatever its stored texts say:
the twin's bench is made simulated structurally, not by editing text."""

from __future__ import annotations

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
    "drivers named": LAB1.replace("[daq]\n", '[daq]\ndriver = "labctl.drivers.nidaq:NidaqDaq"\n')
    .replace("[smu]\n", '[smu]\ndriver = "labctl.drivers.smu_keysight:KeysightB2900"\n'),
    "inline network table": LAB1.replace(
        NETWORK_TABLE, 'network = { kind = "periodic_lattice", rows = 4, cols = 4 }\n'),
}


@pytest.fixture(autouse=True)
def no_hardware(monkeypatch):
    """Any attempt to open a hardware driver fails the test: every class of
    labctl.drivers that the bench factory can open (``from_config``) refuses, and so do
    their constructors."""
    import importlib
    import inspect
    import pkgutil

    import labctl.drivers

    def refuse(*args, **kwargs):
        pytest.fail("a hardware driver was constructed")

    patched = 0
    for info in pkgutil.iter_modules(labctl.drivers.__path__, "labctl.drivers."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # its client library is missing: it cannot open anything
            continue
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and hasattr(cls, "from_config"):
                monkeypatch.setattr(cls, "from_config", classmethod(refuse))
                monkeypatch.setattr(cls, "__init__", refuse)
                patched += 1
    assert patched >= 3  # the NI DAQ, the serial gate controller, the SMUs


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


@pytest.mark.parametrize("variant", ["literal string", "quoted key", "drivers named",
                                     "inline network table"])
def test_simulate_run_on_a_hardware_run_file_stays_simulated(variant, protocols, tmp_path):
    measured = tmp_path / "measured.h5"
    path = protocols.write(tmp_path / "m.toml", name="m", duration=0.2)
    RunSession(load_protocol(path), measured, clock="fast").run()
    twin = simulate_run(measured, tmp_path / "twin.h5", bench_text=HARDWARE_TEXTS[variant])
    with open_run(twin) as run:
        assert run.status == "completed"
        assert "backend" in run.attrs["bench_text"]
        assert run.completed_tasks() == {0}


def test_the_factory_opens_no_real_instrument_for_a_simulated_bench():
    """Defence in depth: a config that says "sim" but names a real driver is refused by
    open_bench before that driver is touched."""
    import dataclasses

    from labctl.bench import open_bench
    from labctl.bench.config import bench_from_text

    real = bench_from_text(HARDWARE_TEXTS["plain"], "lab1")
    forged = dataclasses.replace(real, backend="sim")
    with pytest.raises(ValueError, match="drives a 'hardware' instrument"):
        open_bench(forged)
