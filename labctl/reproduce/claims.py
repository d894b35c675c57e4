"""The papers' claims that ``labctl reproduce`` checks: one shipped protocol per claim.

Bench claims (``protocols/*.toml``) run on the simulated bench through the run engine and
are analysed from their run file; pure-simulation claims (``protocols/papers/*.toml``) run
on the physics engine. Each claim computes its own statistic (see
:mod:`labctl.reproduce.bench` and :mod:`labctl.reproduce.simulation`).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from labctl.reproduce.result import ClaimResult


def shipped_protocols() -> Path:
    """The shipped protocols folder: a source checkout's ``protocols/`` (beside the
    package), else the copy an installed wheel carries as ``labctl/shipped_protocols``."""
    here = Path(__file__).resolve()
    checkout = here.parents[2] / "protocols"
    if (checkout / "papers").is_dir():
        return checkout
    return here.parents[1] / "shipped_protocols"


#: the shipped protocols folder (:func:`shipped_protocols`)
PROTOCOLS = shipped_protocols()


@dataclass(frozen=True)
class Claim:
    """``key``, a short ``title``, the paper's ``statement`` with where it is made,
    ``protocol`` (relative to the protocols folder), ``kind`` ("bench" or
    "simulation") and ``full_minutes``, the full form's rough wall time on one core of the
    2-core development machine (min; measured 2026-11-30, see docs/ANALYSIS.md), used only
    to hand the longest claims to ``--parallel``'s workers first."""

    key: str
    title: str
    statement: str
    protocol: str
    kind: str
    full_minutes: float


CLAIMS: tuple[Claim, ...] = (
    Claim("tradeoff", "bench λ trade-off",
          "mean error over all experiments at one λ rises and mean free power falls as λ "
          "grows (power-efficient-physical-learning Sec. III A, Fig. 3c, white diamonds)",
          "lambda_tradeoff.toml", "bench", 0.5),
    Claim("small_lambda", "small-λ scaling, N = 64",
          "L(λ) − L(0) ∝ λ² and P(0) − P(λ) ∝ λ at small λ (Eq. 16, Fig. 2a; regression, "
          "N = 64, 50 realisations)",
          "papers/small_lambda.toml", "simulation", 7.6),
    Claim("kappa", "initialisation κ",
          "trained free power ∝ κ, plateau near k_min; training time flat, then ∝ 1/κ; "
          "training energy minimal at an intermediate κ (Sec. II B, Fig. 1c–f)",
          "papers/kappa.toml", "simulation", 5.5),
    Claim("lambda_control", "λ control vs early stopping",
          "λ control converges on the tolerated error L̃ and ends at lower free power than "
          "early stopping of the same task at L̃ (Sec. IV, Eq. 18, Fig. 4a,b)",
          "lambda_control.toml", "bench", 0.2),
    Claim("nonequilibrium", "out of equilibrium",
          "γT ∝ (α/γ)^−1 below α_c ≈ γ; above it −0.42 ± 0.06 for α/γ 3–100 in the authors' "
          "data (out-of-equilibrium-learning Figs. 2–3; PHYSICS.md §4.5)",
          "papers/nonequilibrium.toml", "simulation", 2.3),
    Claim("noise_floor", "noise floor",
          "rule noise δ = 5e-4 gives an error floor (~1e-5 at α, η the paper does not "
          "state); below it λ lowers the free power at almost no error cost (Sec. III A, "
          "Fig. 3d; App. C)",
          "papers/noise_floor.toml", "simulation", 5.1),
    Claim("iris", "Iris classification",
          "the network learns to classify Iris: 4 inputs + ground, 3 targets, 10 training "
          "and 40 test flowers per species (App. C, Fig. 6c; PHYSICS.md §4.7)",
          "iris.toml", "bench", 0.1),
    Claim("nonlinear_regression", "nonlinear regression",
          "the nonlinear network learns a nonlinear input–output relation (slides; "
          "PHYSICS.md §4.7)",
          "nonlinear_regression.toml", "bench", 0.5),
)


def by_key(key: str) -> Claim:
    """The claim called ``key`` (ValueError listing the keys otherwise)."""
    for c in CLAIMS:
        if c.key == key:
            return c
    raise ValueError(f"claim {key!r}: unknown; allowed {', '.join(c.key for c in CLAIMS)}")


def run_claim(claim: Claim, out_dir: Path, quick: bool, parallel: bool = False,
              protocols: Path = PROTOCOLS) -> ClaimResult:
    """Run one claim's protocol and compute its statistic; figures, run files and the
    result (``result.json``, written as soon as the claim ends) go to ``out_dir/<key>/``.
    Never raises for a failure of the claim itself: the result then
    carries the error."""
    res = ClaimResult(claim.key, claim.title, claim.statement,
                      protocol=str(Path("protocols") / claim.protocol), quick=quick)
    out = out_dir / claim.key
    t0 = time.monotonic()
    try:
        if claim.kind == "bench":
            from labctl.reproduce import bench

            run_file = bench.run_protocol(protocols / claim.protocol, out,
                                          bench.QUICK[claim.key] if quick else None,
                                          parallel=parallel)
            outcome = bench.ANALYSES[claim.key](run_file, out)
        else:
            from labctl.reproduce import simulation
            from labctl.reproduce.simprotocol import load_sim_protocol

            sp = load_sim_protocol(protocols / claim.protocol)
            outcome = simulation.CLAIMS[sp.claim](sp.params(quick), out)
        res.measured, res.passed = outcome.measured, outcome.passed
        res.details, res.figures = outcome.details, outcome.figures
    except Exception as exc:  # one claim's failure must not stop the others
        res.error = f"{type(exc).__name__}: {exc}"
        res.details = traceback.format_exc().splitlines()[-6:]
    res.wall_s = time.monotonic() - t0
    res.save(out / "result.json")
    return res
