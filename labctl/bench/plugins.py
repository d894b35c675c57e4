"""Instrument drivers as plug-ins: a bench file's instrument section names its driver.

Each instrument section of a bench file (``[daq]``, ``[serial]`` for the gate controller,
``[smu]``) may name the class that drives it::

    [smu]
    driver = "labctl.drivers.smu_keysight:KeysightB2900"   # "package.module:Class"
    resource = "USB0::0x0957::0x8B18::MY51140001::INSTR"

or the name of an entry point in the group :data:`ENTRY_POINT_GROUP` (``labctl.drivers``)
that a separately installed package declares. Without ``driver`` the backend's default is
used (:data:`DEFAULT_DRIVERS`). A driver class

* implements its role's interface (:class:`~labctl.bench.interfaces.Daq`,
  :class:`~labctl.bench.interfaces.GateController`,
  :class:`~labctl.bench.interfaces.PowerMeter`) and says its ``backend`` ("sim" or
  "hardware");
* declares the keys of its section once, as :class:`labctl.fieldspec.Field` s in
  ``config_fields`` (names relative to the section; the loader checks types, ranges and
  unknown keys against them and passes the values as ``options``);
* may check vendor syntax in ``check_config(options, wiring)`` (NI channel names live with
  the NI driver; ``wiring`` has the bench's ``network``, ``device``, ``ai_channels``,
  ``ao_channels`` and ``limits``, the last None if refused), returning (key, problem)
  pairs;
* opens itself with ``from_config(context, options)`` (:class:`OpenContext`).

Nothing else in labctl names a driver class: adding an instrument family touches its
driver module only (and its tests).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from labctl.bench.interfaces import Daq, GateController, Instrument, PowerMeter
from labctl.fieldspec import REQUIRED, Field, check, show

#: entry-point group where installed packages declare drivers (name -> "module:Class")
ENTRY_POINT_GROUP = "labctl.drivers"
#: role -> (bench-file section, interface every driver of the role implements)
ROLES: dict[str, tuple[str, type[Instrument]]] = {
    "daq": ("daq", Daq), "gates": ("serial", GateController), "smu": ("smu", PowerMeter)}
#: (backend, role) -> driver used when a section names none
DEFAULT_DRIVERS = {
    ("sim", "daq"): "labctl.bench.simulated:SimDaq",
    ("sim", "gates"): "labctl.bench.simulated:SimGateController",
    ("sim", "smu"): "labctl.bench.simulated:SimPowerMeter",
    ("hardware", "daq"): "labctl.drivers.nidaq:NidaqDaq",
    ("hardware", "gates"): "labctl.drivers.serial_gates:SerialGateController",
    ("hardware", "smu"): "labctl.drivers.smu:Keithley2450",
}
#: section keys the core reads itself (never passed to a driver)
CORE_KEYS = {"daq": frozenset({"driver", "device", "sample_rate", "block_duration",
                               "ai_range", "terminal_config", "ao_range", "ai", "ao"}),
             "gates": frozenset({"driver"}), "smu": frozenset({"driver", "line"})}

#: keys of a gate-controller section on a serial line (the firmware driver and the
#: simulated controller, which takes the same file layout)
SERIAL_FIELDS = (
    Field("port", "string", "gate controller's serial port", max_length=256),
    Field("baudrate", "integer", "serial baud rate (one of the bridge's rates: 9600, 19200, "
          "38400, 57600, 115200, 230400, 250000, 500000, 1000000)", default=115200,
          ge=9600, le=1000000),
    Field("timeout", "number", "serial read timeout", unit="s", default=0.5, ge=0.01,
          le=10.0),
)
#: keys of an SMU section reached through VISA (every SCPI SMU family and the simulated
#: SMU, which takes the same file layout)
SMU_FIELDS = (
    Field("resource", "string", 'VISA resource string ("" = no SMU)', max_length=256),
    Field("compliance", "number", "current compliance set at start-up", unit="A",
          default=0.01, ge=1e-9, le=1.05),
    Field("timeout", "number", "VISA I/O timeout", unit="s", default=2.0, ge=0.01, le=60.0),
    Field("visa_library", "string", 'VISA backend ("" = system default, "file.yaml@sim" = '
          "pyvisa-sim)", default="", max_length=512),
)

#: longest driver name a bench file may give
MAX_SPEC_LENGTH = 200
_SPEC_RE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


class DriverError(ValueError):
    """A driver named in a bench file cannot be used (the message says why)."""


@dataclass(frozen=True)
class DriverChoice:
    """The driver of one instrument role: its spec as written, the class, its checked
    section ``options`` (declared fields, defaults filled in)."""

    role: str
    spec: str
    cls: type[Instrument]
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class OpenContext:
    """What a driver's ``from_config`` gets: the bench file (``config``), and for
    simulated instruments the clock ("fast"/"paced"), the run seed and injected faults;
    :meth:`sim_core` is the one physical twin the simulated instruments share."""

    config: Any
    clock: str = "fast"
    seed: int = 0
    faults: Any = None
    _core: Any = None

    def sim_core(self) -> Any:
        """The bench's :class:`labctl.bench.simulated.SimCore` (created on first use)."""
        if self._core is None:
            from labctl.bench.simulated import SimCore

            self._core = SimCore(self.config, seed=self.seed, faults=self.faults)
        return self._core


def resolve(spec: str) -> type[Instrument]:
    """The class named by ``spec`` ("package.module:Class" or an entry-point name of
    :data:`ENTRY_POINT_GROUP`); :class:`DriverError` if it cannot be imported."""
    if not isinstance(spec, str) or not spec or len(spec) > MAX_SPEC_LENGTH:
        raise DriverError(f"{show(spec)}; allowed \"package.module:Class\" or an entry point "
                          f"of the group {ENTRY_POINT_GROUP!r} (at most {MAX_SPEC_LENGTH} "
                          "characters)")
    target = spec
    if ":" not in spec:
        from importlib import metadata  # only here: importing it slows every labctl start

        found = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
                 if ep.name == spec]
        if not found:
            raise DriverError(f"{spec!r}: no entry point of that name in the group "
                              f"{ENTRY_POINT_GROUP!r}; allowed \"package.module:Class\" or "
                              "an installed entry point")
        target = found[0].value
    if not _SPEC_RE.fullmatch(target):
        raise DriverError(f"{target!r}; allowed \"package.module:Class\"")
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an import failure is a bad bench file, named
        raise DriverError(f"{target!r}: cannot import {module_name!r} "
                          f"({type(exc).__name__}: {exc})") from None
    cls = getattr(module, cls_name, None)
    if not isinstance(cls, type):
        raise DriverError(f"{target!r}: module {module_name!r} has no class {cls_name!r}")
    return cls


def choose(role: str, backend: str, section: Mapping[str, Any], prefix: str,
           ) -> tuple[DriverChoice | None, list[tuple[str, str]]]:
    """Resolve and check the driver of ``role`` from its bench-file ``section`` (keys the
    core reads excluded); returns the choice and (key, problem) pairs (all of them)."""
    spec = section.get("driver", DEFAULT_DRIVERS[(backend, role)])
    try:
        cls = resolve(spec)
    except DriverError as exc:
        return None, [(f"{prefix}.driver", str(exc))]
    interface = ROLES[role][1]
    if not issubclass(cls, interface):
        return None, [(f"{prefix}.driver", f"{spec!r} is not a {interface.__name__} driver; "
                                           f"allowed a subclass of {interface.__module__}."
                                           f"{interface.__name__}")]
    if getattr(cls, "backend", None) != backend:
        return None, [(f"{prefix}.driver", f"{spec!r} drives a {cls.backend!r} instrument; "
                                           f"this bench's backend is {backend!r}")]
    if getattr(cls, "from_config", None) is None or getattr(cls, "config_role", "") != role:
        return None, [(f"{prefix}.driver", f"{spec!r} declares no bench-file use for the "
                                           f"{role} role (config_role, from_config)")]
    problems: list[tuple[str, str]] = []
    options: dict[str, Any] = {}
    declared = {f.path: f for f in cls.config_fields}
    for name, f in declared.items():
        if name not in section:
            if f.default is REQUIRED:
                problems.append((f"{prefix}.{name}", f"missing; required for {spec} "
                                                     f"({f.help}, {f.kind})"))
            else:
                options[name] = f.default
            continue
        value, problem = check(f, section[name])
        if problem is not None:
            problems.append((f"{prefix}.{name}", problem))
        else:
            options[name] = value
    core = CORE_KEYS[role]
    for name in section:
        if name not in declared and name not in core:
            allowed = ", ".join(sorted(set(declared) | core))
            problems.append((f"{prefix}.{name}", f"unknown key for {spec}; allowed keys "
                                                 f"here: {allowed}"))
    return DriverChoice(role, spec, cls, options), problems


def check_choice(choice: DriverChoice, config: Any) -> list[tuple[str, str]]:
    """The driver's own checks of the whole bench (vendor syntax), as (key, problem)."""
    checker = getattr(choice.cls, "check_config", None)
    if checker is None:
        return []
    try:
        return [(str(key), str(msg)) for key, msg in checker(choice.options, config)]
    except Exception as exc:  # a driver's own bug must still be a named bench-file error
        section = ROLES[choice.role][0]
        return [(f"{section}.driver", f"{choice.spec}: its check_config failed "
                                      f"({type(exc).__name__}: {str(exc)[:200]})")]
