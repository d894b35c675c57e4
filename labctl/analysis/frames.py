"""Analysis tables as pandas DataFrames whose quantities carry their SI unit.

In memory a table is a plain DataFrame: bare column names (``df["final_error"]``,
``df.query("lambda_control == 'off'")``) and ``df.attrs["units"]``, a dict from every
quantity column to its unit in the UDUNITS spelling of the run files' ``units`` attributes
and of ``Run.summary()``: ``"V^2"``, ``"W"``, ``"1/s"``, ``"1"`` for a dimensionless
quantity. Label columns (file, task, name, kind, status …) have no unit.

On disk (CSV, :func:`write_table`) the unit follows the name in square brackets,
``final_error [V^2]``, ``lambda [1]``; label columns keep their bare name. ``pd.read_csv``
opens such a file as it is (floats written to full precision, so the numbers come back
exactly); :func:`read_table` also gives back the names without units and the units in
``attrs``. Column types are fixed by name and unit, never guessed from the values: the
integer columns :data:`INTEGER_COLUMNS`, float for every other column with a unit, text
(``str``) for the rest — a task named ``"1"`` stays text.

For people, :func:`format_table` writes a Markdown table whose numbers carry SI prefixes
(:func:`labctl.units.format_si`: ``460 µW``, ``2.7×10⁻⁴ V²``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labctl.units import format_si

#: integer columns (task index from 0, committed row count); every other column with a
#: unit is float, every other one without a unit is text
INTEGER_COLUMNS = frozenset({"task", "rows"})
#: ``name [unit]``: a CSV header naming a quantity and its unit
_HEADER = re.compile(r"^(?P<name>.*\S) \[(?P<unit>[^\[\]]+)\]$")
_SUPERSCRIPTS = {"^2": "²", "^3": "³", "^-1": "⁻¹", "^-2": "⁻²"}


def _dtype(name: str, unit: str | None) -> Any:
    """The fixed column type of ``name`` (see the module docstring)."""
    if name in INTEGER_COLUMNS:
        return np.int64
    return np.float64 if unit else str


def make_frame(records: Iterable[Mapping[str, Any]], columns: Sequence[str],
               units: Mapping[str, str]) -> pd.DataFrame:
    """A DataFrame of ``records`` (one dict per row) with the given ``columns`` in order and
    ``attrs["units"]`` = ``units`` (the quantity columns' units). A missing number is NaN;
    a key outside ``columns`` is refused (ValueError naming it: typo safety)."""
    rows = [dict(r) for r in records]
    known = set(columns)
    for i, row in enumerate(rows):
        unknown = set(row) - known
        if unknown:
            raise ValueError(f"row {i}: unknown columns {sorted(unknown)}; allowed "
                             f"{', '.join(columns)}")
    stray = set(units) - known
    if stray:
        raise ValueError(f"units: {sorted(stray)} are not columns; allowed {', '.join(columns)}")
    df = pd.DataFrame.from_records(rows, columns=list(columns))
    for name in columns:
        kind = _dtype(name, units.get(name))
        df[name] = (df[name].astype(kind) if kind is not str
                    else df[name].fillna("").astype(str))
    df.attrs["units"] = {c: units[c] for c in columns if c in units}
    return df


def units_of(df: pd.DataFrame) -> dict[str, str]:
    """Column → unit of a labctl table (``df.attrs["units"]``; empty if it has none)."""
    return dict(df.attrs.get("units", {}))


def header(name: str, unit: str | None) -> str:
    """The CSV header of a column: ``final_error [V^2]``, or the bare name without unit."""
    return f"{name} [{unit}]" if unit else name


def split_header(text: str) -> tuple[str, str | None]:
    """(name, unit) of a CSV header written by :func:`header` (unit None if it has none)."""
    m = _HEADER.match(text)
    return (m["name"], m["unit"]) if m else (text, None)


def write_table(df: pd.DataFrame, path: str | Path | None = None) -> str:
    """``df`` as CSV text, units in the headers (``name [unit]``, from
    ``df.attrs["units"]``), floats to full precision, NaN as an empty cell, no index;
    also written to ``path`` (UTF-8) if given."""
    units = units_of(df)
    out = df.rename(columns={c: header(c, units.get(c)) for c in df.columns})
    text = out.to_csv(index=False, lineterminator="\n", na_rep="")
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def read_table(path: str | Path) -> pd.DataFrame:
    """A table written by :func:`write_table` (``labctl analyze``'s CSV files) as the
    DataFrame that was written: bare column names, ``attrs["units"]`` from the headers,
    the column types of the module docstring. ValueError naming the file and the column
    on a cell that is not a number in a quantity column."""
    p = Path(path)
    with p.open(encoding="utf-8", newline="") as f:
        heads = next(csv.reader(f), [])
    if not heads:
        raise ValueError(f"{p}: empty file; allowed a CSV table with a header line")
    parsed = [split_header(h) for h in heads]
    names = [n for n, _ in parsed]
    if len(set(names)) != len(names):
        raise ValueError(f"{p}: duplicate column names in {heads}")
    numeric = {h: _dtype(n, u) for h, (n, u) in zip(heads, parsed) if _dtype(n, u) is not str}
    df = pd.read_csv(p, dtype={h: str for h in heads if h not in numeric},
                     keep_default_na=False, na_values={h: [""] for h in numeric})
    for h, kind in numeric.items():
        try:
            df[h] = df[h].astype(kind)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{p}: column {h!r}: {exc}; allowed numbers") from None
    df.columns = names
    df.attrs["units"] = {n: u for n, u in parsed if u}
    return df


def human_unit(unit: str) -> str:
    """A UDUNITS unit as people write it: ``V^2`` → ``V²``, ``1/s`` → ``s⁻¹``, ``1`` → ``""``."""
    if unit == "1":
        return ""
    if unit.startswith("1/"):
        unit = unit[2:] + "^-1"
    for k, v in _SUPERSCRIPTS.items():
        unit = unit.replace(k, v)
    return unit


def _cell(value: Any, unit: str | None, digits: int) -> str:
    """One cell for people: a number with an SI prefix (``-`` for NaN) or text."""
    if unit is not None:
        return format_si(float(value), human_unit(unit), digits=digits)
    if isinstance(value, float) and np.isnan(value):
        return "-"
    return str(value).replace("|", "\\|")


def format_table(df: pd.DataFrame, columns: Sequence[str] | None = None,
                 digits: int = 4) -> str:
    """``df`` (or its ``columns``) as a GitHub Markdown table for people: every quantity
    with its unit and SI prefix (``digits`` significant digits), numbers right-aligned."""
    cols = list(df.columns if columns is None else columns)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"columns: {missing} not in the table; allowed {', '.join(df.columns)}")
    units = units_of(df)
    right = [units.get(c) is not None or c in INTEGER_COLUMNS for c in cols]
    cells = [[_cell(v, units.get(c), digits) for c, v in zip(cols, row)]
             for row in df[cols].itertuples(index=False, name=None)]
    widths = [max([len(c), 3] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.rjust(w) if r else v.ljust(w)
                                 for v, w, r in zip(values, widths, right)) + " |"

    rule = "| " + " | ".join("-" * (w - 1) + ":" if r else "-" * w
                             for w, r in zip(widths, right)) + " |"
    return "\n".join([line(cols), rule, *(line(r) for r in cells)]) + "\n"


__all__ = ["INTEGER_COLUMNS", "format_table", "header", "human_unit",
           "make_frame", "read_table", "split_header", "units_of", "write_table"]
