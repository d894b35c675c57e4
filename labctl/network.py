"""Network topologies: which nodes each edge (a twin transistor pair or a resistor) joins.

Numbering of the bench lattice (``periodic_lattice(4, 4)``), used everywhere in labctl,
including the bench wiring files in ``data/benches/``:

* node ``n = row * cols + col`` (row-major, rows and columns counted from 0);
* edges ``0 .. rows*cols-1`` are the horizontal bonds: edge ``n`` joins node ``n`` to its
  right-hand neighbour ``row * cols + (col + 1) % cols``;
* edges ``rows*cols .. 2*rows*cols-1`` are the vertical bonds: edge ``rows*cols + n`` joins
  node ``n`` to the node below it, ``((row + 1) % rows) * cols + col``.

Edge ``i`` is oriented from ``edges[i, 0]`` to ``edges[i, 1]``: its voltage drop is
``ΔV_i = V[edges[i, 0]] - V[edges[i, 1]]`` (volts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Network:
    """An undirected network of ``n_nodes`` nodes joined by the edges in ``edges`` (E×2).

    ``edges`` is an integer array; row ``i`` holds the two node indices joined by edge
    ``i``. Self-loops and repeated node pairs are refused; the network must be connected
    so that every node voltage is fixed once any node is held.

    >>> net = Network([[0, 1], [1, 2], [2, 0]], 3)
    >>> net.n_edges, net.n_nodes
    (3, 3)
    >>> net.incidence @ np.array([1.0, 0.5, 0.0])
    array([ 0.5,  0.5, -1. ])
    """

    edges: np.ndarray
    n_nodes: int
    positions: np.ndarray | None = field(default=None, repr=False)

    def __init__(self, edges, n_nodes: int, positions=None) -> None:
        arr = np.asarray(edges)
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
            raise ValueError(
                f"edges: expected a non-empty E×2 array of node pairs, got shape {arr.shape}"
            )
        if not np.issubdtype(arr.dtype, np.integer) and not np.all(np.mod(arr, 1) == 0):
            raise ValueError("edges: node indices must be integers")
        arr = arr.astype(np.int64)
        n_nodes = int(n_nodes)
        if n_nodes < 2:
            raise ValueError(f"n_nodes: must be >= 2, got {n_nodes}")
        if arr.min() < 0 or arr.max() >= n_nodes:
            raise ValueError(
                f"edges: node indices must lie in [0, {n_nodes - 1}], "
                f"got values from {arr.min()} to {arr.max()}"
            )
        if np.any(arr[:, 0] == arr[:, 1]):
            bad = int(np.flatnonzero(arr[:, 0] == arr[:, 1])[0])
            raise ValueError(f"edges: edge {bad} joins node {arr[bad, 0]} to itself")
        pairs = np.sort(arr, axis=1)
        if len(np.unique(pairs, axis=0)) != len(pairs):
            raise ValueError("edges: the same pair of nodes is joined twice")
        arr.setflags(write=False)
        object.__setattr__(self, "edges", arr)
        object.__setattr__(self, "n_nodes", n_nodes)
        if positions is not None:
            pos = np.asarray(positions, dtype=float)
            if pos.shape != (n_nodes, 2):
                raise ValueError(f"positions: expected shape ({n_nodes}, 2), got {pos.shape}")
            pos.setflags(write=False)
            object.__setattr__(self, "positions", pos)
        else:
            object.__setattr__(self, "positions", None)
        if not self.is_connected():
            raise ValueError("edges: the network is disconnected; every node must be reachable")

    @property
    def n_edges(self) -> int:
        """Number of edges E."""
        return int(self.edges.shape[0])

    @property
    def incidence(self) -> np.ndarray:
        """Dense incidence matrix Δ (E×N): +1 at ``edges[i,0]``, −1 at ``edges[i,1]``.

        ``incidence @ V`` gives the edge voltage drops ΔV (volts).
        """
        inc = np.zeros((self.n_edges, self.n_nodes))
        rows = np.arange(self.n_edges)
        inc[rows, self.edges[:, 0]] = 1.0
        inc[rows, self.edges[:, 1]] = -1.0
        return inc

    def drops(self, voltages: np.ndarray) -> np.ndarray:
        """Edge voltage drops ΔV_i = V_a − V_b (volts) for node voltages ``(..., N)``."""
        v = np.asarray(voltages, dtype=float)
        return v[..., self.edges[:, 0]] - v[..., self.edges[:, 1]]

    def degree(self) -> np.ndarray:
        """Number of edges meeting at each node."""
        return np.bincount(self.edges.ravel(), minlength=self.n_nodes)

    def is_connected(self) -> bool:
        """True if every node can be reached from node 0 along edges."""
        return _connected(self.n_nodes, {(int(a), int(b)) for a, b in self.edges})

    def check_node(self, node: int, what: str = "node") -> int:
        """Return ``node`` as int, or raise ValueError naming ``what`` and the allowed range."""
        if isinstance(node, bool) or not isinstance(node, int | np.integer):
            raise ValueError(f"{what}: node index must be an integer, got {node!r}")
        if not 0 <= int(node) < self.n_nodes:
            raise ValueError(f"{what}: node {node} does not exist; allowed 0..{self.n_nodes - 1}")
        return int(node)


def periodic_lattice(rows: int, cols: int) -> Network:
    """Square lattice with periodic boundaries (a torus): the bench network for 4×4.

    Every node has four neighbours, so there are ``2 * rows * cols`` edges. Numbering is
    described in this module's docstring.

    >>> net = periodic_lattice(4, 4)
    >>> net.n_nodes, net.n_edges
    (16, 32)
    >>> net.edges[0].tolist(), net.edges[3].tolist(), net.edges[16].tolist(), net.edges[28].tolist()
    ([0, 1], [3, 0], [0, 4], [12, 0])
    """
    if rows < 3 or cols < 3:
        raise ValueError(
            f"rows, cols: a periodic lattice needs at least 3 rows and 3 columns "
            f"(got {rows}x{cols}); smaller ones would join a node pair twice"
        )
    n = rows * cols
    idx = np.arange(n)
    r, c = np.divmod(idx, cols)
    right = r * cols + (c + 1) % cols
    down = ((r + 1) % rows) * cols + c
    edges = np.concatenate([np.stack([idx, right], 1), np.stack([idx, down], 1)])
    positions = np.stack([c, -r], axis=1).astype(float)
    return Network(edges, n, positions=positions)


def disordered_network(n_nodes: int = 64, n_edges: int = 143, seed: int = 0) -> Network:
    """Seeded random connected planar network, like the papers' jammed-packing networks.

    ``n_nodes`` points are drawn uniformly in the unit square (positions in arbitrary length
    units), joined by their Delaunay triangulation, and the longest edges are pruned until
    ``n_edges`` remain, never removing an edge whose loss would disconnect the network.
    Planarity is inherited from the triangulation. N = 64 with 143 edges (mean coordination
    about 4.5) matches the networks of the coupled-learning simulation papers.

    >>> net = disordered_network(64, 143, seed=1)
    >>> net.n_nodes, net.n_edges, net.is_connected()
    (64, 143, True)
    """
    from scipy.spatial import Delaunay

    n_nodes = int(n_nodes)
    if n_nodes < 4:
        raise ValueError(f"n_nodes: must be >= 4, got {n_nodes}")
    max_edges = 3 * n_nodes - 6
    if not n_nodes - 1 <= int(n_edges) <= max_edges:
        raise ValueError(
            f"n_edges: must lie in [{n_nodes - 1}, {max_edges}] for {n_nodes} nodes, got {n_edges}"
        )
    rng = np.random.default_rng(seed)
    points = rng.random((n_nodes, 2))
    tri = Delaunay(points)
    pairs: set[tuple[int, int]] = set()
    for simplex in tri.simplices:
        for i in range(3):
            a, b = int(simplex[i]), int(simplex[(i + 1) % 3])
            pairs.add((min(a, b), max(a, b)))
    edges = sorted(pairs)
    if len(edges) < n_edges:
        raise ValueError(
            f"n_edges: this point set triangulates to only {len(edges)} edges, "
            f"fewer than the {n_edges} asked; try another seed"
        )
    length = {e: float(np.hypot(*(points[e[0]] - points[e[1]]))) for e in edges}
    kept = set(edges)
    degree = np.zeros(n_nodes, dtype=int)
    for a, b in edges:
        degree[a] += 1
        degree[b] += 1
    for edge in sorted(edges, key=lambda e: -length[e]):
        if len(kept) == n_edges:
            break
        a, b = edge
        if degree[a] <= 2 or degree[b] <= 2:
            continue
        kept.discard(edge)
        if _connected(n_nodes, kept):
            degree[a] -= 1
            degree[b] -= 1
        else:
            kept.add(edge)
    if len(kept) != n_edges:
        raise ValueError(
            f"n_edges: could not prune to {n_edges} edges keeping every node connected "
            f"(stopped at {len(kept)}); ask for more edges"
        )
    return Network(np.array(sorted(kept)), n_nodes, positions=points)


def _connected(n_nodes: int, pairs: set[tuple[int, int]]) -> bool:
    """True if the undirected edge set ``pairs`` reaches all ``n_nodes`` nodes."""
    adjacency: list[list[int]] = [[] for _ in range(n_nodes)]
    for a, b in pairs:
        adjacency[a].append(b)
        adjacency[b].append(a)
    seen = {0}
    stack = [0]
    while stack:
        for nxt in adjacency[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return len(seen) == n_nodes
