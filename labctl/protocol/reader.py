"""Reading the tables of a TOML protocol document while collecting every problem.

A :class:`Problems` collects ``(field, problem)`` pairs for one file; a :class:`Section` is
one table that hands out values checked against their :class:`~labctl.fieldspec.Field`
declaration. A bad value is recorded and read as ``None`` (the section is then not
``ok``), so one pass over a file reports all of its problems: wrong types, out-of-range
values, missing fields, unknown keys (with a "did you mean" from :mod:`difflib`).
Cross-field checks run only on sections that are ``ok`` and raise :class:`ProtocolError`,
which :meth:`Problems.guard` records before going on with the next section.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from labctl.fieldspec import (
    REQUIRED,
    Field,
    Ref,
    allowed_text,
    check,
    resolve,
    show,
    type_name,
)
from labctl.protocol.errors import ProtocolError

#: problems reported per file; more are counted, not listed
MAX_PROBLEMS = 50
#: longest dotted field path printed (characters)
MAX_FIELD_PATH = 120


class Problems:
    """Every problem found in one file, in the order found."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[tuple[str, str]] = []
        self.more = 0

    def add(self, field: str, problem: str) -> None:
        """Record a problem of dotted field ``field``."""
        if len(self.items) < MAX_PROBLEMS:
            if len(field) > MAX_FIELD_PATH:  # a hostile key must not flood the message
                field = field[:MAX_FIELD_PATH] + f"...({len(field)} characters)"
            self.items.append((field, problem))
        else:
            self.more += 1

    def __len__(self) -> int:
        return len(self.items) + self.more

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Record a :class:`ProtocolError` raised inside the block instead of propagating."""
        try:
            yield
        except ProtocolError as exc:
            for field, problem in exc.problems:
                self.add(field, problem)

    def raise_if_any(self) -> None:
        """Raise one ProtocolError listing every recorded problem (if there is one)."""
        if self.items:
            items = list(self.items)
            if self.more:
                items.append(("", f"... and {self.more} more problems"))
            raise ProtocolError(self.file, items[0][0], items[0][1], problems=items)


class Section:
    """One TOML table at dotted path ``path`` of the file ``problems`` is about."""

    def __init__(self, problems: Problems, path: str, data: Any,
                 context: Mapping[str, float] | None = None) -> None:
        self.problems = problems
        self.file = problems.file
        self.path = path
        self.context = context
        self.bad = 0
        self.bench: Any = None  # the BenchConfig, for the tables that need its wiring
        self._asked: list[str] = []
        if not isinstance(data, dict):
            self.fail_path(path, f"expected a table, got {type_name(data)} {show(data)}")
            data = {}
        self.data: dict[str, Any] = data

    @property
    def ok(self) -> bool:
        """True while no value of this table was refused."""
        return self.bad == 0

    def child_path(self, key: str) -> str:
        """Dotted path of ``key`` inside this table."""
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, problem: str) -> ProtocolError:
        """A ProtocolError for field ``key`` of this table (for cross-field checks)."""
        return ProtocolError(self.file, self.child_path(key), problem)

    def fail(self, key: str, problem: str) -> None:
        """Record a problem of field ``key`` (the section is no longer ok)."""
        self.fail_path(self.child_path(key), problem)

    def fail_path(self, path: str, problem: str) -> None:
        """Record a problem at the dotted ``path``."""
        self.bad += 1
        self.problems.add(path, problem)

    def has(self, key: str) -> bool:
        """True if ``key`` is present (and marks it as a known key)."""
        self._asked.append(key)
        return key in self.data

    def raw(self, key: str, default: Any = REQUIRED) -> Any:
        """The value of ``key`` unchecked; ``default`` if absent; None (recorded) if a
        required key is missing."""
        self._asked.append(key)
        if key not in self.data:
            if default is REQUIRED:
                self.fail(key, "required field is missing")
                return None
            return default
        return self.data[key]

    def get(self, f: Field, default: Any = REQUIRED) -> Any:
        """The value of declared field ``f`` (its declared default unless ``default`` is
        given), checked against its declaration; None (recorded) if refused."""
        dflt = f.default if default is REQUIRED else default
        if isinstance(dflt, Ref):
            dflt = resolve(dflt, self.context)
        if f.key not in self.data:
            if dflt is REQUIRED:
                self._asked.append(f.key)
                self.fail(f.key, f"required field is missing: {f.help}; allowed "
                                 f"{allowed_text(f, self.context)}")
                return None
            return self.raw(f.key, dflt)
        value, problem = check(f, self.raw(f.key), self.context)
        if problem is not None:
            self.fail(f.key, problem)
        return value

    def value(self, f: Field, path: str, value: Any) -> Any:
        """``value`` (found at ``path``, e.g. an array item) checked against ``f``."""
        checked, problem = check(f, value, self.context)
        if problem is not None:
            self.fail_path(path, problem)
        return checked

    def table(self, key: str, default: Any = REQUIRED) -> Section:
        """A sub-table as a Section (an empty one if absent and ``default={}``)."""
        value = self.raw(key, default)
        sub = Section(self.problems, self.child_path(key), {} if value is None else value,
                      self.context)
        self.bad += sub.bad
        return sub

    def array(self, key: str, length: int | None = None, min_length: int = 0,
              max_length: int | None = None) -> list[Any] | None:
        """An array field with a bounded number of items; None (recorded) if refused."""
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, list):
            self.fail(key, f"expected an array, got {type_name(value)} {show(value)}")
            return None
        if length is not None and len(value) != length:
            self.fail(key, f"expected exactly {length} items, got {len(value)}")
            return None
        if len(value) < min_length or (max_length is not None and len(value) > max_length):
            hi = f"..{max_length}" if max_length is not None else " or more"
            self.fail(key, f"{len(value)} items; allowed {min_length}{hi} items")
            return None
        return value

    def accept_all(self) -> None:
        """Mark every key as known (a table whose layout could not be decided)."""
        self._asked.extend(self.data)

    def finish(self, context: str = "") -> None:
        """Record every key that no reader asked for, with the closest known key."""
        known = list(dict.fromkeys(self._asked))
        where = f" {context}" if context else ""
        unknown = [key for key in self.data if key not in self._asked]
        for n, key in enumerate(unknown):
            if len(self.problems) >= MAX_PROBLEMS:  # counted, not spelt out
                self.bad += 1
                self.problems.more += len(unknown) - n
                break
            path = self.child_path(str(key))
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            allowed = ", ".join(known) or "(none)"
            self.fail_path(path, f"unknown key {show(path)}{where}{hint}; allowed keys "
                                 f"here: {allowed}")
