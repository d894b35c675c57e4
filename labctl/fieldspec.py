"""One declaration per field of a labctl input file: type, range, unit, help.

A :class:`Field` says everything there is to know about one key of a protocol or bench
file; the loaders check values with :func:`check` and the docs tables are generated from
the same declarations (:func:`markdown_table`), so the range a user reads is the range
that is enforced. Bounds may be numbers or :class:`Ref` s to values known only once the
bench is loaded (the DAQ sample rate, the bench's voltage limits...), resolved from a
``context`` mapping at check time.

Numbers are always finite; integers are never booleans; strings have a bounded length
and, where they become names, an allowed character set.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class _Required:
    def __repr__(self) -> str:
        return "required"


#: default of a field that must be given
REQUIRED: Any = _Required()

#: largest magnitude any number may have before its own range is even considered
_HUGE = 1e300


@dataclass(frozen=True)
class Ref:
    """A bound known only at validation time: ``context[key]``, described as ``text``."""

    key: str
    text: str


Bound = float | Ref | None


@dataclass(frozen=True)
class Field:
    """One key of an input file.

    ``path`` is the documented dotted path (``"learning.duration"``; ``"task.count"`` for
    a key of every ``[[task]]``), ``kind`` one of ``number``, ``integer``, ``string``,
    ``boolean``, ``numbers`` (a sweep: a number, an array or ``{start, stop, num}``) or
    ``table``; ``ge``/``gt``/``le``/``lt`` inclusive/exclusive bounds; ``choices`` the
    allowed strings; ``max_length``/``chars`` bound strings (``chars`` a regex character
    class body such as ``"A-Za-z0-9_.-"``); ``note`` an extra sentence for the docs.
    """

    path: str
    kind: str
    help: str
    unit: str = ""
    default: Any = REQUIRED
    ge: Bound = None
    gt: Bound = None
    le: Bound = None
    lt: Bound = None
    choices: tuple[str, ...] = ()
    max_length: int = 0
    chars: str = ""
    note: str = ""

    @property
    def key(self) -> str:
        """The key inside its table (last component of ``path``)."""
        return self.path.rsplit(".", 1)[-1]

    @property
    def required(self) -> bool:
        """True if the field has no default."""
        return self.default is REQUIRED


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


def show(value: Any, limit: int = 60) -> str:
    """A short printable form of ``value`` (long strings and arrays are cut)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        text = str(value) if abs(value) < 10**30 else f"an integer of {len(str(abs(value)))} digits"
        return text
    if isinstance(value, str):
        text = repr(value[:limit])
        return text if len(value) <= limit else f"{text[:-1]}...' ({len(value)} characters)"
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    if isinstance(value, dict):
        return f"a table of {len(value)} keys"
    return type(value).__name__


def _num(x: float) -> str:
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    return f"{x:.6g}"


def resolve(bound: Bound, context: Mapping[str, float] | None) -> float | None:
    """The numeric value of ``bound`` (None if unbounded or not known in ``context``)."""
    if bound is None or isinstance(bound, int | float):
        return bound
    if context is None or bound.key not in context:
        return None
    return float(context[bound.key])


def range_text(f: Field, context: Mapping[str, float] | None = None) -> str:
    """The allowed range, e.g. ``"0.1 s (one DAQ block) <= value <= 86400 s"``."""
    u = f" {f.unit}" if f.unit else ""

    def side(bound: Bound) -> str:
        value = resolve(bound, context)
        if isinstance(bound, Ref):
            return (f"{_num(value)}{u} ({bound.text})" if value is not None
                    else bound.text)
        return f"{_num(bound)}{u}" if bound is not None else ""

    lo = f"{side(f.ge)} <= " if f.ge is not None else (
        f"{side(f.gt)} < " if f.gt is not None else "")
    hi = f" <= {side(f.le)}" if f.le is not None else (
        f" < {side(f.lt)}" if f.lt is not None else "")
    if not lo and not hi:
        return "any finite value"
    return f"{lo}value{hi}"


def check_number(f: Field, value: Any, context: Mapping[str, float] | None = None
                 ) -> tuple[float | int | None, str | None]:
    """``(value, None)`` if ``value`` is allowed for number/integer field ``f``, else
    ``(None, problem)``; integers stay ``int``."""
    want = "an integer" if f.kind == "integer" else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            f.kind == "integer" and not isinstance(value, int)):
        return None, f"expected {want}, got {type_name(value)} {show(value)}; allowed " \
                     f"{range_text(f, context)}"
    if isinstance(value, int) and abs(value) > _HUGE:
        return None, f"{show(value)} is out of range; allowed {range_text(f, context)}"
    x = float(value)
    if not math.isfinite(x):
        return None, f"expected a finite number, got {show(value)}; allowed " \
                     f"{range_text(f, context)}"
    ge, gt, le, lt = (resolve(b, context) for b in (f.ge, f.gt, f.le, f.lt))
    ok = ((ge is None or x >= ge) and (gt is None or x > gt)
          and (le is None or x <= le) and (lt is None or x < lt))
    if not ok:
        u = f" {f.unit}" if f.unit else ""
        return None, f"{show(value)}{u} is out of range; allowed {range_text(f, context)}"
    return (value if f.kind == "integer" else x), None


def check_string(f: Field, value: Any) -> tuple[str | None, str | None]:
    """``(value, None)`` if ``value`` is an allowed string for ``f``, else ``(None, problem)``."""
    if not isinstance(value, str):
        return None, f"expected a string, got {type_name(value)} {show(value)}"
    if f.choices and value not in f.choices:
        allowed = ", ".join(repr(c) for c in f.choices)
        return None, f"{show(value)} is not allowed; allowed: {allowed}"
    if f.max_length and len(value) > f.max_length:
        return None, (f"{show(value)} is too long; allowed at most {f.max_length} "
                      "characters" + (f" of {f.chars}" if f.chars else ""))
    if f.chars and not re.fullmatch(f"[{f.chars}]+", value):
        return None, f"{show(value)}: allowed 1..{f.max_length or 'any'} characters of {f.chars}"
    return value, None


def check(f: Field, value: Any, context: Mapping[str, float] | None = None
          ) -> tuple[Any, str | None]:
    """Check ``value`` against scalar field ``f``: ``(value, None)`` or ``(None, problem)``."""
    if f.kind in ("number", "integer", "numbers"):
        return check_number(f, value, context)
    if f.kind == "string":
        return check_string(f, value)
    if f.kind == "boolean":
        if isinstance(value, bool):
            return value, None
        return None, f"expected true or false, got {type_name(value)} {show(value)}"
    return value, None


def allowed_text(f: Field, context: Mapping[str, float] | None = None) -> str:
    """What ``f`` accepts, in words: its range, its choices or its string bounds."""
    if f.kind in ("number", "integer", "numbers"):
        return ("an integer " if f.kind == "integer" else "a number ") + \
            f"with {range_text(f, context)}"
    if f.choices:
        return ", ".join(repr(c) for c in f.choices)
    if f.kind == "string":
        chars = f" of {f.chars}" if f.chars else ""
        return f"a string of at most {f.max_length} characters{chars}" if f.max_length \
            else "a string"
    return f"a {f.kind}"


def _allowed_cell(f: Field) -> str:
    if f.kind in ("number", "integer", "numbers"):
        return range_text(f).replace("value", "x").replace(" <= ", " ≤ ")
    if f.choices:
        return " \\| ".join(f"`{c!r}`".replace("'", '"') for c in f.choices)
    if f.kind == "string" and (f.max_length or f.chars):
        chars = f" of `{f.chars}`" if f.chars else ""
        return f"≤ {f.max_length} characters{chars}" if f.max_length else f"characters{chars}"
    return ""


def _default_cell(f: Field) -> str:
    if f.required:
        return "required"
    if f.default is None:
        return "—"
    if isinstance(f.default, Ref):
        return f.default.text
    if isinstance(f.default, str):
        return f'`"{f.default}"`'
    if isinstance(f.default, bool):
        return "`true`" if f.default else "`false`"
    if isinstance(f.default, float):
        return f"`{_num(f.default)}`"
    return f"`{f.default}`"


def markdown_table(fields: Iterable[Field]) -> str:
    """A Markdown table (key, type, unit, default, allowed, meaning) of ``fields``."""
    lines = ["| key | type | unit | default | allowed | meaning |",
             "|---|---|---|---|---|---|"]
    for f in fields:
        kind = "number, array or {start, stop, num}" if f.kind == "numbers" else f.kind
        meaning = f.help + (f" {f.note}" if f.note else "")
        lines.append(f"| `{f.key}` | {kind} | {f.unit} | {_default_cell(f)} | "
                     f"{_allowed_cell(f)} | {meaning} |")
    return "\n".join(lines)
