"""A read-only view of an HDF5 file whose superblock still says "open for write".

A writer that could not close its file (the disk filled up under it, or it was killed
while writing the final attributes) leaves the superblock's consistency flags set, and
HDF5 then refuses every reader (``h5clear -s`` would fix it, but a reader must never
modify a run file). :func:`cleared_view` presents the file's bytes with those flags
cleared – and the end-of-file address set to the real size – and the superblock
checksum recomputed; the file itself is never written.
Only version 2 and 3 superblocks at byte 0 (what the run-file writer makes) are handled.
"""

from __future__ import annotations

import io
from pathlib import Path

_M = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle``: HDF5's metadata checksum."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & _M
    i = 0
    while length > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & _M
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & _M
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & _M
        a = (a - c) & _M
        a ^= _rot(c, 4)
        c = (c + b) & _M
        b = (b - a) & _M
        b ^= _rot(a, 6)
        a = (a + c) & _M
        c = (c - b) & _M
        c ^= _rot(b, 8)
        b = (b + a) & _M
        a = (a - c) & _M
        a ^= _rot(c, 16)
        c = (c + b) & _M
        b = (b - a) & _M
        b ^= _rot(a, 19)
        a = (a + c) & _M
        c = (c - b) & _M
        c ^= _rot(b, 4)
        b = (b + a) & _M
        length -= 12
        i += 12
    if length == 0:
        return c
    tail = data[i:] + bytes(12 - length)
    a = (a + int.from_bytes(tail[0:4], "little")) & _M
    b = (b + int.from_bytes(tail[4:8], "little")) & _M
    c = (c + int.from_bytes(tail[8:12], "little")) & _M
    c ^= b
    c = (c - _rot(b, 14)) & _M
    a ^= c
    a = (a - _rot(c, 11)) & _M
    b ^= a
    b = (b - _rot(a, 25)) & _M
    c ^= b
    c = (c - _rot(b, 16)) & _M
    a ^= c
    a = (a - _rot(c, 4)) & _M
    b ^= a
    b = (b - _rot(a, 14)) & _M
    c ^= b
    c = (c - _rot(b, 24)) & _M
    return c


def patched_superblock(head: bytes, file_size: int) -> bytes | None:
    """The superblock at the start of ``head`` with consistency flags cleared and the
    end-of-file address set to ``file_size`` (an interrupted close can leave it behind
    objects written after it, a full disk ahead of the bytes that reached the disk); None
    if it is not a v2/v3 superblock with a valid checksum, or needs no change."""
    if len(head) < 12 or head[:8] != b"\x89HDF\r\n\x1a\n" or head[8] not in (2, 3):
        return None
    n = head[9]  # size of offsets
    if n not in (2, 4, 8):
        return None
    end = 12 + 4 * n
    if len(head) < end + 4:
        return None
    if lookup3(head[:end]) != int.from_bytes(head[end:end + 4], "little"):
        return None  # a damaged superblock stays damaged
    sb = bytearray(head[:end])
    eof_at = 12 + 2 * n
    eof = int.from_bytes(sb[eof_at:eof_at + n], "little")
    if sb[11] == 0 and eof == file_size:
        return None
    sb[11] = 0
    sb[eof_at:eof_at + n] = file_size.to_bytes(n, "little")
    return bytes(sb) + lookup3(bytes(sb)).to_bytes(4, "little")


class _View(io.RawIOBase):
    """The file's bytes, with ``patch`` laid over its start; read-only."""

    def __init__(self, path: Path, patch: bytes) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._patch = patch

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        pos = self._fh.tell()
        n = self._fh.readinto(buffer)
        if n and pos < len(self._patch):
            k = min(n, len(self._patch) - pos)
            memoryview(buffer)[:k] = self._patch[pos:pos + k]
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def cleared_view(path: str | Path) -> io.RawIOBase | None:
    """A read-only file object of ``path`` as if ``h5clear -s`` had run, or None if its
    superblock cannot (or need not) be patched."""
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(64)
    patch = patched_superblock(head, size)
    return None if patch is None else _View(p, patch)
