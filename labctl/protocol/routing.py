"""Assigning a task's source and target nodes to the bench's analog-output lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def route(nodes: Sequence[int], lines: Sequence[Any], role: str) -> dict[str, int] | None:
    """Map each node to a distinct output line of ``role`` that can reach it.

    ``lines`` are OutputLine-like objects (``name``, ``role``, ``nodes``). Returns
    ``{line name: node}`` or None if no assignment exists (bipartite matching by
    augmenting paths, so a switch matrix with overlapping reach is handled).
    """
    candidates = [ln for ln in lines if ln.role == role]
    owner: dict[str, int] = {}  # line name -> index into nodes

    def place(i: int, seen: set[str]) -> bool:
        for ln in candidates:  # a free line first keeps the wiring in line order
            if nodes[i] in ln.nodes and ln.name not in owner:
                owner[ln.name] = i
                return True
        for ln in candidates:
            if nodes[i] in ln.nodes and ln.name not in seen:
                seen.add(ln.name)
                if ln.name not in owner or place(owner[ln.name], seen):
                    owner[ln.name] = i
                    return True
        return False

    for i in range(len(nodes)):
        if not place(i, set()):
            return None
    return {name: int(nodes[i]) for name, i in sorted(owner.items(), key=lambda kv: kv[1])}


def reachable(lines: Sequence[Any], role: str) -> set[int]:
    """Every node some output line of ``role`` can reach."""
    return {int(n) for ln in lines if ln.role == role for n in ln.nodes}
