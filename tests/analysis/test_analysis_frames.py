"""Analysis tables as DataFrames: units in attrs and in the CSV headers, exact CSV round
trip, fixed column types, tables for people with SI prefixes."""

import numpy as np
import pandas as pd
import pytest

from labctl.analysis.frames import (
    format_table,
    human_unit,
    make_frame,
    read_table,
    split_header,
    write_table,
)

COLUMNS = ("file", "task", "name", "rows", "lambda", "final_error", "final_power_free")
UNITS = {"rows": "1", "lambda": "1", "final_error": "V^2", "final_power_free": "W"}


def _frame():
    return make_frame([
        {"file": "a.h5", "task": 0, "name": "1", "rows": 12, "lambda": 0.0,
         "final_error": 2.7e-4, "final_power_free": 4.6e-4},
        {"file": "a.h5", "task": 1, "name": "b|c", "rows": 0, "lambda": 0.03,
         "final_power_free": 0.1 + 0.2},                   # final_error missing: NaN
        {"file": "b.h5", "task": 0, "name": "NA", "rows": 3, "lambda": 0.0,
         "final_error": float("inf"), "final_power_free": -1e-9},
    ], COLUMNS, UNITS)


def test_frame_has_plain_names_units_in_attrs_and_fixed_types():
    df = _frame()
    assert tuple(df.columns) == COLUMNS and df.attrs["units"] == UNITS
    assert df["task"].dtype == np.int64 and df["rows"].dtype == np.int64
    assert df["final_error"].dtype == np.float64 and np.isnan(df["final_error"].iloc[1])
    assert df["name"].tolist() == ["1", "b|c", "NA"]      # names stay text, never NaN
    empty = make_frame([], COLUMNS, UNITS)
    assert len(empty) == 0 and empty["lambda"].dtype == np.float64
    assert df[df["lambda"] > 0].attrs["units"] == UNITS   # pandas carries attrs along
    with pytest.raises(ValueError, match=r"row 0: unknown columns \['lamda'\]"):
        make_frame([{"lamda": 1.0}], COLUMNS, UNITS)
    with pytest.raises(ValueError, match="not columns"):
        make_frame([], COLUMNS, {"power": "W"})


def test_csv_has_units_in_headers_and_round_trips(tmp_path):
    df = _frame()
    path = tmp_path / "t.csv"
    text = write_table(df, path)
    lines = text.splitlines()
    assert lines[0] == ("file,task,name,rows [1],lambda [1],final_error [V^2],"
                        "final_power_free [W]")
    assert lines[2] == "a.h5,1,b|c,0,0.03,,0.30000000000000004"   # full precision, NaN empty
    assert path.read_text(encoding="utf-8") == text
    raw = pd.read_csv(path)                                # plain pandas opens it
    assert raw["final_power_free [W]"].tolist() == df["final_power_free"].tolist()
    back = read_table(path)
    pd.testing.assert_frame_equal(back, df, check_exact=True)
    assert back.attrs["units"] == UNITS
    assert split_header("final_error [V^2]") == ("final_error", "V^2")
    assert split_header("name") == ("name", None)


def test_read_table_names_the_file_and_column_of_a_bad_cell(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,final_error [V^2]\na,0.1\nb,lots\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.csv: column 'final_error \[V\^2\]'"):
        read_table(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="empty file"):
        read_table(empty)


def test_table_for_people_has_si_prefixes():
    md = format_table(_frame()).splitlines()
    assert md[0].split("|")[1].strip() == "file" and md[1].startswith("| ----")
    assert md[1].split("|")[4].strip().endswith(":")        # numbers right-aligned
    assert "460 µW" in md[2] and "2.7×10⁻⁴ V²" in md[2] and "300 mW" in md[3]
    assert "b\\|c" in md[3] and " - " in md[3]              # NaN shown as -
    assert "| NA " in md[4] and "inf V²" in md[4] and "-1 nW" in md[4]
    assert format_table(_frame(), ["name", "final_power_free"]).splitlines()[0] == \
        "| name | final_power_free |"
    with pytest.raises(KeyError, match="not in the table"):
        format_table(_frame(), ["power"])
    assert human_unit("V^2") == "V²" and human_unit("1/s") == "s⁻¹" and human_unit("1") == ""
