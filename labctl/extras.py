"""Optional parts of labctl and the one-line message when one is not installed.

The core install runs protocols on the simulated or the real bench and writes run files.
The rest comes with extras (``pip install 'labctl[NAME]'``, ``[all]`` for every one):

* ``cluster``: Dask, for ``labctl run --parallel`` / ``--scheduler``;
* ``analysis``: matplotlib, pandas and xarray, for ``labctl analyze``, ``labctl
  reproduce``, ``Run.to_xarray()`` and ``Run.summary()``;
* ``gui``: PySide6 and pyqtgraph, for ``labctl gui``;
* ``web``: Starlette, uvicorn and plotly, for ``labctl serve``.

:func:`require_extra` checks that an extra's modules can be imported (without importing
them) and otherwise raises :class:`MissingExtraError`, whose text is the whole message;
the ``labctl`` command prints it and exits 2.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable

#: extra name -> the top-level modules it provides
EXTRAS: dict[str, tuple[str, ...]] = {
    "cluster": ("dask", "distributed"),
    "analysis": ("matplotlib", "pandas", "xarray"),
    "gui": ("PySide6", "pyqtgraph"),
    "web": ("starlette", "uvicorn", "plotly"),
}


class MissingExtraError(ImportError):
    """An optional part of labctl is not installed; ``str()`` is the one-line message."""

    def __init__(self, extra: str, missing: Iterable[str], what: str) -> None:
        self.extra = extra
        self.missing = tuple(missing)
        super().__init__(f"{what} needs the '{extra}' extra (missing: "
                         f"{', '.join(self.missing)}): pip install 'labctl[{extra}]'")


def missing_modules(modules: Iterable[str]) -> list[str]:
    """The modules of ``modules`` (top-level names) that cannot be imported here.

    Looks them up without importing them; a name set to None in ``sys.modules`` (the
    standard way to block an import) counts as missing.
    """
    missing = []
    for name in modules:
        if name in sys.modules:
            if sys.modules[name] is None:
                missing.append(name)
            continue
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def require_extra(extra: str, modules: Iterable[str] | None = None,
                  what: str | None = None) -> None:
    """Raise :class:`MissingExtraError` unless ``modules`` (default: every module of
    ``extra``) can be imported; ``what`` names what needs them (default ``"this"``)."""
    if extra not in EXTRAS:
        raise ValueError(f"extra {extra!r}: no such extra; allowed: {', '.join(EXTRAS)}")
    missing = missing_modules(EXTRAS[extra] if modules is None else modules)
    if missing:
        raise MissingExtraError(extra, missing, what or "this")


def extra_of_module(name: str | None) -> str | None:
    """The extra that provides module ``name`` (dotted names by their top level), or None."""
    top = (name or "").partition(".")[0]
    for extra, modules in EXTRAS.items():
        if top in modules:
            return extra
    return None
