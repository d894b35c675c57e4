"""Bounded TOML reading (labctl/tomlread.py): what is checked before tomllib sees a byte."""

from __future__ import annotations

import os

import pytest

from labctl.tomlread import (
    MAX_FILE_BYTES,
    MAX_NESTING,
    TomlFileError,
    nesting_depth,
    parse,
    read_text,
    read_toml,
)


def test_brackets_in_strings_and_comments_do_not_count():
    many = "[" * 200
    text = (f'a = "{many}"\nb = \'{many}\'\nc = """\n{many}\n"""\nd = \'\'\'{many}\'\'\'\n'
            f'# {many}\ne = "\\" {many}"\nf = [[1, 2], [3]]\n[[task]]\nx = {{ y = [1] }}\n')
    assert nesting_depth(text) == 2
    assert parse(text)["f"] == [[1, 2], [3]]


def test_nesting_is_refused_before_parsing():
    deep = "x = " + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)
    with pytest.raises(TomlFileError, match=f"nested more than {MAX_NESTING} deep"):
        parse(deep)
    ok = "x = " + "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1)
    assert parse(ok)["x"]


def test_parser_failures_become_toml_file_errors():
    with pytest.raises(TomlFileError, match="not valid TOML"):
        parse("x = ")
    with pytest.raises(TomlFileError, match="4300 digits"):
        parse("x = " + "9" * 5000)


def test_only_bounded_regular_utf8_files_are_read(tmp_path):
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(TomlFileError, match=f"{MAX_FILE_BYTES + 1} bytes; allowed at most"):
        read_text(big)
    exact = tmp_path / "exact.toml"
    exact.write_bytes(b"#" * MAX_FILE_BYTES)
    assert len(read_text(exact)) == MAX_FILE_BYTES
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: opening it would block; it is refused from stat
    with pytest.raises(TomlFileError, match="a FIFO"):
        read_text(fifo)
    with pytest.raises(TomlFileError, match="a directory"):
        read_text(tmp_path)
    with pytest.raises(TomlFileError, match="a character device"):
        read_text("/dev/zero")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'a = 1\nb = "\xc3"\n')
    with pytest.raises(TomlFileError, match=r"byte 0xc3 at line 2 \(byte offset 11\)"):
        read_text(bad)
    good = tmp_path / "good.toml"
    good.write_text('name = "λ"\n', encoding="utf-8")
    assert read_toml(good) == ('name = "λ"\n', {"name": "λ"})
