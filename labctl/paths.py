"""Where labctl finds its shipped files and where it writes run files.

Shipped files are package resources (``labctl/resources/``, installed with the wheel), so
an installed labctl works from any folder:

* bench files: ``resources/benches/<name>.toml`` (:func:`bench_file`; ``bench = "sim"`` in
  a protocol is ``resources/benches/sim.toml``);
* datasets: ``resources/datasets/`` (:func:`dataset_file`: ``iris.csv``).

Run files go, in this order of precedence (:func:`runs_dir`; documented in
``docs/ARCHITECTURE.md``, "Install and data folders"):

1. the explicit output (``labctl run -o FILE``; not decided here);
2. ``$LABCTL_DATA_DIR/runs`` when the environment variable is set and not empty;
3. ``<project>/data/runs`` when the current folder is inside a *labctl project folder*:
   the current folder or its nearest parent that has a ``data/runs`` folder (a source
   checkout is one; ``mkdir -p data/runs`` makes any folder one);
4. ``<per-user data folder>/runs`` otherwise (platformdirs: ``~/.local/share/labctl/runs``
   on Linux, ``%LOCALAPPDATA%\\labctl\\runs`` on Windows,
   ``~/Library/Application Support/labctl/runs`` on macOS).

Nothing here creates a folder; the runner creates the runs folder when it writes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path

#: environment variable naming the data folder (its ``runs`` subfolder takes the runs)
DATA_DIR_ENV = "LABCTL_DATA_DIR"
#: the folder, relative to a project folder, that marks it and takes its runs
PROJECT_RUNS = Path("data") / "runs"


def resources() -> Path:
    """The folder of labctl's shipped files (inside the installed package)."""
    return Path(os.fspath(files("labctl") / "resources"))


def shipped_benches() -> dict[str, Path]:
    """Shipped bench files by name (file stem): ``{"lab1": …, "sim": …}``."""
    return {p.stem: p for p in sorted((resources() / "benches").glob("*.toml"))}


def bench_file(name: str) -> Path:
    """The shipped bench file ``name`` (``"sim"``: the simulated bench); ValueError naming
    the shipped ones if there is no such bench."""
    benches = shipped_benches()
    if name not in benches:
        raise ValueError(f"bench {name!r}: no such shipped bench; shipped: "
                         f"{', '.join(benches) or 'none'}")
    return benches[name]


def dataset_file(name: str) -> Path:
    """The shipped dataset file ``name`` (e.g. ``"iris.csv"``)."""
    return resources() / "datasets" / name


def project_dir(cwd: str | Path | None = None) -> Path | None:
    """The labctl project folder containing ``cwd`` (default: the current folder): the
    nearest of ``cwd`` and its parents with a ``data/runs`` folder; None if none has."""
    here = Path.cwd() if cwd is None else Path(cwd)
    here = here.absolute()
    for folder in (here, *here.parents):
        if (folder / PROJECT_RUNS).is_dir():
            return folder
    return None


def runs_dir(cwd: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The folder new run files go to when no output is given (see the module docstring:
    ``$LABCTL_DATA_DIR/runs``, else the project's ``data/runs``, else the per-user one)."""
    return runs_dir_source(cwd, environ)[1]


def runs_dir_source(cwd: str | Path | None = None,
                    environ: Mapping[str, str] | None = None) -> tuple[str, Path]:
    """:func:`runs_dir` with the reason it was chosen: ``("env", …)``, ``("project", …)``
    or ``("user", …)``."""
    env = os.environ if environ is None else environ
    chosen = env.get(DATA_DIR_ENV, "")
    if chosen:
        return "env", Path(chosen).expanduser().absolute() / "runs"
    project = project_dir(cwd)
    if project is not None:
        return "project", project / PROJECT_RUNS
    return "user", user_data_dir() / "runs"


def user_data_dir() -> Path:
    """The per-user data folder of labctl (platformdirs; not created here)."""
    from platformdirs import user_data_path

    return user_data_path("labctl", appauthor=False)
