"""train_tasks with one λ per task: a batched λ sweep equals the runs one by one."""

import numpy as np
import pytest

from labctl.network import disordered_network
from labctl.physics import train_tasks
from labctl.physics.tasks import allostery_task, random_allostery, regression_task

NET = disordered_network(seed=2)
KW = dict(eta=0.1, alpha=0.3, k_min=1e-3, k_max=10.0, steps=400)


def test_batched_lambda_sweep_equals_single_runs():
    task = regression_task(NET, seed=1)
    lams = np.array([0.0, 1e-3, 1e-2, 0.05])
    k0 = np.random.default_rng(0).uniform(0.5, 2.0, NET.n_edges)
    batched = train_tasks(NET, k0, [task] * len(lams), lam=lams, record_every=100, **KW)
    assert batched.lam.shape == (400, 4) and np.all(batched.lam == lams)
    for b, lam in enumerate(lams):
        one = train_tasks(NET, k0, task, lam=float(lam), record_every=100, **KW)
        assert np.array_equal(batched.conductance[b], one.conductance)
        assert np.array_equal(batched.error[:, b], one.error)
        assert np.array_equal(batched.power_free[:, b], one.power_free)
        assert np.array_equal(batched.power_clamped[:, b], one.power_clamped)
        assert np.array_equal(batched.k_history[:, b], one.k_history)
    # λ really acts per task: more λ, less free power at the end
    assert np.all(np.diff(batched.power_free[-1]) < 0)


def test_per_task_lambda_with_different_tasks():
    tasks = [allostery_task(NET, *random_allostery(NET, s)) for s in range(3)]
    lams = np.array([0.02, 0.0, 0.01])
    batched = train_tasks(NET, 1.0, tasks, lam=lams, **KW)
    for b in range(3):
        one = train_tasks(NET, 1.0, tasks[b], lam=float(lams[b]), **KW)
        assert np.array_equal(batched.error[:, b], one.error)


@pytest.mark.parametrize("lam", [np.array([0.0, 0.1]), np.array([0.0, 0.1, 1.0]),
                                 np.array([[0.0, 0.1, 0.2]])])
def test_bad_lambda_arrays_are_refused(lam):
    tasks = [regression_task(NET, seed=s) for s in range(3)]
    with pytest.raises(ValueError, match="lam"):
        train_tasks(NET, 1.0, tasks, lam=lam, **KW)


def test_lambda_array_needs_a_task_list():
    with pytest.raises(ValueError, match="lam"):
        train_tasks(NET, 1.0, regression_task(NET, seed=0), lam=np.array([0.0]), **KW)
