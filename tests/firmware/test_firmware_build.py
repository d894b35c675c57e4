"""Host C unit tests, the bounded parser fuzz run and the AVR build (size) of the firmware."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from fw_boards import BUILD, FIRMWARE, VECTORS, make, missing_tool


def test_firmware_host_unit_tests_pass() -> None:
    """The C unit tests (incl. the shared vectors) run under ASan/UBSan without failures."""
    make("build/test_fw")
    proc = subprocess.run([str(BUILD / "test_fw"), str(VECTORS)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.search(r"(\d+) checks, 0 failures", proc.stdout)
    assert m is not None and int(m.group(1)) > 200, proc.stdout


def test_firmware_fuzz_parser_finds_nothing() -> None:
    """A bounded libFuzzer run (20 s) of the byte-stream parser finds no crash or leak."""
    if shutil.which("clang") is None:
        missing_tool("clang not installed (apt: clang libclang-rt-14-dev)")
    make("fuzz")
    for old in BUILD.glob("crash-*"):
        old.unlink()
    proc = subprocess.run(["make", "-C", str(FIRMWARE), "fuzz-run", "FUZZ_SECONDS=20"],
                          capture_output=True, text=True, timeout=120)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    assert runs is not None and int(runs.group(1)) > 10000, log[-2000:]
    assert not list(BUILD.glob("crash-*")) and not list(BUILD.glob("leak-*"))
    print(f"fuzz: {runs.group(1)} inputs in 20 s")


def test_firmware_avr_build_fits(capsys: pytest.CaptureFixture[str]) -> None:
    """avr-gcc builds the ATmega2560 ELF/HEX; flash and RAM use are printed and fit."""
    if shutil.which("avr-gcc") is None:
        missing_tool("avr-gcc not installed (apt: gcc-avr avr-libc)")
    make("avr")
    size = subprocess.run(["avr-size", "-A", str(BUILD / "gatefw.elf")], capture_output=True,
                          text=True, check=True).stdout
    sections = {m.group(1): int(m.group(2))
                for m in re.finditer(r"^(\.\w+)\s+(\d+)", size, re.MULTILINE)}
    flash = sections.get(".text", 0) + sections.get(".data", 0)
    ram = sections.get(".data", 0) + sections.get(".bss", 0) + sections.get(".noinit", 0)
    with capsys.disabled():
        print(f"\nAVR build: flash {flash} B of 262144, static RAM {ram} B of 8192")
    assert 1000 < flash < 262144 - 8192  # leaves room for the bootloader
    assert ram < 8192 // 2  # at least half the RAM left for the stack
    assert ".mmcu" in sections, "the .mmcu section simavr needs is missing"
    assert (BUILD / "gatefw.hex").stat().st_size > 0
