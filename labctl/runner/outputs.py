"""Where a run is written: safe default names and the output checks made before any
instrument opens.

A run file is the lab's only record of an experiment, so the runner never picks a name
that exists, never lets a protocol's name steer a file out of the runs folder, and
refuses an unusable output path (it exists, it is a folder, its folder is missing or
read-only, its name is too long) as bad input – before the bench is opened, with the
path in the message.
"""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

RUNS_DIR = Path(__file__).resolve().parents[2] / "data" / "runs"

#: longest file-name stem derived from a protocol or run name (characters, ASCII)
MAX_STEM = 80
#: bytes of a file name kept free for the temporary suffixes of the run-file writer
NAME_MARGIN = 32
SUFFIX = ".h5"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutputPathError(ValueError):
    """The output path cannot take a new run file (the message names it and says why)."""


def safe_stem(text: str, limit: int = MAX_STEM) -> str:
    """``text`` (a protocol's name, ...) as a bounded, portable file-name stem.

    Letters are folded to ASCII, every run of other characters (slashes, ``..``
    components, spaces, control characters) becomes one ``_``, leading dots and dashes
    are dropped (no hidden files, no option-like names) and the result is cut to
    ``limit`` characters; an empty result is ``"run"``.
    """
    folded = unicodedata.normalize("NFKD", str(text)[: 4 * limit])
    ascii_text = folded.encode("ascii", "ignore").decode("ascii")
    stem = _UNSAFE.sub("_", ascii_text)
    stem = re.sub(r"\.{2,}", "_", stem).lstrip(".-_")[:limit].rstrip("._-")
    return stem or "run"


def _stamp() -> str:
    """UTC time to the second and a random suffix: two runs never share a name."""
    return f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def _unused(folder: Path, stem: str) -> Path:
    for _attempt in range(100):
        path = folder / f"{stem}-{_stamp()}{SUFFIX}"
        if not os.path.lexists(path):
            return path
    raise OutputPathError(f"{folder}: no unused run-file name found for {stem!r}")


def default_run_path(name: str, runs_dir: str | Path = RUNS_DIR) -> Path:
    """``<runs_dir>/<safe name>-<UTC time>-<random>.h5`` for a run of protocol ``name``.

    The name is sanitised (:func:`safe_stem`), so the file always lies directly inside
    ``runs_dir`` whatever the protocol calls itself.
    """
    folder = Path(runs_dir)
    path = _unused(folder, safe_stem(name))
    if path.parent != folder:  # pragma: no cover - safe_stem never yields a separator
        raise OutputPathError(f"{path}: outside the runs folder {folder}")
    return path


def resumed_run_path(old: str | Path) -> Path:
    """A new file next to ``old`` for its resumed run: ``<old stem>-resumed-<time>.h5``."""
    old = Path(old)
    return _unused(old.parent, safe_stem(old.stem, MAX_STEM) + "-resumed")


def check_output_path(path: str | Path) -> Path:
    """Refuse an output path that cannot take a new run file; returns it (absolute).

    Refused: an existing file (runs are never overwritten) or a broken symbolic link, a
    folder, a missing or non-folder parent, a folder this process cannot create files
    in (read-only file system, permissions; tested by creating and removing a probe
    file), a name longer than the file system allows. Raises :class:`OutputPathError`.
    """
    text = os.fspath(path)
    p = Path(os.path.abspath(text))
    how = "choose another name with -o NEW.h5, or leave -o out for a fresh default name"
    if p.is_dir() or str(text).endswith(("/", os.sep)) or Path(text).name in ("", ".", ".."):
        raise OutputPathError(f"output {p}: is a folder; -o names the run file to write "
                              f"(e.g. -o {p / 'run.h5'})")
    if os.path.lexists(p):
        raise OutputPathError(f"output {p}: a file of that name exists and labctl never "
                              f"overwrites a run; {how}")
    parent = p.parent
    if not parent.exists():
        raise OutputPathError(f"output {p}: its folder {parent} does not exist; create it "
                              "first or choose another output")
    if not parent.is_dir():
        raise OutputPathError(f"output {p}: {parent} is not a folder")
    _check_name_length(p)
    _probe(p)
    return p


def _check_name_length(p: Path) -> None:
    try:
        name_max = os.pathconf(p.parent, "PC_NAME_MAX")
        path_max = os.pathconf(p.parent, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    n_name = len(os.fsencode(p.name))
    if n_name + NAME_MARGIN > name_max:
        raise OutputPathError(f"output {str(p)[:200]}...: file name of {n_name} bytes; "
                              f"allowed at most {name_max - NAME_MARGIN} bytes here")
    if len(os.fsencode(str(p))) + NAME_MARGIN > path_max:
        raise OutputPathError(f"output {str(p)[:200]}...: path of {len(str(p))} bytes; "
                              f"allowed at most {path_max - NAME_MARGIN} bytes here")


def _probe(p: Path) -> None:
    """Create and remove a small file next to ``p``: the honest test that a new run file
    can be created there (root ignores permission bits; read-only mounts do not)."""
    probe = p.parent / f".labctl-probe-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputPathError(f"output {p}: cannot create files in {p.parent} ({reason}); "
                              "choose a writable folder with -o") from None
    os.close(fd)
    probe.unlink(missing_ok=True)
