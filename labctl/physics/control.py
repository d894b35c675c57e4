"""Dynamical control of the power-minimisation amplitude λ (power-efficient paper, Eq. 18)."""

from __future__ import annotations

import math

from labctl.physics.validate import check_positive


class LambdaController:
    """Drives λ so that the error settles at a tolerated value (dimensionless λ, error in V²).

    dλ/dt = ρ⁻¹ [ (L̃ / L)^p − 1 ] λ: λ grows (more power minimisation) while the error L is
    below the target L̃ and shrinks while it is above. ``rho`` is the time scale in the same
    unit as the ``dt`` passed to :meth:`update` (s on the bench, steps in simulation). The
    update is integrated exactly for constant L over dt (λ ← λ·exp(dt/ρ·[...])), then clipped
    to [lam_min, lam_max].

    Convention: ``target_error`` L̃ is an absolute error in V² compared with labctl's
    L = ½ Σ_T (Ṽ_T − V_T)² (with ½, as in the power-efficient paper's text, where
    L̃ = 1e-3); the authors' code uses Σ without ½, so its threshold C̃ corresponds to
    L̃ = C̃/2 here (docs/PHYSICS_API.md, "Conventions").

    >>> c = LambdaController(target_error=1e-3, rho=1.0, p=0.5, lam0=1e-3)
    >>> c.update(error=1e-1, dt=1.0) < 1e-3 < c.update(error=1e-5, dt=1.0)
    True
    """

    def __init__(
        self,
        target_error: float,
        rho: float = 1.0,
        p: float = 0.02,
        lam0: float = 1e-6,
        lam_min: float = 1e-12,
        lam_max: float = 0.5,
    ) -> None:
        self.target_error = check_positive(target_error, "target_error")
        self.rho = check_positive(rho, "rho")
        self.p = check_positive(p, "p")
        self.lam_min = check_positive(lam_min, "lam_min")
        self.lam_max = float(lam_max)
        if not self.lam_min < self.lam_max < 1.0:
            raise ValueError(
                f"lam_min, lam_max: need 0 < lam_min < lam_max < 1, got {lam_min}, {lam_max}"
            )
        if not self.lam_min <= lam0 <= self.lam_max:
            raise ValueError(f"lam0: must lie in [{lam_min}, {lam_max}], got {lam0}")
        self.lam = float(lam0)

    def update(self, error: float, dt: float) -> float:
        """Advance λ by ``dt`` given the present error L (V²); returns the new λ."""
        if dt < 0:
            raise ValueError(f"dt: must be >= 0, got {dt}")
        err = max(float(error), 1e-300)
        rate = ((self.target_error / err) ** self.p - 1.0) / self.rho
        self.lam = float(min(max(self.lam * math.exp(min(rate * dt, 50.0)), self.lam_min),
                             self.lam_max))
        return self.lam
