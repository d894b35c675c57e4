"""Open a bench described by a bench file: each instrument through the driver its section
names (simulated or real; :mod:`labctl.bench.plugins`). No driver class is named here."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypeVar

from labctl.bench.config import BenchConfig
from labctl.bench.faults import SimFaults
from labctl.bench.interfaces import Bench, Instrument, InstrumentOpenError
from labctl.bench.plugins import OpenContext

T = TypeVar("T")


def _opening(instrument: str, address: str, open_it: Callable[[], T]) -> T:
    """Open one instrument; any failure becomes :class:`InstrumentOpenError` naming the
    instrument, its address (port, device, VISA resource) and the cause."""
    try:
        return open_it()
    except Exception as exc:
        raise InstrumentOpenError(instrument, address, exc) from exc

CLOCKS = ("fast", "paced")


def open_bench(config: BenchConfig, *, clock: str = "fast", seed: int = 0,
               faults: SimFaults | None = None) -> Bench:
    """Open every instrument of ``config`` through the drivers its bench file names
    (:mod:`labctl.bench.plugins`) and return them as a :class:`Bench`.

    Simulated benches: ``clock`` "fast" (bench time advances only as blocks are read, as
    fast as possible) or "paced" (blocks delivered at wall-clock pace); ``seed`` (the run
    seed, 0..2**63-1) fixes the transistor mismatch, and with each task's index
    (``SimDaq.begin_task``) every noise stream of that task; ``faults`` injects
    instrument failures.
    Hardware benches ignore ``clock``/``seed`` and refuse ``faults``. The gate controller
    opens first, then the DAQ, then the SMU; if any fails to open, the ones already open
    are closed (left safe) before the error (naming the instrument and its address)
    propagates. The calling thread owns every instrument.
    """
    if clock not in CLOCKS:
        raise ValueError(f"clock: {clock!r}; allowed {CLOCKS}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed: {seed!r}; allowed an integer 0..2**63-1")
    if faults is not None and config.backend != "sim":
        raise ValueError("faults: fault injection exists only for simulated benches")
    context = OpenContext(config, clock=clock, seed=seed, faults=faults)
    opened: dict[str, Instrument] = {}
    try:
        for role, label in (("gates", "gate controller"), ("daq", "DAQ"), ("smu", "SMU")):
            choice = config.drivers.get(role)
            if choice is None:
                continue
            if getattr(choice.cls, "backend", None) != config.backend:
                # a simulated bench never opens a real instrument, whatever built its config
                raise ValueError(f"{label}: driver {choice.spec} drives a "
                                 f"{getattr(choice.cls, 'backend', '?')!r} instrument; this "
                                 f"bench's backend is {config.backend!r}")
            opened[role] = _opening(label, _address(config, role),
                                    lambda c=choice: c.cls.from_config(context, c.options))
    except BaseException:
        for inst in reversed(list(opened.values())):
            with contextlib.suppress(Exception):  # already failing: keep the original error
                inst.close()
        raise
    return Bench(daq=opened["daq"], gates=opened["gates"], power=opened.get("smu"),
                 backend=config.backend, name=config.name)


def _address(config: BenchConfig, role: str) -> str:
    """Where an instrument is, for messages: port, device or VISA resource."""
    options = config.drivers[role].options
    if role == "daq":
        return config.device
    for key in ("port", "resource", "address"):
        if options.get(key):
            return str(options[key])
    return config.drivers[role].spec
