"""HDF5 run files: the writer thread (:class:`RunWriter`), the reading API
(:func:`open_run`), output-path checks and file verification. Layout:
docs/DATA_FORMAT.md."""

from labctl.store.errors import (
    DiskSpaceError,
    OutputExistsError,
    OutputPathError,
    RunFileError,
    StoreError,
)
from labctl.store.info_cmd import add_info_arguments, cmd_info
from labctl.store.paths import (
    check_free_space,
    check_output_path,
    close_reserve_bytes,
    estimate_run_bytes,
    free_space_needed,
)
from labctl.store.reader import Run, TaskData, completed_tasks, open_run
from labctl.store.verify import RunFileSummary, verify_run_file
from labctl.store.writer import RunWriter

__all__ = ["DiskSpaceError", "OutputExistsError", "OutputPathError", "Run", "RunFileError",
           "RunFileSummary", "RunWriter", "StoreError", "TaskData", "add_info_arguments",
           "check_free_space", "check_output_path", "close_reserve_bytes", "cmd_info",
           "completed_tasks", "estimate_run_bytes", "free_space_needed", "open_run",
           "verify_run_file"]
