"""The row builder's edge law: the compiled pass against the NumPy law of
:mod:`labctl.physics.edges`, and power balance against Kirchhoff's solution."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.network import periodic_lattice
from labctl.physics.edges import mosfet_conductance, mosfet_current
from labctl.runner.observe import EdgeLaw

NET = periodic_lattice(4, 4)


def _law(rng: np.random.Generator) -> EdgeLaw:
    return EdgeLaw(NET, 8.5e-4 * (1 + 0.05 * rng.standard_normal(32)),
                   0.62 + 0.01 * rng.standard_normal(32))


@pytest.mark.parametrize("gate_rows", [0, 1, 3, 6])
def test_observables_are_the_numpy_edge_law(gate_rows):
    """Currents, power Σ I ΔV and chord conductances (small-signal limit at zero drop) of
    6 rows, with one gate vector or per-row gates (row r uses gate row r mod G)."""
    rng = np.random.default_rng(gate_rows)
    law = _law(rng)
    v = rng.uniform(0.0, 0.45, (6, 16))
    v[:, 1] = v[:, 0]  # edge 0 (nodes 0-1) has no drop: the small-signal limit
    shape = (32,) if gate_rows == 0 else (gate_rows, 32)
    gates = rng.uniform(1.2, 4.0, shape)  # some edges near cut-off
    current, power, chord = law.observables(v, gates)
    full = gates if gate_rows == 0 else gates[np.arange(6) % gate_rows]
    va, vb = v[:, NET.edges[:, 0]], v[:, NET.edges[:, 1]]
    i_ref, _, _ = mosfet_current(va, vb, full, law.S, law.V_T, law.smoothing)
    np.testing.assert_allclose(current, i_ref, rtol=1e-12, atol=1e-20)
    np.testing.assert_allclose(power, np.sum(i_ref * (va - vb), axis=-1), rtol=1e-12)
    g_ref = mosfet_conductance(va, vb, full, law.S, law.V_T, law.smoothing)
    np.testing.assert_allclose(chord, g_ref, rtol=1e-12)
    assert np.all(chord[:, 0] > 0) and np.all(current[:, 0] == 0.0)


def test_power_is_what_the_sources_supply_at_the_kirchhoff_solution():
    """At a Kirchhoff solution of the network, Σ I ΔV over the edges equals the power the
    held nodes inject, Σ V_held · I_out(held) (Tellegen), and KCL holds at the others."""
    from labctl.physics.solve import solve_mosfet_batch

    rng = np.random.default_rng(7)
    law = _law(rng)
    gates = rng.uniform(2.0, 3.5, 32)
    held = np.array([0, 10, 5])
    values = np.array([0.0, 0.45, 0.2])
    v = solve_mosfet_batch(NET, gates, held, values, law.S, law.V_T, law.smoothing)
    current, power, _ = law.observables(v, gates)
    outflow = np.array([law.node_outflow(current[0], n) for n in range(16)])
    free = np.setdiff1d(np.arange(16), held)
    assert np.max(np.abs(outflow[free])) < 1e-12 * np.max(np.abs(current))
    assert power[0] > 0
    assert power[0] == pytest.approx(float(values @ outflow[held]), rel=1e-9)
