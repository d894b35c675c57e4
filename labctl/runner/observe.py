"""From DAQ samples to run-file rows: error, power, conductance, energy.

The DAQ delivers node voltages of both network copies at the sample rate; the run file
keeps rows at the protocol's record rate. :class:`RowBuilder` averages the samples of each
record interval (a boxcar, which also lowers the measurement noise), then computes

* error L = ½ Σ_T (Ṽ_T − V_T^F)² (V²) over the target nodes of the task;
* free and clamped power P = Σ_i I_i ΔV_i (W, no factor ½), with the edge currents from
  the bench calibration (per-edge S, V_T) and the latest gate reading, through the same
  MOSFET law as the physics engine (:func:`labctl.physics.edges.mosfet_current`);
* the edges' chord conductance I/ΔV (S) in the free copy;
* training energy ∫ P^F dt (J), accumulated over the task;
* where an SMU supplies a source line: the measured supply power ``power_supply`` = V_SMU ×
  I_SMU (W) on the row that ends when the SMU was read (NaN on the rows between two
  readings, so a measurement is compared with the model at its own time) beside the
  model's supply power
  ``power_supply_model`` = V_SMU × the current the edge law sends out of the SMU's node
  into both copies (W), so their residual tests the calibration against the instrument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labctl.network import Network
from labctl.physics.params import MosfetParams


class EdgeLaw:
    """The bench's gate-voltage → current law, per edge, from the bench calibration.

    ``S`` (A/V²) and ``V_T`` (V) are arrays of shape (E,); ``smoothing`` (V) is the
    sub-threshold width of the soft square law (see :mod:`labctl.physics.edges`).
    """

    def __init__(self, network: Network, S: np.ndarray, V_T: np.ndarray,
                 smoothing: float = MosfetParams().smoothing) -> None:
        self.a = np.ascontiguousarray(network.edges[:, 0])
        self.b = np.ascontiguousarray(network.edges[:, 1])
        self.S = np.ascontiguousarray(S, dtype=float)
        self.V_T = np.ascontiguousarray(V_T, dtype=float)
        self.smoothing = float(smoothing)
        self._incidence: dict[int, np.ndarray] = {}  # node → +1 (edge leaves) / −1 (enters)

    def observables(self, v: np.ndarray, gates: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edge currents I (A, (R, E)), dissipated power Σ_i I_i ΔV_i (W, (R,)) and chord
        conductances I/ΔV (S, (R, E)) of node-voltage rows ``v`` (R, N) V, in one compiled
        pass; ``gates`` (E,) V for every row, or (G, E) with row r using gate row r mod G."""
        from labctl.physics.kernels_mosfet import edge_observables

        v = np.ascontiguousarray(v, dtype=float)
        g = np.ascontiguousarray(np.atleast_2d(gates), dtype=float)
        rows = v.shape[0]
        current = np.empty((rows, self.a.size))
        chord = np.empty((rows, self.a.size))
        power = np.empty(rows)
        edge_observables(v, g, self.a, self.b, self.S, self.V_T, self.smoothing, current,
                         power, chord)
        return current, power, chord

    def node_outflow(self, current: np.ndarray, node: int) -> np.ndarray:
        """Current (A) flowing out of ``node`` into its edges, from edge currents
        ``current`` (..., E): what a source holding that node supplies to this copy."""
        incidence = self._incidence.get(node)
        if incidence is None:
            incidence = (self.a == node).astype(float) - (self.b == node).astype(float)
            self._incidence[node] = incidence
        # multiply and sum row by row (not a matrix product): a row's value does not
        # depend on how many rows come with it
        return np.sum(current * incidence, axis=-1)


class RowBuilder:
    """Decimates DAQ blocks into run-file rows for one task.

    ``channels`` are the DAQ column names (``free:<n>``, ``clamped:<n>``);
    ``record_interval`` is the time per row (s); ``targets`` maps target node → desired
    voltage Ṽ (V) and may change between examples (:meth:`set_targets`).
    """

    def __init__(self, network: Network, law: EdgeLaw, channels: Sequence[str],
                 sample_rate: float, record_interval: float,
                 targets: Mapping[int, float]) -> None:
        self.law = law
        #: blocks added by add_means whose rows take_rows has not built yet
        self._queued: list[tuple[Any, ...]] = []
        n = network.n_nodes
        self.free_cols = np.full(n, -1)
        self.clamped_cols = np.full(n, -1)
        for j, name in enumerate(channels):
            copy, _, node = name.partition(":")
            (self.free_cols if copy == "free" else self.clamped_cols)[int(node)] = j
        if np.any(self.free_cols < 0) or np.any(self.clamped_cols < 0):
            raise ValueError("channels: every node of both copies needs an AI channel")
        self.sample_rate = float(sample_rate)
        self.n_channels = len(channels)
        self.set_record_interval(record_interval)
        self.energy = 0.0
        #: (node, volts) of the SMU's source line while its output is on, else None
        self.supply: tuple[int, float] | None = None
        #: the SMU reading (W) not yet in a row: the next row batch's last row gets it
        self.supply_power = float("nan")
        self.error0: float | None = None
        self._last_gates: tuple[float, np.ndarray] | None = None
        self.set_targets(targets)

    def set_record_interval(self, seconds: float) -> None:
        """Time per row (s; a plan step's 1/record_rate_hz). Samples of an unfinished row
        are dropped (a new recording starts)."""
        self._check_nothing_queued("set_record_interval")
        self.samples_per_row = max(1, round(self.sample_rate * float(seconds)))
        self.dt_row = self.samples_per_row / self.sample_rate
        self._pending_t = np.empty(0)
        self._pending = np.empty((0, self.n_channels))

    def set_supply(self, node: int | None, volts: float = 0.0) -> None:
        """The SMU holds ``node`` at ``volts`` (V) from now on (None: output off); the
        held measurement is forgotten."""
        self._check_nothing_queued("set_supply")
        self.supply = None if node is None else (int(node), float(volts))
        self.supply_power = float("nan")

    def set_targets(self, targets: Mapping[int, float]) -> None:
        """Change the desired outputs Ṽ (node → V) used for the error."""
        self._check_nothing_queued("set_targets")
        self.target_nodes = np.array(sorted(targets), dtype=int)
        self.target_values = np.array([targets[k] for k in sorted(targets)], dtype=float)

    def _check_nothing_queued(self, what: str) -> None:
        """Settings the queued rows depend on change only once they are taken."""
        if self._queued:
            raise ValueError(f"{what}: {self.queued_rows} queued rows; take_rows() first")

    def split(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(v_free, v_clamped) node voltages (..., N) from DAQ columns (..., C)."""
        return data[..., self.free_cols], data[..., self.clamped_cols]

    def error(self, v_free: np.ndarray) -> np.ndarray:
        """L = ½ Σ_T (Ṽ_T − V_T^F)² (V²) for free node voltages (..., N)."""
        diff = self.target_values - v_free[..., self.target_nodes]
        return 0.5 * np.sum(diff * diff, axis=-1)

    def rows(self, time: np.ndarray, data: np.ndarray, gates: np.ndarray,
             lam: float, eta: float) -> dict[str, np.ndarray] | None:
        """Add samples (``time`` (n,) s of task time, ``data`` (n, C) V) and return the
        complete rows.

        ``gates`` (E,) V is the gate reading taken right after the block, i.e. at its last
        sample; a row's gates are interpolated linearly between that reading and the one
        before (gates drift smoothly while learning, and are read once per block).
        Samples of an unfinished row wait for the next call.
        """
        if len(self._pending_t):
            t = np.concatenate([self._pending_t, np.asarray(time, float)])
            d = np.concatenate([self._pending, np.asarray(data, float)])
        else:  # the usual case (blocks of whole rows): no copy of the block
            t, d = np.asarray(time, float), np.asarray(data, float)
        gates = np.asarray(gates, float)
        reading_t = float(t[-1]) if len(t) else 0.0
        previous = self._take_gate_reading(reading_t, gates)
        m = self.samples_per_row
        n_rows = len(t) // m
        # kept samples are copied: the caller may reuse its block's buffer
        self._pending_t, self._pending = t[n_rows * m:].copy(), d[n_rows * m:].copy()
        if n_rows == 0:
            return None
        mean = d[: n_rows * m].reshape(n_rows, m, -1).mean(axis=1)
        t_row = t[: n_rows * m].reshape(n_rows, m).mean(axis=1)
        self._queue(t_row, mean, reading_t, previous, gates, lam, eta)
        return self.take_rows()

    def add_means(self, t_row: np.ndarray, mean: np.ndarray, reading_t: float,
                  gates: np.ndarray, lam: float, eta: float) -> None:
        """Queue the rows of a block the DAQ already averaged into record intervals
        (:attr:`labctl.bench.interfaces.SampleBlock.average` = :attr:`samples_per_row`):
        ``t_row`` (r,) s and ``mean`` (r, C) V are the rows' mean sample times and mean
        voltages, ``reading_t`` (s) the block's last sample time, when ``gates`` (E,) V was
        read, at ``lam`` and ``eta``; the SMU reading held now goes on the block's last
        row. :meth:`take_rows` builds every queued block's rows in one pass: the same
        rows as :meth:`rows` of the blocks' samples, however many blocks are queued."""
        if len(self._pending_t):
            raise ValueError("add_means: samples of an unfinished row are waiting")
        gates = np.asarray(gates, float)
        self._queue(np.asarray(t_row, float), np.asarray(mean, float), float(reading_t),
                    self._take_gate_reading(reading_t, gates), gates, lam, eta)

    def _queue(self, t_row: np.ndarray, mean: np.ndarray, reading_t: float,
               previous: tuple[float, np.ndarray], gates: np.ndarray, lam: float,
               eta: float) -> None:
        """Queue rows at ``t_row`` (s) of mean voltages ``mean`` (V) whose gates are
        interpolated between the ``previous`` reading (time s, gates V) and this one
        (``reading_t``, ``gates``); the SMU reading held now goes on the last row."""
        self._queued.append((t_row, mean, *previous, reading_t, gates, float(lam), float(eta),
                             self._take_supply_reading(len(t_row))))

    def _take_supply_reading(self, n_rows: int) -> np.ndarray:
        """Measured supply power (W) of ``n_rows`` rows: the SMU reading held now on the
        last (a reading belongs to the row that ends when it was taken: the SMU is read
        right after the block these rows close), NaN on the others; the reading is
        taken, so no later row gets it again."""
        supply = np.full(n_rows, np.nan)
        supply[-1], self.supply_power = self.supply_power, float("nan")
        return supply

    @property
    def queued_rows(self) -> int:
        """Rows queued by :meth:`add_means` and not yet taken."""
        return sum(len(block[0]) for block in self._queued)

    def take_rows(self) -> dict[str, np.ndarray] | None:
        """The rows of every block queued by :meth:`add_means` (None if none), in order."""
        if not self._queued:
            return None
        blocks, self._queued = self._queued, []
        columns = list(zip(*blocks))
        counts = [len(t) for t in columns[0]]
        t_row, mean = np.concatenate(columns[0]), np.concatenate(columns[1])

        one_each = len(t_row) == len(blocks)  # one row per block: nothing to repeat

        def per_row(values: tuple[Any, ...]) -> np.ndarray:
            block_values = np.array(values, dtype=float)
            return block_values if one_each else np.repeat(block_values, counts, axis=0)

        t0, g0, reading_t, g1 = (per_row(columns[k]) for k in (2, 3, 4, 5))
        span = reading_t - t0
        later = span > 0
        # each row's gates interpolated between the reading before its block and the one
        # right after it (the first reading of a task stands for itself: weight 1)
        w = np.where(later, np.minimum(np.maximum((t_row - t0) / np.where(later, span, 1.0),
                                                  0.0), 1.0), 1.0)
        row_gates = g0 + (g1 - g0) * w[:, None]
        return self.from_voltages(t_row, mean, row_gates, per_row(columns[6]),
                                  per_row(columns[7]), self.dt_row,
                                  supply_power=np.concatenate(columns[8]))

    def _take_gate_reading(self, reading_t: float, gates: np.ndarray
                           ) -> tuple[float, np.ndarray]:
        """Remember the gate reading ``gates`` (E,) V taken at task time ``reading_t`` (s);
        returns the one before it (this one for the first reading)."""
        previous = self._last_gates or (reading_t, gates)
        self._last_gates = (reading_t, gates)
        return previous

    def from_voltages(self, t_row: np.ndarray, mean: np.ndarray, gates: np.ndarray,
                      lam: float | np.ndarray, eta: float | np.ndarray, dt_row: float, *,
                      supply_power: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Rows from averaged DAQ readings ``mean`` (T, C) at times ``t_row`` (T,) s and
        gate voltages ``gates`` (E,) or (T, E) V, at ``lam`` and ``eta`` (one value or one
        per row); each row stands for ``dt_row`` seconds of learning in the energy
        integral, accumulated row by row. ``supply_power`` (T,) W is the measured supply
        power of each row (NaN where none); None puts the SMU reading held now on the last
        row."""
        v_free, v_clamped = self.split(mean)
        n_rows = len(t_row)
        err = self.error(v_free)
        if self.error0 is None:
            self.error0 = float(err[0]) if err[0] > 0 else float("nan")
        # both copies through the edge law in one compiled pass (free copy's rows first;
        # row r uses gate row r mod n_rows)
        i_both, p_both, chord = self.law.observables(np.concatenate([v_free, v_clamped]),
                                                     gates)
        i_free, i_clamped = i_both[:n_rows], i_both[n_rows:]
        p_free, p_clamped = p_both[:n_rows], p_both[n_rows:]
        # a running sum row after row, so the values do not depend on how rows are grouped
        energy = np.cumsum(np.concatenate(([self.energy], p_free * dt_row)))[1:]
        self.energy = float(energy[-1])
        gate_rows = gates if gates.ndim == 2 else np.broadcast_to(gates, (n_rows, gates.size))
        supply: dict[str, np.ndarray] = {}
        if self.supply is not None:
            node, volts = self.supply
            drawn = self.law.node_outflow(i_free + i_clamped, node)
            if supply_power is None:
                supply_power = self._take_supply_reading(n_rows)
            supply = {"power_supply": supply_power, "power_supply_model": volts * drawn}
        return {
            "time": t_row,
            "error": err,
            "error_normalized": err / self.error0,
            "power_free": p_free,
            "power_clamped": p_clamped,
            "energy": energy,
            "lambda": np.asarray(lam, float) if np.ndim(lam) else np.full(n_rows, lam),
            "eta": np.asarray(eta, float) if np.ndim(eta) else np.full(n_rows, eta),
            "gate_voltage": gate_rows,
            "conductance": chord[:n_rows],
            "v_free": v_free,
            "v_clamped": v_clamped,
            **supply,
        }
