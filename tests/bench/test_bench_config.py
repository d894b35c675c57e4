"""Bench files: the shipped files load, every malformed file is refused with a clear message."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from labctl.bench.config import DEFAULT_BENCH_FILE, BenchFileError, bench_from_text, load_bench

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BAD = sorted((HERE / "bad_benches").glob("*.toml"))


def test_default_is_the_simulated_bench():
    cfg = load_bench()
    assert cfg.path == DEFAULT_BENCH_FILE
    assert cfg.backend == "sim"
    assert cfg.network.n_nodes == 16 and cfg.network.n_edges == 32
    assert cfg.channel_names[:2] == ("free:0", "free:1")
    assert cfg.channel_names[16:18] == ("clamped:0", "clamped:1")
    assert len(cfg.ai_channels) == 32
    assert {line.role for line in cfg.output_lines} == {"source", "target"}
    assert cfg.block_size == 1000
    assert cfg.text == DEFAULT_BENCH_FILE.read_text()
    assert cfg.calibration.S.shape == (32,)
    assert cfg.calibration.V_T[0] == pytest.approx(0.62)


def test_hardware_example_has_fixed_wiring_and_device_prefixed_channels():
    cfg = load_bench(ROOT / "labctl" / "resources" / "benches" / "lab1.toml")
    assert cfg.backend == "hardware"
    assert [line.nodes for line in cfg.output_lines] == [(0,), (10,), (5,), (15,)]
    assert cfg.ai_channels[17].physical == "Dev1/ai17"
    assert cfg.ai_channels[17].name == "clamped:1"
    assert cfg.visa_resource.startswith("USB0::")


def test_calibration_conductance_follows_the_edge_law():
    cfg = load_bench()
    g = cfg.calibration.conductance(np.full(32, 2.62), mean_node_voltage=0.2)
    assert g == pytest.approx(np.full(32, 8.5e-4 * 1.8))
    assert cfg.calibration.conductance(np.full(32, 0.5)).max() == 0.0


def test_per_edge_calibration_list_is_accepted():
    text = DEFAULT_BENCH_FILE.read_text().replace(
        "V_T = 0.62 ", "V_T = [" + ", ".join(["0.6"] * 31 + ["0.7"]) + "]")
    cfg = bench_from_text(text)
    assert cfg.calibration.V_T[31] == pytest.approx(0.7)
    assert cfg.calibration.V_T[0] == pytest.approx(0.6)


def test_there_are_enough_malformed_examples():
    assert len(BAD) >= 15


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_malformed_bench_is_refused_naming_file_key_and_allowed(path: Path):
    header = path.read_text().splitlines()[:2]
    key = re.fullmatch(r"# expect-key: ?(.*)", header[0]).group(1)
    fragment = re.fullmatch(r"# expect-message: (.*)", header[1]).group(1)
    with pytest.raises(BenchFileError) as info:
        load_bench(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    if key:
        assert f": {key}: " in message
    assert fragment in message
    assert isinstance(info.value, ValueError)


def test_missing_file_is_a_bench_file_error(tmp_path):
    with pytest.raises(BenchFileError, match=r"nope\.toml: cannot read"):
        load_bench(tmp_path / "nope.toml")


def test_a_block_must_hold_at_least_one_sample():
    text = DEFAULT_BENCH_FILE.read_text().replace("sample_rate = 10000.0", "sample_rate = 50.0")
    text = text.replace("block_duration = 0.1 ", "block_duration = 0.01")
    with pytest.raises(BenchFileError, match=r"daq\.block_duration: 0\.01 s holds no sample "
                                             r"at 50 S/s; allowed >= 1 / sample_rate"):
        bench_from_text(text, "b.toml")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308", "18446744073709551616"])
def test_every_number_is_finite_and_in_its_declared_range(value):
    for old in ("compliance = 0.01 ", "timeout = 0.5 ", "noise_v = 7e-4 ", "mismatch = 0.02 "):
        key = old.split()[0]
        text = DEFAULT_BENCH_FILE.read_text().replace(old, f"{key} = {value} ")
        with pytest.raises(BenchFileError, match=rf"b\.toml: \w+\.{key}: .*allowed "):
            bench_from_text(text, "b.toml")


def test_a_missing_key_names_the_misspelt_one():
    text = DEFAULT_BENCH_FILE.read_text().replace("sample_rate = ", "sampel_rate = ")
    with pytest.raises(BenchFileError) as info:
        bench_from_text(text, "b.toml")
    assert "b.toml: daq.sample_rate: missing; required" in str(info.value)
    assert "unknown key 'daq.sampel_rate' here (did you mean 'sample_rate'?)" in str(info.value)


def test_bench_files_are_read_bounded(tmp_path):
    fifo = tmp_path / "bench.fifo"
    os.mkfifo(fifo)
    with pytest.raises(BenchFileError, match="not a regular file \\(a FIFO\\)"):
        load_bench(fifo)
    with pytest.raises(BenchFileError, match="not a regular file"):
        load_bench("/dev/zero")
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(BenchFileError, match="nested more than 32 deep"):
        load_bench(deep)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(DEFAULT_BENCH_FILE.read_bytes() + "# é\n".encode("latin-1"))
    with pytest.raises(BenchFileError, match=r"latin\.toml: not UTF-8 text: byte 0xe9"):
        load_bench(latin)


def test_every_table_with_a_problem_is_reported_at_once():
    text = DEFAULT_BENCH_FILE.read_text().replace("rows = 4", "rows = nan")
    text = text.replace("port = ", "prot = ").replace("noise_v = 7e-4", "noise_v = inf")
    with pytest.raises(BenchFileError) as info:
        bench_from_text(text, "b.toml")
    lines = str(info.value).splitlines()
    # a driver's section reports all of its problems (the missing key and the misspelt one)
    assert [ln.split(": ")[1] for ln in lines] == ["network.rows", "serial.port",
                                                  "serial.prot", "sim.noise_v"]
    assert all(ln.startswith("b.toml: ") for ln in lines)
