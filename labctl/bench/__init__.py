"""Bench interfaces, bench files and the simulated bench."""

from labctl.bench.factory import open_bench

__all__ = ["open_bench"]
