"""Floating regression inputs (the authors' drive): constraint solver, kernel, Kirchhoff."""

import numpy as np
import pytest

from labctl.network import jammed_network
from labctl.physics import train_tasks
from labctl.physics.quasistatic import QuasistaticEngine
from labctl.physics.solve import solve_linear_constrained
from labctl.physics.tasks import regression_task

NET = jammed_network(64, seed=0)


def _shared_node_task() -> tuple:
    """A floating regression task whose input and output edges share a node (allowed)."""
    for seed in range(200):
        task = regression_task(NET, seed=seed)
        rows = np.abs(np.vstack([task.input_matrix, task.output_matrix]))  # (4, N)
        if np.any(rows.sum(axis=0) >= 2):  # a node shared by two of the four edges
            return seed, task
    raise AssertionError("no task with shared nodes among 200 seeds")


def test_regression_task_geometry() -> None:
    task = regression_task(NET, seed=3)
    assert task.source_nodes.tolist() == [NET.n_nodes - 1]  # one ground: the last node
    assert np.all(task.source_values == 0.0)
    assert task.n_inputs == 2 and task.input_values.shape == (20, 2)
    assert task.with_test_set().input_values.shape == (100, 2)
    # each input row is an edge's incidence row: +1 and −1
    assert np.all(np.sort(task.input_matrix, axis=1)[:, [0, -1]] == [-1.0, 1.0])
    seed, _ = _shared_node_task()
    assert seed < 200
    old = regression_task(NET, seed=3, drive="grounded")
    assert old.n_inputs == 0 and len(np.unique(old.source_nodes)) == 4


def test_kernel_states_equal_the_bordered_system_and_obey_kirchhoff() -> None:
    """Free and clamped states of the compiled kernel equal the dense KKT solution; KCL
    holds at every node that is not an input end, the floating sources inject equal and
    opposite currents, and no current flows into the ground."""
    _, task = _shared_node_task()
    eng = QuasistaticEngine(NET, [task])
    k = np.random.default_rng(1).uniform(1e-3, 10.0, NET.n_edges)
    e = NET.n_edges
    sq_f, sq_c = np.empty(e), np.empty(e)
    eta = 0.3
    err, p_f, p_c = eng.observe(0, k, eta, sq_f, sq_c, eng.scratch())
    lap = NET.incidence.T @ (k[:, None] * NET.incidence)
    ground = {int(task.source_nodes[0]): 0.0}
    c_free = task.input_matrix
    c_all = np.vstack([c_free, task.output_matrix])
    want_f, want_c, errs = [], [], []
    for x in range(task.desired.shape[0]):
        v_f, mu = solve_linear_constrained(NET, k, ground, c_free, task.input_values[x])
        y_f = task.output_matrix @ v_f
        y_c = y_f + eta * (task.desired[x] - y_f)
        v_c, mu_c = solve_linear_constrained(NET, k, ground, c_all,
                                             np.concatenate([task.input_values[x], y_c]))
        for v, m, c in ((v_f, mu, c_free), (v_c, mu_c, c_all)):
            injected = -(c.T @ m)
            kcl = lap @ v - injected
            assert np.allclose(np.delete(kcl, NET.n_nodes - 1), 0.0, atol=1e-10)
            assert abs(kcl[-1]) < 1e-10  # ground current: floating sources only
            assert np.allclose(c_free @ v, task.input_values[x], atol=1e-12)
        assert np.allclose(task.output_matrix @ v_c, y_c, atol=1e-12)
        want_f.append(NET.drops(v_f) ** 2)
        want_c.append(NET.drops(v_c) ** 2)
        errs.append(0.5 * np.sum((task.desired[x] - y_f) ** 2))
    want_f, want_c = np.mean(want_f, 0), np.mean(want_c, 0)
    assert np.allclose(sq_f, want_f, rtol=1e-9, atol=1e-14)
    assert np.allclose(sq_c, want_c, rtol=1e-9, atol=1e-14)
    assert err == pytest.approx(np.mean(errs), rel=1e-9)
    assert p_f == pytest.approx(np.sum(k * want_f), rel=1e-9)  # power: no factor ½
    assert p_c == pytest.approx(np.sum(k * want_c), rel=1e-9)


def test_training_with_floating_inputs_lowers_the_error() -> None:
    _, task = _shared_node_task()
    r = train_tasks(NET, 1.0, task, eta=1e-3, alpha=0.5, steps=1500, k_min=1e-4, k_max=1e6)
    assert r.error[-1] < 0.1 * r.error[0]


def test_dependent_constraints_are_refused() -> None:
    task = regression_task(NET, seed=0)
    bad = regression_task(NET, seed=0)
    bad.output_matrix = np.vstack([task.input_matrix[:1], task.output_matrix[1:]])
    with pytest.raises(ValueError, match="independent"):
        train_tasks(NET, 1.0, bad, eta=1e-3, alpha=0.5, steps=2, k_min=1e-4, k_max=1e6)
    with pytest.raises(ValueError, match="drive"):
        regression_task(NET, seed=0, drive="sideways")
