"""Continuous-time digital twin of the twin-transistor coupled-learning bench (SI units).

Each edge is a pair of MOSFETs with one gate voltage G_i (V) held on a capacitor; the free
copy has the sources held, the clamped copy the sources and the targets held at
V_F + η (Ṽ − V_F) by the electronic feedback loop (modelled as instantaneous). While
learning is on, every gate integrates the local rule

    dG/dt = (α / η) · [ (1 − λ) ΔV_F² − ΔV_C² ] / (1 V)  − leak · (G − G_rest)  (+ noise)

so α (s⁻¹) is the bench's effective rate α_eff = 1/24 ms when drops are in volts (a bracket
of 1 V² moves the gate by α/η V/s); gates are clipped to the rails [gate_min, gate_max].
The gate's own RC charging (2.2 µF · 1 kΩ = 2.2 ms) is treated as instantaneous: ``set_gates``
and the rule act directly on G. With ``gamma = math.inf`` the node voltages are the Newton
steady states (quasistatic); with finite γ (s⁻¹) they relax as dV/dt = −γ F(V)/ḡ, F the net
current leaving each free node (A) and ḡ the mean edge conductance (S) at the start, i.e. the
out-of-equilibrium paper's dV/dt = −γ L(k) V for linear edges; this is integrated with
linearised backward Euler, stable for any γ·dt.
Integration step: ``dt`` (default 2 ms, ~1/12 of 1/α): explicit Euler on the gates. Over the
20 s campaign (30 tasks, λ 0–0.055) halving it to 1 ms moves the final gates by ≤ 6 mV, the
free power by ≤ 1.3e-3 relative and L/L0 by ≤ 0.4 % (median 4e-4); doubling it to 4 ms would
triple those, so 2 ms is kept (tests/physics/test_physics_bench_model.py checks convergence
in dt). With quasistatic nodes (γ = ∞) the step loop runs compiled
(:mod:`labctl.physics.kernels_mosfet`: per task, warm-started Newton on the free nodes; dense
LU on the 16-node bench, sparse LU in a pattern fixed once per network on larger ones): one
kernel call per ``advance`` does every step and writes the samples (noise drawn in chunks).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from labctl.network import Network
from labctl.physics.edges import mosfet_conductance, mosfet_current
from labctl.physics.kernels_mosfet import (
    DENSE_MAX_NODES,
    no_pattern,
    node_outflow_both,
    residual_curvature,
    twin_advance,
)
from labctl.physics.kernels_sparse import symbolic
from labctl.physics.params import MosfetParams
from labctl.physics.solve import (
    assembler_for,
    hold_rows,
    linear_start,
    solve_mosfet_batch,
)
from labctl.physics.validate import (
    check_disjoint,
    check_eta,
    check_lam,
    check_network,
    check_node_map,
)

#: most rule-noise values (gate kicks) drawn at once by :class:`TwinBenchBatch`
_NOISE_CHUNK = 1 << 18


@dataclass(frozen=True)
class BenchParams:
    """Bench dynamics parameters; defaults are the second-generation bench (PHYSICS.md §3, §5).

    mosfet: transistor constants (S = 8.5e-4 A/V², V_T = 0.62 V, rails 1.0–5.5 V, ...);
    alpha: learning rate α_eff, s⁻¹ (1/24 ms); eta: nudge η (0.22); lam: λ (0);
    gamma: node relaxation rate, s⁻¹ (math.inf = quasistatic nodes);
    gate_leak: leak rate of the gate capacitors toward ``gate_rest``, s⁻¹ (0 = none);
    rule_noise: white noise on dG/dt, V/√s; seed: seeds mismatch and noise; dt: integration
    step, s.
    """

    mosfet: MosfetParams = field(default_factory=MosfetParams)
    alpha: float = 1.0 / 0.024
    eta: float = 0.22
    lam: float = 0.0
    gamma: float = math.inf
    gate_leak: float = 0.0
    gate_rest: float = 1.0
    rule_noise: float = 0.0
    seed: int = 0
    dt: float = 2e-3

    def __post_init__(self) -> None:
        check_eta(self.eta)
        check_lam(self.lam)
        for name in ("alpha", "gamma", "dt"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        for name in ("gate_leak", "rule_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")


class TwinBenchBatch:
    """B independent twin networks (tasks) advanced together; arrays carry a leading B axis.

    ``sources[b]`` / ``targets[b]``: dict node -> V of task b (same node counts in all tasks);
    ``lam``: scalar or (B,) λ values; ``gates0``: (E,) or (B, E) volts (default: mid rails).
    """

    def __init__(
        self,
        network: Network,
        params: BenchParams | None = None,
        sources: Sequence[Mapping] = (),
        targets: Sequence[Mapping] = (),
        lam: float | np.ndarray | None = None,
        gates0: np.ndarray | None = None,
        batch: int | None = None,
    ) -> None:
        self.network = check_network(network)
        self.params = params or BenchParams()
        p = self.params.mosfet
        bsz = batch or max(len(sources), 1)
        self.batch = bsz
        self.asm = assembler_for(network)
        # per-call invariants of the compiled kernel, hoisted out of the step loop
        self._edge_a = np.ascontiguousarray(network.edges[:, 0], dtype=np.int64)
        self._edge_b = np.ascontiguousarray(network.edges[:, 1], dtype=np.int64)
        self._degree = network.degree()
        self._sparse_args = no_pattern()
        if network.n_nodes > DENSE_MAX_NODES:  # large boards: sparse LU in the kernel
            pat = symbolic(network)
            self._sparse_args = (True, pat.pos, pat.edge_at, pat.colptr, pat.rowidx,
                                 pat.rowptr, pat.rowcol, pat.rowat)
        self._bounds: tuple[float, float] | None = None
        (self.s_free, self.vt_free), (self.s_clamp, self.vt_clamp) = p.edge_constants(
            network.n_edges, self.params.seed)
        self.rng = np.random.default_rng(self.params.seed + 1)
        mid = 0.5 * (p.gate_min + p.gate_max) if gates0 is None else gates0
        self.gates = np.array(np.broadcast_to(mid, (bsz, network.n_edges)), dtype=float)
        self._check_gates(self.gates)
        self.t = 0.0
        self.learning = False
        self.eta = self.params.eta
        self.lam = np.full(bsz, self.params.lam)
        if lam is not None:
            self.set_lambda(lam)
        self._src = np.zeros((bsz, 0), dtype=np.int64)
        self._src_v = np.zeros((bsz, 0))
        self._tgt = np.zeros((bsz, 0), dtype=np.int64)
        self._tgt_v = np.zeros((bsz, 0))
        self.v_free: np.ndarray | None = None
        self.v_clamp: np.ndarray | None = None
        if sources:
            self.set_sources(sources)
        if targets:
            self.set_targets(targets)

    # ---- transistor constants (settable, e.g. per-edge calibration) ---------------------
    @property
    def s_free(self) -> np.ndarray:
        """Square-law constants S (A/V²) of the free copy's transistors, (E,)."""
        return self._s_free

    @s_free.setter
    def s_free(self, value: np.ndarray) -> None:
        self._s_free = np.ascontiguousarray(value, dtype=float)
        self._bounds = None

    @property
    def s_clamp(self) -> np.ndarray:
        """Square-law constants S (A/V²) of the clamped copy's transistors, (E,)."""
        return self._s_clamp

    @s_clamp.setter
    def s_clamp(self, value: np.ndarray) -> None:
        self._s_clamp = np.ascontiguousarray(value, dtype=float)
        self._bounds = None

    def _kernel_bounds(self) -> tuple[float, float]:
        """(current scale S_max in A/V², residual curvature bound in A/V²), cached."""
        if self._bounds is None:
            s_max = np.maximum(self._s_free, self._s_clamp)
            self._bounds = (float(np.max(s_max)),
                            residual_curvature(s_max, self._degree,
                                               self.params.mosfet.smoothing))
        return self._bounds

    # ---- settings -------------------------------------------------------------------
    def _check_gates(self, g: np.ndarray) -> None:
        p = self.params.mosfet
        if not np.all(np.isfinite(g)) or np.any(g < p.gate_min) or np.any(g > p.gate_max):
            raise ValueError(f"gates: must lie in [{p.gate_min}, {p.gate_max}] V")

    def _maps(self, maps: Sequence[Mapping], what: str) -> tuple[np.ndarray, np.ndarray]:
        if len(maps) != self.batch:
            raise ValueError(f"{what}: expected {self.batch} dicts (one per task)")
        parts = [check_node_map(self.network, m, what, allow_empty=True) for m in maps]
        if len({len(n) for n, _ in parts}) > 1:
            raise ValueError(f"{what}: every task needs the same number of nodes")
        p = self.params.mosfet
        vals = np.array([v for _, v in parts], dtype=float).reshape(self.batch, -1)
        if np.any(vals < p.node_min - 1e-12) or np.any(vals > p.node_max + 1e-12):
            raise ValueError(f"{what}: voltages must lie in [{p.node_min}, {p.node_max}] V")
        return np.array([n for n, _ in parts], dtype=np.int64).reshape(self.batch, -1), vals

    def set_sources(self, sources: Sequence[Mapping]) -> None:
        """Hold the source nodes of each task at the given voltages (V)."""
        nodes, vals = self._maps(sources, "sources")
        for b in range(self.batch):
            check_disjoint(nodes[b], self._tgt[b] if self._tgt.size else np.zeros(0, int))
        self._src, self._src_v = nodes, vals
        self.v_free = self.v_clamp = None

    def set_targets(self, targets: Sequence[Mapping]) -> None:
        """Desired target voltages Ṽ (V) of each task."""
        nodes, vals = self._maps(targets, "targets")
        for b in range(self.batch):
            check_disjoint(self._src[b], nodes[b])
        self._tgt, self._tgt_v = nodes, vals
        self.v_clamp = None

    def set_eta(self, eta: float) -> None:
        """Nudge amplitude η ∈ (0, 1]."""
        self.eta = check_eta(eta)

    def set_lambda(self, lam: float | np.ndarray) -> None:
        """Power-minimisation amplitude λ ∈ [0, 1), scalar or one per task."""
        arr = np.broadcast_to(np.asarray(lam, dtype=float), (self.batch,))
        for value in arr:
            check_lam(value)
        self.lam = np.array(arr)

    def set_learning(self, on: bool) -> None:
        """Open (True) or close (False) the learning switch of every edge."""
        self.learning = bool(on)

    def set_gates(self, gates: np.ndarray) -> None:
        """Set gate voltages (V), (E,) or (B, E); the 2.2 ms RC is treated as instantaneous."""
        g = np.array(np.broadcast_to(np.asarray(gates, float), self.gates.shape))
        self._check_gates(g)
        self.gates = g

    # ---- physics ----------------------------------------------------------------------
    def _clamp_values(self, v_free: np.ndarray) -> np.ndarray:
        vt = np.take_along_axis(v_free, self._tgt, axis=1)
        return vt + self.eta * (self._tgt_v - vt)

    def _steady(self, copy: str, v0: np.ndarray | None) -> np.ndarray:
        p = self.params.mosfet
        if copy == "free":
            nodes, vals, s, vt = self._src, self._src_v, self.s_free, self.vt_free
        else:
            nodes = np.concatenate([self._src, self._tgt], axis=1)
            vals = np.concatenate([self._src_v, self._clamp_values(self.v_free)], axis=1)
            s, vt = self.s_clamp, self.vt_clamp
        if nodes.shape[1] == 0:
            return np.zeros((self.batch, self.network.n_nodes)) if v0 is None else v0
        return solve_mosfet_batch(self.network, self.gates, nodes, vals, s, vt, p.smoothing,
                                  v0=v0, tol=1e-12, assembler=self.asm)

    def _relax(self, v: np.ndarray, copy: str, dt: float) -> np.ndarray:
        """One linearised backward-Euler step of dV/dt = −γ F(V)/ḡ at the free nodes."""
        p = self.params.mosfet
        s, vt = (self.s_free, self.vt_free) if copy == "free" else (self.s_clamp, self.vt_clamp)
        if copy == "free":
            nodes, vals = self._src, self._src_v
        else:
            nodes = np.concatenate([self._src, self._tgt], axis=1)
            vals = np.concatenate([self._src_v, self._clamp_values(self.v_free)], axis=1)
        a, b = self.network.edges[:, 0], self.network.edges[:, 1]
        v = v.copy()
        np.put_along_axis(v, nodes, vals, axis=1)
        cur, da, db = mosfet_current(v[:, a], v[:, b], self.gates, s, vt, p.smoothing)
        res = self.asm.outflow(cur)
        bidx = np.arange(self.batch)[:, None]
        res[bidx, nodes] = 0.0
        h = self.params.gamma * dt / self._g_ref
        mat = h[:, None, None] * self.asm.jacobian(da, db)
        mat += np.eye(self.network.n_nodes)
        hold_rows(mat, nodes)
        return v - np.linalg.solve(mat, (h[:, None] * res)[..., None])[..., 0]

    def _settle_compiled(self) -> None:
        """Both copies' steady states in the compiled kernel: a step of zero length with
        the learning switch open, so its Newton solves are the whole work (the free copy
        from its present state, or from the linear networks' solution as
        :func:`~labctl.physics.solve.solve_mosfet_batch` starts; the clamped copy from its
        present state or the free copy's). The same steady state as :meth:`_steady` to
        its tolerance, at a fraction of the NumPy solver's per-iteration cost."""
        if self.v_free is None:
            self.v_free = linear_start(self.network, self.gates, self._src, self._src_v,
                                       self.s_free, self.vt_free, self.asm)
        else:
            self.v_free = self.v_free.copy()
        self.v_clamp = self.v_free.copy() if self.v_clamp is None else self.v_clamp.copy()
        self.gates = self.gates.copy()  # the kernel works in place (it leaves them as they are)
        out = np.empty((self.batch, 1, self.network.n_nodes))
        self._kernel(0.0, 1, None, out, np.empty_like(out), learning=False)

    def _states(self, dt: float) -> None:
        unsolved = self.v_free is None or self.v_clamp is None
        if unsolved or math.isinf(self.params.gamma):
            if unsolved and self._src.shape[1] > 0:
                self._settle_compiled()
            else:
                self.v_free = self._steady("free", self.v_free)
                self.v_clamp = self._steady("clamped", self.v_clamp if self.v_clamp is not None
                                            else self.v_free)
            if not hasattr(self, "_g_ref"):
                self._g_ref = np.mean(self.conductance(), axis=1)
            return
        self.v_free = self._relax(self.v_free, "free", dt)
        self.v_clamp = self._relax(self.v_clamp, "clamped", dt)

    def _gate_step(self, h: float) -> None:
        """One explicit-Euler step of h seconds of the gate rule (and leak), NumPy version."""
        prm, p = self.params, self.params.mosfet
        a, b = self.network.edges[:, 0], self.network.edges[:, 1]
        if self.learning:
            d_f = self.v_free[:, a] - self.v_free[:, b]
            d_c = self.v_clamp[:, a] - self.v_clamp[:, b]
            rate = (prm.alpha / self.eta) * ((1.0 - self.lam)[:, None] * d_f * d_f - d_c * d_c)
            g = self.gates + h * rate
            if prm.gate_leak:
                g -= h * prm.gate_leak * (g - prm.gate_rest)
            if prm.rule_noise:
                g += prm.rule_noise * math.sqrt(h) * self.rng.standard_normal(g.shape)
            self.gates = np.clip(g, p.gate_min, p.gate_max)
        elif prm.gate_leak:
            self.gates = np.clip(self.gates - h * prm.gate_leak * (self.gates - prm.gate_rest),
                                 p.gate_min, p.gate_max)

    def _advance_compiled(self, h: float, n_sub: int, out_f: np.ndarray,
                          out_c: np.ndarray) -> None:
        """All steps of one ``advance`` (quasistatic nodes) in the compiled kernel.

        Without rule noise this is one kernel call. With noise the kicks are drawn in chunks
        of at most ~2¹⁸ values (whole samples, or whole steps of one sample when a sample
        alone needs more): the same random stream as one draw per step.
        """
        prm = self.params
        n_samples = out_f.shape[1]
        shape = (self.batch, self.network.n_edges)
        if not (prm.rule_noise and self.learning):
            self._kernel(h, n_sub, None, out_f, out_c)
        elif n_sub * shape[0] * shape[1] <= _NOISE_CHUNK:
            per_chunk = _NOISE_CHUNK // (n_sub * shape[0] * shape[1])
            for s0 in range(0, n_samples, per_chunk):
                s1 = min(n_samples, s0 + per_chunk)
                self._kernel(h, n_sub, self._kicks(h, (s1 - s0) * n_sub),
                             out_f[:, s0:s1], out_c[:, s0:s1])
        else:
            steps = max(1, _NOISE_CHUNK // (shape[0] * shape[1]))
            scratch_f, scratch_c = np.empty_like(out_f[:, :1]), np.empty_like(out_c[:, :1])
            for i in range(n_samples):
                for k0 in range(0, n_sub, steps):
                    m = min(steps, n_sub - k0)
                    last = k0 + m == n_sub
                    self._kernel(h, m, self._kicks(h, m),
                                 out_f[:, i:i + 1] if last else scratch_f,
                                 out_c[:, i:i + 1] if last else scratch_c)
        self._tick(h, n_samples * n_sub)

    def _tick(self, h: float, steps: int) -> float:
        """Bench time ``t`` (s) moves on by ``steps`` steps of ``h`` s, added one at a time
        (the summation of the step-by-step path); returns the new time."""
        t = self.t
        for _ in range(steps):
            t += h
        self.t = t
        return t

    def _sample_steps(self, duration_s: float, n_samples: int) -> tuple[int, float]:
        """(steps per sample, step h in s) for ``n_samples`` samples over ``duration_s``
        s on the model's step ``dt``; (0, 0.0) for no time."""
        sample_dt = duration_s / n_samples
        n_sub = max(1, math.ceil(sample_dt / self.params.dt - 1e-9)) if duration_s > 0 else 0
        return n_sub, (sample_dt / n_sub if n_sub else 0.0)

    @property
    def _compiled(self) -> bool:
        """True where :meth:`advance` runs in the compiled kernel: quasistatic nodes and
        held sources."""
        return math.isinf(self.params.gamma) and self._src.shape[1] > 0

    def _own_state(self) -> None:
        """Settle new sources or targets, then give the bench its own copies of gates and
        node voltages: the kernel works in place, and arrays handed out before must not
        change."""
        if self.v_free is None or self.v_clamp is None:
            self._states(0.0)
        self.gates, self.v_free = self.gates.copy(), self.v_free.copy()
        self.v_clamp = self.v_clamp.copy()

    def _kicks(self, h: float, n_steps: int) -> np.ndarray:
        """Rule-noise gate kicks (n_steps, B, E) in V for steps of h seconds."""
        shape = (n_steps, self.batch, self.network.n_edges)
        return self.params.rule_noise * math.sqrt(h) * self.rng.standard_normal(shape)

    def _kernel(self, h: float, n_sub: int, kicks: np.ndarray | None, out_f: np.ndarray,
                out_c: np.ndarray, learning: bool | None = None, block: int = 0,
                out_g: np.ndarray | None = None) -> None:
        """One call of :func:`twin_advance`: out_f.shape[1] samples of ``n_sub`` steps
        (``learning``: the switch for this call, else the bench's), in blocks of ``block``
        samples (0: one block) whose end gates go to ``out_g`` (B, K, E) if given."""
        prm, p = self.params, self.params.mosfet
        if kicks is None:
            kicks = np.empty((0, self.batch, self.network.n_edges))
        if out_g is None:
            out_g = np.empty((self.batch, 0, self.network.n_edges))
        scale, curvature = self._kernel_bounds()
        failed = twin_advance(
            self.gates, self.v_free, self.v_clamp, self._edge_a, self._edge_b, self._s_free,
            self.vt_free, self._s_clamp, self.vt_clamp, p.smoothing, self._src, self._src_v,
            self._tgt, self._tgt_v, self.eta, np.ascontiguousarray(self.lam, dtype=float),
            prm.alpha, prm.gate_leak, prm.gate_rest, p.gate_min, p.gate_max,
            self.learning if learning is None else learning, h, n_sub, kicks, out_f, out_c,
            block or max(out_f.shape[1], 1), out_g, 1e-12, scale, curvature, 60,
            *self._sparse_args)
        if failed:
            raise RuntimeError(f"TwinBenchBatch.advance: Newton did not converge for "
                               f"{failed} task(s); check gates and held voltages")

    def advance(self, duration_s: float, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        """Run the bench for ``duration_s`` seconds; node voltages (B, n_samples, N) of both copies.

        Samples are noise-free, at ``n_samples`` equally spaced instants ending at the new
        ``t``. Gates follow the rule only while learning is on.
        """
        if not duration_s >= 0 or int(n_samples) < 1:
            raise ValueError("duration_s, n_samples: need duration_s >= 0 and n_samples >= 1")
        n_samples = int(n_samples)
        n_sub, h = self._sample_steps(duration_s, n_samples)
        out_f = np.empty((self.batch, n_samples, self.network.n_nodes))
        out_c = np.empty_like(out_f)
        if self._compiled:
            self._own_state()
            self._advance_compiled(h, n_sub, out_f, out_c)
            return out_f, out_c
        if self.v_free is None or self.v_clamp is None:  # new sources or targets: settle
            self._states(0.0)
        for i in range(n_samples):
            for _ in range(n_sub):
                self._gate_step(h)
                self.t += h
                self._states(h)
            out_f[:, i], out_c[:, i] = self.v_free, self.v_clamp
        return out_f, out_c

    @property
    def can_advance_blocks(self) -> bool:
        """True if :meth:`advance_blocks` applies: the compiled (quasistatic) path with
        sources held and no rule noise."""
        return self._compiled and not self.params.rule_noise

    def advance_blocks(self, duration_s: float, n_samples: int, blocks: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``blocks`` calls of :meth:`advance` (``duration_s`` > 0 s, ``n_samples``) in one
        compiled call, the same values bit for bit: node voltages (B, blocks·n_samples, N)
        of both copies, the gates (B, blocks, E) V and the bench times (blocks,) s at the end
        of each block. Only where :attr:`can_advance_blocks`."""
        if not self.can_advance_blocks:
            raise ValueError("advance_blocks: needs gamma = inf, held sources and no rule noise")
        if not duration_s > 0 or int(n_samples) < 1 or int(blocks) < 1:
            raise ValueError("duration_s, n_samples, blocks: need duration_s > 0, n_samples "
                             ">= 1 and blocks >= 1")
        n_samples, blocks = int(n_samples), int(blocks)
        n_sub, h = self._sample_steps(duration_s, n_samples)  # as each advance steps
        out_f = np.empty((self.batch, blocks * n_samples, self.network.n_nodes))
        out_c = np.empty_like(out_f)
        out_g = np.empty((self.batch, blocks, self.network.n_edges))
        self._own_state()
        self._kernel(h, n_sub, None, out_f, out_c, block=n_samples, out_g=out_g)
        ends = np.array([self._tick(h, n_samples * n_sub) for _ in range(blocks)])
        return out_f, out_c, out_g, ends

    # ---- observables ------------------------------------------------------------------
    def _copy(self, copy: str):
        if copy not in ("free", "clamped"):
            raise ValueError(f"copy: must be 'free' or 'clamped', got {copy!r}")
        return (self.s_free, self.vt_free) if copy == "free" else (self.s_clamp, self.vt_clamp)

    def edge_currents(self, v: np.ndarray, copy: str = "free") -> np.ndarray:
        """Edge currents (A), shape (..., E), for node voltages ``v`` (..., N) of one copy."""
        s, vt = self._copy(copy)
        a, b = self.network.edges[:, 0], self.network.edges[:, 1]
        g = self.gates if np.ndim(v) == 2 else self.gates[:, None, :]
        return mosfet_current(v[..., a], v[..., b], g, s, vt, self.params.mosfet.smoothing)[0]

    def power(self, v: np.ndarray, copy: str = "free") -> np.ndarray:
        """Dissipated power P = Σ I ΔV (W) of one copy for node voltages ``v`` (..., N)."""
        return np.sum(self.edge_currents(v, copy) * self.network.drops(v), axis=-1)

    def conductance(self) -> np.ndarray:
        """Chord conductances I/ΔV (S) of the free copy at the present node voltages, (B, E)."""
        a, b = self.network.edges[:, 0], self.network.edges[:, 1]
        v = self.v_free if self.v_free is not None else np.full(
            (self.batch, self.network.n_nodes), 0.5 * self.params.mosfet.node_max)
        return mosfet_conductance(v[:, a], v[:, b], self.gates, self.s_free, self.vt_free,
                                  self.params.mosfet.smoothing)

    def error(self, v_free: np.ndarray | None = None) -> np.ndarray:
        """Error L = ½ Σ_T (Ṽ_T − V_T^F)² (V²) per task, for ``v_free`` (B, ..., N) or now."""
        v = self.v_free if v_free is None else v_free
        if v is None:
            self._states(0.0)
            v = self.v_free
        if v.ndim == 2:
            vt = np.take_along_axis(v, self._tgt, axis=1)
            return 0.5 * np.sum((self._tgt_v - vt) ** 2, axis=-1)
        vt = np.take_along_axis(v, self._tgt[:, None, :], axis=2)
        return 0.5 * np.sum((self._tgt_v[:, None, :] - vt) ** 2, axis=-1)


class TwinBench:
    """One simulated twin-transistor bench (the contract used by labctl.bench.simulated).

    Attributes: ``t`` (s), ``gates`` (E,) V, ``learning``, ``eta``, ``lam``, ``sources`` and
    ``targets`` (dicts node -> V, targets = desired Ṽ). Arrays returned have no task axis.
    """

    def __init__(self, network: Network, params: BenchParams | None = None,
                 gates0: np.ndarray | None = None) -> None:
        self._b = TwinBenchBatch(network, params, gates0=gates0, batch=1)
        self.network = network
        self.sources: dict[int, float] = {}
        self.targets: dict[int, float] = {}

    t = property(lambda self: self._b.t, doc="Bench time, s.")
    gates = property(lambda self: self._b.gates[0].copy(), doc="Gate voltages (E,), V.")
    learning = property(lambda self: self._b.learning, doc="Learning switch state.")
    eta = property(lambda self: self._b.eta, doc="Nudge amplitude η.")
    lam = property(lambda self: float(self._b.lam[0]), doc="λ.")
    params = property(lambda self: self._b.params, doc="The BenchParams in use.")

    def set_sources(self, sources: Mapping) -> None:
        """Hold source nodes at the given voltages (node -> V)."""
        self._b.set_sources([dict(sources)])
        self.sources = {int(k): float(v) for k, v in sources.items()}

    def set_targets(self, targets: Mapping) -> None:
        """Desired voltages Ṽ (node -> V) of the target nodes."""
        self._b.set_targets([dict(targets)])
        self.targets = {int(k): float(v) for k, v in targets.items()}

    def set_eta(self, eta: float) -> None:
        """Nudge amplitude η ∈ (0, 1]."""
        self._b.set_eta(eta)

    def set_lambda(self, lam: float) -> None:
        """Power-minimisation amplitude λ ∈ [0, 1)."""
        self._b.set_lambda(lam)

    def set_learning(self, on: bool) -> None:
        """Learning switch on/off."""
        self._b.set_learning(on)

    def set_gates(self, gates: np.ndarray) -> None:
        """Set all gate voltages (E,) in V (instantaneous; see module docstring)."""
        self._b.set_gates(np.asarray(gates, float)[None, :])

    def advance(self, duration_s: float, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        """Advance ``duration_s`` s; returns (v_free, v_clamped), each (n_samples, N) in V."""
        f, c = self._b.advance(duration_s, n_samples)
        return f[0], c[0]

    can_advance_blocks = property(lambda self: self._b.can_advance_blocks,
                                  doc="True if :meth:`advance_blocks` applies.")

    def advance_blocks(self, duration_s: float, n_samples: int, blocks: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``blocks`` × :meth:`advance` (``duration_s``, ``n_samples``) in one compiled call
        (:meth:`TwinBenchBatch.advance_blocks`): v_free, v_clamped (blocks·n_samples, N) V,
        the gates (blocks, E) V and bench times (blocks,) s at each block's end."""
        f, c, g, ends = self._b.advance_blocks(duration_s, n_samples, blocks)
        return f[0], c[0], g[0], ends

    def restore(self, gates: np.ndarray, v_free: np.ndarray, v_clamped: np.ndarray,
                t: float) -> None:
        """Put the bench back into a state it had: gates (E,) V, node voltages (N,) V of
        both copies and bench time ``t`` (s), as :meth:`advance_blocks` reported them."""
        b = self._b
        b.gates = np.array(gates, dtype=float).reshape(1, -1)
        b.v_free = np.array(v_free, dtype=float).reshape(1, -1)
        b.v_clamp = np.array(v_clamped, dtype=float).reshape(1, -1)
        b.t = float(t)

    def edge_currents(self, v: np.ndarray, copy: str = "free") -> np.ndarray:
        """Edge currents (A) for node voltages ``v`` (N,) or (n, N) of ``copy``."""
        v = np.asarray(v, float)
        return self._b.edge_currents(v[None], copy)[0]

    def node_outflow(self, node: int, v_free: np.ndarray, v_clamped: np.ndarray,
                     gates: np.ndarray | None = None) -> float:
        """Current (A) out of ``node`` into its edges, summed over both copies, at node
        voltages ``v_free`` and ``v_clamped`` (N,) V and ``gates`` (E,) V (None: the
        present ones): what a source holding that node in both copies supplies (one
        compiled pass)."""
        b = self._b
        g = b.gates[0] if gates is None else np.ascontiguousarray(gates, dtype=float)
        return float(node_outflow_both(
            np.ascontiguousarray(v_free, dtype=float), np.ascontiguousarray(v_clamped, dtype=float),
            g, b._edge_a, b._edge_b, b.s_free, b.vt_free, b.s_clamp, b.vt_clamp,
            b.params.mosfet.smoothing, int(node)))

    def power(self, v: np.ndarray, copy: str = "free") -> np.ndarray | float:
        """Dissipated power Σ I ΔV (W) for node voltages ``v`` (N,) or (n, N)."""
        out = self._b.power(np.asarray(v, float)[None], copy)[0]
        return float(out) if np.ndim(out) == 0 else out

    def conductance(self) -> np.ndarray:
        """Small-signal (chord) conductances of the free copy (E,) in S."""
        return self._b.conductance()[0]

    def error(self) -> float:
        """Present error L = ½ Σ (Ṽ − V_F)², V²."""
        return float(self._b.error()[0])
