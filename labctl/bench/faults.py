"""Fault injection for the simulated bench: instrument failures at chosen bench times (s).

Each ``*_at_s`` field is one moment or a sequence of moments (simulated bench time, s since
the bench was opened); ``None`` = never. Transient faults (DAQ overflow and timeout, gate
controller timeout, serial garbage and firmware reset, SMU timeout) fire once per moment,
at the first operation of that instrument at or after it, and then fail ``consecutive``
operations in a row in all (1 = one fault that a single retry cures; more than the
instruments' ``attempts`` = a fault that outlasts the instrument-level recovery).
Disconnects are permanent from their first moment on.

The errors raised are the interface errors the real drivers raise
(:mod:`labctl.bench.interfaces`), so the simulated bench goes through the same recovery
code (:func:`labctl.bench.interfaces.retry_transient`) as the hardware.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from labctl.bench.interfaces import (
    CorruptReplyError,
    DaqOverflowError,
    FirmwareResetError,
    InstrumentDisconnectedError,
    InstrumentTimeoutError,
)

Moments = float | Sequence[float] | None

_PERMANENT = ("daq_disconnect", "gate_disconnect", "smu_disconnect")
#: transient faults of each instrument, checked in this order at each operation
TRANSIENT = {"daq": ("daq_timeout", "daq_overflow"),
             "gate": ("gate_timeout", "gate_garbage", "gate_reset"),
             "smu": ("smu_timeout",)}
#: largest ``consecutive``
MAX_CONSECUTIVE = 100


@dataclass
class SimFaults:
    """When (bench time, s) each simulated instrument fails, and for how many operations.

    ``daq_overflow_lost_s`` is how much acquisition an injected overflow loses (s): the
    bench goes on running for that long while no samples are kept.
    """

    daq_overflow_at_s: Moments = None
    daq_timeout_at_s: Moments = None
    daq_disconnect_at_s: Moments = None
    gate_timeout_at_s: Moments = None
    gate_garbage_at_s: Moments = None
    gate_reset_at_s: Moments = None
    gate_disconnect_at_s: Moments = None
    smu_timeout_at_s: Moments = None
    smu_disconnect_at_s: Moments = None
    consecutive: int = 1
    daq_overflow_lost_s: float = 0.05
    #: per fault: how many of its moments have fired
    fired: dict[str, int] = field(default_factory=dict)
    _left: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name.endswith("_at_s"):
                setattr(self, f.name, _moments(f.name, getattr(self, f.name)))
        c = self.consecutive
        if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= MAX_CONSECUTIVE:
            raise ValueError(f"consecutive: {c!r}; allowed an integer 1..{MAX_CONSECUTIVE}")
        lost = self.daq_overflow_lost_s
        if not (isinstance(lost, int | float) and math.isfinite(lost) and 0 < lost <= 10):
            raise ValueError(f"daq_overflow_lost_s: {lost!r} s; allowed (0, 10] s")

    def __setattr__(self, name: str, value: object) -> None:
        if name.endswith("_at_s"):  # moments changed: which instruments have any is redone
            self.__dict__.pop("_scheduled", None)
        super().__setattr__(name, value)

    def scheduled(self, instrument: str) -> bool:
        """True if any fault of ``instrument`` ("daq", "gate", "smu") has a moment (every
        operation of an instrument without one skips the checks)."""
        scheduled = self.__dict__.get("_scheduled")
        if scheduled is None:
            scheduled = self.__dict__["_scheduled"] = {
                name: any(self.moments(fault) for fault in (f"{name}_disconnect", *faults))
                for name, faults in TRANSIENT.items()}
        return scheduled[instrument]

    def moments(self, name: str) -> tuple[float, ...]:
        """The moments (s) of fault ``name`` (e.g. "gate_timeout"), ascending."""
        return getattr(self, f"{name}_at_s") or ()

    def due(self, name: str, t: float) -> bool:
        """True if fault ``name`` hits the operation at bench time ``t`` (s)."""
        moments = self.moments(name)
        if name in _PERMANENT:
            return bool(moments) and t >= moments[0]
        if self._left.get(name, 0) > 0:
            self._left[name] -= 1
            return True
        k = self.fired.get(name, 0)
        if k < len(moments) and t >= moments[k]:
            # one firing per moment; moments already passed fire one after the other
            self.fired[name] = k + 1
            self._left[name] = self.consecutive - 1
            return True
        return False

    def disconnected(self, instrument: str, t: float) -> bool:
        """True once ``instrument`` ("daq", "gate", "smu") is disconnected."""
        if not self.scheduled(instrument):
            return False
        return self.due(f"{instrument}_disconnect", t)

    def raise_if_due(self, instrument: str, t: float) -> None:
        """Raise the interface error of the first fault of ``instrument`` due at ``t``."""
        if not self.scheduled(instrument):
            return
        if self.disconnected(instrument, t):
            raise InstrumentDisconnectedError(f"simulated {instrument}: disconnected (injected)")
        for name in TRANSIENT[instrument]:
            if self.due(name, t):
                raise _error(name)


def _error(name: str) -> Exception:
    """The error a real instrument gives for fault ``name``."""
    if name == "daq_overflow":
        return DaqOverflowError("simulated DAQ: input buffer overflow, samples lost "
                                "(injected, NI error -200279)")
    if name == "gate_garbage":
        return CorruptReplyError("simulated gate controller: unparseable reply "
                                 "b'\\x8f\\xffOK*7' (injected serial garbage)")
    if name == "gate_reset":
        return FirmwareResetError("simulated gate controller: boot banner seen mid-session "
                                  "(injected firmware reset); settings back to safe")
    instrument = {"daq": "DAQ", "gate": "gate controller", "smu": "SMU"}[name.split("_")[0]]
    return InstrumentTimeoutError(f"simulated {instrument}: no answer (injected)")


def _moments(name: str, value: Moments) -> tuple[float, ...] | None:
    """Validated moments: finite, >= 0 s, sorted."""
    if value is None:
        return None
    items = [value] if isinstance(value, int | float) else list(value)
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                or v < 0:
            raise ValueError(f"{name}: {v!r}; allowed finite bench times >= 0 s")
    return tuple(sorted(float(v) for v in items))
