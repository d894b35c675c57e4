"""labctl: control, data acquisition and digital twin for self-learning electronic networks.

Layers (dependencies point down): cli/gui/analysis -> runner -> protocol -> bench
interfaces -> drivers | simulated bench -> physics engine; the store (HDF5 run files)
is used by the runner, the GUI and the analysis. See docs/ARCHITECTURE.md.
"""

import logging
from importlib.metadata import PackageNotFoundError, version

# a library logs, the application configures (labctl.logsetup; ``labctl --log-level``)
logging.getLogger("labctl").addHandler(logging.NullHandler())

try:
    __version__ = version("labctl")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "open_run"]


def open_run(path, *, verify=True, timeout=10.0):
    """Open a run file (live, finished or interrupted) for reading; a damaged or foreign
    file raises ``labctl.store.RunFileError`` within ``timeout`` s. ``run.to_xarray()``
    is the whole run as one xarray Dataset, ``run.summary()`` one pandas row per task.
    See :func:`labctl.store.open_run` and docs/DATA_FORMAT.md."""
    from labctl.store import open_run as _open_run

    return _open_run(path, verify=verify, timeout=timeout)
