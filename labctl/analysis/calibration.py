"""Fit the simulated bench's calibration to a measured run, so the digital twin tracks the
real network.

Edge law (PHYSICS.md §5, triode): the current from node a to node b through edge i is

    I_i = S_i (G_i − V_T,i − (V_a + V_b)/2)(V_a − V_b)
        = S_i [G_i (V_a − V_b) − (V_a² − V_b²)/2] − (S_i V_T,i)(V_a − V_b),

linear in θ_i = S_i (A/V²) and φ_i = S_i V_T,i (A/V). Every recorded row gives Kirchhoff's
current law at every node not held by a source (or, in the clamped copy, by a target):
Σ_i ±I_i = 0. Stacking those equations over rows and tasks gives a homogeneous linear
system M [θ; φ] = 0 whose least-squares solution is the smallest right singular vector of
the column-scaled M. Node voltages alone cannot fix the overall current scale (scaling
every S_i leaves all voltages unchanged), so the mean of S is set to ``s_mean`` (by default
the bench file's). Standard errors come from a bootstrap over blocks of rows.

The soft-plus sub-threshold tail of the simulator and channel-length modulation are
neglected (< 0.1 % on the bench's voltages). Noise is estimated from the second
differences of the recorded rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labctl.bench.config import bench_from_text
from labctl.store import open_run

#: Rows per bootstrap block and number of bootstrap resamples.
BLOCK_ROWS = 25
N_BOOTSTRAP = 40


@dataclass(frozen=True)
class CalibrationFit:
    """Fitted per-edge calibration: ``S`` (A/V²) and ``V_T`` (V), shape (E,), with one-sigma
    bootstrap errors ``S_err``/``V_T_err``; ``noise_v`` AI noise per DAQ sample (V rms),
    ``gate_noise_v`` gate read-back noise (V rms), ``kcl_rms`` rms Kirchhoff residual of the
    fit (A), ``n_equations`` used, and ``separation`` = ratio of the two smallest
    eigenvalues of the normal matrix (≫ 1: the solution is well determined; near 1: the
    data cannot tell S from V_T, e.g. gates that hardly moved)."""

    S: np.ndarray
    V_T: np.ndarray
    S_err: np.ndarray
    V_T_err: np.ndarray
    noise_v: float
    gate_noise_v: float
    kcl_rms: float
    n_equations: int
    separation: float

    def to_toml(self) -> str:
        """A ``[calibration]`` section (per-edge S and V_T) for a bench file."""
        s = ", ".join(f"{v:.5e}" for v in self.S)
        vt = ", ".join(f"{v:.4f}" for v in self.V_T)
        return (f"[calibration]                # fitted by labctl.analysis.calibration\n"
                f"S = [{s}]\nV_T = [{vt}]\n")


def _kcl_rows(v: np.ndarray, gates: np.ndarray, edges: np.ndarray,
              free_nodes: np.ndarray) -> np.ndarray:
    """KCL equations (rows × free nodes, 2E) in [θ; φ] for node voltages ``v`` (T×N, V)
    and gates (T×E, V)."""
    a, b = edges[:, 0], edges[:, 1]
    va, vb = v[:, a], v[:, b]
    w = va - vb                                   # (T, E) V
    u = gates * w - 0.5 * (va * va - vb * vb)     # (T, E) V²
    n_nodes = v.shape[1]
    inc = np.zeros((n_nodes, edges.shape[0]))     # +1: current leaves node a
    inc[a, np.arange(edges.shape[0])] += 1.0
    inc[b, np.arange(edges.shape[0])] -= 1.0
    inc = inc[free_nodes]                         # (F, E)
    m_theta = inc[None, :, :] * u[:, None, :]     # (T, F, E)
    m_phi = -inc[None, :, :] * w[:, None, :]
    return np.concatenate([m_theta, m_phi], axis=2).reshape(-1, 2 * edges.shape[0])


def _row_noise(x: np.ndarray) -> float:
    """Rms white noise of rows ``x`` (T×C) from second differences (smooth drift removed)."""
    if x.shape[0] < 4:
        return float("nan")
    d2 = np.diff(x, n=2, axis=0)
    return float(np.sqrt(np.nanmedian(d2 * d2) / 6.0 / 0.4549))  # median of χ²₁ ≈ 0.4549


def _solve(gram: np.ndarray, scale: np.ndarray, n_edges: int, s_mean: float) -> np.ndarray:
    """[θ; φ] from a Gram matrix of the column-scaled system, with mean θ = s_mean."""
    _, vecs = np.linalg.eigh(gram)
    x = vecs[:, 0] / scale
    return x * (s_mean / x[:n_edges].mean())


def _separation(gram: np.ndarray) -> float:
    """Second-smallest over smallest eigenvalue of a Gram matrix (well-posedness, ≥ 1)."""
    w = np.linalg.eigvalsh(gram)
    return float(w[1] / max(w[0], 1e-300 * w[-1]))


def fit_calibration(paths: str | Path | Iterable[str | Path], *, copies: str = "both",
                    s_mean: float | None = None, seed: int = 0) -> CalibrationFit:
    """Fit per-edge S and V_T (and the noise levels) to the rows of one or many run files.

    ``copies``: ``"free"``, ``"clamped"`` or ``"both"`` network copies (the two transistors
    of an edge share one gate; with ``both`` their mean is fitted). ``s_mean`` (A/V²) fixes
    the unobservable overall scale (default: the mean S of the run's bench file).
    """
    if copies not in ("free", "clamped", "both"):
        raise ValueError(f"copies: {copies!r}; allowed 'free', 'clamped' or 'both'")
    plist = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not plist:
        raise ValueError("paths: no run file given")
    data: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    noise_rows: list[float] = []
    gate_noise: list[float] = []
    edges = None
    bench_s = None
    for path in plist:
        with open_run(path) as run:
            edges_run = np.asarray(run.network.edges)
            if edges is not None and not np.array_equal(edges, edges_run):
                raise ValueError(f"paths: {path} has a different network from the others")
            edges = edges_run
            bench = bench_from_text(run.attrs["bench_text"], f"{path}:bench_text")
            bench_s = float(np.mean(bench.calibration.S))
            for task in run.tasks:
                if task.n_rows < 4 or "source_nodes" not in task.params:
                    continue
                gates = np.asarray(task.gate_voltage, dtype=float)
                sources = list(task.params["source_nodes"])
                targets = list(task.params.get("target_nodes", []))
                per_row = bench.sample_rate / float(task.params.get("record_rate", 50.0))
                for copy in ("free", "clamped"):
                    if copies not in (copy, "both"):
                        continue
                    v = np.asarray(task.v_free if copy == "free" else task.v_clamped, float)
                    held = set(sources) | (set(targets) if copy == "clamped" else set())
                    free = np.array([n for n in range(v.shape[1]) if n not in held])
                    ok = np.all(np.isfinite(v), axis=1) & np.all(np.isfinite(gates), axis=1)
                    noise_rows.append(_row_noise(v[ok][:, free]) * np.sqrt(per_row))
                    data.append((v[ok], gates[ok], free))
                gate_noise.append(_row_noise(gates))
    if edges is None or not data:
        raise ValueError(f"paths: no task with recorded node voltages and gates in {plist}")
    target_mean = float(s_mean) if s_mean is not None else float(bench_s)
    if not target_mean > 0:
        raise ValueError(f"s_mean: {s_mean}; allowed > 0 A/V²")
    S, vt, S_err, vt_err, kcl_rms, n_eq, sep = _fit_blocks(data, edges, target_mean, seed)
    return CalibrationFit(S=S, V_T=vt, S_err=S_err, V_T_err=vt_err,
                          noise_v=float(np.nanmedian(noise_rows)),
                          gate_noise_v=float(np.nanmedian(gate_noise)),
                          kcl_rms=kcl_rms, n_equations=n_eq, separation=sep)


def _fit_blocks(data: list[tuple[np.ndarray, np.ndarray, np.ndarray]], edges: np.ndarray,
                target_mean: float, seed: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, int, float]:
    """The linear fit: S, V_T, their bootstrap errors, rms KCL residual (A), equations."""
    n_edges = edges.shape[0]
    blocks = []
    for v, gates, free in data:
        for start in range(0, v.shape[0], BLOCK_ROWS):
            sl = slice(start, start + BLOCK_ROWS)
            blocks.append(_kcl_rows(v[sl], gates[sl], edges, free))
    scale = np.sqrt(sum(np.sum(b * b, axis=0) for b in blocks)) + 1e-300
    grams = np.array([np.einsum("ri,rj->ij", b / scale, b / scale) for b in blocks])
    total = grams.sum(axis=0)
    x = _solve(total, scale, n_edges, target_mean)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(N_BOOTSTRAP):
        counts = rng.multinomial(len(blocks), np.full(len(blocks), 1.0 / len(blocks)))
        boot.append(_solve(np.tensordot(counts, grams, axes=1), scale, n_edges, target_mean))
    bx = np.array(boot)
    S = x[:n_edges]
    vt_fit = x[n_edges:] / S
    vt_boot = bx[:, n_edges:] / bx[:, :n_edges]
    resid = np.concatenate([b @ x for b in blocks])
    return (S, vt_fit, bx[:, :n_edges].std(axis=0), vt_boot.std(axis=0),
            float(np.sqrt(np.mean(resid * resid))), int(resid.size), _separation(total))
