"""Message transport to a VISA instrument (USB-TMC, GPIB, LAN) through pyvisa.

The transport only moves text lines and turns pyvisa failures into labctl's bench
errors; it knows nothing about the instrument's commands (see :mod:`labctl.drivers.scpi`).

Threading: a transport belongs to the instrument that opened it; the instrument enforces
the owner-thread rule (:class:`labctl.bench.interfaces.Instrument`, one exception type for
every instrument), so a second thread (the GUI, a λ controller) hands its request to the
owning thread (the run engine queues them in :class:`labctl.runner.control.RunControl`)
instead of sharing the VISA session.
"""

from __future__ import annotations

import contextlib
from typing import Any

from labctl.bench.interfaces import BenchError, InstrumentDisconnectedError, InstrumentTimeoutError


class VisaTransport:
    """A pyvisa message-based session: ``write`` and ``query`` text, timeout in seconds.

    ``resource`` is the VISA resource string; ``visa_library`` selects the VISA backend
    (``""`` = system default, ``"file.yaml@sim"`` = pyvisa-sim).
    """

    def __init__(self, resource: str, *, timeout: float = 2.0, visa_library: str = "",
                 resource_manager: Any | None = None) -> None:
        import pyvisa

        if not timeout > 0:
            raise ValueError(f"timeout: must be > 0 s, got {timeout}")
        self._errors = pyvisa.errors
        self.resource = resource
        try:
            self._rm = resource_manager or pyvisa.ResourceManager(visa_library)
            self._session = self._rm.open_resource(resource)
        except (pyvisa.errors.VisaIOError, OSError, ValueError) as exc:
            raise InstrumentDisconnectedError(f"VISA {resource}: cannot open ({exc})") from exc
        self._session.timeout = timeout * 1000.0  # pyvisa wants ms
        self._session.read_termination = "\n"
        self._session.write_termination = "\n"
        self._closed = False

    def _check(self) -> None:
        if self._closed:
            raise InstrumentDisconnectedError(f"VISA {self.resource}: session already closed")

    def _translate(self, exc: Exception, what: str) -> BenchError:
        if isinstance(exc, self._errors.VisaIOError):
            if exc.error_code == self._errors.StatusCode.error_timeout:
                return InstrumentTimeoutError(f"VISA {self.resource}: no answer to {what!r}")
            return InstrumentDisconnectedError(f"VISA {self.resource}: {what!r} failed ({exc})")
        return BenchError(f"VISA {self.resource}: {what!r} failed ({exc})")

    def write(self, command: str) -> None:
        """Send one command line."""
        self._check()
        try:
            self._session.write(command)
        except (self._errors.VisaIOError, OSError) as exc:
            raise self._translate(exc, command) from exc

    def query(self, command: str) -> str:
        """Send one query line and return the answer without its terminator."""
        self._check()
        try:
            return str(self._session.query(command)).strip()
        except (self._errors.VisaIOError, OSError) as exc:
            raise self._translate(exc, command) from exc

    def clear(self) -> None:
        """Device clear (VISA viClear): the instrument drops its output queue, so a late
        answer to a query that timed out cannot become the next reply. Backends without it
        (pyvisa-sim, which answers synchronously) have nothing to drop."""
        self._check()
        try:
            self._session.clear()
        except NotImplementedError:
            return
        except (self._errors.VisaIOError, OSError) as exc:
            raise self._translate(exc, "device clear") from exc

    def close(self) -> None:
        """Close the session (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(self._errors.VisaIOError, OSError):
            self._session.close()
