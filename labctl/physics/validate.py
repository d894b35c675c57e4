"""Input checks shared by the physics engine: bad input raises ValueError naming the argument."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from labctl.network import Network


def check_network(network: object) -> Network:
    """Return ``network`` if it is a connected :class:`Network`, else raise ValueError."""
    if not isinstance(network, Network):
        raise ValueError(f"network: expected a labctl.network.Network, got {type(network)!r}")
    if not network.is_connected():
        raise ValueError("network: disconnected; every node must be reachable")
    return network


def check_node_map(
    network: Network, mapping: Mapping, what: str, allow_empty: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Split a node → volts mapping into (nodes (H,), values (..., H)) arrays.

    Values may be scalars (V) or equal-length 1-D arrays (one value per task of a batch).
    """
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{what}: expected a dict node -> volts, got {type(mapping)!r}")
    if not mapping and not allow_empty:
        raise ValueError(f"{what}: needs at least one node (allowed 0..{network.n_nodes - 1})")
    nodes = np.array([network.check_node(n, what) for n in mapping], dtype=np.int64)
    if not mapping:
        return nodes, np.zeros(0)
    values = np.stack(
        np.broadcast_arrays(*[np.asarray(v, dtype=float) for v in mapping.values()]), axis=-1
    )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{what}: voltages must be finite numbers")
    return nodes, values


def check_disjoint(sources: np.ndarray, targets: np.ndarray) -> None:
    """Refuse a node that is both a source and a target."""
    both = np.intersect1d(sources, targets)
    if both.size:
        raise ValueError(
            f"targets: node {int(both[0])} is also a source; a node is either a source or a target"
        )


def check_conductance(network: Network, k: np.ndarray, what: str = "conductance") -> np.ndarray:
    """Conductances (S) of shape (E,) or (B, E), finite and > 0."""
    arr = np.asarray(k, dtype=float)
    if arr.shape[-1:] != (network.n_edges,) or arr.ndim not in (1, 2):
        raise ValueError(
            f"{what}: expected shape ({network.n_edges},) or (B, {network.n_edges}), "
            f"got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{what}: conductances must be finite and > 0 S")
    return arr


def check_eta(eta: float) -> float:
    """Nudge amplitude η, allowed in (0, 1]."""
    eta = float(eta)
    if not 0.0 < eta <= 1.0:
        raise ValueError(f"eta: must lie in (0, 1], got {eta}")
    return eta


def check_lam(lam: float) -> float:
    """Power-minimisation amplitude λ, allowed in [0, 1)."""
    lam = float(lam)
    if not 0.0 <= lam < 1.0:
        raise ValueError(f"lam: must lie in [0, 1), got {lam}")
    return lam


def check_positive(value: float, what: str) -> float:
    """A finite number > 0."""
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{what}: must be a finite number > 0, got {value}")
    return value


def check_bounds(k_min: float, k_max: float) -> tuple[float, float]:
    """Conductance bounds with 0 < k_min < k_max (S)."""
    k_min = check_positive(k_min, "k_min")
    k_max = check_positive(k_max, "k_max")
    if not k_min < k_max:
        raise ValueError(f"k_min, k_max: need 0 < k_min < k_max, got {k_min}, {k_max}")
    return k_min, k_max
