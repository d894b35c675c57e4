"""Typed, path-aware readers for the tables of a TOML protocol document.

Every reader names the file and the dotted field path in its :class:`ProtocolError`,
and every table refuses keys nobody asked for (typo safety).
"""

from __future__ import annotations

import math
from typing import Any

from labctl.protocol.errors import ProtocolError

_MISSING = object()


def type_name(value: Any) -> str:
    """Human name of a TOML value's type (for error messages)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return type(value).__name__


class Section:
    """One TOML table at dotted path ``path`` in ``file``; hands out checked values."""

    def __init__(self, file: str, path: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ProtocolError(file, path, f"expected a table, got {type_name(data)}")
        self.file = file
        self.path = path
        self.data = data
        self._asked: list[str] = []

    def child_path(self, key: str) -> str:
        """Dotted path of ``key`` inside this table."""
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, problem: str) -> ProtocolError:
        """A ProtocolError for field ``key`` of this table."""
        return ProtocolError(self.file, self.child_path(key), problem)

    def has(self, key: str) -> bool:
        """True if ``key`` is present (and marks it as a known key)."""
        self._asked.append(key)
        return key in self.data

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        """The value of ``key`` unchecked; ``default`` if absent, else required."""
        self._asked.append(key)
        if key not in self.data:
            if default is _MISSING:
                raise self.error(key, "required field is missing")
            return default
        return self.data[key]

    def string(self, key: str, default: Any = _MISSING, choices: tuple[str, ...] = ()) -> str:
        """A string field, optionally one of ``choices``."""
        value = self.raw(key, default)
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {type_name(value)} {value!r}")
        if choices and value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise self.error(key, f"{value!r} is not allowed; allowed: {allowed}")
        return value

    def number(self, key: str, default: Any = _MISSING, **bounds: float) -> float:
        """A real number field checked against ``bounds`` (see :func:`check_number`)."""
        value = self.raw(key, default)
        return check_number(self.file, self.child_path(key), value, **bounds)

    def integer(self, key: str, default: Any = _MISSING, minimum: int | None = None,
                maximum: int | None = None) -> int:
        """An integer field within [minimum, maximum]."""
        value = self.raw(key, default)
        return check_integer(self.file, self.child_path(key), value, minimum, maximum)

    def table(self, key: str, default: Any = _MISSING) -> Section:
        """A sub-table as a :class:`Section` (an empty one if absent and default={})."""
        value = self.raw(key, default)
        return Section(self.file, self.child_path(key), value)

    def array(self, key: str, default: Any = _MISSING, length: int | None = None,
              min_length: int = 0) -> list[Any]:
        """An array field, optionally of exactly ``length`` or at least ``min_length`` items."""
        value = self.raw(key, default)
        path = self.child_path(key)
        if not isinstance(value, list):
            raise ProtocolError(self.file, path, f"expected an array, got {type_name(value)}")
        if length is not None and len(value) != length:
            raise ProtocolError(self.file, path,
                                f"expected exactly {length} items, got {len(value)}")
        if len(value) < min_length:
            raise ProtocolError(self.file, path,
                                f"expected at least {min_length} items, got {len(value)}")
        return value

    def finish(self, context: str = "") -> None:
        """Refuse every key that no reader asked for (typo safety)."""
        unknown = [k for k in self.data if k not in self._asked]
        if unknown:
            allowed = ", ".join(dict.fromkeys(self._asked)) or "(none)"
            where = f" {context}" if context else ""
            raise self.error(unknown[0], f"unknown key{where}; allowed keys here: {allowed}")


def check_number(file: str, path: str, value: Any, *, ge: float | None = None,
                 gt: float | None = None, le: float | None = None,
                 lt: float | None = None, unit: str = "") -> float:
    """Return ``value`` as float if it is a finite real number within the given bounds.

    ``ge``/``gt``/``le``/``lt`` are inclusive/exclusive lower/upper bounds; ``unit`` is
    appended to numbers in the message (e.g. ``"V"``).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(file, path, f"expected a number, got {type_name(value)} {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise ProtocolError(file, path, f"expected a finite number, got {value!r}")
    u = f" {unit}" if unit else ""
    lo = f"{ge:g}{u} <= " if ge is not None else (f"{gt:g}{u} < " if gt is not None else "")
    hi = f" <= {le:g}{u}" if le is not None else (f" < {lt:g}{u}" if lt is not None else "")
    ok = ((ge is None or x >= ge) and (gt is None or x > gt)
          and (le is None or x <= le) and (lt is None or x < lt))
    if not ok:
        raise ProtocolError(file, path, f"{x:g}{u} is out of range; allowed {lo}value{hi}")
    return x


def check_integer(file: str, path: str, value: Any, minimum: int | None = None,
                  maximum: int | None = None) -> int:
    """Return ``value`` if it is an integer (not a boolean) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(file, path, f"expected an integer, got {type_name(value)} {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = f"{minimum} <= " if minimum is not None else ""
        hi = f" <= {maximum}" if maximum is not None else ""
        raise ProtocolError(file, path, f"{value} is out of range; allowed {lo}value{hi}")
    return value
