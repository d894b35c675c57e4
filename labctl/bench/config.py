"""Bench files (shipped ones: ``labctl/resources/benches/*.toml``): one file describes one
bench and its wiring.

A bench file is read (bounded: :mod:`labctl.tomlread`) and fully validated by
:func:`load_bench` before any instrument is opened. A refusal raises
:class:`BenchFileError` whose message names the file, the key (as a dotted path, e.g.
``daq.ai.free.3``) and what is allowed: one line per table with a problem (the first
problem of each table; tables that depend on a refused one are not checked). Scalar keys
are declared once in :data:`BENCH_FIELDS`.

Layout (all voltages in volts, rates in samples per second; see
``labctl/resources/benches/sim.toml`` for a commented example)::

    name, backend ("sim" | "hardware")
    [network]      kind = "periodic_lattice", rows, cols
    [daq]          device, sample_rate, block_duration, ai_range, terminal_config, ao_range
    [daq.ai.free]  <node> = "ai<k>"  or  { channel = "ai<k>", range = [lo, hi], terminal = "DIFF" }
    [daq.ai.clamped]  same, for the clamped copy
    [[daq.ao]]     name, channel = "ao<k>", role = "source" | "target", nodes = [..] | "all"
    [serial]       driver, then the driver's keys (the firmware driver: port, baudrate,
                   timeout)
    [smu]          driver, line (the source line the SMU sits on; default the last source
                   line), then the driver's keys (SCPI SMUs: resource, compliance (A),
                   timeout, visa_library)
    [limits]       source_voltage_max, target_voltage_max, node_voltage_max, gate_min, gate_max
    [calibration]  S (A/V², scalar or one per edge), V_T (V, scalar or one per edge)
    [sim]          noise_v, gate_noise_v, clock, mismatch

Physical channel names are stored without the device prefix in the file and with it in
:class:`AiChannel` / :class:`AoChannel` (``"Dev1/ai0"``); their vendor syntax (NI's
``ai<k>``) is checked by the DAQ's driver.

Drivers are plug-ins (:mod:`labctl.bench.plugins`): ``driver`` in an instrument section
names the class ("package.module:Class" or an entry point of ``labctl.drivers``; default:
the backend's own), which declares the rest of its section's keys and checks its vendor
syntax; an unknown driver, an import failure or a driver's field error is a bench-file
error like any other, reported with the others before anything opens.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from labctl.bench import plugins
from labctl.bench.interfaces import OutputLine
from labctl.fieldspec import REQUIRED, Field, Ref, check
from labctl.network import Network, periodic_lattice
from labctl.paths import bench_file
from labctl.tomlread import MAX_FILE_BYTES, TomlFileError, display, parse, read_toml

#: the simulated bench shipped as the default (a package resource: labctl.paths)
DEFAULT_BENCH_FILE = bench_file("sim")

#: analog-input/-output voltages an NI multifunction board accepts at all (V)
DAQ_HARDWARE_RANGE = (-10.0, 10.0)
#: gate voltages the gate-controller firmware accepts (V); the supply rail is +8 V
GATE_HARDWARE_RANGE = (1.0, 5.5)
#: sample rates (S/s per channel) a multiplexed board supports for 32 channels
SAMPLE_RATE_RANGE = (1.0, 30_000.0)
COPIES = ("free", "clamped")
ROLES = ("source", "target")
BACKENDS = ("sim", "hardware")
CLOCKS = ("fast", "paced")
#: PHYSICS.md §5 defaults: transconductance S (A/V²) and threshold V_T (V)
DEFAULT_S = 8.5e-4
DEFAULT_V_T = 0.62
#: characters of a bench name (it is recorded in run files and shown in the GUI)
NAME_CHARS = "A-Za-z0-9_.-"

#: every scalar key of a bench file, declared once (type, default, range, unit, meaning);
#: the loader checks against these and docs/PROTOCOLS.md shows them (generated tables)
BENCH_FIELDS = (
    Field("name", "string", "bench name", max_length=64, chars=NAME_CHARS),
    Field("backend", "string", "simulated or real instruments", choices=BACKENDS),
    Field("network.kind", "string", "network layout", choices=("periodic_lattice",)),
    Field("network.rows", "integer", "lattice rows", ge=3, le=64),
    Field("network.cols", "integer", "lattice columns", ge=3, le=64),
    Field("daq.driver", "string", "DAQ driver: \"package.module:Class\" or an entry point of "
          "labctl.drivers", default="the backend's", max_length=200),
    Field("daq.device", "string", 'device name such as "Dev1" (the driver checks its '
          "syntax)", max_length=32, chars="A-Za-z0-9_"),
    Field("daq.sample_rate", "number", "AI samples per second and channel (32 channels "
          "multiplexed)", unit="S/s", ge=SAMPLE_RATE_RANGE[0], le=SAMPLE_RATE_RANGE[1]),
    Field("daq.block_duration", "number", "one delivered block of samples (at least one "
          "sample: ≥ 1 / sample_rate)", unit="s", default=0.1, ge=0.01, le=1.0),
    Field("daq.terminal_config", "string", "AI terminal configuration; its name is the DAQ "
          "driver's to check (NI: DEFAULT, RSE, NRSE, DIFF, PSEUDO_DIFF; the simulated DAQ has "
          "no terminals and only records it)", default="RSE", max_length=32,
          chars="A-Za-z0-9_"),
    Field("serial.driver", "string", "gate-controller driver (its keys follow: those of "
          "the shipped drivers below)", default="the backend's", max_length=200),
    *(dataclasses.replace(f, path=f"serial.{f.path}") for f in plugins.SERIAL_FIELDS),
    Field("smu.driver", "string", "SMU driver (its keys follow: those of the shipped "
          "drivers below)", default="the backend's", max_length=200),
    Field("smu.line", "string", "source line the SMU supplies", default="the last source line",
          max_length=64),
    *(dataclasses.replace(f, path=f"smu.{f.path}") for f in plugins.SMU_FIELDS),
    Field("limits.source_voltage_max", "number", "largest source voltage", unit="V",
          gt=0.0, le=Ref("ao_source_hi", "the source lines' AO range")),
    Field("limits.target_voltage_max", "number", "largest target set-point", unit="V",
          gt=0.0, le=Ref("ao_target_hi", "the target lines' AO range")),
    Field("limits.node_voltage_max", "number", "largest node voltage", unit="V", gt=0.0,
          le=Ref("ai_hi", "the AI input range")),
    Field("limits.gate_min", "number", "lowest gate voltage", unit="V",
          ge=GATE_HARDWARE_RANGE[0], le=GATE_HARDWARE_RANGE[1]),
    Field("limits.gate_max", "number", "highest gate voltage (> gate_min)", unit="V",
          ge=GATE_HARDWARE_RANGE[0], le=GATE_HARDWARE_RANGE[1]),
    Field("calibration.S", "number", "transconductance, scalar or one per edge",
          unit="A/V²", default=DEFAULT_S, ge=1e-6, le=1e-1),
    Field("calibration.V_T", "number", "threshold voltage, scalar or one per edge",
          unit="V", default=DEFAULT_V_T, ge=0.0, le=3.0),
    Field("sim.noise_v", "number", "AI noise (rms)", unit="V", default=7e-4, ge=0.0,
          le=0.1),
    Field("sim.gate_noise_v", "number", "gate read-back noise (rms)", unit="V",
          default=8e-4, ge=0.0, le=0.1),
    Field("sim.clock", "string", "default clock of the simulated bench", default="paced",
          choices=CLOCKS),
    Field("sim.mismatch", "number", "relative std of S between transistors", default=0.02,
          ge=0.0, le=0.5),
)
_BENCH_FIELD = {f.path: f for f in BENCH_FIELDS}


class BenchFileError(ValueError):
    """A bench file is malformed; the message names the file, the key and what is allowed."""


@dataclass(frozen=True)
class AiChannel:
    """One analog-input channel: the voltage (V) of ``node`` in network copy ``copy``.

    ``physical`` is the NI-DAQmx physical channel (``"Dev1/ai3"``), ``range`` the input
    range (V_min, V_max) in volts, ``terminal`` the terminal configuration name.
    """

    copy: str
    node: int
    physical: str
    range: tuple[float, float]
    terminal: str

    @property
    def name(self) -> str:
        """Channel name as used in every :class:`SampleBlock`: ``"free:3"``."""
        return f"{self.copy}:{self.node}"


@dataclass(frozen=True)
class AoChannel:
    """One analog-output line: NI physical channel ``physical`` driving ``line``.

    ``range`` is the output range (V_min, V_max) in volts programmed into the DAQ.
    """

    line: OutputLine
    physical: str
    range: tuple[float, float]


@dataclass(frozen=True)
class Limits:
    """Safe limits of a bench, in volts. Commands outside them are refused."""

    source_voltage_max: float
    target_voltage_max: float
    node_voltage_max: float
    gate_min: float
    gate_max: float


@dataclass(frozen=True, eq=False)
class Calibration:
    """Per-edge gate-voltage → conductance law: g = S (V_G − V_T − V̄) for V_G − V_T > V̄.

    ``S`` (A/V²) and ``V_T`` (V) are arrays of shape (n_edges,).
    """

    S: np.ndarray
    V_T: np.ndarray

    def conductance(self, gate_voltage: np.ndarray, mean_node_voltage: float = 0.0) -> np.ndarray:
        """Small-signal conductance (S) of every edge at gate voltages ``gate_voltage`` (V)."""
        overdrive = np.asarray(gate_voltage, dtype=float) - self.V_T - mean_node_voltage
        return self.S * np.clip(overdrive, 0.0, None)


@dataclass(frozen=True)
class SimSettings:
    """Simulated-bench settings: AI noise (V rms), gate read-out noise (V rms), default
    clock ("fast" or "paced") and transistor mismatch (relative std of K)."""

    noise_v: float = 7e-4
    gate_noise_v: float = 8e-4
    clock: str = "paced"
    mismatch: float = 0.02


@dataclass(frozen=True, eq=False)
class BenchConfig:
    """A validated bench file. ``text`` is the full file text, stored in every run file."""

    path: Path
    text: str
    name: str
    backend: str
    network: Network
    device: str
    ai_channels: tuple[AiChannel, ...]
    ao_channels: tuple[AoChannel, ...]
    sample_rate: float
    block_duration: float
    #: the source line the SMU supplies (wiring; the SMU's own keys are its driver's)
    smu_line: str
    limits: Limits
    calibration: Calibration
    sim: SimSettings = field(default_factory=SimSettings)
    #: role ("daq", "gates", "smu") -> the driver named (or defaulted) and its options
    drivers: dict[str, plugins.DriverChoice] = field(default_factory=dict)

    @property
    def visa_resource(self) -> str | None:
        """Where the SMU is (its driver's ``resource``), None without an SMU."""
        if "smu" not in self.drivers:
            return None
        return str(self.drivers["smu"].options.get("resource", "")) or "(no address)"

    @property
    def output_lines(self) -> tuple[OutputLine, ...]:
        """The analog-output lines (name, role, reachable nodes)."""
        return tuple(ao.line for ao in self.ao_channels)

    @property
    def channel_names(self) -> tuple[str, ...]:
        """AI channel names in column order: ``free:0 .. free:N-1, clamped:0 ..``."""
        return tuple(ch.name for ch in self.ai_channels)

    @property
    def eta_max(self) -> float:
        """Largest nudge amplitude η the clamp-gain potentiometer sets (128/129)."""
        from labctl.bench.gate_encoding import ETA_DIVISOR, POT_MAX

        return POT_MAX / ETA_DIVISOR

    @property
    def lambda_max(self) -> float:
        """Largest λ the gate controller's gain stage can set (labctl firmware boards and
        the simulated bench share it: :data:`labctl.bench.gate_encoding.LAMBDA_MAX`)."""
        from labctl.bench.gate_encoding import LAMBDA_MAX

        return LAMBDA_MAX

    @property
    def typical_node_voltage(self) -> float:
        """Mean node voltage V̄ (V) at which a uniform conductance κ is set: half the
        source range, the middle of the node voltages a task produces."""
        return 0.5 * self.limits.source_voltage_max

    def gates_for_conductance(self, kappa: float) -> np.ndarray:
        """Per-edge gate voltages (V) giving every edge the small-signal conductance κ (S)
        at the typical node voltage, through each edge's own calibration (S, V_T)."""
        return self.calibration.V_T + self.typical_node_voltage + kappa / self.calibration.S

    def conductance_range(self) -> tuple[float, float]:
        """Uniform conductances κ (S) every edge reaches within the gate range."""
        lim = self.limits
        v = self.typical_node_voltage
        lo = float(np.max(self.calibration.conductance(np.array(lim.gate_min), v)))
        hi = float(np.min(self.calibration.conductance(np.array(lim.gate_max), v)))
        return lo, hi

    @property
    def block_size(self) -> int:
        """Samples per channel in one block (block_duration × sample_rate)."""
        return max(1, round(self.block_duration * self.sample_rate))


class _Section:
    """Typed access to one TOML table that remembers its dotted key path and the file."""

    def __init__(self, file: Path, data: dict[str, Any], prefix: str) -> None:
        self.file = file
        self.data = data
        self.prefix = prefix
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, message: str) -> BenchFileError:
        key = self.key(name)
        if len(key) > 120:  # a hostile key must not flood the message
            key = f"{key[:120]}...({len(key)} characters)"
        return BenchFileError(f"{self.file}: {key}: {message}")

    def missing(self, name: str, allowed: str) -> BenchFileError:
        """A required key is absent; names a misspelt key of the table if there is one."""
        near = [k for k in difflib.get_close_matches(name, [str(k) for k in self.data], n=1,
                                                     cutoff=0.6) if k not in self.used]
        hint = (f"; unknown key {self.key(near[0])!r} here (did you mean {name!r}?)"
                if near else "")
        return self.fail(name, f"missing; required ({allowed}){hint}")

    def get(self, name: str, default: Any = ..., *, allowed: str = "a value") -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                raise self.missing(name, allowed)
            return default
        return self.data[name]

    def field(self, name: str, context: dict[str, float] | None = None,
              default: Any = REQUIRED) -> Any:
        """The value of declared field ``<prefix>.<name>`` (see :data:`BENCH_FIELDS`)."""
        f = _BENCH_FIELD[self.key(name)]
        dflt = f.default if default is REQUIRED else default
        self.used.add(name)
        if name not in self.data:
            if dflt is REQUIRED:
                raise self.missing(name, f"{f.help}, {f.kind}"
                                         f"{', ' + f.unit if f.unit else ''}")
            return dflt
        value, problem = check(f, self.data[name], context)
        if problem is not None:
            raise self.fail(name, problem)
        return value

    def string(self, name: str, default: Any = ..., choices: tuple[str, ...] = ()) -> str:
        allowed = "one of " + ", ".join(repr(c) for c in choices) if choices else "a string"
        value = self.get(name, default, allowed=allowed)
        if not isinstance(value, str):
            raise self.fail(name, f"wrong type {type(value).__name__}; allowed {allowed}")
        if choices and value not in choices:
            raise self.fail(name, f"{value!r} not allowed; allowed {allowed}")
        return value

    def number(self, name: str, default: Any = ..., *, lo: float = -math.inf,
               hi: float = math.inf, lo_open: bool = False, unit: str = "") -> float:
        lo_br = "(" if lo_open else "["
        allowed = f"a number in {lo_br}{lo:g}, {hi:g}]{' ' + unit if unit else ''}"
        value = self.get(name, default, allowed=allowed)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(name, f"wrong type {type(value).__name__}; allowed {allowed}")
        value = float(value)
        if not math.isfinite(value) or value < lo or value > hi or (lo_open and value == lo):
            raise self.fail(name, f"{value:g} outside the hardware's range; allowed {allowed}")
        return value

    def integer(self, name: str, default: Any = ..., *, lo: int, hi: int) -> int:
        allowed = f"an integer in [{lo}, {hi}]"
        value = self.get(name, default, allowed=allowed)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"wrong type {type(value).__name__}; allowed {allowed}")
        if not lo <= value <= hi:
            raise self.fail(name, f"{value} out of range; allowed {allowed}")
        return value

    def table(self, name: str, required: bool = True) -> _Section:
        value = self.get(name, ... if required else {}, allowed="a table")
        if not isinstance(value, dict):
            raise self.fail(name, f"wrong type {type(value).__name__}; allowed a table")
        return _Section(self.file, value, self.key(name))

    def voltage_range(self, name: str, default: Any,
                      hw: tuple[float, float]) -> tuple[float, float]:
        allowed = f"[V_min, V_max] with {hw[0]:g} <= V_min < V_max <= {hw[1]:g} V"
        value = self.get(name, default, allowed=allowed)
        if (not isinstance(value, list | tuple) or len(value) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
            raise self.fail(name, f"wrong type or length {value!r}; allowed {allowed}")
        lo, hi = float(value[0]), float(value[1])
        if not hw[0] <= lo < hi <= hw[1]:
            raise self.fail(name, f"[{lo:g}, {hi:g}] outside the hardware's range; "
                                  f"allowed {allowed}")
        return lo, hi

    def check_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            near = difflib.get_close_matches(unknown[0], sorted(self.used), n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            more = f" (and {len(unknown) - 1} more unknown keys)" if len(unknown) > 1 else ""
            raise self.fail(unknown[0], f"unknown key{hint}{more}; allowed keys here: {known}")


def _network(sec: _Section) -> Network:
    kind = sec.field("kind")
    rows = sec.field("rows")
    cols = sec.field("cols")
    sec.check_unknown()
    assert kind == "periodic_lattice"
    return periodic_lattice(rows, cols)


#: a physical channel name in a bench file (its vendor syntax is the driver's to check)
_CHANNEL_RE = re.compile(r"[A-Za-z0-9_]{1,32}")
#: a terminal configuration name (its vocabulary is the DAQ driver's to check)
_TERMINAL_RE = _CHANNEL_RE


def _ai_copy(sec: _Section, copy: str, net: Network, device: str,
             default_range: tuple[float, float], default_terminal: str,
             used_channels: dict[str, str]) -> list[AiChannel]:
    allowed_nodes = f"node numbers 0..{net.n_nodes - 1}"
    chans: dict[int, AiChannel] = {}
    for key, value in sec.data.items():
        if not re.fullmatch(r"\d+", key):
            raise sec.fail(key, f"not a node number; allowed {allowed_nodes}")
        node = int(key)
        if node >= net.n_nodes:
            raise sec.fail(key, f"node {node} outside the network; allowed {allowed_nodes}")
        if isinstance(value, str):
            entry = _Section(sec.file, {"channel": value}, sec.key(key))
        elif isinstance(value, dict):
            entry = _Section(sec.file, value, sec.key(key))
        else:
            raise sec.fail(key, f"wrong type {type(value).__name__}; allowed \"ai<k>\" or a "
                                "table {channel, range, terminal}")
        channel = entry.string("channel")
        if not _CHANNEL_RE.fullmatch(channel):
            raise entry.fail("channel", f"{channel!r} is not a channel name; allowed letters, "
                                        "digits and _ (the driver checks its syntax)")
        if channel in used_channels:
            other = used_channels[channel]
            raise entry.fail("channel", f"{channel!r} used twice (also by {other}); "
                                        "allowed: each channel wired to one node")
        used_channels[channel] = sec.key(key)
        rng = entry.voltage_range("range", list(default_range), DAQ_HARDWARE_RANGE)
        terminal = entry.string("terminal", default_terminal)
        if not _TERMINAL_RE.fullmatch(terminal):
            raise entry.fail("terminal", f"{terminal!r} is not a terminal configuration name; "
                                         "allowed letters, digits and _ (the driver checks it)")
        entry.check_unknown()
        chans[node] = AiChannel(copy, node, f"{device}/{channel}", rng, terminal)
    missing = [n for n in range(net.n_nodes) if n not in chans]
    if missing:
        raise sec.fail(str(missing[0]), f"missing channel for node {missing[0]} of the {copy} copy;"
                                        f" required: one channel per node 0..{net.n_nodes - 1}")
    return [chans[n] for n in range(net.n_nodes)]


def _ao_lines(daq: _Section, net: Network, device: str,
              default_range: tuple[float, float]) -> list[AoChannel]:
    raw = daq.get("ao", allowed="an array of tables [[daq.ao]]")
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        raise daq.fail("ao", "wrong type; allowed a non-empty array of tables [[daq.ao]]")
    out: list[AoChannel] = []
    names: set[str] = set()
    used: dict[str, str] = {}
    for i, table in enumerate(raw):
        sec = _Section(daq.file, table, f"daq.ao[{i}]")
        name = sec.string("name")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in names:
            raise sec.fail("name", f"{name!r} invalid or used twice; allowed a unique identifier")
        names.add(name)
        channel = sec.string("channel")
        if not _CHANNEL_RE.fullmatch(channel):
            raise sec.fail("channel", f"{channel!r} is not a channel name; allowed letters, "
                                      "digits and _ (the driver checks its syntax)")
        if channel in used:
            raise sec.fail("channel", f"{channel!r} used twice (also by {used[channel]}); "
                                      "allowed: each channel drives one line")
        used[channel] = sec.key("channel")
        role = sec.string("role", choices=ROLES)
        nodes_raw = sec.get("nodes", allowed=f'"all" or a list of nodes 0..{net.n_nodes - 1}')
        if nodes_raw == "all":
            nodes = tuple(range(net.n_nodes))
        elif (isinstance(nodes_raw, list) and nodes_raw
              and all(isinstance(n, int) and not isinstance(n, bool) for n in nodes_raw)):
            bad = [n for n in nodes_raw if not 0 <= n < net.n_nodes]
            if bad:
                raise sec.fail("nodes", f"node {bad[0]} outside the network; allowed nodes "
                                        f"0..{net.n_nodes - 1}")
            nodes = tuple(dict.fromkeys(nodes_raw))
        else:
            raise sec.fail("nodes", f"wrong type {nodes_raw!r}; allowed \"all\" or a non-empty "
                                    f"list of nodes 0..{net.n_nodes - 1}")
        rng = sec.voltage_range("range", list(default_range), DAQ_HARDWARE_RANGE)
        sec.check_unknown()
        out.append(AoChannel(OutputLine(name, role, nodes), f"{device}/{channel}", rng))
    return out


def _per_edge(sec: _Section, name: str, n_edges: int) -> np.ndarray:
    """Declared field ``name``: one number for every edge, or a list of ``n_edges``."""
    f = _BENCH_FIELD[sec.key(name)]
    value = sec.get(name, f.default)
    if isinstance(value, list):
        if len(value) != n_edges:
            raise sec.fail(name, f"{len(value)} values; allowed one number or a list of "
                                 f"{n_edges} (one per edge)")
        vals = value
    else:
        vals = [value]
    for i, v in enumerate(vals):
        _, problem = check(f, v)
        if problem is not None:
            where = f"[{i}]" if isinstance(value, list) else ""
            raise sec.fail(f"{name}{where}", problem)
    arr = np.asarray(vals * (n_edges if len(vals) == 1 else 1), dtype=float)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class _Daq:
    device: str
    sample_rate: float
    block_duration: float
    ai_channels: tuple[AiChannel, ...]
    ao_channels: tuple[AoChannel, ...]
    terminal_config: str


def _daq(daq: _Section, net: Network) -> _Daq:
    device = daq.field("device")
    daq.used.add("driver")  # the driver's name: checked by labctl.bench.plugins
    sample_rate = daq.field("sample_rate")
    block_duration = daq.field("block_duration")
    if block_duration * sample_rate < 1.0:
        raise daq.fail("block_duration", f"{block_duration:g} s holds no sample at "
                                         f"{sample_rate:g} S/s; allowed >= 1 / sample_rate")
    ai_range = daq.voltage_range("ai_range", [-1.0, 1.0], DAQ_HARDWARE_RANGE)
    terminal = daq.field("terminal_config")
    ao_range = daq.voltage_range("ao_range", [-1.0, 1.0], DAQ_HARDWARE_RANGE)
    ai = daq.table("ai")
    used: dict[str, str] = {}
    ai_channels: list[AiChannel] = []
    for copy in COPIES:
        ai_channels += _ai_copy(ai.table(copy), copy, net, device, ai_range, terminal, used)
    ai.check_unknown()
    ao_channels = _ao_lines(daq, net, device, ao_range)
    daq.check_unknown()
    for role in ROLES:
        if not any(a.line.role == role for a in ao_channels):
            raise daq.fail("ao", f"no line with role {role!r}; required at least one source "
                                 "and one target line")
    return _Daq(device, sample_rate, block_duration, tuple(ai_channels), tuple(ao_channels),
                terminal)


def _driver(role: str, backend: str, sec: _Section) -> plugins.DriverChoice:
    """The driver of ``role`` named in ``sec`` and its checked options; every problem of
    the section in one BenchFileError (one line each)."""
    choice, problems = plugins.choose(role, backend, sec.data, sec.prefix)
    if problems:
        raise BenchFileError("\n".join(f"{sec.file}: {key}: {msg}" for key, msg in problems))
    assert choice is not None
    return choice


def _smu_line(smu: _Section, daq: _Daq) -> str:
    source_names = tuple(a.line.name for a in daq.ao_channels if a.line.role == "source")
    return smu.string("line", source_names[-1], source_names)


def _limits(lim: _Section, daq: _Daq) -> Limits:
    aos = daq.ao_channels
    hw = {"ao_source_hi": min(a.range[1] for a in aos if a.line.role == "source"),
          "ao_target_hi": min(a.range[1] for a in aos if a.line.role == "target"),
          "ai_hi": min(c.range[1] for c in daq.ai_channels)}
    limits = Limits(
        source_voltage_max=lim.field("source_voltage_max", hw),
        target_voltage_max=lim.field("target_voltage_max", hw),
        node_voltage_max=lim.field("node_voltage_max", hw),
        gate_min=lim.field("gate_min"),
        gate_max=lim.field("gate_max"),
    )
    lim.check_unknown()
    if limits.gate_min >= limits.gate_max:
        raise lim.fail("gate_max", f"{limits.gate_max:g} <= gate_min {limits.gate_min:g}; "
                                   "allowed gate_min < gate_max")
    return limits


def _calibration(cal: _Section, net: Network) -> Calibration:
    calibration = Calibration(S=_per_edge(cal, "S", net.n_edges),
                              V_T=_per_edge(cal, "V_T", net.n_edges))
    cal.check_unknown()
    return calibration


def _sim(simsec: _Section) -> SimSettings:
    sim = SimSettings(noise_v=simsec.field("noise_v"),
                      gate_noise_v=simsec.field("gate_noise_v"),
                      clock=simsec.field("clock"), mismatch=simsec.field("mismatch"))
    simsec.check_unknown()
    return sim


def _parse(path: Path, text: str, doc: dict[str, Any]) -> BenchConfig:
    """Check every table of the bench document; the first problem of each table (and
    every table that can be checked) is reported, all in one BenchFileError."""
    top = _Section(path, doc, "")
    problems: list[str] = []

    def attempt(check: Any) -> Any:
        try:
            return check()
        except BenchFileError as exc:
            problems.append(str(exc))
            return None

    name = attempt(lambda: top.field("name"))
    backend = attempt(lambda: top.field("backend"))
    net = attempt(lambda: _network(top.table("network")))
    daq = attempt(lambda: _daq(top.table("daq"), net)) if net is not None else None
    drivers: dict[str, plugins.DriverChoice] = {}
    if backend is not None:
        for role, section, required in (("daq", "daq", True), ("gates", "serial", True),
                                        ("smu", "smu", False)):
            sec = attempt(lambda s=section, r=required: top.table(s, required=r))
            if sec is None or (role == "smu" and not sec.data):
                continue
            choice = attempt(lambda r=role, s=sec: _driver(r, backend, s))
            if choice is not None:
                drivers[role] = choice
    if "smu" in drivers and drivers["smu"].options.get("resource", "x") == "":
        del drivers["smu"]  # resource = "": no SMU on this bench
    smu_line = (attempt(lambda: _smu_line(top.table("smu", required=False), daq))
                if daq else None)
    limits = attempt(lambda: _limits(top.table("limits"), daq)) if daq else None
    calibration = (attempt(lambda: _calibration(top.table("calibration", required=False),
                                                net)) if net is not None else None)
    sim = attempt(lambda: _sim(top.table("sim", required=False)))
    top.used.update(("daq", "serial", "smu", "limits", "calibration"))  # checked above
    attempt(top.check_unknown)
    if net is not None and daq is not None:
        # the drivers' own checks of the wiring (vendor syntax such as NI channel names)
        wiring = SimpleNamespace(network=net, device=daq.device, ai_channels=daq.ai_channels,
                                 ao_channels=daq.ao_channels, limits=limits,
                                 terminal_config=daq.terminal_config)
        for choice in drivers.values():
            section = plugins.ROLES[choice.role][0]
            for key, msg in plugins.check_choice(choice, wiring):
                problems.append(f"{path}: {key}: {msg} (checked by {choice.spec}, "
                                f"[{section}] driver)")
    if problems:
        raise BenchFileError("\n".join(problems))
    assert net is not None and daq is not None and "gates" in drivers
    assert smu_line is not None
    return BenchConfig(
        path=path, text=text, name=name, backend=backend, network=net, device=daq.device,
        ai_channels=daq.ai_channels, ao_channels=daq.ao_channels,
        sample_rate=daq.sample_rate, block_duration=daq.block_duration, smu_line=smu_line,
        limits=limits, calibration=calibration, sim=sim, drivers=drivers,
    )


def load_bench(path: str | Path | None = None) -> BenchConfig:
    """Read and validate a bench file; ``None`` loads the default simulated bench.

    The file must be a regular UTF-8 file of bounded size and nesting
    (:mod:`labctl.tomlread`, checked before parsing). Raises :class:`BenchFileError` (a
    ValueError) naming the file, the key and what is allowed; nothing is opened here.
    """
    p = DEFAULT_BENCH_FILE if path is None else Path(path)
    try:
        text, doc = read_toml(p)
    except TomlFileError as exc:
        raise BenchFileError(f"{display(p)}: {exc.problem}") from None
    return _parse_safely(p, text, doc)


def _parse_safely(path: Path, text: str, doc: dict[str, Any]) -> BenchConfig:
    """:func:`_parse`, with any failure on hostile input turned into a BenchFileError."""
    try:
        return _parse(path, text, doc)
    except (RecursionError, MemoryError, ArithmeticError) as exc:
        raise BenchFileError(f"{path}: cannot be checked: {type(exc).__name__}: "
                             f"{str(exc)[:200]}") from None


def bench_from_text(text: str, path: str | Path = "<text>") -> BenchConfig:
    """Validate a bench file given as text (e.g. read back from a run file)."""
    p = Path(path)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise BenchFileError(f"{p}: more than {MAX_FILE_BYTES} bytes; allowed at most "
                             f"{MAX_FILE_BYTES} bytes")
    try:
        doc = parse(text)
    except TomlFileError as exc:
        raise BenchFileError(f"{p}: {exc.problem}") from None
    return _parse_safely(p, text, doc)
