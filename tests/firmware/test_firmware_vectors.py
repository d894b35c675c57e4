"""The shared command/reply vectors against the host build and the AVR build under simavr,
over the pseudo-terminal, with the driver's line transport."""

from __future__ import annotations

import pytest
from fw_boards import Board, Vector, is_banner_piece, sync
from labctl.drivers.serial_transport import SerialLineTransport, unframe

from labctl.bench.interfaces import InstrumentTimeoutError


def test_firmware_vectors_one_reply_each(board: Board, vectors: list[Vector]) -> None:
    """Every vector gets exactly the expected reply line, in order, and nothing more."""
    link = SerialLineTransport(board.port, timeout=2.0)
    try:
        skipped = sync(link)
        assert all(is_banner_piece(line) for line in skipped), skipped
        failures = []
        for vec in vectors:
            if vec.raw is not None:
                link.write_raw(vec.raw + b"\n")
            else:
                link.send(vec.request)
            reply = unframe(link.read_line())
            if not vec.matches(reply):
                failures.append(f"line {vec.lineno}: {vec.request!r} -> {reply!r}, "
                                f"want {vec.expect!r}")
        assert not failures, "\n".join(failures)
        with pytest.raises(InstrumentTimeoutError):
            link.read_line(timeout=0.2)  # no extra reply line anywhere
    finally:
        link.close()


def test_firmware_overlong_line_and_garbage(board: Board) -> None:
    """Overlong lines and binary garbage are refused with one error each; parsing resumes."""
    link = SerialLineTransport(board.port, timeout=2.0)
    try:
        sync(link)
        link.write_raw(b"X" * 500 + b"\n")
        assert unframe(link.read_line()) == "ERR 2 line too long"
        link.write_raw(bytes(range(256)) + b"\n")  # contains '\n' itself: two lines
        replies = {unframe(link.read_line()), unframe(link.read_line())}
        assert replies <= {"ERR 8 bad byte", "ERR 1 bad checksum"}
        link.send("PING zz9")
        assert unframe(link.read_line()) == "PONG zz9"
    finally:
        link.close()


def test_banner_piece_accepts_only_the_boot_line_and_its_tails() -> None:
    """The sync check tolerates a banner cut by the port's input flush, and nothing else."""
    assert is_banner_piece("!BOOT LABCTL,GATEFW,32CH,1.1.0")
    assert is_banner_piece("*13\n")  # the tail seen once under load
    assert is_banner_piece("BOOT LABCTL,GATEFW,32CH,1.1.0")  # first byte lost (simavr)
    assert not is_banner_piece("")
    assert not is_banner_piece("ERR 1 bad checksum")
    assert not is_banner_piece("!BOOT LABCTL,GATEFW,32CH,1.0.9")
