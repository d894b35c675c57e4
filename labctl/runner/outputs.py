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

from labctl.paths import runs_dir
from labctl.store.errors import OutputPathError

#: where runs without an explicit output go, resolved when this module is first imported
#: (``$LABCTL_DATA_DIR/runs``, a project's ``data/runs`` or the per-user folder: labctl.paths)
RUNS_DIR = runs_dir()

#: longest file-name stem derived from a protocol or run name (characters, ASCII)
MAX_STEM = 80
SUFFIX = ".h5"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


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
    return f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(6)}"


def _unused(folder: Path, stem: str) -> Path:
    for _attempt in range(100):
        path = folder / f"{stem}-{_stamp()}{SUFFIX}"
        if not os.path.lexists(path):
            return path
    raise OutputPathError(folder, f"no unused run-file name found for {stem!r}")


def default_run_path(name: str, runs_dir: str | Path = RUNS_DIR) -> Path:
    """``<runs_dir>/<safe name>-<UTC time>-<random>.h5`` for a run of protocol ``name``.

    The name is sanitised (:func:`safe_stem`), so the file always lies directly inside
    ``runs_dir`` whatever the protocol calls itself.
    """
    folder = Path(runs_dir)
    path = _unused(folder, safe_stem(name))
    if path.parent != folder:  # pragma: no cover - safe_stem never yields a separator
        raise OutputPathError(path, f"outside the runs folder {folder}")
    return path


def resumed_run_path(old: str | Path) -> Path:
    """A new file next to ``old`` for its resumed run: ``<old stem>-resumed-<time>.h5``."""
    old = Path(old)
    return _unused(old.parent, safe_stem(old.stem, MAX_STEM) + "-resumed")


def check_output_path(path: str | Path) -> Path:
    """Refuse an output path that cannot take a new run file; returns it.

    Everything :func:`labctl.store.check_output_path` refuses (an existing file or
    symbolic link – runs are never overwritten –, a folder, a missing or non-folder
    parent, a read-only folder or file system, a name too long), plus a folder in which
    this process cannot actually create a file: root ignores permission bits, so a
    probe file is created and removed there (``/proc``, some network and FUSE mounts).
    Raises :class:`labctl.store.OutputPathError` (a ValueError) naming the path.
    """
    from labctl.store import check_output_path as store_check

    p = store_check(path)
    _probe(p)
    return p


def _probe(p: Path) -> None:
    """Create and remove a small file next to ``p``: the honest test that a new run file
    can be created there."""
    from labctl.store import OutputPathError

    folder = Path(os.path.abspath(p)).parent
    probe = folder / f".labctl-probe-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as exc:
        raise OutputPathError(p, f"no file can be created in {folder} "
                                 f"({exc.strerror or exc}); choose a writable folder "
                                 "with -o") from None
    os.close(fd)
    probe.unlink(missing_ok=True)
