"""Training and test examples of the dataset tasks, as voltages for the bench lines.

Each :class:`Example` says which volts the source lines hold (inputs, ground) and what the
target nodes should read (desired outputs Ṽ, V). Regression outputs are edge drops; the
executor turns them into node set-points from the measured free state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labctl.physics.tasks import load_iris
from labctl.protocol.model import ClassificationTask, NonlinearRegressionTask, RegressionTask


@dataclass(frozen=True)
class Example:
    """One presentation: source node → V, target node → desired V; for edge outputs
    ``output_edges`` ((c, d), ...) with desired drops ``drops`` (V) instead."""

    sources: dict[int, float]
    targets: dict[int, float] = field(default_factory=dict)
    output_edges: tuple[tuple[int, int], ...] = ()
    drops: tuple[float, ...] = ()


@dataclass(frozen=True)
class Dataset:
    """Training and test examples; ``per_epoch`` presentations per epoch, ``epochs``
    epochs; ``classes`` is True when the largest target output names the class."""

    train: list[Example]
    test: list[Example]
    epochs: int
    per_epoch: int
    classes: bool


def build_examples(task: RegressionTask | ClassificationTask | NonlinearRegressionTask,
                   seed: int) -> Dataset:
    """The examples of ``task`` drawn reproducibly from its dataset seed."""
    if isinstance(task, RegressionTask):
        return _regression(task)
    if isinstance(task, ClassificationTask):
        return _classification(task)
    return _nonlinear(task)


def _regression(task: RegressionTask) -> Dataset:
    """App. B: ΔV_O = Ã ΔV_I, Ã = [[0.2, 0.3], [0.1, 0.5]] + 0.1 N(0, 1), inputs U(0, 1)
    scaled by ``input_scale`` V (the bench cannot source negative volts, so the test inputs
    are uniform too, unlike the paper's N(0, 1))."""
    rng = np.random.default_rng(task.seed)
    n_out, n_in = len(task.output_edges), len(task.input_edges)
    a_mat = np.zeros((n_out, n_in))
    base = np.array([[0.2, 0.3], [0.1, 0.5]])
    a_mat[: min(2, n_out), : min(2, n_in)] = base[: min(2, n_out), : min(2, n_in)]
    a_mat += 0.1 * rng.standard_normal((n_out, n_in))

    def make(n: int) -> list[Example]:
        out = []
        for x in rng.random((n, n_in)) * task.input_scale:
            sources = {}
            for (a, b), xi in zip(task.input_edges, x):
                sources[a], sources[b] = float(xi), 0.0
            out.append(Example(sources, output_edges=task.output_edges,
                               drops=tuple(float(d) for d in a_mat @ x)))
        return out

    train = make(task.n_train)
    return Dataset(train, make(task.n_test), task.epochs, len(train), classes=False)


def _classification(task: ClassificationTask) -> Dataset:
    """Iris: four measurements scaled to [0, input_scale] V per feature, a 0 V ground,
    the true species' target node at ``target_high`` V and the others at ``target_low``."""
    data, labels = load_iris()
    scaled = data / data.max(axis=0) * task.input_scale
    rng = np.random.default_rng(task.seed)
    train_idx: list[int] = []
    test_idx: list[int] = []
    for c in range(3):
        idx = rng.permutation(np.flatnonzero(labels == c))
        train_idx += idx[: task.n_train_per_class].tolist()
        test_idx += idx[task.n_train_per_class:
                        task.n_train_per_class + task.n_test_per_class].tolist()

    def example(i: int) -> Example:
        sources = {n: float(v) for n, v in zip(task.input_nodes, scaled[i])}
        sources[task.ground_node] = 0.0
        targets = {n: task.target_high if k == labels[i] else task.target_low
                   for k, n in enumerate(task.target_nodes)}
        return Example(sources, targets)

    return Dataset([example(i) for i in train_idx], [example(i) for i in test_idx],
                   task.epochs, task.epoch_steps, classes=True)


def _nonlinear(task: NonlinearRegressionTask) -> Dataset:
    """V_target = Σ_k c_k x^k (V) for inputs x uniform in ``x_range`` (V), ground at 0 V
    and the bias node (if any) at its bias voltage."""
    rng = np.random.default_rng(task.seed)
    lo, hi = task.x_range
    held = {task.ground_node: 0.0}
    if task.bias_node is not None:
        held[task.bias_node] = task.bias_volts

    def make(n: int) -> list[Example]:
        xs = lo + (hi - lo) * rng.random(n)
        return [Example({task.input_node: float(x), **held},
                        {task.target_node: float(np.polyval(task.coefficients[::-1], x))})
                for x in xs]

    train = make(task.n_train)
    return Dataset(train, make(task.n_test), task.epochs, len(train), classes=False)
