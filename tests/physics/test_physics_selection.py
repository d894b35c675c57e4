"""labctl.physics.selection: the papers' task selection and geometric averages."""

import numpy as np
import pytest

from labctl.network import periodic_lattice
from labctl.physics import train_tasks
from labctl.physics.selection import geometric_mean, geometric_spread, select_learnable
from labctl.physics.tasks import allostery_task

NET = periodic_lattice(4, 4)
KW = dict(alpha=0.3, eta=0.1, k_min=1e-3, k_max=10.0)


def test_keeps_the_learnable_task_and_drops_the_impossible_one() -> None:
    """A target inside the sources' range is learnable; one at 2 V with sources at 0 and 1 V
    is not (node voltages of a resistor network stay between the extreme held voltages)."""
    good = allostery_task(NET, {0: 0.0, 5: 1.0}, {10: 0.3, 7: 0.6})
    bad = allostery_task(NET, {0: 0.0, 5: 1.0}, {10: 2.0})
    sel = select_learnable(NET, [good, bad], steps=3000, chunk=700, **KW)
    assert sel.learnable.tolist() == [True, False]
    assert sel.fraction == (1, 2)
    assert sel.ratio[0] < 1e-10 < 0.1 < sel.ratio[1]
    # chunking is exact: the ratio equals that of one uninterrupted run of the same length
    one = train_tasks(NET, 1.0, good, steps=3001, lam=0.0, **KW)
    assert sel.ratio[0] == pytest.approx(one.error[-1] / one.error[0], rel=1e-6)


def test_early_stop_only_saves_time() -> None:
    good = allostery_task(NET, {0: 0.0, 5: 1.0}, {10: 0.3, 7: 0.6})
    sel = select_learnable(NET, [good], steps=3000, chunk=500, stop_below=1e-12, **KW)
    assert sel.learnable.tolist() == [True] and sel.stopped_at[0] < 3000


def test_geometric_mean_and_spread() -> None:
    x = np.array([[1e-2, 1.0], [1e-4, 4.0]])
    assert np.allclose(geometric_mean(x), [1e-3, 2.0])
    assert np.allclose(geometric_spread(x), np.std(np.log(x), axis=0, ddof=1) / np.sqrt(2))
    with pytest.raises(ValueError, match="values"):
        geometric_mean([1.0, 0.0])
    with pytest.raises(ValueError, match="networks"):
        select_learnable([NET], [], steps=10)
