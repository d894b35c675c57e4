"""Simulation protocols (``protocols/papers/*.toml``): the pure-simulation claims of the
papers, run on the physics engine directly (no bench, no run file).

A file names the claim it reproduces and gives its parameters in ``[run]``; ``[quick]``
overrides some of them for ``labctl reproduce --quick`` (a CI-sized run that says it is
one). Every key is declared per claim in :data:`SCHEMAS` with its type, allowed range and
unit; an unknown key, a wrong type or a value out of range is refused with the file, the
dotted field, the value and what is allowed.

Example (``protocols/papers/small_lambda.toml``)::

    claim = "small_lambda"
    description = "..."
    [run]
    networks = 10          # jammed N = 64 networks (seeds 0..9)
    ...
    [quick]
    networks = 2
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.tomlread import TomlFileError, read_toml

#: (type, low, high, unit, help) of every [run] key, per claim
Spec = tuple[type, float, float, str, str]

_COMMON: dict[str, Spec] = {
    "networks": (int, 1, 200, "", "jammed networks (seeds 0..n−1)"),
    "n_nodes": (int, 16, 256, "", "nodes per network"),
    "eta": (float, 1e-6, 1.0, "", "nudge amplitude η"),
    "k_min": (float, 1e-9, 1.0, "S", "lower conductance bound"),
    "k_max": (float, 1.0, 1e9, "S", "upper conductance bound"),
}
_TRAIN: dict[str, Spec] = {
    "k0": (float, 1e-6, 1e3, "S", "initial uniform conductance"),
    "alpha": (float, 1e-6, 100.0, "S/V² per step", "learning rate α"),
    "steps": (int, 1, 10_000_000, "", "training steps (epochs) per run"),
}
_SELECT: dict[str, Spec] = {
    "tasks_per_network": (int, 1, 100, "", "regression tasks drawn per network"),
    "selection_steps": (int, 1, 10_000_000, "", "λ = 0 selection run length (steps)"),
    "selection_threshold": (float, 1e-30, 1.0, "", "keep tasks with L/L0 below this"),
    "selection_alpha": (float, 1e-6, 100.0, "S/V² per step", "α of the selection run"),
}
_LAMBDAS: dict[str, Spec] = {
    "lam_min": (float, 1e-14, 0.5, "", "smallest λ > 0"),
    "lam_max": (float, 1e-14, 0.5, "", "largest λ"),
    "lam_num": (int, 3, 40, "", "λ values > 0 (log-spaced)"),
}
SCHEMAS: dict[str, dict[str, Spec]] = {
    "small_lambda": {**_COMMON, **_TRAIN, **_SELECT, **_LAMBDAS},
    "kappa": {**_COMMON, **_SELECT,
              "max_steps": (int, 1, 10_000_000, "",
                            "longest run (steps); a run stops once L ≤ settle_error"),
              "settle_error": (float, 1e-30, 1.0, "V²",
                               "trained power taken at L ≤ this (below error_threshold)"),
              "kappa_min": (float, 1e-9, 1e3, "S", "smallest κ"),
              "kappa_max": (float, 1e-9, 1e3, "S", "largest κ"),
              "kappa_num": (int, 3, 40, "", "κ values (log-spaced)"),
              "alpha_per_kappa": (float, 1e-6, 100.0, "1/V² per step",
                                  "α = alpha_per_kappa · κ (the paper: α ∝ κ)"),
              "error_threshold": (float, 1e-12, 1.0, "V²", "training-time threshold"),
              "high_kappa": (float, 1e-9, 1e3, "S", "κ ≥ this is the ∝ κ regime")},
    "noise_floor": {**_COMMON, **_TRAIN, **_SELECT, **_LAMBDAS,
                    "noise": (float, 0.0, 1.0, "S per step", "white noise δ on the rule"),
                    "average_last": (int, 1, 1_000_000, "",
                                     "steps averaged at the end (noisy error)")},
    "nonequilibrium": {**_COMMON,
                       "k0": _TRAIN["k0"],
                       "ratio_min": (float, 1e-4, 1e6, "", "smallest α/γ"),
                       "ratio_max": (float, 1e-4, 1e12, "", "largest α/γ"),
                       "ratio_num": (int, 10, 60, "", "α/γ values (log-spaced)"),
                       "gamma": (float, 1e-6, 1e6, "1/s", "relaxation rate γ"),
                       "max_relaxation_times": (float, 1.0, 1e9, "",
                                                "longest run, in units of 1/γ"),
                       "max_steps": (int, 1000, 10**10, "",
                                     "longest run, in time steps (dt = min(0.5/γ, 0.1/α), so "
                                     "this caps fast learning's runs)"),
                       "threshold": (float, 1e-12, 1.0, "", "training time: L/L0 below this"),
                       "selection_ratio": (float, 1e-4, 1e6, "",
                                           "a task is kept if it reaches the threshold at "
                                           "this α/γ within the caps (tasks that learn)"),
                       "candidates": (int, 1, 1000, "",
                                      "network seeds tried at most (0, 1, …) to keep "
                                      "'networks' tasks"),
                       "sources": (int, 1, 16, "", "source nodes per task"),
                       "targets": (int, 1, 16, "", "target nodes per task"),
                       "model": (str, 0, 0, "", "'authors' (their code) or 'plain'")},
}
SCHEMA_REQUIRED_STR = {"model": ("authors", "plain")}


class SimProtocolError(ValueError):
    """A simulation protocol that cannot be run; the message names file, field, value and
    what is allowed."""


@dataclass(frozen=True)
class SimProtocol:
    """A loaded simulation protocol: ``claim``, ``description``, the ``run`` parameters and
    the ``quick`` overrides (both checked against :data:`SCHEMAS`)."""

    path: Path
    claim: str
    description: str
    run: Mapping[str, Any]
    quick: Mapping[str, Any]

    def params(self, quick: bool) -> dict[str, Any]:
        """The parameters of a full (``quick=False``) or quick run."""
        return {**self.run, **(self.quick if quick else {})}


def _check(file: str, section: str, table: Any, schema: dict[str, Spec],
           require_all: bool) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise SimProtocolError(f"{file}: [{section}] must be a table")
    out = {}
    for key, value in table.items():
        if key not in schema:
            raise SimProtocolError(f"{file}: {section}.{key}: unknown key; allowed: "
                                   f"{', '.join(sorted(schema))}")
        typ, lo, hi, unit, _ = schema[key]
        where = f"{file}: {section}.{key} = {value!r}"
        if typ is str:
            allowed = SCHEMA_REQUIRED_STR.get(key, ())
            if not isinstance(value, str) or (allowed and value not in allowed):
                raise SimProtocolError(f"{where}; allowed one of {', '.join(allowed)}")
            out[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                typ is int and not isinstance(value, int)):
            raise SimProtocolError(f"{where}; allowed a{'n integer' if typ is int else ' number'}"
                                   f" in [{lo:g}, {hi:g}] {unit}".rstrip())
        if not lo <= value <= hi:
            raise SimProtocolError(f"{where}; allowed [{lo:g}, {hi:g}] {unit}".rstrip())
        out[key] = typ(value)
    if require_all:
        missing = sorted(set(schema) - set(out))
        if missing:
            raise SimProtocolError(f"{file}: [{section}] misses {', '.join(missing)}")
    return out


def load_sim_protocol(path: str | Path) -> SimProtocol:
    """Read and check a simulation protocol file (see the module docstring)."""
    p = Path(path)
    file = str(p)
    try:
        _, doc = read_toml(p)
    except (TomlFileError, OSError) as exc:
        raise SimProtocolError(f"{file}: {exc}") from None
    extra = sorted(set(doc) - {"claim", "description", "run", "quick"})
    if extra:
        raise SimProtocolError(f"{file}: {extra[0]}: unknown key; allowed claim, description, "
                               "[run], [quick]")
    claim = doc.get("claim")
    if claim not in SCHEMAS:
        raise SimProtocolError(f"{file}: claim = {claim!r}; allowed one of "
                               f"{', '.join(SCHEMAS)}")
    schema = SCHEMAS[claim]
    run = _check(file, "run", doc.get("run", {}), schema, require_all=True)
    quick = _check(file, "quick", doc.get("quick", {}), schema, require_all=False)
    for params, where in ((run, "run"), ({**run, **quick}, "quick")):
        for lo, hi in (("lam_min", "lam_max"), ("kappa_min", "kappa_max"),
                       ("ratio_min", "ratio_max"), ("k_min", "k_max"),
                       ("settle_error", "error_threshold")):
            if lo in params and hi in params and not params[lo] < params[hi]:
                raise SimProtocolError(f"{file}: {where}.{lo} = {params[lo]:g} must be below "
                                       f"{hi} = {params[hi]:g}")
    return SimProtocol(p, claim, str(doc.get("description", "")), run, quick)
