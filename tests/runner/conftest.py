"""Fixtures for the runner tests: tiny protocols on the simulated bench."""

from __future__ import annotations

from pathlib import Path

import pytest

ALLOSTERY = """
name = "{name}"
bench = "sim"
eta = 0.22
record_rate = 50.0
seed = 3
{extra}
[learning]
mode = "continuous"
duration = {duration}

[init]
gate_voltage = 2.5

[[task]]
kind = "allostery"
name = "corners"
sources = {{ 0 = 0.0, 10 = 0.45 }}
targets = {{ 5 = 0.091, 15 = 0.363 }}
"""

LAMBDA_FIXED = """
[lambda]
mode = "fixed"
value = 0.0
"""


@pytest.fixture
def write_protocol(tmp_path: Path):
    """Write a small allostery protocol; returns its path."""

    def make(name: str = "t", duration: float = 1.0, extra: str = LAMBDA_FIXED,
             tasks: str = "") -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(ALLOSTERY.format(name=name, duration=duration, extra=extra) + tasks)
        return path

    return make
