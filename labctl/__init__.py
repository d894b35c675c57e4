"""labctl: control, data acquisition and digital twin for self-learning electronic networks.

Layers (dependencies point down): cli/gui/analysis -> runner -> protocol -> bench
interfaces -> drivers | simulated bench -> physics engine; the store (HDF5 run files)
is used by the runner, the GUI and the analysis. See docs/ARCHITECTURE.md.
"""

import logging

# a library logs, the application configures (labctl.logsetup; ``labctl --log-level``)
logging.getLogger("labctl").addHandler(logging.NullHandler())

#: the package version, also the wheel's (pyproject.toml reads it from here); a constant,
#: so ``import labctl`` does not load importlib.metadata (start-up time)
__version__ = "0.1.0"

__all__ = ["__version__", "open_run"]


def open_run(path, *, verify=True, timeout=10.0):
    """Open a run file (live, finished or interrupted) for reading; a damaged or foreign
    file raises ``labctl.store.RunFileError`` within ``timeout`` s. ``run.to_xarray()``
    is the whole run as one xarray Dataset, ``run.summary()`` one pandas row per task.
    See :func:`labctl.store.open_run` and docs/DATA_FORMAT.md."""
    from labctl.store import open_run as _open_run

    return _open_run(path, verify=verify, timeout=timeout)
