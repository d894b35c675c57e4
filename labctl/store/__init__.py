"""HDF5 run files: the writer thread and the reading API."""
