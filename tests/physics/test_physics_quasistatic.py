"""Quasistatic coupled learning: equals the plain reference loop; λ trades error for power."""

import numpy as np

from labctl.network import disordered_network
from labctl.physics import LambdaController, train_quasistatic, train_tasks
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
