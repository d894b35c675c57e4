"""Run files as the web server may name them: only ``*.h5`` files directly inside the
runs folder, and only when they really are there (no ``..``, no separators, no hidden
names, no symbolic link leading out of the folder, no special files)."""

from __future__ import annotations

import os
import re
from pathlib import Path

#: a run name the server accepts: one path component ending in .h5, no leading dot
NAME_RE = re.compile(r"^[^/\\\x00-\x1f.][^/\\\x00-\x1f]{0,250}\.h5$")


class NotARunError(LookupError):
    """A name that does not denote a run file inside the runs folder (the server answers
    404 without saying which rule it broke)."""


def resolve_run(runs_dir: Path, name: str) -> Path:
    """The run file ``name`` of ``runs_dir`` (an absolute, resolved folder), checked:
    raises :class:`NotARunError` unless ``name`` is a plain ``*.h5`` name whose real path
    (symbolic links followed) is a regular file directly inside ``runs_dir``."""
    if not NAME_RE.match(name) or name in (".", "..") or ".." in name.split(os.sep):
        raise NotARunError(name)
    candidate = runs_dir / name
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotARunError(name) from None
    if real.parent != runs_dir or not real.is_file():
        raise NotARunError(name)
    return real
