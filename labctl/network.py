"""Network topologies: which nodes each edge (a twin transistor pair or a resistor) joins.

Numbering of the bench lattice (``periodic_lattice(4, 4)``), used everywhere in labctl,
including the bench wiring files in ``labctl/resources/benches/``:

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

    Optional drawing/geometry data: ``positions`` (N×2, arbitrary length units), and for
    networks in a periodic box, ``box`` (its side, same units) and ``crossing`` (E,), True
    for an edge that joins its nodes across the periodic boundary (its straight segment
    between ``positions`` is not the bond).
    """

    edges: np.ndarray
    n_nodes: int
    positions: np.ndarray | None = field(default=None, repr=False)
    crossing: np.ndarray | None = field(default=None, repr=False)
    box: float | None = None

    def __init__(self, edges, n_nodes: int, positions=None, crossing=None,
                 box: float | None = None) -> None:
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
        if len(set(map(tuple, pairs.tolist()))) != len(pairs):  # (np.unique loads np.ma)
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
        if crossing is not None:
            cross = np.asarray(crossing, dtype=bool)
            if cross.shape != (arr.shape[0],):
                raise ValueError(f"crossing: expected one flag per edge, shape ({arr.shape[0]},), "
                                 f"got {cross.shape}")
            cross.setflags(write=False)
            object.__setattr__(self, "crossing", cross)
        else:
            object.__setattr__(self, "crossing", None)
        if box is not None and not (np.isfinite(box) and box > 0):
            raise ValueError(f"box: periodic box side must be a finite length > 0, got {box}")
        object.__setattr__(self, "box", None if box is None else float(box))
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
        """True if every node can be reached from node 0 along edges (computed once: the
        network is immutable)."""
        known = self.__dict__.get("_is_connected")
        if known is None:
            known = _connected(self.n_nodes, {(int(a), int(b)) for a, b in self.edges})
            object.__setattr__(self, "_is_connected", known)
        return known

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


#: Network kinds of the simulation papers' helper :func:`simulation_network`.
SIMULATION_KINDS = ("jammed", "disordered")


def simulation_network(n_nodes: int = 64, seed: int = 0, kind: str = "jammed") -> Network:
    """The network of the simulation papers: ``kind="jammed"`` (default, the papers' periodic
    jammed packings, :func:`jammed_network`) or ``"disordered"`` (labctl's earlier
    open-boundary Delaunay network with 143/64 edges per node, :func:`disordered_network`).

    >>> simulation_network(64, seed=0).n_edges, simulation_network(64, 0, "disordered").n_edges
    (144, 143)
    """
    if kind == "jammed":
        return jammed_network(n_nodes, seed=seed)
    if kind == "disordered":
        return disordered_network(n_nodes, round(n_nodes * PAPER_COORDINATION / 2), seed=seed)
    raise ValueError(f"kind: network kind must be one of {', '.join(SIMULATION_KINDS)}, "
                     f"got {kind!r}")


#: Mean coordination 2E/N of the papers' N = 64 networks (143 edges on 64 nodes).
PAPER_COORDINATION = 2.0 * 143 / 64


def jammed_network(n_nodes: int = 64, seed: int = 0, coordination: float = PAPER_COORDINATION,
                   size_ratio: float = 1.4, max_attempts: int = 40) -> Network:
    """Seeded contact network of a 2-D jammed packing of soft disks in a periodic box.

    The papers' N = 64 networks (PHYSICS.md §1): a 50:50 bidisperse mixture of disks
    (diameters 1 and ``size_ratio``, lengths in units of the small diameter) at random
    positions in a square periodic box is relaxed to a local energy minimum (harmonic
    repulsion U = ½ Σ (1 − r/d)² over overlapping pairs, L-BFGS) and compressed (or
    decompressed) in steps of 0.0025 in packing fraction, relaxing after each step, to the
    lowest packing fraction at which the contact network without rattlers reaches the mean
    coordination ``coordination`` (default 4.47 = 2·143/64, the papers' networks; isostatic
    is 4): a packing just above jamming. Rattlers (disks with
    fewer than 3 contacts) are removed iteratively, so every node has degree ≥ 3. If the
    rattler-free network does not have exactly ``n_nodes`` nodes, a new packing is drawn with
    the disk count corrected by the difference (deterministic for a given ``seed``).

    Nodes are the remaining disks (renumbered 0..n_nodes−1), edges their contacts; the
    result carries ``positions`` (disk centres in [0, box)²), ``box`` (side) and ``crossing``
    (True for contacts across the periodic boundary). Typical for N = 64: 138–146 edges,
    15–25 of them crossing the boundary.

    >>> net = jammed_network(64, seed=1)
    >>> net.n_nodes, bool(net.degree().min() >= 3), bool(130 <= net.n_edges <= 150)
    (64, True, True)
    """
    n_nodes = int(n_nodes)
    if not 8 <= n_nodes <= 4096:
        raise ValueError(f"n_nodes: must lie in [8, 4096], got {n_nodes}")
    if not 4.0 < coordination < 6.0:
        raise ValueError(f"coordination: mean contact number must lie in (4, 6) "
                         f"(isostatic 4 to triangular 6), got {coordination}")
    if not 1.0 <= size_ratio <= 3.0:
        raise ValueError(f"size_ratio: must lie in [1, 3], got {size_ratio}")
    rng = np.random.default_rng(seed)
    n_disks = n_nodes
    for _ in range(int(max_attempts)):
        found = _jammed_backbone(n_disks, rng, coordination, size_ratio)
        if found is not None and len(found[0]) == n_nodes:
            keep, pairs, crossing, pos, box = found
            return Network(pairs, n_nodes, positions=pos[keep], crossing=crossing, box=box)
        got = n_disks if found is None else len(found[0])
        n_disks = max(n_nodes, n_disks + n_nodes - got)
    raise ValueError(f"n_nodes: no packing with exactly {n_nodes} non-rattler disks in "
                     f"{max_attempts} attempts; try another seed")


def _overlaps(pos: np.ndarray, diam: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Overlapping pairs in the unit periodic box: (i, j, separation vectors, contact d).

    All pairs are tested densely up to 256 disks (faster than a tree there), beyond that
    the candidates come from a periodic k-d tree.
    """
    n = len(diam)
    wrapped = np.mod(pos, 1.0)
    if n <= 256:
        i, j = np.triu_indices(n, 1)
    else:
        from scipy.spatial import cKDTree

        pairs = cKDTree(wrapped, boxsize=1.0).query_pairs(float(diam.max()),
                                                          output_type="ndarray")
        i, j = (pairs[:, 0], pairs[:, 1]) if len(pairs) else (np.zeros(0, int),) * 2
    sep = wrapped[i] - wrapped[j]
    sep -= np.round(sep)
    contact = 0.5 * (diam[i] + diam[j])
    close = np.einsum("ij,ij->i", sep, sep) < contact * contact
    return i[close], j[close], sep[close], contact[close]


def _relax(pos: np.ndarray, diam: np.ndarray) -> np.ndarray:
    """Local minimum of U = ½ Σ (1 − r/d)² (harmonic soft disks, unit periodic box)."""
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    n = len(diam)

    def energy(flat: np.ndarray) -> tuple[float, np.ndarray]:
        i, j, sep, contact = _overlaps(flat.reshape(n, 2), diam)
        r = np.sqrt(np.einsum("ij,ij->i", sep, sep))
        gap = 1.0 - r / contact
        force = (gap / (contact * np.maximum(r, 1e-300)))[:, None] * sep  # −dU/d(sep)
        grad = np.empty((n, 2))
        for axis in range(2):
            grad[:, axis] = (np.bincount(j, force[:, axis], minlength=n)
                             - np.bincount(i, force[:, axis], minlength=n))
        return 0.5 * float(np.sum(gap * gap)), grad.ravel()

    # scipy's L-BFGS-B makes many tiny BLAS calls; threaded BLAS spin-waits on them and
    # costs ~15x the CPU of one thread for 64 disks, so the minimiser runs on one thread.
    with threadpool_limits(limits=1, user_api="blas"):
        out = minimize(energy, pos.ravel(), jac=True, method="L-BFGS-B",
                       options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-13, "maxcor": 30})
    return np.mod(out.x.reshape(n, 2), 1.0)


def _jammed_backbone(n_disks: int, rng: np.random.Generator, coordination: float,
                     size_ratio: float):
    """One random packing brought to the lowest packing fraction (grid step 0.0025) whose
    rattler-free contact network reaches ``coordination``.

    Starts at φ = 0.8625 (typical of the target, just above the jamming point φ_J ≈ 0.84)
    and compresses step by step, or, if that is already past the target, decompresses
    until the next step would fall below it. Returns (kept disks, edges, crossing,
    positions, box), or None if no step reaches it or the network is disconnected.
    """
    sigma = np.where(np.arange(n_disks) < n_disks // 2, 1.0, size_ratio)
    sigma = sigma[rng.permutation(n_disks)]
    area = float(np.sum(np.pi * sigma * sigma / 4.0))
    pos = rng.random((n_disks, 2))
    grid = 0.80 + 0.0025 * np.arange(61)  # φ = 0.80 … 0.95
    step = int(np.searchsorted(grid, 0.8625))
    best = None
    direction = 0
    while 0 <= step < len(grid):
        box = float(np.sqrt(area / grid[step]))  # box side in small-disk diameters
        diam = sigma / box  # diameters in units of the box side
        pos = _relax(pos, diam)
        i, j, _, _ = _overlaps(pos, diam)
        keep, ci, cj = _remove_rattlers(n_disks, i, j)
        reached = len(keep) > 0 and 2.0 * len(ci) / len(keep) >= coordination
        if reached:
            best = (keep, ci, cj, pos.copy(), box)
        if direction == 0:
            direction = -1 if reached else 1
        if (direction > 0 and reached) or (direction < 0 and not reached):
            break
        step += direction
    if best is None:
        return None
    keep, ci, cj, pos, box = best
    renumber = np.full(n_disks, -1)
    renumber[keep] = np.arange(len(keep))
    pairs = np.sort(np.stack([renumber[ci], renumber[cj]], axis=1), axis=1)
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    raw = pos[ci] - pos[cj]
    crossing = np.any(np.abs(np.round(raw)) > 0, axis=1)[order]
    pairs = pairs[order]
    if not _connected(len(keep), {(int(a), int(b)) for a, b in pairs}):
        return None
    return keep, pairs, crossing, pos * box, box


def _remove_rattlers(n: int, i: np.ndarray, j: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop disks with fewer than 3 contacts (and their contacts) until none is left.

    Returns (kept disk indices, contact ends i, contact ends j) of the remaining network.
    """
    alive = np.ones(n, dtype=bool)
    while True:
        live = alive[i] & alive[j]
        degree = np.bincount(i[live], minlength=n) + np.bincount(j[live], minlength=n)
        drop = alive & (degree < 3)
        if not drop.any():
            return np.flatnonzero(alive), i[live], j[live]
        alive &= ~drop


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
