"""Physics engine: edge laws, steady states, learning rules, bench dynamics, tasks.

Public names for notebooks are re-exported here; see docs/PHYSICS_API.md. They are
imported on first use, so importing one light module (e.g. the λ controller,
``labctl.physics.control``) does not load the numba kernels.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> the module that defines it
_EXPORTS = {
    "BenchParams": "bench_model",
    "TwinBench": "bench_model",
    "TwinBenchBatch": "bench_model",
    "LambdaController": "control",
    "MosfetParams": "params",
    "TrainResult": "quasistatic",
    "train_quasistatic": "quasistatic",
    "train_tasks": "quasistatic",
    "geometric_mean": "selection",
    "select_learnable": "selection",
    "solve_linear": "solve",
    "solve_linear_batch": "solve",
    "solve_mosfet": "solve",
    "solve_mosfet_batch": "solve",
}

__all__ = [
    "BenchParams",
    "LambdaController",
    "MosfetParams",
    "TrainResult",
    "TwinBench",
    "TwinBenchBatch",
    "geometric_mean",
    "select_learnable",
    "solve_linear",
    "solve_linear_batch",
    "solve_mosfet",
    "solve_mosfet_batch",
    "train_quasistatic",
    "train_tasks",
]

if TYPE_CHECKING:
    from labctl.physics.bench_model import BenchParams, TwinBench, TwinBenchBatch
    from labctl.physics.control import LambdaController
    from labctl.physics.params import MosfetParams
    from labctl.physics.quasistatic import TrainResult, train_quasistatic, train_tasks
    from labctl.physics.selection import geometric_mean, select_learnable
    from labctl.physics.solve import (
        solve_linear,
        solve_linear_batch,
        solve_mosfet,
        solve_mosfet_batch,
    )


def __getattr__(name: str) -> Any:
    """Import the module defining public name ``name`` on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'labctl.physics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"labctl.physics.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
