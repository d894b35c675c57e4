"""labctl: control, data acquisition and digital twin for self-learning electronic networks.

Layers (dependencies point down): cli/gui/analysis -> runner -> protocol -> bench
interfaces -> drivers | simulated bench -> physics engine; the store (HDF5 run files)
is used by the runner, the GUI and the analysis. See docs/ARCHITECTURE.md.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("labctl")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "open_run"]


def open_run(path):
    """Open a run file (live or finished) for reading: see :func:`labctl.store.open_run`."""
    from labctl.store import open_run as _open_run

    return _open_run(path)
