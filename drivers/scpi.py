"""Declared SCPI instrument properties (descriptor style, as in PyMeasure/ophyd).

An instrument class lists its settings once::

    source_voltage = ScpiProperty(":SOUR:VOLT?", ":SOUR:VOLT {:.6e}", float, limits=(-210, 210))

Reading the attribute sends the query and parses the answer; assigning validates the
value, sends the command and then reads the instrument's error queue (``:SYST:ERR?``), so
a refused setting raises immediately with the instrument's own message. Every exchange
goes through :meth:`ScpiInstrument.exchange`, where an instrument adds its recovery from
transient faults (the SMU: bounded retries after a device clear).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from labctl.bench.interfaces import BenchError

T = TypeVar("T")


class Transport(Protocol):
    """What an SCPI instrument needs from its transport."""

    def write(self, command: str) -> None: ...

    def query(self, command: str) -> str: ...

    def close(self) -> None: ...


class ScpiInstrument:
    """Base of SCPI instruments: a transport plus error-queue handling."""

    error_query = ":SYST:ERR?"
    #: properties declared on the class, collected for :meth:`settings`
    _scpi_properties: tuple[str, ...] = ()

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def exchange(self, what: str, action: Callable[[], T]) -> T:
        """Run one transport exchange ``action`` (for the message text ``what``); the base
        runs it once, instruments that recover from transient faults override this."""
        return action()

    def ask(self, query: str) -> str:
        """Send ``query`` and return the answer."""
        return self.exchange(query, lambda: self.transport.query(query))

    def send(self, command: str) -> None:
        """Send ``command`` (no answer expected)."""
        self.exchange(command, lambda: self.transport.write(command))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = [n for n, v in vars(cls).items() if isinstance(v, ScpiProperty)]
        cls._scpi_properties = (*cls._scpi_properties, *names)

    def read_errors(self, max_entries: int = 32) -> list[str]:
        """Drain the instrument's error queue; returns the error entries (empty = none)."""
        errors: list[str] = []
        for _ in range(max_entries):
            answer = self.ask(self.error_query)
            code = answer.split(",", 1)[0].strip()
            try:
                if int(code) == 0:
                    break
            except ValueError as exc:
                raise BenchError(f"unexpected error-queue answer {answer!r}") from exc
            errors.append(answer)
        return errors

    def command(self, command: str) -> None:
        """Send a command and raise BenchError with the instrument's message if it failed."""
        self.send(command)
        errors = self.read_errors()
        if errors:
            raise BenchError(f"instrument refused {command!r}: {'; '.join(errors)}")

    def settings(self) -> dict[str, Any]:
        """Current value of every declared property (queried from the instrument)."""
        return {name: getattr(self, name) for name in self._scpi_properties}


class ScpiProperty:
    """A setting read with ``get`` (a query) and written with ``set`` (a format string).

    ``parse`` converts the answer; ``limits`` (lo, hi) or ``choices`` restrict what may be
    written (ValueError naming the property and the allowed values otherwise).
    """

    def __init__(self, get: str | None, set: str | None, parse: Callable[[str], Any] = str,
                 *, limits: tuple[float, float] | None = None,
                 choices: tuple[Any, ...] | None = None, doc: str = "") -> None:
        self.get_cmd = get
        self.set_cmd = set
        self.parse = parse
        self.limits = limits
        self.choices = choices
        self.__doc__ = doc
        self.name = "?"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: ScpiInstrument | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        if self.get_cmd is None:
            raise AttributeError(f"{self.name}: write-only setting")
        answer = obj.ask(self.get_cmd)
        try:
            return self.parse(answer)
        except ValueError as exc:
            raise BenchError(f"{self.name}: cannot parse answer {answer!r}") from exc

    def __set__(self, obj: ScpiInstrument, value: Any) -> None:
        if self.set_cmd is None:
            raise AttributeError(f"{self.name}: read-only setting")
        if self.limits is not None:
            lo, hi = self.limits
            if isinstance(value, bool) or not lo <= float(value) <= hi:
                raise ValueError(f"{self.name}: {value!r} out of range; allowed {lo:g}..{hi:g}")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{self.name}: {value!r} not allowed; allowed {self.choices}")
        obj.command(self.set_cmd.format(value))


def scpi_bool(answer: str) -> bool:
    """Parse an SCPI boolean answer ("1"/"0"/"ON"/"OFF")."""
    token = answer.strip().upper()
    if token in ("1", "ON"):
        return True
    if token in ("0", "OFF"):
        return False
    raise ValueError(answer)
