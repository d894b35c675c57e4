"""Offline analysis of HDF5 run files (finished or live): summary tables, the papers'
figures and scaling fits, sim-against-bench comparison and calibration fitting.

See docs/ANALYSIS.md. Main entry points: :func:`load_summary`, :func:`load_series`,
:func:`analyze`, :func:`fit_calibration`, :func:`compare_runs`.
"""

from labctl.analysis.calibration import CalibrationFit, fit_calibration
from labctl.analysis.compare import compare_runs, simulate_run
from labctl.analysis.fits import (
    fit_power_law,
    fit_small_lambda,
    fit_two_regimes,
    lambda_sweep,
    pareto_front,
)
from labctl.analysis.load import TaskSeries, first_crossing, load_series, load_summary
from labctl.analysis.report import AnalysisReport, analyze
from labctl.analysis.table import Table

__all__ = [
    "AnalysisReport", "CalibrationFit", "Table", "TaskSeries", "analyze", "compare_runs",
    "first_crossing", "fit_calibration", "fit_power_law", "fit_small_lambda",
    "fit_two_regimes", "lambda_sweep", "load_series", "load_summary", "pareto_front",
    "simulate_run",
]
