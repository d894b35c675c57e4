"""labctl.network.jammed_network: the papers' periodic jammed-packing contact networks."""

import numpy as np
import pytest

from labctl.network import jammed_network, periodic_lattice

SEEDS = range(6)


@pytest.fixture(scope="module")
def nets():
    return [jammed_network(64, seed=s) for s in SEEDS]


def test_statistics_match_the_papers_networks(nets) -> None:
    """PHYSICS.md §1: N = 64, 136–146 edges, every degree ≥ 3, ~20 of 143 edges crossing."""
    edges = np.array([n.n_edges for n in nets])
    crossing = np.array([int(n.crossing.sum()) for n in nets])
    print("edges", edges.tolist(), "crossing", crossing.tolist())
    assert all(n.n_nodes == 64 for n in nets)
    assert all(n.degree().min() >= 3 for n in nets)
    assert np.all((edges >= 136) & (edges <= 148))
    assert 15 <= crossing.mean() <= 28 and crossing.min() >= 8
    # not the same network six times
    assert len({n.edges.tobytes() for n in nets}) == len(nets)


def test_geometry_is_a_periodic_contact_network(nets) -> None:
    """Edges join near neighbours under the minimum-image rule; ``crossing`` flags exactly
    the edges whose minimum image differs from the plain in-box segment."""
    for net in nets:
        pos, box = net.positions, net.box
        assert np.all((pos >= 0) & (pos < box))
        raw = pos[net.edges[:, 0]] - pos[net.edges[:, 1]]
        image = raw - box * np.round(raw / box)
        length = np.hypot(*image.T)
        assert np.all(length < 1.4 * 1.001)  # at most the large-large contact distance
        assert np.all(length > 0.9)  # overlaps are small: just above jamming
        moved = np.any(np.abs(raw - image) > 1e-9, axis=1)
        assert np.array_equal(moved, net.crossing)


def test_seeded_and_reproducible() -> None:
    a, b = jammed_network(32, seed=3), jammed_network(32, seed=3)
    assert np.array_equal(a.edges, b.edges) and np.array_equal(a.positions, b.positions)
    assert a.n_nodes == 32 and a.degree().min() >= 3


def test_lattice_numbering_unchanged() -> None:
    net = periodic_lattice(4, 4)
    assert net.crossing is None and net.box is None
    assert net.edges[3].tolist() == [3, 0] and net.edges[28].tolist() == [12, 0]


@pytest.mark.parametrize(("kwargs", "word"), [
    (dict(n_nodes=4), "n_nodes"), (dict(coordination=3.5), "coordination"),
    (dict(size_ratio=0.5), "size_ratio"),
])
def test_bad_arguments_are_named(kwargs: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        jammed_network(**kwargs)


def test_simulation_network_default_is_jammed() -> None:
    from labctl.network import simulation_network
    net = simulation_network(64, seed=1)
    assert net.crossing is not None and net.degree().min() >= 3
    old = simulation_network(64, seed=1, kind="disordered")
    assert old.crossing is None and old.n_edges == 143
    with pytest.raises(ValueError, match="kind"):
        simulation_network(kind="lattice")
