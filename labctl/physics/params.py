"""Bench defaults of the twin-transistor network, each figure with its source.

Sources: ``PHYSICS.md`` §2, §3 and §5 (the group's experiment code, abstracts and the
power-efficient-physical-learning paper). "inferred" marks our own reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Sub-threshold slope of the transistors, V per decade of current (PHYSICS.md §5).
SUBTHRESHOLD_V_PER_DECADE = 0.1


@dataclass(frozen=True)
class MosfetParams:
    """Square-law n-MOSFET edge of the bench and its gate circuit (SI units).

    Attributes (source in brackets):
        S: transconductance factor K, A/V² [PNAS 2024 fit, PHYSICS.md §5: 8.5e-4].
        V_T: threshold voltage, V [PHYSICS.md §5: 0.62].
        gate_min, gate_max: gate voltage rails, V [§5: about 1.0–5.5].
        node_min, node_max: allowed node voltage range, V [§5: 0–0.453].
        C_gate: gate capacitor, F [§5: 2.2 µF]; R_gate: its charging resistor, Ω [§5: 1 kΩ].
        smoothing: width s (V) of the soft overdrive f(x) = s·ln(1 + e^{x/s}) used in the
            current law. s = 2·0.1 V / ln 10 ≈ 0.0869 V reproduces the measured sub-threshold
            slope of 0.1 V/decade [§5] because the current goes as f² ∝ e^{2x/s} below
            threshold; 0 gives the hard square law (not smooth at threshold).
        mismatch_S: relative standard deviation of S between edges (0 = identical).
        mismatch_V_T: standard deviation of V_T between edges, V.
        twin_mismatch_S, twin_mismatch_V_T: the same between the free and clamped copy of
            one edge (relative, and V).
    """

    S: float = 8.5e-4
    V_T: float = 0.62
    gate_min: float = 1.0
    gate_max: float = 5.5
    node_min: float = 0.0
    node_max: float = 0.453
    C_gate: float = 2.2e-6
    R_gate: float = 1.0e3
    smoothing: float = 2.0 * SUBTHRESHOLD_V_PER_DECADE / math.log(10.0)
    mismatch_S: float = 0.0
    mismatch_V_T: float = 0.0
    twin_mismatch_S: float = 0.0
    twin_mismatch_V_T: float = 0.0

    def __post_init__(self) -> None:
        for name in ("S", "C_gate", "R_gate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        if not self.gate_min < self.gate_max:
            raise ValueError(
                f"gate_min, gate_max: need gate_min < gate_max, got {self.gate_min}, "
                f"{self.gate_max}"
            )
        if not self.node_min < self.node_max:
            raise ValueError("node_min, node_max: need node_min < node_max")
        for name in (
            "smoothing", "mismatch_S", "mismatch_V_T", "twin_mismatch_S", "twin_mismatch_V_T"
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")

    @property
    def gate_rc(self) -> float:
        """Gate charging time constant R·C, s (2.2 ms at the bench defaults)."""
        return self.R_gate * self.C_gate

    def edge_constants(
        self, n_edges: int, seed: int = 0
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """Per-edge (S, V_T) of the free and the clamped copy, with the configured mismatch.

        Returns ``((S_free, VT_free), (S_clamped, VT_clamped))``, arrays of shape (E,) in A/V²
        and V. Without mismatch all entries equal ``S`` and ``V_T``.
        """
        rng = np.random.default_rng(seed)
        s_edge = self.S * (1.0 + self.mismatch_S * rng.standard_normal(n_edges))
        vt_edge = self.V_T + self.mismatch_V_T * rng.standard_normal(n_edges)
        s_free = s_edge * (1.0 + 0.5 * self.twin_mismatch_S * rng.standard_normal(n_edges))
        s_clamp = s_edge * (1.0 + 0.5 * self.twin_mismatch_S * rng.standard_normal(n_edges))
        vt_free = vt_edge + 0.5 * self.twin_mismatch_V_T * rng.standard_normal(n_edges)
        vt_clamp = vt_edge + 0.5 * self.twin_mismatch_V_T * rng.standard_normal(n_edges)
        if np.any(s_free <= 0) or np.any(s_clamp <= 0):
            raise ValueError("mismatch_S: so large that some transistor got S <= 0")
        return (s_free, vt_free), (s_clamp, vt_clamp)
