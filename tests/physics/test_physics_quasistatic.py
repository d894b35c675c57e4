"""Quasistatic coupled learning: equals the plain reference loop; λ trades error for power."""

import numpy as np
import pytest

from labctl.network import disordered_network
from labctl.physics import LambdaController, solve_linear, train_quasistatic, train_tasks
from labctl.physics.reference import train_reference
from labctl.physics.tasks import allostery_task, random_allostery, regression_task


def test_matches_plain_reference_loop():
    net = disordered_network(seed=0)
    src, tgt = random_allostery(net, 1)
    kw = dict(eta=0.1, alpha=0.3, lam=0.01, steps=300, k_min=1e-3, k_max=10.0)
    fast = train_quasistatic(net, 1.0, src, tgt, **kw)
    k, err, pw = train_reference(net, 1.0, src, tgt, **kw)
    assert np.allclose(fast.conductance, k, rtol=1e-9, atol=1e-12)
    assert np.allclose(fast.error, err, rtol=1e-9, atol=1e-15)
    assert np.allclose(fast.power_free, pw, rtol=1e-9)
    assert fast.error[-1] < 0.1 * fast.error[0]


def test_batch_equals_single_tasks():
    net = disordered_network(seed=1)
    tasks = [allostery_task(net, *random_allostery(net, s)) for s in range(3)]
    kw = dict(eta=0.1, alpha=0.3, lam=0.0, steps=50, k_min=1e-3, k_max=10.0)
    batch = train_tasks(net, 1.0, tasks, **kw)
    for i, t in enumerate(tasks):
        one = train_tasks(net, 1.0, t, **kw)
        assert np.allclose(batch.conductance[i], one.conductance, rtol=1e-10)


def test_lambda_lowers_free_power_and_raises_error():
    net = disordered_network(seed=2)
    task = regression_task(net, seed=0)
    kw = dict(eta=1e-3, alpha=0.3, steps=3000, k_min=1e-4, k_max=1e3)
    runs = {lam: train_tasks(net, 1.0, task, lam=lam, **kw) for lam in (0.0, 1e-3, 1e-2)}
    powers = [runs[lam].power_free[-1] for lam in (0.0, 1e-3, 1e-2)]
    errors = [runs[lam].error[-1] for lam in (0.0, 1e-3, 1e-2)]
    assert powers[0] > powers[1] > powers[2]
    assert errors[2] > errors[0]


def test_lambda_controller_drives_error_to_target():
    net = disordered_network(seed=0)
    src, tgt = random_allostery(net, 2)
    ctl = LambdaController(target_error=1e-5, rho=1.0, p=0.5, lam0=1e-4, lam_max=0.3)
    r = train_quasistatic(net, 1e-2, src, tgt, eta=0.1, alpha=0.01, lam=ctl, steps=3000,
                          k_min=1e-3, k_max=10.0)
    assert abs(np.log10(np.mean(r.error[-200:]) / 1e-5)) < 0.5
    assert r.lam[-1] != r.lam[0]


def test_compiled_chunks_equal_the_stepwise_controller_path():
    """Fixed-λ compiled loop (noise drawn in 2 chunks) == per-step path with a pinned λ."""
    net = disordered_network(seed=3)
    tasks = [allostery_task(net, *random_allostery(net, s)) for s in range(20)]
    kw = dict(eta=0.1, alpha=0.3, steps=400, k_min=1e-3, k_max=10.0, noise=1e-4, seed=7,
              record_every=50)
    # error always above the tiny target: λ is pushed down and stays clipped at lam_min
    pinned = LambdaController(target_error=1e-30, lam0=1e-3, lam_min=1e-3, lam_max=0.5)
    stepwise = train_tasks(net, 1.0, tasks, lam=pinned, **kw)
    fixed = train_tasks(net, 1.0, tasks, lam=1e-3, **kw)
    assert np.all(stepwise.lam == 1e-3)
    assert np.allclose(fixed.conductance, stepwise.conductance, rtol=1e-12, atol=0)
    assert np.allclose(fixed.error, stepwise.error, rtol=1e-12, atol=0)
    assert fixed.k_history.shape == (8, 20, net.n_edges)
    assert np.allclose(fixed.k_history, stepwise.k_history, rtol=1e-12, atol=0)
    quiet = train_tasks(net, 1.0, tasks, lam=1e-3, **{**kw, "noise": 0.0})
    assert not np.allclose(quiet.conductance, fixed.conductance, rtol=1e-6)


def test_edge_output_task_matches_dense_engine_step():
    """One step of the regression task (edge outputs, 20 examples, inputs held at nodes)
    equals dense solves (floating inputs: tests/physics/test_physics_floating_inputs.py)."""
    net = disordered_network(seed=2)
    task = regression_task(net, seed=1, drive="grounded")
    r = train_tasks(net, 1.0, task, eta=0.5, alpha=0.2, lam=0.1, steps=1, k_min=1e-4,
                    k_max=1e3)
    k = np.ones(net.n_edges)
    held = dict(zip(task.source_nodes.tolist(), task.source_values.T))
    v_f = solve_linear(net, np.broadcast_to(k, (20, net.n_edges)), held)
    y_f = v_f @ task.output_matrix.T
    # clamped state: currents injected at the output edges so that y_C = y_F + η (ỹ − y_F)
    lap = net.incidence.T @ net.incidence
    free = np.setdiff1d(np.arange(net.n_nodes), task.source_nodes)
    z = np.zeros((net.n_nodes, 2))
    z[free] = np.linalg.solve(lap[np.ix_(free, free)], task.output_matrix[:, free].T)
    v_c = v_f + (z @ np.linalg.solve(task.output_matrix @ z, 0.5 * (task.desired - y_f).T)).T
    assert np.allclose(v_c @ task.output_matrix.T, y_f + 0.5 * (task.desired - y_f))
    sq_f, sq_c = np.mean(net.drops(v_f) ** 2, 0), np.mean(net.drops(v_c) ** 2, 0)
    want = np.clip(1.0 + 0.2 / 0.5 * (0.9 * sq_f - sq_c), 1e-4, 1e3)
    assert np.allclose(r.conductance, want, rtol=1e-10)
    assert r.error[0] == pytest.approx(0.5 * np.mean(np.sum((task.desired - y_f) ** 2, 1)))
