"""Physics engine: edge laws, steady states, learning rules, bench dynamics, tasks.

Public names for notebooks are re-exported here; see docs/PHYSICS_API.md.
"""

from labctl.physics.bench_model import BenchParams, TwinBench, TwinBenchBatch
from labctl.physics.control import LambdaController
from labctl.physics.params import MosfetParams
from labctl.physics.quasistatic import TrainResult, train_quasistatic, train_tasks
from labctl.physics.solve import solve_linear, solve_linear_batch, solve_mosfet, solve_mosfet_batch

__all__ = [
    "BenchParams",
    "LambdaController",
    "MosfetParams",
    "TrainResult",
    "TwinBench",
    "TwinBenchBatch",
    "solve_linear",
    "solve_linear_batch",
    "solve_mosfet",
    "solve_mosfet_batch",
    "train_quasistatic",
    "train_tasks",
]
