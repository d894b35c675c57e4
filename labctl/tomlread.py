"""Bounded, safe reading of the TOML files labctl accepts (protocols and bench files).

Everything here happens before :mod:`tomllib` sees a byte, so no input can make parsing
slow, deep or large:

* the path must name a regular file (``/dev/zero``, a FIFO, a directory are refused from
  ``stat`` alone, before opening), of at most :data:`MAX_FILE_BYTES`; at most that many
  bytes plus one are ever read, so a file growing while it is read is refused too;
* the bytes must be UTF-8 (the error gives the line and byte offset of the first bad one);
* brackets ``[ ] { }`` outside strings and comments may nest at most :data:`MAX_NESTING`
  deep (``tomllib`` recurses once per level; 100 000 levels would blow the stack);
* any other failure of the parser (RecursionError, MemoryError, the 4300-digit limit of
  Python integers) is turned into the same :class:`TomlFileError`.

The callers (:func:`labctl.protocol.load_protocol`, :func:`labctl.bench.config.load_bench`)
prefix the file name and turn :class:`TomlFileError` into their own error types.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

#: largest protocol or bench file accepted (bytes); the shipped ones are below 8 KiB
MAX_FILE_BYTES = 1 << 20
#: deepest nesting of arrays and inline tables accepted; the formats need 3
MAX_NESTING = 32

#: strings (basic, literal, multi-line) and comments, skipped when counting brackets,
#: then the brackets themselves
_TOKENS = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\''
                     r"|#[^\n]*|[\[\]{}]")


class TomlFileError(ValueError):
    """A file cannot be accepted as TOML; ``problem`` says why (without the file name)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


def display(path: str | Path) -> str:
    """``path`` as printed in messages: as is, or quoted if it holds unprintable characters
    (a NUL, an escape sequence)."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def read_text(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of regular file ``path`` (UTF-8, at most ``max_bytes`` bytes)."""
    p = Path(path)
    try:
        st = os.stat(p)
    except (OSError, ValueError) as exc:  # ValueError: NUL byte in the path
        raise TomlFileError(f"cannot read the file: {_reason(exc)}") from None
    if not stat.S_ISREG(st.st_mode):
        raise TomlFileError(f"not a regular file ({_kind(st.st_mode)}); allowed a regular "
                            f"file of at most {max_bytes} bytes")
    if st.st_size > max_bytes:
        raise TomlFileError(f"{st.st_size} bytes; allowed at most {max_bytes} bytes")
    try:
        # O_NONBLOCK: a path swapped for a FIFO after the stat cannot block the open
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise TomlFileError("not a regular file; allowed a regular file")
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise TomlFileError(f"cannot read the file: {_reason(exc)}") from None
    if len(data) > max_bytes:
        raise TomlFileError(f"more than {max_bytes} bytes; allowed at most {max_bytes} bytes")
    return decode(data)


def decode(data: bytes) -> str:
    """``data`` as UTF-8 text; the error names the line and byte of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TomlFileError(f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line} "
                            f"(byte offset {exc.start}); allowed UTF-8 encoded TOML") from None


def nesting_depth(text: str) -> int:
    """Deepest nesting of ``[`` / ``{`` outside strings and comments (table headers such as
    ``[[task]]`` count as 2)."""
    depth = deepest = 0
    if text.count("[") + text.count("{") <= MAX_NESTING:  # cannot exceed the limit
        return 0
    for match in _TOKENS.finditer(text):
        tok = match.group()
        if tok in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_NESTING:
                break
        elif tok in "]}":
            depth = max(0, depth - 1)
    return deepest


def parse(text: str) -> dict[str, Any]:
    """Parse TOML ``text`` after the nesting check; every failure is a TomlFileError."""
    if nesting_depth(text) > MAX_NESTING:
        raise TomlFileError(f"arrays or inline tables nested more than {MAX_NESTING} deep; "
                            f"allowed at most {MAX_NESTING} levels")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlFileError(f"not valid TOML: {exc}") from None
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
        raise TomlFileError(f"not acceptable TOML: {type(exc).__name__}: "
                            f"{str(exc)[:200]}") from None


def read_toml(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[str, dict[str, Any]]:
    """Text and parsed document of the TOML file ``path`` (all checks of the module)."""
    text = read_text(path, max_bytes)
    return text, parse(text)


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)[:200]


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"
