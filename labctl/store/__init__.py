"""HDF5 run files: the writer thread (:class:`RunWriter`) and the reading API
(:func:`open_run`). Layout: docs/DATA_FORMAT.md."""

from labctl.store.info_cmd import add_info_arguments, cmd_info
from labctl.store.reader import Run, TaskData, completed_tasks, open_run
from labctl.store.writer import RunWriter, StoreError

__all__ = ["Run", "RunWriter", "StoreError", "TaskData", "add_info_arguments", "cmd_info",
           "completed_tasks", "open_run"]
