"""Dynamical λ control against early stopping (power-efficient-physical-learning Sec. IV).

Early stopping trains at λ = 0 and stops when the error first reaches the target L̃; the
controller instead keeps training and raises λ while L < L̃. The comparison is the free
power (W) each ends with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labctl.analysis.load import TaskSeries, first_crossing


@dataclass(frozen=True)
class ControlComparison:
    """``power_control`` final free power of the λ-controlled task (W), ``power_early_stop``
    free power of the λ = 0 task when its error first reached ``target_error`` (V²)
    (NaN if it never did), ``saving`` = 1 − power_control / power_early_stop (1),
    ``final_error_control`` (V²) and ``time_early_stop`` (s)."""

    control: TaskSeries
    baseline: TaskSeries
    target_error: float
    power_control: float
    power_early_stop: float
    saving: float
    final_error_control: float
    time_early_stop: float


def _same_task(a: TaskSeries, b: TaskSeries) -> bool:
    keys = ("source_nodes", "source_voltages", "target_nodes", "target_voltages")
    return all(a.params.get(k) == b.params.get(k) for k in keys)


def compare_control(series: Sequence[TaskSeries]) -> list[ControlComparison]:
    """Pair every λ-controlled task with a fixed λ = 0 task of the same sources and
    targets (any λ = 0 task if none matches) and compare their free power."""
    controls = [s for s in series if s.params.get("lambda_control") == "on" and len(s.time)]
    zeros = [s for s in series if s.params.get("lambda_control") != "on"
             and len(s.lam) and np.all(s.lam == 0)]
    out = []
    for c in controls:
        matches = [z for z in zeros if _same_task(c, z)] or zeros
        if not matches:
            continue
        base = matches[0]
        target = float(c.params["target_error"])
        t_stop = first_crossing(base.time, base.error, target)
        p_stop = (float(np.interp(t_stop, base.time, base.power_free)) if np.isfinite(t_stop)
                  else float("nan"))
        p_ctrl = float(c.power_free[-1])
        out.append(ControlComparison(c, base, target, p_ctrl, p_stop, 1.0 - p_ctrl / p_stop,
                                     float(c.error[-1]), t_stop))
    return out
