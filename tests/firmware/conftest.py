"""Fixtures of the firmware tests: build the firmware once per session (make -C firmware)
into firmware/build/, start emulated boards (host build or simavr, one at a time) and
always kill them afterwards; load the shared command/reply vectors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fw_boards import (
    BUILD,
    Board,
    Vector,
    load_vectors,
    make,
    missing_tool,
    start_board,
    stop_board,
)


@pytest.fixture(scope="session")
def host_firmware() -> Path:
    """Path of the host build (pseudo-terminal UART, simulated board)."""
    make("host")
    return BUILD / "gatefw-host"


@pytest.fixture(scope="session")
def avr_firmware() -> tuple[Path, Path]:
    """Paths of the AVR ELF and the simavr board harness (skips without the toolchain)."""
    for tool in ("avr-gcc", "pkg-config"):
        if shutil.which(tool) is None:
            missing_tool(f"{tool} not installed (apt: gcc-avr avr-libc libsimavr-dev)")
    make("avr", "board")
    return BUILD / "gatefw.elf", BUILD / "avr-board"











@pytest.fixture
def host_board(host_firmware: Path) -> Iterator[Board]:
    """A freshly booted host-build board (gates at 1.5 V)."""
    board = start_board([str(host_firmware)], "host")
    try:
        yield board
    finally:
        stop_board(board.proc)


@pytest.fixture
def avr_board(avr_firmware: tuple[Path, Path]) -> Iterator[Board]:
    """A freshly booted ATmega2560 under simavr (one at a time)."""
    elf, harness = avr_firmware
    board = start_board([str(harness), str(elf)], "avr")
    try:
        yield board
    finally:
        stop_board(board.proc)


@pytest.fixture(params=["host", "avr"])
def board(request: pytest.FixtureRequest) -> Board:
    """Each emulated board in turn: the host build and the AVR build under simavr."""
    return request.getfixturevalue(f"{request.param}_board")











@pytest.fixture(scope="session")
def vectors() -> list[Vector]:
    """The shared command/reply vectors."""
    return load_vectors()
