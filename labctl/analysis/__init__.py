"""Offline analysis of HDF5 run files."""
