"""The simulated bench: DAQ, gate controller and SMU on one shared physical twin network.

All three instruments act on one :class:`SimCore`, which owns the physics helper's
:class:`labctl.physics.bench_model.TwinBench` and the bench clock ``t`` (s):

* :class:`SimDaq` – AO lines routed to nodes hold sources (both copies) or set the target
  set-points Ṽ of the clamp circuit; AI delivers blocks of ``block_duration`` s of both
  copies' node voltages (V) with white measurement noise ``noise_v`` (V rms). Bench time
  advances only as blocks are produced. Clock ``"fast"``: a block is produced as soon as it
  is asked for; ``"paced"``: ``read_block`` waits until the block's last sample would have
  been acquired in wall time, and a consumer more than the 2 s driver buffer behind gets a
  :class:`DaqOverflowError`, as on the real board.
* :class:`SimGateController` – firmware semantics (see :mod:`labctl.bench.gate_encoding`):
  gate range refusals, DAC-quantised gates, 8 mV ADC read-back, η = tap/129, λ through the
  two gain taps, learning windows of 10 µs..30 ms (executed on the bench clock between
  blocks), busy refusal while learning is on.
* :class:`SimPowerMeter` – an SMU in series with one source line (``[smu] line`` in the bench
  file): with its output on it holds that line's node at its voltage and measures the
  current flowing out of that node into both network copies (A).

The physics is solved on the model's own step (``BenchParams.dt``, 2 ms) and linearly
interpolated onto the sample clock; while nothing can change (learning off, quasistatic
nodes, no gate leak) the steady state is solved once and reused. While blocks are read one
after the other with nothing else touching the twin, its physics runs up to
:data:`LOOKAHEAD_BLOCKS` blocks ahead in one compiled call, bit for bit what one call per
block gives; whatever reads or changes the twin (``SimCore.twin``) first puts it back at the
end of the last block read, so the look-ahead never shows in what the instruments do.

Threading: like the real drivers, a simulated bench is used from one owning thread.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from labctl.bench import gate_encoding as enc
from labctl.bench.config import BenchConfig
from labctl.bench.faults import SimFaults
from labctl.bench.interfaces import (
    BenchError,
    Daq,
    DaqOverflowError,
    FirmwareResetError,
    GateController,
    InstrumentDisconnectedError,
    InstrumentTimeoutError,
    PowerMeter,
    SampleBlock,
)
from labctl.bench.plugins import SERIAL_FIELDS, SMU_FIELDS, OpenContext

if TYPE_CHECKING:
    from labctl.physics.bench_model import TwinBench

T = TypeVar("T")

#: seconds of samples the simulated board buffers before overflowing (paced clock)
BUFFER_SECONDS = 2.0
#: current noise of the simulated SMU, A rms
SMU_NOISE_A = 2e-9
FIRMWARE_IDENTITY = "LABCTL,GATEFW,32CH,1.1.0"
#: what the simulated SMU answers to *IDN? (its own model, no vendor's)
SIM_SMU_IDENTITY = "LABCTL,SIMSMU,SIM0001,labctl-sim"


@functools.cache
def _resample() -> ModuleType:
    """:mod:`labctl.physics.kernels_resample`, imported once, at a simulator's first block
    (numba loads only when a simulated board samples, not at import)."""
    from labctl.physics import kernels_resample

    return kernels_resample


def _refuse_if_disconnected(core: SimCore, instrument: str) -> None:
    """A disconnected instrument cannot be driven to its safe state: say so."""
    if core.faults.disconnected(instrument, core.t):
        raise InstrumentDisconnectedError(f"simulated {instrument}: disconnected (injected)")


#: most DAQ blocks the simulated physics runs ahead of the blocks read, in one compiled
#: call (the number grows by one per block read with nothing else touching the twin)
LOOKAHEAD_BLOCKS = 5


@dataclass
class _Ahead:
    """Physics computed past the last block read: each block's (duration s, coarse
    states), the coarse node voltages ``f``, ``c`` (blocks·states, N) V, and the gates
    ``g`` (blocks, E) V and twin times ``t`` (blocks,) s at each block's end; ``read``
    blocks have been handed out."""

    key: tuple[float, int]
    f: np.ndarray
    c: np.ndarray
    g: np.ndarray
    t: np.ndarray
    read: int = 1


class SimCore:
    """Shared physical state of one simulated bench: twin network, outputs, clock (s)."""

    def __init__(self, config: BenchConfig, *, seed: int = 0,
                 faults: SimFaults | None = None) -> None:
        from labctl.physics.bench_model import BenchParams
        from labctl.physics.params import MosfetParams

        self.config = config
        self.faults = faults or SimFaults()
        lim, cal = config.limits, config.calibration
        s_mean, vt_mean = float(np.mean(cal.S)), float(np.mean(cal.V_T))
        mosfet = MosfetParams(
            S=s_mean, V_T=vt_mean, gate_min=lim.gate_min, gate_max=lim.gate_max,
            node_min=0.0, node_max=max(lim.source_voltage_max, lim.target_voltage_max),
            mismatch_S=config.sim.mismatch)
        # the transistors (mismatch) are the chip's: drawn from the run seed alone
        self.run_seed = int(seed)
        self.params = BenchParams(mosfet=mosfet, seed=self.run_seed)
        self._params0 = self.params
        self.label_noise = 0.0
        self.task_index: int | None = None
        # random streams outside a run's tasks (bench check, GUI panel): fixed by the seed
        self.rng = np.random.default_rng(self.run_seed + 7919)
        self._rule_rng = np.random.default_rng(self.run_seed + 1)
        self._ahead: _Ahead | None = None
        self._streak = 0  # blocks read in a row with nothing else touching the twin
        self._build_twin(None)
        self.t = 0.0
        self.lines = {line.name: line for line in config.output_lines}
        self.routing: dict[str, int | None] = {}
        self.ao_values: dict[str, float] = {}
        self._power_on_outputs()
        self.smu_line = config.smu_line
        self.smu_on = False
        self.smu_voltage = 0.0
        self.eta_tap = 0
        self._state: tuple[np.ndarray, np.ndarray] | None = None
        self._noise = np.empty((0, 2 * config.network.n_nodes))  # reused noise buffer
        #: (samples, coarse states, average) → boxcar weights (see _boxcar_weights)
        self._weights: dict[tuple[int, int, int], np.ndarray] = {}
        self.apply_outputs()

    def _build_twin(self, gates0: np.ndarray | None) -> None:
        """(Re)create the twin network from ``self.params``, keeping ``gates0`` (V)."""
        from labctl.physics.bench_model import TwinBench

        cal = self.config.calibration
        s_mean, vt_mean = float(np.mean(cal.S)), float(np.mean(cal.V_T))
        self._ahead, self._streak = None, 0
        self._twin = TwinBench(self.config.network, self.params, gates0=gates0)
        self._twin._b.rng = self._rule_rng  # the learning-rule noise follows the task stream
        self._applied: tuple[dict[int, float], dict[int, float]] | None = None
        if np.ptp(cal.S) > 0 or np.ptp(cal.V_T) > 0:
            # per-edge calibration: scale the model's per-transistor constants (keeps the
            # mismatch draws); relies on TwinBenchBatch's s_*/vt_* arrays
            b = self._twin._b
            for name in ("s_free", "s_clamp"):
                setattr(b, name, getattr(b, name) * (cal.S / s_mean))
            for name in ("vt_free", "vt_clamp"):
                setattr(b, name, getattr(b, name) + (cal.V_T - vt_mean))

    @property
    def twin(self) -> TwinBench:
        """The twin network at the present: physics computed ahead of the last block read
        is dropped first (the twin goes back to that block's end), so whatever reads or
        changes the twin through here sees the present."""
        if self._ahead is not None:
            self._drop_ahead()
        self._streak = 0
        return self._twin

    def _drop_ahead(self) -> None:
        """Forget the look-ahead; the twin goes back to the end of the last block read if
        it ran further."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.read < ahead.t.size:
            j, m = ahead.read - 1, ahead.key[1]
            self._twin.restore(ahead.g[j], ahead.f[(j + 1) * m - 1],
                               ahead.c[(j + 1) * m - 1], float(ahead.t[j]))

    def present_gates(self) -> np.ndarray:
        """Gate voltages (E,) V now: at the end of the last block read (a read; the
        look-ahead stays)."""
        ahead = self._ahead
        if ahead is not None:
            return ahead.g[ahead.read - 1].copy()
        return self._twin.gates

    def _power_on_outputs(self) -> None:
        """Outputs as at power-on: every line 0 V, fixed wires on their node, switched
        lines open."""
        self.routing = {name: line.nodes[0] if len(line.nodes) == 1 else None
                        for name, line in self.lines.items()}
        self.ao_values = dict.fromkeys(self.lines, 0.0)

    def _seed_streams(self, *words: int) -> None:
        """Restart every random stream of the bench from ``SeedSequence([run seed,
        *words])``: measurement, gate read-back, SMU and label noise (``rng``) and the
        learning-rule noise (``_rule_rng``) get independent children."""
        measure, rule = np.random.SeedSequence([self.run_seed, *words]).spawn(2)
        self.rng = np.random.default_rng(measure)
        self._rule_rng = np.random.default_rng(rule)
        self.twin._b.rng = self._rule_rng

    def begin_task(self, index: int) -> None:
        """A run's task ``index`` starts: the bench returns to its power-on physics and
        every random stream restarts from (run seed, ``index``).

        A task's samples then depend on the run seed, the task's index and its own plan
        only – not on which tasks ran before on this bench object – so a task gives the
        same samples on one bench serially, on a fresh bench per task (Dask workers) and
        after ``--resume``. Kept: the transistors (mismatch from the run seed), the bench
        clock ``t`` (s) and the gate controller's settings (η, λ, learning switch), which
        a run leaves safe between tasks anyway. Physics overrides of an earlier task
        (``[sim]``), node and gate voltages (V) and outputs return to power-on values.
        """
        if isinstance(index, bool) or not isinstance(index, int | np.integer) or index < 0:
            raise ValueError(f"index: task {index!r}; allowed an integer >= 0")
        old = self.twin
        self.task_index = int(index)
        self.params = self._params0
        self.label_noise = 0.0
        self._build_twin(None)
        self.twin.set_eta(old.eta)
        self.twin.set_lambda(old.lam)
        self.twin.set_learning(old.learning)
        self._seed_streams(self.task_index)
        self._power_on_outputs()
        self._noise = np.empty((0, 2 * self.config.network.n_nodes))
        self.apply_outputs()

    def configure(self, *, alpha: float | None = None, gamma: float | None = None,
                  noise: float | None = None, label_noise: float | None = None,
                  seed: int | None = None) -> None:
        """Change the simulated physics between tasks (None keeps a setting).

        ``alpha`` learning rate (1/s), ``gamma`` node relaxation rate (1/s), ``noise``
        white noise on the learning rule (V/√s), ``label_noise`` Gaussian noise (V rms) on
        the target set-points each time they are applied, ``seed`` (a protocol's ``[sim]
        seed``) restarts the noise streams from (run seed, task index, ``seed``); the
        transistors' mismatch stays the chip's (run seed). Gates, outputs, η, λ and the
        learning switch are kept.
        """
        import dataclasses

        changes: dict[str, float | int] = {}
        if alpha is not None:
            changes["alpha"] = float(alpha)
        if gamma is not None:
            changes["gamma"] = float(gamma)
        if noise is not None:
            changes["rule_noise"] = float(noise)
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
                raise ValueError(f"seed: {seed!r}; allowed an integer >= 0")
            task = () if self.task_index is None else (self.task_index,)
            self._seed_streams(*task, int(seed))
        if label_noise is not None:
            if label_noise < 0:
                raise ValueError(f"label_noise: must be >= 0 V, got {label_noise}")
            self.label_noise = float(label_noise)
        if changes:
            old = self.twin
            self.params = dataclasses.replace(self.params, **changes)
            self._build_twin(old.gates)
            self.twin.set_eta(old.eta)
            self.twin.set_lambda(old.lam)
            self.twin.set_learning(old.learning)
        self.apply_outputs()

    # -- settings ------------------------------------------------------------------------
    def line_voltage(self, name: str) -> float:
        """Voltage (V) a line puts on its node: the SMU's if it drives the line and is on."""
        if name == self.smu_line and self.smu_on:
            return self.smu_voltage
        return self.ao_values[name]

    def apply_outputs(self) -> None:
        """Push routing + line voltages (+ η tap 0 = no clamp nudge) into the twin network.
        Held nodes and voltages the twin already has leave it as it is (a command that
        changes none of them, such as a safe state repeated, does not re-solve the
        network)."""
        sources: dict[int, float] = {}
        targets: dict[int, float] = {}
        for name, line in self.lines.items():
            node = self.routing[name]
            if node is None:
                continue
            dest = sources if line.role == "source" else targets
            if node in sources or node in targets:
                raise ValueError(f"routing: node {node} is driven by two lines; "
                                 "allowed: one line per node")
            dest[node] = self.line_voltage(name)
        if self.eta_tap == 0:
            targets = {}  # η = 0: the clamp circuit holds nothing, clamped copy = free copy
        elif self.label_noise > 0:
            targets = {n: v + self.label_noise * float(self.rng.standard_normal())
                       for n, v in targets.items()}
        if self._applied == (sources, targets):
            return
        self.twin.set_targets({})
        self.twin.set_sources(sources)
        self.twin.set_targets(targets)
        self._applied = (sources, targets)
        self._state = None

    def set_eta_tap(self, tap: int) -> None:
        """η potentiometer tap (0..128); η = tap/129."""
        was_zero = self.eta_tap == 0
        self.eta_tap = tap
        self.twin.set_eta(max(tap, 1) / enc.ETA_DIVISOR)
        if was_zero != (tap == 0):
            self.apply_outputs()
        self._state = None

    def set_gates(self, gates: np.ndarray) -> None:
        """Gate voltages (V), shape (E,)."""
        self.twin.set_gates(gates)
        self._state = None

    @property
    def static(self) -> bool:
        """True if node voltages cannot change without a new setting."""
        p = self.params
        return (not self._twin.learning and math.isinf(p.gamma) and p.gate_leak == 0
                and p.rule_noise == 0)

    # -- physics ---------------------------------------------------------------------------
    def state(self) -> tuple[np.ndarray, np.ndarray]:
        """Present node voltages (V) of the free and clamped copy, each (N,)."""
        if self._state is None:
            f, c = self.twin.advance(1e-9, 1)  # a negligible step re-solves the steady state
            self._state = (f[-1].copy(), c[-1].copy())
        return self._state

    def run(self, duration: float, n: int, noise_v: float = 0.0, average: int = 1
            ) -> np.ndarray:
        """Advance ``duration`` s; node voltages (V) at ``n`` sample instants.

        Returns (n, 2N): free copy then clamped copy; sample j is at t0 + (j+1)·duration/n.
        ``noise_v`` > 0 adds white Gaussian measurement noise of that rms (V), drawn from
        ``self.rng`` after the physics step (one standard normal per sample and channel, in
        sample-major order). ``average`` > 1 (a divisor of ``n``): returns (n/average, 2N),
        the means of consecutive groups of ``average`` samples, their noise drawn as one
        standard normal per row and channel scaled to the mean's rms noise_v/√average
        (the same distribution as averaging the samples, at 1/average of the draws); the
        noise-free means are fixed weights of the coarse states (:meth:`_boxcar_weights`).
        """
        f0, c0 = self.state()
        n_nodes = f0.size
        if self.static:
            f = c = np.empty((0, n_nodes))
        else:
            n_coarse = max(1, math.ceil(duration / self.params.dt - 1e-9))
            f, c = self._advance(duration, n_coarse)
            self._state = (f[-1].copy(), c[-1].copy())
        self.t += duration
        if average > 1:  # the boxcar means straight from the coarse states (compiled)
            out = np.empty((n // average, 2 * n_nodes))
            noise = (self.rng.standard_normal(out.shape) if noise_v > 0
                     else np.empty((0, 2 * n_nodes)))
            weights = self._boxcar_weights(n, f.shape[0] + 1, average)
            _resample().weighted_means(weights, f0, c0, f, c, noise,
                                       noise_v / math.sqrt(average), out)
            return out
        coarse = np.empty((f.shape[0] + 1, 2 * n_nodes))
        coarse[0, :n_nodes], coarse[0, n_nodes:] = f0, c0
        coarse[1:, :n_nodes], coarse[1:, n_nodes:] = f, c
        out = np.empty((n, 2 * n_nodes))
        noise = self._noise[:0]
        if noise_v > 0:
            if self._noise.shape != out.shape:
                self._noise = np.empty(out.shape)
            noise = self._noise
            self.rng.standard_normal(out=noise)
        _resample().lerp_onto_clock(coarse, noise, float(noise_v), out)
        return out

    def _advance(self, duration: float, n_coarse: int) -> tuple[np.ndarray, np.ndarray]:
        """The twin's next block: ``duration`` s as ``n_coarse`` coarse states (n_coarse, N)
        V of each copy, from the look-ahead if it holds that block, else computed, up to
        :data:`LOOKAHEAD_BLOCKS` blocks at once after as many blocks read in a row."""
        ahead = self._ahead
        if ahead is not None:
            if ahead.key == (duration, n_coarse) and ahead.read < ahead.t.size:
                j = ahead.read
                ahead.read += 1
                self._streak += 1
                return (ahead.f[j * n_coarse:(j + 1) * n_coarse],
                        ahead.c[j * n_coarse:(j + 1) * n_coarse])
            self._drop_ahead()
        blocks = min(LOOKAHEAD_BLOCKS, max(1, self._streak))
        self._streak += 1
        if blocks == 1 or not self._twin.can_advance_blocks:
            return self._twin.advance(duration, n_coarse)
        f, c, g, t = self._twin.advance_blocks(duration, n_coarse, blocks)
        self._ahead = _Ahead((duration, n_coarse), f, c, g, t)
        return f[:n_coarse], c[:n_coarse]

    def _boxcar_weights(self, n: int, n_coarse: int, average: int) -> np.ndarray:
        """(n/average, n_coarse) weights mapping a block's coarse states to the means of
        its consecutive ``average``-sample groups on a clock of ``n`` samples (cached)."""
        key = (n, n_coarse, average)
        weights = self._weights.get(key)
        if weights is None:
            weights = np.empty((n // average, n_coarse))
            _resample().boxcar_of_lerp(np.eye(n_coarse), n, weights)
            self._weights[key] = weights
        return weights

    def learning_window(self, seconds: float) -> None:
        """Learning switch closed for ``seconds`` of bench time, then open again."""
        self.twin.set_learning(True)
        try:
            self.run(seconds, 1)
        finally:
            self.twin.set_learning(False)

    def node_outflow(self, node: int) -> float:
        """Current (A) flowing out of ``node`` into the network, summed over both copies."""
        f, c = self.state()
        return self._twin.node_outflow(node, f, c, self.present_gates())


class SimDaq(Daq):
    """Simulated NI board on a :class:`SimCore` (see module docstring). Argument checks,
    limits and the owner-thread rule are the interface's (:class:`Daq`)."""

    backend = "sim"
    config_role = "daq"

    @classmethod
    def from_config(cls, context: OpenContext, options: Mapping[str, Any]) -> SimDaq:
        """The simulated board of a bench file, on the bench's shared twin."""
        return cls(context.sim_core(), context.clock)

    def __init__(self, core: SimCore, clock: str = "fast") -> None:
        if clock not in ("fast", "paced"):
            raise ValueError(f"clock: {clock!r}; allowed 'fast' or 'paced'")
        cfg = core.config
        self.core = core
        self.clock = clock
        self.free_running = clock == "paced"
        self.channels = cfg.channel_names
        self.output_lines = cfg.output_lines
        self.output_max = {"source": cfg.limits.source_voltage_max,
                           "target": cfg.limits.target_voltage_max}
        self.sample_rate = cfg.sample_rate
        self.block_size = cfg.block_size
        self._index = 0
        self._running = False
        self._wall0 = 0.0
        self._lost = 0  # samples the last overflow lost (counted at the restart)
        #: (samples, average) → each row's mean sample index after the block's first
        self._row_offsets: dict[tuple[int, int], np.ndarray] = {}

    def _check(self) -> None:
        _refuse_if_disconnected(self.core, "daq")

    def _identity_line(self) -> str:
        """Simulated board identity."""
        n_ai, n_ao = len(self.channels), len(self.output_lines)
        return f"labctl simulated DAQ {self.core.config.device} ({n_ai} AI, {n_ao} AO)"

    def _snapshot(self) -> dict[str, Any]:
        """Sample rate (S/s), clock, noise (V rms), AO values (V) and routing."""
        return {"device": self.core.config.device, "sample_rate": self.sample_rate,
                "block_size": self.block_size, "clock": self.clock,
                "noise_v": self.core.config.sim.noise_v,
                "ao_values": dict(self.core.ao_values), "routing": dict(self.core.routing)}

    def _safe_state(self) -> None:
        """All outputs 0 V."""
        _refuse_if_disconnected(self.core, "daq")
        self.core.ao_values = dict.fromkeys(self.core.ao_values, 0.0)
        self.core.apply_outputs()

    def _close(self) -> None:
        """Stop, outputs 0 V."""
        self._running = False
        self._safe_state()

    def _route_outputs(self, routing: dict[str, int | None]) -> None:
        """Connect lines to nodes through the (simulated) switch matrix; None opens a line.
        Lines not named keep their node; two lines on one node are refused."""
        self._check()
        new = dict(self.core.routing)
        for name, node in routing.items():
            if node is None:
                if len(self.core.lines[name].nodes) == 1:  # a fixed wire cannot open:
                    self.core.ao_values[name] = 0.0       # it holds its node at 0 V
                else:  # switch matrix open: the line holds no node
                    new[name] = None
                continue
            new[name] = node
        old, self.core.routing = self.core.routing, new
        try:
            self.core.apply_outputs()
        except ValueError:
            self.core.routing = old
            self.core.apply_outputs()
            raise

    def _write_outputs(self, volts: dict[str, float]) -> None:
        """Set output lines (V, checked by the interface)."""
        self._check()
        self.core.ao_values.update(volts)
        self.core.apply_outputs()

    def _start_acquisition(self) -> None:
        """Start the sample clock (sample index 0 = now)."""
        self._check()
        if not self._running:
            self._running = True
            self._index = 0
            self._wall0 = time.monotonic()

    def _read_block(self, timeout: float) -> SampleBlock:
        """Next block: (n, 2N) node voltages (V) with measurement noise (one attempt)."""
        return self._next_block(timeout, 1)

    def _read_block_averaged(self, timeout: float, average: int) -> SampleBlock:
        """Next block as means of ``average`` samples, drawn directly (:meth:`SimCore.run`):
        one noise draw per row and channel instead of ``average``."""
        return self._next_block(timeout, average)

    def _next_block(self, timeout: float, average: int) -> SampleBlock:
        """One attempt at the next block (rows of ``average`` samples' means)."""
        self._check()
        if not self._running:
            raise BenchError("simulated DAQ: read_block before start_acquisition")
        try:
            self.core.faults.raise_if_due("daq", self.core.t)
        except DaqOverflowError:  # the bench runs on while the lost samples are not kept
            self._lost = round(self.core.faults.daq_overflow_lost_s * self.sample_rate)
            self._wall0 -= self._lost / self.sample_rate  # they were lost in the past
            raise
        n = self.block_size
        if self.clock == "paced":
            due = self._wall0 + (self._index + n) / self.sample_rate
            lag = time.monotonic() - due
            if lag > BUFFER_SECONDS:  # every sample not read up to now is lost
                now = (time.monotonic() - self._wall0) * self.sample_rate
                self._lost = max(0, math.floor(now) - self._index)
                raise DaqOverflowError(f"simulated DAQ: consumer {lag:.1f} s behind, more than "
                                       f"the {BUFFER_SECONDS:g} s buffer; samples lost")
            wait = due - time.monotonic()
            if wait > timeout:
                time.sleep(max(timeout, 0.0))
                raise InstrumentTimeoutError("simulated DAQ: block not ready within timeout")
            if wait > 0:
                time.sleep(wait)
        data = self.core.run(n / self.sample_rate, n, self.core.config.sim.noise_v, average)
        first = self._index
        self._index += n
        # each row's mean sample index: first + k·average + (average − 1)/2 (the offsets
        # are whole or half numbers: their sum with ``first`` is exact in any order)
        offsets = self._row_offsets.get((n, average))
        if offsets is None:
            offsets = self._row_offsets[n, average] = (average * np.arange(n // average)
                                                       + 0.5 * (average - 1))
        t = (first + offsets) / self.sample_rate
        return SampleBlock(time=t, data=data, channels=self.channels, first_index=first,
                           average=average)

    def _restart_acquisition(self) -> tuple[int, int]:
        """After an overflow: the bench ran on through the lost samples (their physics is
        integrated, nothing kept); acquisition goes on with the next sample index."""
        self._check()
        first, lost, self._lost = self._index, self._lost, 0
        if lost > 0:
            self.core.run(lost / self.sample_rate, 1)
        self._index += lost
        self._running = True
        return first, lost

    def _stop_acquisition(self) -> None:
        """Stop the sample clock."""
        self._running = False

    def configure_physics(self, **settings: float | int | None) -> None:
        """Simulated bench only: change the physics between tasks (see
        :meth:`SimCore.configure`; a protocol's ``[sim]`` section ends up here)."""
        self._usable()
        self._check()
        self.core.configure(**settings)

    def begin_task(self, index: int) -> None:
        """Simulated bench only: a run's task ``index`` starts; the bench returns to its
        power-on physics and restarts its random streams from (run seed, ``index``) (see
        :meth:`SimCore.begin_task`). Not an instrument command: injected faults ignore it."""
        self._usable()
        self.core.begin_task(index)

    def _settle(self, seconds: float) -> None:
        """``seconds`` of bench time pass with nothing read: the physics is integrated
        over them (instantaneous on the fast clock, in wall time on the paced one)."""
        self._check()
        if self.clock == "paced":
            time.sleep(seconds)
        self.core.run(seconds, 1)

    def _read_once(self) -> np.ndarray:
        """One noisy reading of every channel (V), no time advance."""
        self._check()
        f, c = self.core.state()
        v = np.concatenate([f, c])
        return v + self.core.rng.standard_normal(v.shape) * self.core.config.sim.noise_v


class SimGateController(GateController):
    """Simulated gate-controller firmware on a :class:`SimCore`. Argument checks and the
    owner-thread rule are the interface's (:class:`GateController`)."""

    backend = "sim"
    config_role = "gates"
    config_fields = SERIAL_FIELDS  # the serial driver's layout, so files differ by backend

    @classmethod
    def from_config(cls, context: OpenContext,
                    options: Mapping[str, Any]) -> SimGateController:
        """The simulated controller of a bench file; its [serial] keys are recorded in
        its snapshot (as the hardware's would be)."""
        return cls(context.sim_core(), line=dict(options))

    def __init__(self, core: SimCore, *, line: Mapping[str, Any] | None = None) -> None:
        self.core = core
        self.line = dict(line or {})
        lim = core.config.limits
        self.n_edges = core.config.network.n_edges
        self.gate_range = (lim.gate_min, lim.gate_max)
        self.lambda_max = enc.LAMBDA_MAX
        self._taps = (enc.POT_MAX, enc.POT_MAX)
        self._reset_settings()

    def _reset_settings(self) -> None:
        self.core.twin.set_learning(False)
        self.core.set_eta_tap(0)
        self._taps = (enc.POT_MAX, enc.POT_MAX)
        self.core.twin.set_lambda(0.0)

    def _command(self, what: str, action: Callable[[], T], *, idempotent: bool = True) -> T:
        """One firmware command through the shared retry loop: an injected fault hits the
        command before it acts (as a lost line would), a reset first brings the safe
        settings, as the firmware's power-on does."""
        def attempt() -> T:
            try:
                self.core.faults.raise_if_due("gate", self.core.t)
            except FirmwareResetError:
                self._reset_settings()
                raise
            return action()

        return self._retrying(repr(what), attempt, idempotent=idempotent)

    def _identity_line(self) -> str:
        """Firmware identity line (as the real controller answers ID?)."""
        return f"{FIRMWARE_IDENTITY} (simulated)"

    def _snapshot(self) -> dict[str, Any]:
        """Gate range (V), η and gain taps, learning switch."""
        return {"gate_range": list(self.gate_range), **self.line, **self._status()}

    def _safe_state(self) -> None:
        """Learning off, η tap 0, both gains at full scale (λ = 0); gates keep their charge."""
        self._forget("eta", "lambda")
        self._remember(learning=False)
        self._command("SAFE", self._reset_settings)

    def _close(self) -> None:
        """Safe state, release."""
        self._safe_state()

    def _set_gate(self, edge: int, volts: float) -> None:
        """Charge one gate to ``volts`` (V), DAC-quantised."""
        value = float(np.clip(enc.dac_quantise(volts), *self.gate_range))

        def charge() -> None:
            g = self.core.twin.gates
            g[edge] = value
            self.core.set_gates(g)

        self._command(f"GATE {edge}", charge)

    def _set_gates(self, volts: np.ndarray) -> None:
        """Charge all gates (V), DAC-quantised."""
        values = np.clip(enc.dac_quantise(volts), *self.gate_range)
        self._command("GATES", lambda: self.core.set_gates(values))

    def _read_gate(self, edge: int) -> float:
        """Read-back of one gate (V)."""
        return float(self._read_gates()[edge])

    def _read_gates(self) -> np.ndarray:
        """Read-back of all gates (V): 8 mV ADC, 4 readings averaged, read-out noise."""
        return self._command("GATES?", lambda: enc.adc_readback(
            self.core.present_gates(), self.core.config.sim.gate_noise_v, self.core.rng))

    def _set_eta_tap(self, tap: int) -> None:
        """η in 1/129 steps."""
        self._command(f"ETA {tap}", lambda: self.core.set_eta_tap(tap))

    def _set_gain_taps(self, tap_free: int, tap_clamped: int) -> None:
        """λ through the free/clamped gain taps."""
        def gain() -> None:
            self._taps = (tap_free, tap_clamped)
            self.core.twin.set_lambda(enc.taps_to_lambda(tap_free, tap_clamped))

        self._command(f"GAIN {tap_free} {tap_clamped}", gain)

    def _set_learning(self, on: bool) -> None:
        """Learning switch of every edge."""
        self._command(f"LEARN {int(on)}", lambda: self.core.twin.set_learning(on))

    def _learning_window(self, seconds: float) -> None:
        """Learning on for ``seconds`` of bench time; busy if learning is on. Not
        idempotent: never repeated after a lost reply (as the serial driver)."""
        def window() -> None:
            if self.core.twin.learning:
                raise BenchError("simulated gate controller: busy (learning switch already on)")
            self.core.learning_window(seconds)

        self._command(f"WIN {round(seconds * 1e6)}", window, idempotent=False)

    def _status(self) -> dict[str, Any]:
        """Learning switch, η (and tap), λ (and gain taps), fault flags."""
        return {"learning": bool(self.core.twin.learning), "eta_tap": self.core.eta_tap,
                "eta": enc.tap_to_eta(self.core.eta_tap), "gain_taps": list(self._taps),
                "lambda": enc.taps_to_lambda(*self._taps), "faults": 0}


class SimPowerMeter(PowerMeter):
    """Simulated SMU in series with source line ``core.smu_line``.

    With its output on it holds that line's node at its voltage; its current is the
    twin's: the current the solved network draws out of that node, in both copies (the
    edge currents of the physics engine at the present node voltages), plus
    :data:`SMU_NOISE_A` of read-out noise, clipped at the compliance. It identifies as
    itself (``LABCTL,SIMSMU,...``), not as any vendor's model. Argument checks, limits and
    the owner-thread rule are the interface's (:class:`PowerMeter`).
    """

    backend = "sim"
    config_role = "smu"
    config_fields = SMU_FIELDS  # the SCPI drivers' layout, so files differ by backend

    @classmethod
    def from_config(cls, context: OpenContext, options: Mapping[str, Any]) -> SimPowerMeter:
        """The simulated SMU of a bench file (its resource string is only recorded)."""
        return cls(context.sim_core(), compliance=options["compliance"],
                   resource=options["resource"])

    def __init__(self, core: SimCore, *, voltage_max: float | None = None,
                 compliance: float | None = None, resource: str = "") -> None:
        """``voltage_max`` (V, default the bench's source_voltage_max), ``compliance`` (A,
        default 10 mA, the bench files' default), ``resource`` (recorded only)."""
        self.core = core
        self.resource = resource
        self.voltage = 0.0
        self.voltage_max = float(core.config.limits.source_voltage_max
                                 if voltage_max is None else voltage_max)
        self.compliance = float(1e-2 if compliance is None else compliance)
        self._command("*IDN?", lambda: None)  # as the real SMU, asked who it is at open

    def _command(self, what: str, action: Callable[[], T]) -> T:
        """One SCPI exchange through the shared retry loop (injected faults hit it first)."""
        def attempt() -> T:
            self.core.faults.raise_if_due("smu", self.core.t)
            return action()

        return self._retrying(repr(what), attempt)

    def _identity_line(self) -> str:
        """Simulated SMU identity (its own model, not a vendor's)."""
        return SIM_SMU_IDENTITY

    def _snapshot(self) -> dict[str, Any]:
        """Voltage (V), compliance (A), output, line."""
        return {"resource": self.resource, "voltage": self.voltage,
                "voltage_max": self.voltage_max,
                "compliance": self.compliance, "output_enabled": self.core.smu_on,
                "line": self.core.smu_line}

    def _safe_state(self) -> None:
        """0 V, output off."""
        def off() -> None:
            self.voltage = self.core.smu_voltage = 0.0
            self.core.smu_on = False
            self.core.apply_outputs()

        self._command(":OUTP 0", off)

    def _close(self) -> None:
        """Safe state."""
        self._safe_state()

    def _set_voltage(self, volts: float) -> None:
        """Source ``volts`` (V)."""
        def source() -> None:
            self.core.smu_voltage = volts
            self.core.apply_outputs()

        self._command(":SOUR:VOLT", source)

    def _set_compliance(self, amps: float) -> None:
        """Current limit (A)."""
        self._command(":SOUR:VOLT:ILIM", lambda: None)

    def _set_output(self, on: bool) -> None:
        """Output relay on/off."""
        def relay() -> None:
            self.core.smu_on = on
            self.core.apply_outputs()

        self._command(":OUTP", relay)

    def _measure_current(self) -> float:
        """Current (A) out of the SMU's node into both copies, clipped at the compliance."""
        return self._command(":MEAS:CURR?", self._current)

    def _current(self) -> float:
        noise = float(self.core.rng.standard_normal() * SMU_NOISE_A)
        node = self.core.routing.get(self.core.smu_line)
        if not self.core.smu_on or node is None:
            return noise
        amps = self.core.node_outflow(node) + noise
        return float(np.clip(amps, -self.compliance, self.compliance))
