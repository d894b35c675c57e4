"""Numbers as people read them: SI prefixes, and the one task numbering of labctl.

:func:`format_si` writes a value in SI units with the prefix that keeps 1 to 3 digits
before the decimal point (``460 µW``, ``1.16 mS``, ``280 µJ``), to a chosen number of
significant digits::

    >>> format_si(0.00046, "W")
    '460 µW'
    >>> format_si(0.0002799, "J")
    '280 µJ'
    >>> format_si(1.164e-3, "S", digits=4)
    '1.164 mS'
    >>> format_si(-2.34e-5, "V")
    '-23.4 µV'
    >>> format_si(0.0, "W"), format_si(float("nan"), "W"), format_si(float("-inf"), "W")
    ('0 W', '-', '-inf W')
    >>> format_si(9.9996e-4, "W")    # rounding carries into the next prefix
    '1 mW'
    >>> format_si(0.22)              # a dimensionless number: no prefix
    '0.22'

A unit with an exponent (``V²``, ``m³``) never gets a prefix: by SI rules the exponent
applies to the prefixed unit (1 mV² = (1 mV)² = 10⁻⁶ V²), which people misread as
10⁻³ V². Such values outside 0.1 … 10⁴, and dimensionless ones outside 10⁻³ … 10⁴, are
written in scientific notation with a real exponent::

    >>> format_si(2.7e-4, "V²")
    '2.7×10⁻⁴ V²'
    >>> format_si(0.012, "V²"), format_si(0.25, "V²")
    ('1.2×10⁻² V²', '0.25 V²')
    >>> format_si(5e-5), format_si(0.0298)
    ('5×10⁻⁵', '0.0298')

Tasks are numbered from 0 everywhere, as the run file names them (``/tasks/task_00003``
is task 3, ``labctl info``'s ``#`` column, logs, events, analysis tables, the GUI). Where
the number of tasks matters, the range is shown (:func:`task_label`)::

    >>> task_label(3, 12)
    'task 3 of 0–11'
"""

from __future__ import annotations

import math

#: SI prefixes by power of 1000 (10⁻³⁰ … 10³⁰); µ is the micro sign U+00B5
PREFIXES = {-10: "q", -9: "r", -8: "y", -7: "z", -6: "a", -5: "f", -4: "p", -3: "n",
            -2: "µ", -1: "m", 0: "", 1: "k", 2: "M", 3: "G", 4: "T", 5: "P", 6: "E",
            7: "Z", 8: "Y", 9: "R", 10: "Q"}
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
#: characters that mark a unit with an exponent (no prefix for those)
_EXPONENT_MARKS = ("²", "³", "^", "⁻")
#: dimensionless values inside [low, high) are written plainly
PLAIN_RANGE = (1e-3, 1e4)
#: values in a unit with an exponent inside [low, high) are written plainly (errors in V²
#: span many decades below 0.1: one notation for all of them)
PLAIN_RANGE_EXPONENT_UNIT = (0.1, 1e4)


def _rounded(value: float, digits: int) -> tuple[float, int]:
    """``value`` (finite, non-zero) rounded to ``digits`` significant digits, and the
    decimal exponent of its leading digit after rounding."""
    exp10 = math.floor(math.log10(abs(value)))
    r = round(value, digits - 1 - exp10)
    if r != 0 and math.floor(math.log10(abs(r))) != exp10:  # 9.996 -> 10.0
        exp10 += 1
    return r, exp10


def _mantissa(value: float, digits: int) -> str:
    """``value`` with at most ``digits`` significant digits, no trailing zeros, no
    exponent (the caller keeps |value| < 10**digits)."""
    text = f"{value:.{max(digits, 1)}g}"
    if "e" in text:  # e.g. 1e+03 from .3g: write it out
        text = f"{value:.0f}"
    return text


def sci(value: float, digits: int = 3) -> str:
    """``value`` in scientific notation with a superscript exponent, ``2.7×10⁻⁴``; plain
    for exponents 0 (``3.2``)."""
    mant, _, exp = f"{float(value):.{digits - 1}e}".partition("e")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    exp10 = int(exp)
    if exp10 == 0:
        return mant
    power = f"10{str(exp10).translate(_SUPERSCRIPT)}"
    return power if mant == "1" else ("-" + power if mant == "-1" else f"{mant}×{power}")


def format_si(value: float, unit: str = "", digits: int = 3) -> str:
    """``value`` (in the SI unit ``unit``) for people: an SI prefix on a plain unit
    (``460 µW``), scientific notation for a unit with an exponent or a dimensionless
    number far from 1 (``2.7×10⁻⁴ V²``), ``digits`` significant digits (≥ 1), trailing
    zeros dropped. NaN is ``-``; infinities are ``inf``/``-inf`` with the unit; zero is
    ``0`` with the unit."""
    if digits < 1:
        raise ValueError(f"digits: {digits}; allowed integers >= 1")
    suffix = f" {unit}" if unit else ""
    v = float(value)
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return ("inf" if v > 0 else "-inf") + suffix
    if v == 0:
        return "0" + suffix
    prefixed = bool(unit) and not any(m in unit for m in _EXPONENT_MARKS)
    if not prefixed:
        low, high = PLAIN_RANGE_EXPONENT_UNIT if unit else PLAIN_RANGE
        r, _ = _rounded(v, digits)
        if low <= abs(r) < high:
            return plain(r, digits) + suffix
        return sci(v, digits) + suffix
    r, exp10 = _rounded(v, digits)
    power = max(min(exp10 // 3, max(PREFIXES)), min(PREFIXES))
    scaled = r / 1000.0 ** power
    if abs(scaled) >= 1000.0 or abs(scaled) < 1.0:  # beyond the quetta/quecto prefixes
        return sci(v, digits) + suffix
    return f"{_mantissa(scaled, digits)} {PREFIXES[power]}{unit}"


def plain(value: float, digits: int = 3) -> str:
    """``value`` (non-zero) to ``digits`` significant digits without an exponent, trailing
    zeros dropped: ``0.0123``, ``4560``."""
    value, _ = _rounded(value, digits)
    exp10 = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - exp10)
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def si_prefix(value: float) -> tuple[float, str]:
    """(scale, prefix) that :func:`format_si` would use for ``value`` in a plain unit:
    ``value / scale`` lies in [1, 1000). (1, "") for 0, NaN and infinities."""
    v = float(value)
    if not math.isfinite(v) or v == 0:
        return 1.0, ""
    power = max(min(math.floor(math.log10(abs(v))) // 3, max(PREFIXES)), min(PREFIXES))
    return 1000.0 ** power, PREFIXES[power]


def task_label(index: int, n_tasks: int | None = None) -> str:
    """How a task is named for people: ``task 3``, or ``task 3 of 0–11`` when the number
    of tasks is known (tasks are numbered from 0, as in the run file)."""
    if n_tasks is None or n_tasks <= 0:
        return f"task {index}"
    return f"task {index} of 0–{n_tasks - 1}"


__all__ = ["PLAIN_RANGE", "PLAIN_RANGE_EXPONENT_UNIT", "PREFIXES", "format_si", "plain", "sci",
           "si_prefix", "task_label"]
