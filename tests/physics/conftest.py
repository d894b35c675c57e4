"""Shared fixtures of the physics tests: one cache of the papers' N = 64 jammed networks
for the whole session (building one takes about a second), so the paper tests that use the
same network seeds build each network once."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from labctl.network import Network, jammed_network


@functools.cache
def _jammed64(seed: int) -> Network:
    return jammed_network(64, seed=seed)


@pytest.fixture(scope="session")
def jammed64() -> Callable[[int], Network]:
    """seed → the periodic jammed N = 64 network of that seed (cached per session)."""
    return _jammed64
