"""Learning tasks: which nodes are driven, which outputs are read, and the desired values.

A :class:`Task` holds X training examples: source nodes held at ``source_values`` (V),
optionally floating input constraints C V = ``input_values`` (V; rows of C are input edges'
incidence rows: the drop across an input edge imposed by a floating source), and outputs
y = M V (rows of M pick a node voltage or an edge drop V_c − V_d) that should equal
``desired`` (V). Generators: allostery (bench style), the power-efficient paper's regression
(App. B), Iris classification (labctl/resources/datasets/iris.csv) and a nonlinear regression.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labctl.network import Network
from labctl.paths import dataset_file
from labctl.physics.validate import check_disjoint, check_node_map

#: Bench source voltages, V (PHYSICS.md §2/§5: 0 V and ≈0.45 V).
BENCH_SOURCE_LOW = 0.0
BENCH_SOURCE_HIGH = 0.45

#: Fisher's Iris data shipped with labctl (a package resource; provenance in its README.md)
IRIS_CSV = dataset_file("iris.csv")


@dataclass
class Task:
    """X examples of inputs (held node voltages, V) and desired outputs y = M V (V).

    source_nodes (S,), source_values (X, S), output_matrix (T, N), desired (X, T);
    test_values / test_desired: optional held-out examples of the same shapes.
    input_matrix (I, N) / input_values (X, I) / test_input_values: optional floating input
    constraints ``input_matrix @ V = input_values`` (V) in both states (with at least one
    held node, the ground, in ``source_nodes``); outputs may then share nodes with inputs
    and the ground, as long as all constraint rows are independent.
    """

    source_nodes: np.ndarray
    source_values: np.ndarray
    output_matrix: np.ndarray
    desired: np.ndarray
    test_values: np.ndarray | None = None
    test_desired: np.ndarray | None = None
    input_matrix: np.ndarray | None = None
    input_values: np.ndarray | None = None
    test_input_values: np.ndarray | None = None

    @property
    def n_inputs(self) -> int:
        """Number I of floating input constraints (0 when every input is a held node)."""
        return 0 if self.input_matrix is None else int(self.input_matrix.shape[0])

    def check(self, network: Network) -> None:
        """Raise ValueError if the task does not fit ``network``."""
        for n in self.source_nodes:
            network.check_node(int(n), "sources")
        if self.output_matrix.shape[1] != network.n_nodes:
            raise ValueError(f"targets: output matrix must have {network.n_nodes} columns")
        if self.input_matrix is None:
            touched = np.flatnonzero(np.any(self.output_matrix != 0, axis=0))
            check_disjoint(self.source_nodes, touched)
            return
        n_ex = self.source_values.shape[0]
        if self.input_matrix.shape[1:] != (network.n_nodes,) or self.input_values is None \
                or self.input_values.shape != (n_ex, self.input_matrix.shape[0]):
            raise ValueError(f"inputs: input matrix (I, {network.n_nodes}) and input values "
                             f"({n_ex}, I) expected")
        free = np.ones(network.n_nodes, dtype=bool)
        free[self.source_nodes] = False
        rows = np.vstack([self.input_matrix, self.output_matrix])[:, free]
        if np.linalg.matrix_rank(rows) < rows.shape[0]:
            raise ValueError("targets: the input constraints and outputs are not independent "
                             "(an output or input is fixed by the others and the held nodes)")

    def with_test_set(self) -> Task:
        """The same outputs evaluated on the test examples (for measuring generalisation)."""
        if self.test_values is None or self.test_desired is None:
            raise ValueError("task: has no test set")
        return Task(self.source_nodes, self.test_values, self.output_matrix, self.test_desired,
                    input_matrix=self.input_matrix, input_values=self.test_input_values)


def node_rows(n_nodes: int, nodes) -> np.ndarray:
    """Output matrix whose rows read the voltages of ``nodes``."""
    m = np.zeros((len(nodes), n_nodes))
    m[np.arange(len(nodes)), np.asarray(nodes, dtype=int)] = 1.0
    return m


def edge_rows(network: Network, edges) -> np.ndarray:
    """Output matrix whose rows read the drops ΔV of ``edges`` (indices into network.edges)."""
    return network.incidence[np.asarray(edges, dtype=int)]


def allostery_task(network: Network, sources: Mapping, targets: Mapping) -> Task:
    """One-example task: hold ``sources`` (node -> V), want ``targets`` (node -> V)."""
    s_nodes, s_vals = check_node_map(network, sources, "sources")
    t_nodes, t_vals = check_node_map(network, targets, "targets")
    if s_vals.ndim != 1 or t_vals.ndim != 1:
        raise ValueError("sources, targets: one voltage per node expected")
    check_disjoint(s_nodes, t_nodes)
    if len(np.unique(s_nodes)) != len(s_nodes) or len(np.unique(t_nodes)) != len(t_nodes):
        raise ValueError("sources, targets: a node is listed twice")
    return Task(s_nodes, s_vals[None, :], node_rows(network.n_nodes, t_nodes), t_vals[None, :])


def random_allostery(
    network: Network,
    seed: int,
    fractions: tuple[float, float] = (0.2, 0.8),
    low: float = BENCH_SOURCE_LOW,
    high: float = BENCH_SOURCE_HIGH,
) -> tuple[dict[int, float], dict[int, float]]:
    """Seeded bench-style two-source two-target task: (sources, targets) dicts node -> V.

    Sources at ``low`` and ``high`` V; targets at ``fractions`` of that range (20/80 % or
    10/90 % on the bench), assigned to two further distinct random nodes.
    """
    if not all(0.0 <= f <= 1.0 for f in fractions) or len(fractions) != 2:
        raise ValueError(f"fractions: two numbers in [0, 1] expected, got {fractions}")
    rng = np.random.default_rng(seed)
    n = [int(x) for x in rng.choice(network.n_nodes, size=4, replace=False)]
    span = high - low
    sources = {n[0]: low, n[1]: high}
    order = rng.permutation(2)
    targets = {n[2]: low + fractions[order[0]] * span, n[3]: low + fractions[order[1]] * span}
    return sources, targets


def _disjoint_edges(network: Network, rng: np.random.Generator, count: int) -> np.ndarray:
    for _ in range(1000):
        pick = rng.choice(network.n_edges, size=count, replace=False)
        if len(np.unique(network.edges[pick])) == 2 * count:
            return pick
    raise ValueError("network: cannot find enough edges without shared nodes")


def regression_task(
    network: Network, seed: int, n_train: int = 20, n_test: int = 100, label_noise: float = 0.0,
    drive: str = "floating", ground: int | None = None,
) -> Task:
    """The power-efficient paper's regression (App. B): 2 input edges, 2 output edges.

    ΔV_O = Ã ΔV_I with Ã = [[0.2, 0.3], [0.1, 0.5]] + 0.1 N(0,1); training inputs
    ΔV_I ~ U(0,1)² V, test inputs ~ N(0,1) V; ``label_noise`` ε (V) adds ε N(0,1) to the
    outputs. ``drive``:

    * ``"floating"`` (default; the authors' code): the input edges' drops are imposed as
      floating constraints and one ``ground`` node (default the last node, N − 1) is held at
      0 V; the four edges are distinct but may share nodes (a draw whose constraints are not
      independent, e.g. four edges closing a loop, is redrawn).
    * ``"grounded"`` (labctl's earlier reading): the four edges share no node and input
      edge (a, b) holds a at ΔV and b at 0 V (``ground`` unused).
    """
    rng = np.random.default_rng(seed)
    a_mat_base = np.array([[0.2, 0.3], [0.1, 0.5]])
    if drive == "grounded":
        picked = _disjoint_edges(network, rng, 4)
    elif drive == "floating":
        gnd = network.n_nodes - 1 if ground is None else network.check_node(ground, "ground")
        picked = _independent_edges(network, rng, 4, gnd)
    else:
        raise ValueError(f"drive: must be 'floating' or 'grounded', got {drive!r}")
    inputs, outputs = picked[:2], picked[2:]
    a_mat = a_mat_base + 0.1 * rng.standard_normal((2, 2))

    def labels(x: np.ndarray) -> np.ndarray:
        return x @ a_mat.T + label_noise * rng.standard_normal((len(x), 2))

    train_x = rng.random((n_train, 2))
    test_x = rng.standard_normal((n_test, 2))
    train_y, test_y = labels(train_x), labels(test_x)
    out_rows = edge_rows(network, outputs)
    if drive == "floating":
        zeros = np.zeros
        return Task(np.array([gnd]), zeros((n_train, 1)), out_rows, train_y,
                    zeros((n_test, 1)), test_y, input_matrix=edge_rows(network, inputs),
                    input_values=train_x, test_input_values=test_x)
    src_nodes = network.edges[inputs].ravel()  # a0, b0, a1, b1

    def held(x: np.ndarray) -> np.ndarray:
        vals = np.zeros((len(x), 4))
        vals[:, 0], vals[:, 2] = x[:, 0], x[:, 1]
        return vals

    return Task(src_nodes, held(train_x), out_rows, train_y, held(test_x), test_y)


def _independent_edges(network: Network, rng: np.random.Generator, count: int,
                       ground: int) -> np.ndarray:
    """``count`` distinct edges whose drops are independent once ``ground`` is held."""
    free = np.ones(network.n_nodes, dtype=bool)
    free[ground] = False
    for _ in range(1000):
        pick = rng.choice(network.n_edges, size=count, replace=False)
        if np.linalg.matrix_rank(edge_rows(network, pick)[:, free]) == count:
            return pick
    raise ValueError("network: cannot find independent input and output edges")


def nonlinear_regression_task(network: Network, seed: int, n_train: int = 20) -> Task:
    """Nonlinear regression: one input edge drop x ~ U(0,1) V, output drop ỹ = 0.1 + 0.3 x² V.

    A ground node (0 V) and a bias node (1 V) are held too. A linear network can only learn
    the mean and slope of this curve; the curvature needs nonlinear (transistor) edges.
    """
    rng = np.random.default_rng(seed)
    picked = _disjoint_edges(network, rng, 3)
    x = np.sort(rng.random(n_train))
    a, b = network.edges[picked[0]]
    c, d = network.edges[picked[1]]
    src = np.array([a, b, c, d])
    vals = np.stack([x, np.zeros_like(x), np.ones_like(x), np.zeros_like(x)], axis=1)
    return Task(src, vals, edge_rows(network, picked[2:]), (0.1 + 0.3 * x * x)[:, None])


def load_iris(path: Path | str = IRIS_CSV) -> tuple[np.ndarray, np.ndarray]:
    """Iris measurements (150, 4) in cm and species labels (150,) 0..2 from the shipped CSV."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"path: Iris data file {path} not found")
    rows = [r for r in csv.reader(line for line in path.open() if not line.startswith("#"))]
    body = rows[1:]
    data = np.array([[float(v) for v in r[:4]] for r in body])
    labels = np.array([int(r[4]) for r in body])
    return data, labels


def iris_task(
    network: Network, seed: int, n_train_per_class: int = 10, v_high: float = 0.3,
    v_low: float = 0.1,
) -> Task:
    """Iris classification (slides): 4 measurements + ground as sources, 3 target nodes.

    Inputs are the measurements in cm divided by 8 (→ ≲1 V); the target node of the true
    species should sit at ``v_high`` V, the others at ``v_low`` V. 10 flowers per species
    train, the remaining 40 per species form the test set. Predicted class = argmax output.
    """
    data, labels = load_iris()
    rng = np.random.default_rng(seed)
    nodes = [int(n) for n in rng.choice(network.n_nodes, size=8, replace=False)]
    src, tgt = np.array(nodes[:5]), nodes[5:]
    train_idx, test_idx = [], []
    for c in range(3):
        idx = rng.permutation(np.flatnonzero(labels == c))
        train_idx += list(idx[:n_train_per_class])
        test_idx += list(idx[n_train_per_class:])

    def examples(idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
        vals = np.concatenate([data[idx] / 8.0, np.zeros((len(idx), 1))], axis=1)
        want = np.full((len(idx), 3), v_low)
        want[np.arange(len(idx)), labels[idx]] = v_high
        return vals, want

    tv, td = examples(train_idx)
    sv, sd = examples(test_idx)
    return Task(src, tv, node_rows(network.n_nodes, tgt), td, sv, sd)
