"""Logging: the library only logs; the application decides where records go.

Every labctl module logs through its own ``logging.getLogger(__name__)``, so all records
fall under the ``labctl`` logger (``labctl.runner.events``: task start/end, state
changes, the run's end with its file; ``labctl.store.writer``: every event written into
a run file, faults and recoveries among them; drivers and commands: their diagnostics).
As a library, labctl adds only a :class:`logging.NullHandler` to ``labctl``
(``labctl/__init__.py``): nothing is printed unless the application configures logging,
and a lab's own handlers (``logging.getLogger("labctl")``) see every record.

The command line configures it with :func:`configure` from its global options
``labctl --log-level LEVEL --log-file FILE``. Records are handed to the handlers through
a queue (:class:`logging.handlers.QueueHandler`, one listener thread), so a slow disk or a
stalled terminal never blocks the thread that logged: the acquisition thread logs run
events.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import queue
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

#: the logger every labctl module's logger descends from
ROOT = "labctl"
#: ``--log-level`` values
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: level of ``--log-file`` when no ``--log-level`` is given
FILE_DEFAULT_LEVEL = "INFO"
#: format of records in a log file (UTC-free local time with milliseconds)
FILE_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(threadName)s %(name)s: %(message)s"
#: format of records on the terminal
STREAM_FORMAT = "%(levelname)s %(name)s: %(message)s"


def parse_level(text: str) -> int:
    """``--log-level`` text (any case) as a logging level; ValueError naming the allowed
    values otherwise."""
    name = str(text).strip().upper()
    if name not in LEVELS:
        raise ValueError(f"--log-level: {text!r}; allowed {', '.join(LEVELS)} (any case)")
    return int(logging.getLevelName(name))


class _TerminalHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes records to the terminal around any progress bar (``tqdm.write``)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=self.stream)
        except Exception:
            self.handleError(record)


class LoggingSetup:
    """What :func:`configure` installed; :meth:`close` flushes and removes it."""

    def __init__(self, level: int, stream: bool, file: Path | None,
                 listener: Any, handler: logging.Handler,
                 previous: tuple[int, bool]) -> None:
        self.level = level
        self.stream = stream
        self.file = file
        self._listener = listener
        self._handler = handler
        self._previous = previous
        self._closed = False

    def close(self) -> None:
        """Write every queued record, close the handlers, detach from ``labctl``."""
        if self._closed:
            return
        self._closed = True
        logger = logging.getLogger(ROOT)
        logger.removeHandler(self._handler)
        logger.setLevel(self._previous[0])
        logger.propagate = self._previous[1]
        self._listener.stop()
        for h in self._listener.handlers:
            with contextlib.suppress(Exception):
                h.close()
        global _active
        if _active is self:
            _active = None


_active: LoggingSetup | None = None


def configure(level: str | None = None, file: str | Path | None = None,
              stream: TextIO | None = None) -> LoggingSetup | None:
    """Send ``labctl`` records at ``level`` and above to the terminal (``stream``,
    default stderr) when ``level`` is given, and to ``file`` (appended, UTF-8; at
    ``level``, or INFO) when given. Nothing is installed when neither is given (None is
    returned). Replaces an earlier configuration. Raises ValueError for a bad level,
    OSError (naming the file) if the file cannot be opened."""
    global _active
    if level is None and file is None:
        return None
    lvl = parse_level(level if level is not None else FILE_DEFAULT_LEVEL)
    handlers: list[logging.Handler] = []
    if file is not None:
        path = Path(file)
        try:
            fh = logging.FileHandler(path, mode="a", encoding="utf-8")
        except OSError as exc:
            raise OSError(exc.errno, f"--log-file {path}: {exc.strerror}") from None
        fh.setFormatter(logging.Formatter(FILE_FORMAT, "%Y-%m-%d %H:%M:%S"))
        handlers.append(fh)
    if level is not None:
        th = _TerminalHandler(stream if stream is not None else sys.stderr)
        th.setFormatter(logging.Formatter(STREAM_FORMAT))
        handlers.append(th)
    if _active is not None:
        _active.close()
    from logging.handlers import QueueHandler, QueueListener  # not needed by --help

    q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = QueueListener(q, *handlers, respect_handler_level=False)
    qh = QueueHandler(q)
    logger = logging.getLogger(ROOT)
    previous = (logger.level, logger.propagate)
    logger.addHandler(qh)
    logger.setLevel(lvl)
    logger.propagate = False  # the application's root handlers would print them twice
    listener.start()
    _active = LoggingSetup(lvl, level is not None, None if file is None else Path(file),
                           listener, qh, previous)
    atexit.register(_active.close)
    return _active


@contextlib.contextmanager
def configure_logging(level: str | None = None,
                      file: str | Path | None = None) -> Iterator[LoggingSetup | None]:
    """:func:`configure` for the duration of a ``with`` block (closed at its end)."""
    setup = configure(level, file)
    try:
        yield setup
    finally:
        if setup is not None:
            setup.close()


def terminal_logging() -> bool:
    """True while :func:`configure` sends records to the terminal (front ends then do not
    print the same lines themselves)."""
    return _active is not None and _active.stream


def add_logging_arguments(parser: object) -> None:
    """The global ``--log-level`` and ``--log-file`` options (an argparse parser)."""
    parser.add_argument(  # type: ignore[attr-defined]
        "--log-level", metavar="LEVEL", type=str.upper, choices=LEVELS,
        help="show labctl's log records at LEVEL and above on stderr "
        f"({', '.join(LEVELS)}; default: none, the command's own output only)")
    parser.add_argument(  # type: ignore[attr-defined]
        "--log-file", metavar="FILE", help="append log records to FILE (at --log-level, "
        f"default {FILE_DEFAULT_LEVEL}): every run event, fault and recovery")
