"""Shared pytest configuration: Qt runs offscreen in every test, Ctrl-C has its default
meaning, and one builder of small protocol files on the simulated bench serves the runner,
GUI and analysis tests."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# A test run started in the background of a non-interactive shell (``cmd &``) or under nohup
# inherits SIGINT *ignored*, and so would every process it starts. The tests that press
# Ctrl-C (on labctl in this process, or on a child such as firmware/emulate) need its
# default meaning: KeyboardInterrupt here, and, as a caught signal is reset on exec, the
# default action in children.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

#: the bench's standard allostery task: sources 0 and 0.45 V, targets at 20/80 %
CORNERS = """
[[task]]
kind = "allostery"
name = "corners"
sources = { 0 = 0.0, 10 = 0.45 }
targets = { 5 = 0.091, 15 = 0.363 }
"""

LAMBDA_FIXED = """
[lambda]
mode = "fixed"
value = 0.0
"""


def random_tasks(count: int, seed: int = 5, sources: Sequence[float] = (0.0, 0.45),
                 targets: str = "[[0.091, 0.363]]") -> str:
    """A ``[[task]]`` table of ``count`` random two-source two-target allostery tasks;
    ``targets`` lists the alternative desired voltage pairs (V)."""
    return f"""
[[task]]
kind = "random_allostery"
name = "ra"
count = {count}
seed = {seed}
source_voltages = [{sources[0]}, {sources[1]}]
target_voltages = {targets}
"""


def lambda_fixed(value: float) -> str:
    """A ``[lambda]`` table holding λ at ``value``."""
    return f"""
[lambda]
mode = "fixed"
value = {value}
"""


def lambda_sweep(values: Sequence[float]) -> str:
    """A ``[lambda]`` table sweeping ``values`` (every task at every λ)."""
    return f"""
[lambda]
mode = "sweep"
values = [{", ".join(str(v) for v in values)}]
"""


def protocol_toml(name: str = "t", *, duration: float = 1.0, lam: str = LAMBDA_FIXED,
                  tasks: str = CORNERS, record_rate: float = 50.0, seed: int = 3,
                  gate_voltage: float = 2.5, bench: str = "sim") -> str:
    """Text of a small continuous-learning protocol (η = 0.22, uniform gates)."""
    return f"""
name = "{name}"
bench = "{bench}"
eta = 0.22
record_rate = {record_rate}
seed = {seed}
{lam}
[learning]
mode = "continuous"
duration = {duration}

[init]
gate_voltage = {gate_voltage}
{tasks}"""


class ProtocolKit:
    """The builders above, handed to tests as the ``protocols`` fixture."""

    CORNERS = CORNERS
    LAMBDA_FIXED = LAMBDA_FIXED
    random_tasks = staticmethod(random_tasks)
    lambda_sweep = staticmethod(lambda_sweep)
    lambda_fixed = staticmethod(lambda_fixed)
    toml = staticmethod(protocol_toml)

    @staticmethod
    def write(path: Path, **kwargs) -> Path:
        """Write ``protocol_toml(**kwargs)`` to ``path``; returns ``path``."""
        path.write_text(protocol_toml(**kwargs))
        return path


@pytest.fixture(scope="session")
def protocols() -> type[ProtocolKit]:
    """Builders of small protocol files (see :class:`ProtocolKit`)."""
    return ProtocolKit


@pytest.fixture
def write_protocol(tmp_path: Path) -> Callable[..., Path]:
    """Write a small allostery protocol into tmp_path: the corners task plus ``tasks``,
    with ``extra`` as its ``[lambda]`` table; returns its path."""

    def make(name: str = "t", duration: float = 1.0, extra: str = LAMBDA_FIXED,
             tasks: str = "") -> Path:
        return ProtocolKit.write(tmp_path / f"{name}.toml", name=name, duration=duration,
                                 lam=extra, tasks=CORNERS + tasks)

    return make
