"""A small tidy table (one dict per row) with CSV and Markdown output.

pandas is not a dependency of labctl; :class:`Table` is the light stand-in: an ordered list
of column names and a list of row dicts, with numeric columns as numpy arrays on demand.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _format(value: Any, digits: int | None) -> str:
    """Text of one cell: floats with ``digits`` significant digits (None: shortest exact
    repr), NaN as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return ""
        return repr(float(value)) if digits is None else f"{float(value):.{digits}g}"
    return str(value)


class Table:
    """Rows of named values (physical quantities in SI units, as named by the columns).

    ``columns`` fixes the column order; every row is a dict holding (a subset of) those
    keys, missing values read as None.
    """

    def __init__(self, columns: Sequence[str], rows: Iterable[dict[str, Any]] = ()) -> None:
        self.columns: tuple[str, ...] = tuple(columns)
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"columns: duplicate names in {self.columns}")
        self.rows: list[dict[str, Any]] = []
        for row in rows:
            self.append(row)

    def append(self, row: dict[str, Any]) -> None:
        """Add one row; keys outside ``columns`` are refused (typo safety)."""
        unknown = set(row) - set(self.columns)
        if unknown:
            raise ValueError(f"row: unknown columns {sorted(unknown)}; allowed {self.columns}")
        self.rows.append(dict(row))

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.column(name)

    def column(self, name: str) -> np.ndarray:
        """One column as a numpy array (float with NaN for missing numbers, else object)."""
        if name not in self.columns:
            raise KeyError(f"{name!r}: not a column; allowed {', '.join(self.columns)}")
        values = [row.get(name) for row in self.rows]
        if all(v is None or (isinstance(v, int | float | np.number) and not isinstance(v, bool))
               for v in values):
            return np.array([np.nan if v is None else float(v) for v in values], dtype=float)
        return np.array(values, dtype=object)

    def where(self, **equal: Any) -> Table:
        """The rows whose columns equal the given values, e.g. ``where(status="completed")``."""
        for key in equal:
            if key not in self.columns:
                raise KeyError(f"{key!r}: not a column; allowed {', '.join(self.columns)}")
        return Table(self.columns, (r for r in self.rows
                                    if all(r.get(k) == v for k, v in equal.items())))

    def sorted_by(self, name: str) -> Table:
        """The rows ordered by column ``name`` (missing values last)."""
        col = self.column(name)
        order = sorted(range(len(self.rows)),
                       key=lambda i: (col[i] is None or (isinstance(col[i], float)
                                                         and math.isnan(col[i])), col[i]))
        return Table(self.columns, (self.rows[i] for i in order))

    def to_csv(self, path: str | Path | None = None) -> str:
        """The table as CSV text (full float precision); also written to ``path`` if given."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([_format(row.get(c), None) for c in self.columns])
        text = buf.getvalue()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_markdown(self, path: str | Path | None = None, digits: int = 4) -> str:
        """The table as a GitHub Markdown table (``digits`` significant digits)."""
        cells = [[_format(row.get(c), digits).replace("|", "\\|") for c in self.columns]
                 for row in self.rows]
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(self.columns)]
        lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(self.columns, widths)) + " |",
                 "| " + " | ".join("-" * w for w in widths) + " |"]
        lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |" for r in cells]
        text = "\n".join(lines) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_records(self) -> np.ndarray:
        """A numpy record array (numeric columns float, others str)."""
        arrays = []
        for c in self.columns:
            col = self.column(c)
            arrays.append(col if col.dtype == float else col.astype(str))
        return np.rec.fromarrays(arrays, names=list(self.columns))

    def __repr__(self) -> str:
        return f"Table({len(self.rows)} rows × {len(self.columns)} columns)"
