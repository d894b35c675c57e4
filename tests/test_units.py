"""labctl.units: SI prefixes, scientific notation for squared units, task labels."""

import doctest
import math
import re

import numpy as np
import pytest

import labctl.units
from labctl.units import PREFIXES, format_si, sci, si_prefix, task_label


def test_doctests_hold():
    result = doctest.testmod(labctl.units)
    assert result.attempted > 10 and result.failed == 0


@pytest.mark.parametrize(("value", "unit", "digits", "text"), [
    (0.00046, "W", 3, "460 µW"),
    (0.0002799, "J", 3, "280 µJ"),
    (0.000116, "W", 3, "116 µW"),
    (1.1643e-3, "S", 3, "1.16 mS"),
    (407e-6, "S/s", 3, "407 µS/s"),
    (2.5, "V", 3, "2.5 V"),
    (10000.0, "S/s", 3, "10 kS/s"),
    (999.6, "W", 3, "1 kW"),
    (-2.34e-5, "V", 3, "-23.4 µV"),
    (0.45, "V", 3, "450 mV"),
    (1.0, "s", 3, "1 s"),
    (123456.0, "Hz", 2, "120 kHz"),
    (0.0, "J", 3, "0 J"),
    (-0.0, "J", 3, "0 J"),
    (math.inf, "W", 3, "inf W"),
    (-math.inf, "W", 3, "-inf W"),
    (math.nan, "W", 3, "-"),
    (2.7e-4, "V²", 3, "2.7×10⁻⁴ V²"),
    (5e-5, "V²", 3, "5×10⁻⁵ V²"),
    (1e-5, "V²", 3, "10⁻⁵ V²"),
    (0.012, "V²", 3, "1.2×10⁻² V²"),
    (0.25, "V²", 3, "0.25 V²"),
    (1e-12, "m³", 2, "10⁻¹² m³"),
    (0.22, "", 3, "0.22"),
    (0.2170542, "", 4, "0.2171"),
    (0.0298, "", 3, "0.0298"),
    (5e-5, "", 3, "5×10⁻⁵"),
    (4560.0, "", 3, "4560"),
    (1e-320, "W", 3, "10⁻³²⁰ W"),
    (3e40, "W", 3, "3×10⁴⁰ W"),
])
def test_format_si_examples(value, unit, digits, text):
    assert format_si(value, unit, digits) == text


def test_numpy_scalars_are_numbers():
    assert format_si(np.float32(0.00046), "W") == "460 µW"
    assert format_si(np.int64(3000), "S/s") == "3 kS/s"


def test_refuses_zero_digits():
    with pytest.raises(ValueError, match="digits"):
        format_si(1.0, "W", 0)


def _parse(text: str, unit: str) -> float:
    """The number a prefixed text stands for (for the round-trip test)."""
    mant, prefix_unit = text.split(" ")
    prefix = prefix_unit[: len(prefix_unit) - len(unit)]
    power = {p: k for k, p in PREFIXES.items()}[prefix]
    return float(mant) * 1000.0 ** power


def test_prefixed_text_reads_back_within_rounding_and_keeps_1_to_3_integer_digits():
    rng = np.random.default_rng(7)
    values = 10.0 ** rng.uniform(-29, 29, 2000) * rng.choice([-1, 1], 2000)
    for v in values:
        for digits in (1, 3, 5):
            text = format_si(v, "W", digits)
            back = _parse(text, "W")
            assert abs(back - v) <= 0.5 * 10 ** (math.floor(math.log10(abs(v))) - digits + 2), \
                (v, digits, text)
            integer = re.match(r"-?(\d+)", text).group(1)
            assert 1 <= len(integer) <= 3 and integer != "0", (v, text)


def test_scientific_reads_back():
    pattern = re.compile(r"^(-?)(?:([\d.]+)×)?10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)$")
    for v in (2.7e-4, -3.14159e12, 6.02e23, 1.0e-100, -1e-7):
        sign, mant, exp = pattern.match(sci(v, 3)).groups()
        exp = exp.translate(str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789"))
        back = float(f"{sign}{mant or 1}e{exp}")
        assert back == pytest.approx(v, rel=5e-3)


def test_si_prefix_matches_format_si():
    assert si_prefix(0.00046) == (pytest.approx(1e-6), "µ")
    assert si_prefix(2.5) == (1.0, "")
    assert si_prefix(0.0) == (1.0, "")
    assert si_prefix(math.nan) == (1.0, "")


def test_task_labels_count_from_zero_like_the_run_file():
    assert task_label(0) == "task 0"
    assert task_label(3, 12) == "task 3 of 0–11"
    assert task_label(0, 1) == "task 0 of 0–0"
