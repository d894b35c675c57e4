"""Exceptions of the run-file layer.

``StoreError`` (RuntimeError): the run file could not be written. ``OutputPathError``
(ValueError): the output path is bad input, found before anything is opened.
``RunFileError`` (ValueError): an existing file is not a readable run file (damaged,
foreign, truncated) – readers refuse it with this, never with a traceback or a hang.
"""

from __future__ import annotations


class StoreError(RuntimeError):
    """The run file could not be written (disk full, I/O error, writer overloaded)."""


class OutputPathError(ValueError):
    """The output path cannot take a new run file; the message names the path and says
    how to choose another."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        super().__init__(f"output file {path}: {problem}")


class OutputExistsError(OutputPathError, StoreError):
    """The output file already exists: a run file is never overwritten."""

    def __init__(self, path: object) -> None:
        super().__init__(path, "already exists, and a run file is never overwritten; "
                               "choose another output name (labctl run -o NEW.h5) or move "
                               "the old file away")


class DiskSpaceError(OutputPathError):
    """The disk holding the output path has too little free space for the run."""


class RunFileError(ValueError):
    """A file that cannot be read as a run file; the message names the file and why."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"run file {path}: {problem}")
