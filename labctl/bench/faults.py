"""Fault injection for the simulated bench: instrument failures at chosen bench times (s).

Each ``*_at_s`` field is the simulated bench time (seconds since the bench was opened) from
which the fault happens; ``None`` = never. One-shot faults (overflow, timeouts, garbage,
reset) fire once; disconnects are permanent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labctl.bench.interfaces import (
    BenchError,
    DaqOverflowError,
    FirmwareResetError,
    InstrumentDisconnectedError,
    InstrumentTimeoutError,
)

_PERMANENT = ("daq_disconnect", "gate_disconnect", "smu_disconnect")


@dataclass
class SimFaults:
    """When (bench time, s) each simulated instrument fails."""

    daq_overflow_at_s: float | None = None
    daq_timeout_at_s: float | None = None
    daq_disconnect_at_s: float | None = None
    gate_timeout_at_s: float | None = None
    gate_garbage_at_s: float | None = None
    gate_reset_at_s: float | None = None
    gate_disconnect_at_s: float | None = None
    smu_timeout_at_s: float | None = None
    smu_disconnect_at_s: float | None = None
    fired: set[str] = field(default_factory=set)

    def due(self, name: str, t: float) -> bool:
        """True if fault ``name`` (e.g. "gate_timeout") happens at bench time ``t`` (s)."""
        at = getattr(self, f"{name}_at_s")
        if at is None or t < at:
            return False
        if name in _PERMANENT:
            return True
        if name in self.fired:
            return False
        self.fired.add(name)
        return True

    def raise_if_due(self, instrument: str, t: float) -> None:
        """Raise the bench error of the first fault of ``instrument`` due at time ``t``."""
        if self.due(f"{instrument}_disconnect", t):
            raise InstrumentDisconnectedError(f"simulated {instrument}: disconnected (injected)")
        if self.due(f"{instrument}_timeout", t):
            raise InstrumentTimeoutError(f"simulated {instrument}: no answer (injected)")
        if instrument == "gate" and self.due("gate_garbage", t):
            raise BenchError("simulated gate controller: unparseable reply b'\\x8f\\xffOK*7' "
                             "(injected serial garbage)")
        if instrument == "gate" and self.due("gate_reset", t):
            raise FirmwareResetError("simulated gate controller: boot banner seen mid-session "
                                     "(injected firmware reset); settings back to safe")
        if instrument == "daq" and self.due("daq_overflow", t):
            raise DaqOverflowError("simulated DAQ: input buffer overflow, samples lost "
                                   "(injected, NI error -200279)")
