"""Bench interfaces, bench files and the simulated bench."""
