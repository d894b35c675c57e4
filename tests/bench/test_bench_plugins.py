"""Drivers as plug-ins: a bench file names each instrument's driver, the driver declares and
checks its keys; a bad driver is a bad bench file (exit 2, named, before anything opens)."""

from __future__ import annotations

import importlib.metadata
import io
from pathlib import Path
from types import SimpleNamespace

import pytest

from labctl.bench import plugins
from labctl.bench.check import EXIT_USAGE, run_check
from labctl.bench.config import DEFAULT_BENCH_FILE, BenchFileError, bench_from_text
from labctl.bench.plugins import OpenContext

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LAB1_TEXT = (ROOT / "labctl" / "resources" / "benches" / "lab1.toml").read_text()
SIM_TEXT = DEFAULT_BENCH_FILE.read_text()
KEYSIGHT = "USB0::0x0957::0x8B18::MY51140001::INSTR"
OLD_SMU = """[smu]
resource = "USB0::0x05E6::0x2450::04096331::INSTR"
compliance = 0.01            # A
timeout = 2.0                # s
line = "source1"             # the SMU supplies this source line
"""


def _with_smu(text: str, section: str) -> str:
    assert OLD_SMU in text
    return text.replace(OLD_SMU, section)


def test_defaults_follow_the_backend():
    sim = bench_from_text(SIM_TEXT)
    assert {r: c.spec for r, c in sim.drivers.items()} == {
        "daq": "labctl.bench.simulated:SimDaq",
        "gates": "labctl.bench.simulated:SimGateController",
        "smu": "labctl.bench.simulated:SimPowerMeter"}
    hw = bench_from_text(LAB1_TEXT)
    assert hw.drivers["smu"].spec == "labctl.drivers.smu:Keithley2450"
    assert hw.drivers["gates"].options == {"port": "/dev/ttyACM0", "baudrate": 115200,
                                           "timeout": 0.5}


def test_a_second_smu_family_from_the_bench_file_alone():
    """The Keysight driver is named in [smu]; nothing else in labctl knows it."""
    text = _with_smu(LAB1_TEXT, f"""[smu]
driver = "labctl.drivers.smu_keysight:KeysightB2900"
resource = "{KEYSIGHT}"
visa_library = "{HERE / 'smu_b2900.yaml'}@sim"
compliance = 0.02
line = "source1"
""")
    cfg = bench_from_text(text, "keysight.toml")
    choice = cfg.drivers["smu"]
    assert choice.options["compliance"] == 0.02 and choice.options["timeout"] == 2.0
    smu = choice.cls.from_config(OpenContext(cfg), choice.options)
    try:
        assert smu.identity().startswith("Keysight Technologies,B2901A")
        assert smu.voltage_max == cfg.limits.source_voltage_max
        assert smu.compliance == 0.02
        smu.set_voltage(0.4)
        smu.set_output(True)
        assert smu.measure_power() == pytest.approx(0.4 * 2.5e-5)
    finally:
        smu.close()


@pytest.mark.parametrize(("driver", "fragment"), [
    ("nosuch.module:Smu", "cannot import 'nosuch.module'"),
    ("labctl.drivers.smu:NoSuchClass", "has no class 'NoSuchClass'"),
    ("labctl.drivers.nidaq:NidaqDaq", "is not a PowerMeter driver"),
    ("labctl.bench.simulated:SimPowerMeter", "drives a 'sim' instrument"),
    ("not a spec", "no entry point of that name"),
    ("labctl.drivers.smu", "no entry point of that name"),
])
def test_unusable_drivers_are_bench_file_errors(driver, fragment):
    text = _with_smu(LAB1_TEXT, f'[smu]\ndriver = "{driver}"\nresource = "USB0::1::INSTR"\n')
    with pytest.raises(BenchFileError) as info:
        bench_from_text(text, "b.toml")
    assert "b.toml: smu.driver: " in str(info.value) and fragment in str(info.value)


def test_driver_fields_are_checked_by_the_driver_all_at_once():
    text = _with_smu(LAB1_TEXT, '[smu]\ndriver = "labctl.drivers.smu_keysight:KeysightB2900"\n'
                                'compliance = 2.0\nchanel = 1\n')
    text = text.replace('channel = "ao0"', 'channel = "ai9"', 1)
    with pytest.raises(BenchFileError) as info:
        bench_from_text(text, "b.toml")
    lines = str(info.value).splitlines()
    keys = [ln.split(": ")[1] for ln in lines]
    assert keys == ["smu.resource", "smu.compliance", "smu.chanel", "daq.ao[0].channel"]
    assert "1.05" in lines[1] and "unknown key" in lines[2]
    assert "analog output of an NI board" in lines[3] and "labctl.drivers.nidaq" in lines[3]


def test_entry_points_name_drivers(monkeypatch):
    entry = SimpleNamespace(name="keysight-b2900",
                            value="labctl.drivers.smu_keysight:KeysightB2900")
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: [entry] if group == plugins.ENTRY_POINT_GROUP else [])
    text = _with_smu(LAB1_TEXT, f'[smu]\ndriver = "keysight-b2900"\nresource = "{KEYSIGHT}"\n')
    cfg = bench_from_text(text)
    assert cfg.drivers["smu"].cls.__name__ == "KeysightB2900"


def test_the_ni_driver_checks_terminal_configurations():
    """NI vocabulary lives with the NI driver: the core only asks for an identifier, the
    driver refuses a name NI-DAQmx does not know, for the default and for one channel."""
    text = LAB1_TEXT.replace('terminal_config = "RSE"', 'terminal_config = "SINGLE"')
    with pytest.raises(BenchFileError) as err:
        bench_from_text(text, "lab1.toml")
    assert "daq.terminal_config: 'SINGLE' is not an NI terminal configuration" in str(err.value)
    assert "checked by labctl.drivers.nidaq" in str(err.value)
    one = LAB1_TEXT.replace('0 = "ai0"', '0 = { channel = "ai0", terminal = "XYZ" }', 1)
    assert one != LAB1_TEXT
    with pytest.raises(BenchFileError, match=r"daq\.ai\.free\.0\.terminal: 'XYZ'"):
        bench_from_text(one, "lab1.toml")
    diff = LAB1_TEXT.replace('0 = "ai0"', '0 = { channel = "ai0", terminal = "DIFF" }', 1)
    assert bench_from_text(diff).ai_channels[0].terminal == "DIFF"
    # the simulated DAQ has no terminals: it records any identifier
    assert bench_from_text(SIM_TEXT.replace('terminal_config = "RSE"',
                                            'terminal_config = "SINGLE"'))


def test_the_shipped_drivers_are_installed_entry_points():
    """pyproject.toml registers every shipped driver under a short name (read from the
    installed metadata, no patching); each resolves to a driver of the role it claims."""
    shipped = {ep.name: ep.value
               for ep in importlib.metadata.entry_points(group=plugins.ENTRY_POINT_GROUP)
               if ep.value.startswith("labctl.")}
    assert set(shipped.values()) >= set(plugins.DEFAULT_DRIVERS.values()) | {
        "labctl.drivers.smu_keysight:KeysightB2900"}
    for name in shipped:
        cls = plugins.resolve(name)
        assert issubclass(cls, plugins.ROLES[cls.config_role][1]), name
    text = _with_smu(LAB1_TEXT, f'[smu]\ndriver = "keysight-b2900"\nresource = "{KEYSIGHT}"\n')
    assert bench_from_text(text).drivers["smu"].cls.__name__ == "KeysightB2900"


def test_bench_check_refuses_a_bad_driver_with_exit_2_before_opening(tmp_path, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text(SIM_TEXT.replace('[smu]\n', '[smu]\ndriver = "nosuch:Smu"\n', 1))

    def no_open(*args, **kwargs):
        raise AssertionError("an instrument was opened")

    monkeypatch.setattr("labctl.bench.check.open_bench", no_open)
    out = io.StringIO()
    assert run_check(str(bad), out=out) == EXIT_USAGE
    assert f"{bad}: smu.driver: 'nosuch:Smu'" in out.getvalue()
