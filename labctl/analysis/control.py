"""Dynamical λ control against early stopping (power-efficient-physical-learning Sec. IV).

Early stopping trains at λ = 0 and stops when the error first reaches the target L̃; the
controller instead keeps training and raises λ while L < L̃. The comparison is the free
power (W) each ends with, and it only means something for the *same task*.

Task identity (:func:`task_identity`): two tasks are the same task when they ran on the
same bench network (edge list) and agree on the kind, the source nodes and their volts,
the target nodes and their desired volts, the initial gates (``gate_voltage`` or
``kappa``), η, the simulated α and γ, and, for dataset tasks, every dataset parameter
(edges/nodes, sizes, epochs, ``dataset_seed``, scales). λ, the task name, its index, its
noise seed and the λ-control settings are not part of the identity. A λ-controlled task is
paired only with a fixed λ = 0 task of the same identity (its early-stopping baseline);
without one it is reported as unpaired, never compared with another task.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from labctl.analysis.load import TaskSeries, first_crossing

#: task parameters that define the task (see the module docstring)
IDENTITY_KEYS = (
    "kind", "source_nodes", "source_voltages", "target_nodes", "target_voltages",
    "gate_voltage", "kappa", "eta", "alpha", "gamma",
    "input_edges", "output_edges", "n_train", "n_test", "epochs", "dataset_seed",
    "input_scale", "dataset", "input_nodes", "ground_node", "n_train_per_class",
    "n_test_per_class", "epoch_steps", "target_low", "target_high", "input_node",
    "target_node", "coefficients", "x_range",
)


def _canonical(value: Any) -> Any:
    """A parameter in a hashable, comparison-stable form (floats rounded to 12 digits)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, float | np.floating):
        return float(f"{float(value):.12g}")
    if isinstance(value, np.integer):
        return int(value)
    return value


def network_fingerprint(edges: np.ndarray, n_nodes: int) -> str:
    """Short hash of a network's node count and edge list (order-independent)."""
    pairs = np.sort(np.asarray(edges, dtype=np.int64).reshape(-1, 2), axis=1)
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    h = hashlib.sha256(np.int64(n_nodes).tobytes() + pairs.tobytes())
    return h.hexdigest()[:16]


def task_identity(series: TaskSeries, network: str = "") -> tuple[Any, ...]:
    """The identity of ``series``' task: its network fingerprint and :data:`IDENTITY_KEYS`."""
    p = series.params
    return (network, *(_canonical(p.get(k)) for k in IDENTITY_KEYS))


def describe(series: TaskSeries) -> str:
    """'name' (file, task N) for messages."""
    return f"'{series.name}' ({series.file}, task {series.task})"


@dataclass(frozen=True)
class ControlComparison:
    """``power_control`` final free power of the λ-controlled task (W), ``power_early_stop``
    free power of its λ = 0 baseline (same task) when its error first reached
    ``target_error`` (V²) (NaN if it never did), ``saving`` = 1 − power_control /
    power_early_stop (1), ``final_error_control`` (V²) and ``time_early_stop`` (s)."""

    control: TaskSeries
    baseline: TaskSeries
    target_error: float
    power_control: float
    power_early_stop: float
    saving: float
    final_error_control: float
    time_early_stop: float

    def line(self) -> str:
        """One line naming the pair and the result."""
        head = f"λ control {describe(self.control)} vs early stopping {describe(self.baseline)}"
        if not np.isfinite(self.time_early_stop):
            return (f"{head}: the λ = 0 baseline never reached L̃ = {self.target_error:.3g} V²"
                    f" (no early-stopping point; P^F control {self.power_control:.4g} W)")
        return (f"{head}: control ends at L = {self.final_error_control:.3g} V², P^F = "
                f"{self.power_control:.4g} W; early stop at L̃ = {self.target_error:.3g} V² "
                f"(t = {self.time_early_stop:.3g} s): P^F = {self.power_early_stop:.4g} W; "
                f"saving {100 * self.saving:.1f} %")


@dataclass(frozen=True)
class ControlPairing:
    """Every λ-controlled task either paired with its baseline (``pairs``) or named in
    ``unpaired`` with the reason."""

    pairs: list[ControlComparison]
    unpaired: list[str]


def _is_baseline(s: TaskSeries) -> bool:
    return (s.params.get("lambda_control", "off") != "on" and len(s.lam) > 0
            and bool(np.all(s.lam == 0)))


def pair_control(series: Sequence[TaskSeries],
                 networks: Mapping[str, str] | None = None) -> ControlPairing:
    """Pair every λ-controlled task with a λ = 0 task of the same identity
    (:func:`task_identity`; ``networks`` maps file name → network fingerprint) and compare
    their free power. A baseline that names its control task (parameter ``baseline_of``)
    is preferred; otherwise the first same-task λ = 0 task in file/task order is used."""
    nets = networks or {}
    controls = [s for s in series if s.params.get("lambda_control") == "on" and len(s.time)]
    zeros = [s for s in series if _is_baseline(s) and len(s.time)]
    pairs, unpaired = [], []
    for c in controls:
        ident = task_identity(c, nets.get(c.file, ""))
        same = [z for z in zeros if task_identity(z, nets.get(z.file, "")) == ident]
        named = [z for z in same if z.file == c.file
                 and z.params.get("baseline_of") == c.name]
        if not same:
            unpaired.append(f"λ control {describe(c)}: no λ = 0 run of the same task (same "
                            "network, sources, targets, initial gates, η) — not compared")
            continue
        base = (named or same)[0]
        target = float(c.params["target_error"])
        t_stop = first_crossing(base.time, base.error, target)
        p_stop = (float(np.interp(t_stop, base.time, base.power_free)) if np.isfinite(t_stop)
                  else float("nan"))
        p_ctrl = float(c.power_free[-1])
        pairs.append(ControlComparison(c, base, target, p_ctrl, p_stop, 1.0 - p_ctrl / p_stop,
                                       float(c.error[-1]), t_stop))
    return ControlPairing(pairs, unpaired)


def compare_control(series: Sequence[TaskSeries],
                    networks: Mapping[str, str] | None = None) -> list[ControlComparison]:
    """The paired comparisons of :func:`pair_control` (unpaired tasks left out)."""
    return pair_control(series, networks).pairs
