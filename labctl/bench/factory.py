"""Open a bench described by a bench file: the simulated one or the real instruments."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypeVar

from labctl.bench.config import BenchConfig
from labctl.bench.faults import SimFaults
from labctl.bench.interfaces import Bench, InstrumentOpenError

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
    """Open every instrument of ``config`` and return them as a :class:`Bench`.

    Simulated benches: ``clock`` "fast" (bench time advances only as blocks are read, as
    fast as possible) or "paced" (blocks delivered at wall-clock pace); ``seed`` (the run
    seed, 0..2**63-1) fixes the transistor mismatch, and with each task's index
    (``SimDaq.begin_task``) every noise stream of that task; ``faults`` injects
    instrument failures.
    Hardware benches ignore ``clock``/``seed`` and refuse ``faults``. If any instrument
    fails to open, the ones already open are closed (left safe) before the error propagates.
    """
    if clock not in CLOCKS:
        raise ValueError(f"clock: {clock!r}; allowed {CLOCKS}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed: {seed!r}; allowed an integer 0..2**63-1")
    if config.backend == "sim":
        from labctl.bench.simulated import SimCore, SimDaq, SimGateController, SimPowerMeter

        core = SimCore(config, seed=seed, faults=faults)
        power = (_opening("SMU", config.visa_resource, lambda: SimPowerMeter(core))
                 if config.visa_resource else None)
        return Bench(daq=SimDaq(core, clock), gates=SimGateController(core), power=power,
                     backend="sim", name=config.name)
    if faults is not None:
        raise ValueError("faults: fault injection exists only for simulated benches")
    return _open_hardware(config)


def _open_hardware(config: BenchConfig) -> Bench:
    from labctl.drivers.nidaq import NidaqDaq
    from labctl.drivers.serial_gates import SerialGateController
    from labctl.drivers.smu import open_smu

    opened: list = []
    try:
        lim = config.limits
        gates = _opening("gate controller", config.serial_port, lambda: SerialGateController(
            config.serial_port, baudrate=config.serial_baudrate, timeout=config.serial_timeout,
            n_edges=config.network.n_edges, gate_range=(lim.gate_min, lim.gate_max)))
        opened.append(gates)
        daq = _opening("DAQ", config.device, lambda: NidaqDaq(config))
        opened.append(daq)
        power = None
        if config.visa_resource:
            power = _opening("SMU", config.visa_resource, lambda: open_smu(
                config.visa_resource, voltage_max=lim.source_voltage_max,
                compliance=config.smu_compliance, timeout=config.smu_timeout))
    except BaseException:
        for inst in reversed(opened):
            with contextlib.suppress(Exception):  # already failing: keep the original error
                inst.close()
        raise
    return Bench(daq=daq, gates=gates, power=power, backend="hardware", name=config.name)
