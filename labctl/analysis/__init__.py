"""Offline analysis of HDF5 run files (finished or live): summary tables, the papers'
figures and scaling fits, sim-against-bench comparison and calibration fitting.

Tables are pandas DataFrames with plain column names and their units in
``df.attrs["units"]``; their CSV files carry the units in the headers (``final_error
[V^2]``) and come back with :func:`read_table`. Needs the ``analysis`` extra.

See docs/ANALYSIS.md. Main entry points: :func:`load_summary`, :func:`load_series`,
:func:`analyze`, :func:`fit_calibration`, :func:`compare_runs`.
"""

import importlib
from typing import Any

# Names are imported on first use (PEP 562) so that `labctl` starts fast: the figures
# and fits pull in matplotlib and scipy.optimize.
_HOME = {
    "CalibrationFit": "calibration", "fit_calibration": "calibration",
    "compare_runs": "compare", "simulate_run": "compare",
    "fit_power_law": "fits", "fit_small_lambda": "fits", "fit_two_regimes": "fits",
    "lambda_sweep": "fits", "pareto_front": "fits",
    "TaskSeries": "load", "first_crossing": "load", "load_series": "load",
    "load_summary": "load", "summarize_run": "load", "fixed_lambda": "load",
    "AnalysisReport": "report", "analyze": "report",
    "lambda_trend": "tradeoff", "TradeoffTrend": "tradeoff",
    "fit_nonequilibrium": "nonequilibrium", "NonequilibriumFit": "nonequilibrium",
    "pair_control": "control", "task_identity": "control",
    "dataset_scores": "datasets",
    "read_table": "frames", "write_table": "frames", "format_table": "frames",
    "units_of": "frames",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'labctl.analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(f"labctl.analysis.{_HOME[name]}"), name)
