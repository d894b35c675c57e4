"""One reproduced claim's outcome and the agreement rule shared by every claim."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: agreement with a paper's number: |measured − paper| ≤ 2σ + this fraction of |paper|
#: (the papers quote ≈ values; σ is the measurement's one-sigma uncertainty)
RELATIVE_TOLERANCE = 0.10


def agrees(measured: float, sigma: float, paper: float, paper_sigma: float = 0.0) -> bool:
    """True if ``measured`` ± ``sigma`` agrees with ``paper`` ± ``paper_sigma``:
    |measured − paper| ≤ 2·√(σ² + σ_paper²) + RELATIVE_TOLERANCE·|paper|."""
    if not (measured == measured and sigma == sigma):  # NaN
        return False
    band = 2.0 * (sigma ** 2 + paper_sigma ** 2) ** 0.5 + RELATIVE_TOLERANCE * abs(paper)
    return abs(measured - paper) <= band


@dataclass
class ClaimResult:
    """What ``labctl reproduce`` reports for one claim.

    ``key`` claim id, ``title`` short name, ``paper`` the paper's statement and where it is
    made, ``measured`` the claim's own statistic with its uncertainty (text), ``passed``
    True/False, or None when the statistic could not be computed (``measured`` then says
    why), ``details`` further lines for the report, ``figures`` written PNG files,
    ``protocol`` the protocol file that was run, ``quick`` whether it was the reduced run,
    ``wall_s`` its wall time (s), ``error`` the message if it could not run at all.
    """

    key: str
    title: str
    paper: str
    measured: str = ""
    passed: bool | None = None
    details: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    protocol: str = ""
    quick: bool = False
    wall_s: float = 0.0
    error: str = ""

    @property
    def verdict(self) -> str:
        """PASS, FAIL, n/a (statistic not computable) or ERROR."""
        if self.error:
            return "ERROR"
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]

    def save(self, path: Path) -> None:
        """Write this result as JSON (``verdict`` included, figures as strings) to ``path``,
        so a long ``labctl reproduce`` keeps each finished claim's outcome even if the
        command is stopped before its claim table."""
        data = asdict(self) | {"verdict": self.verdict,
                               "figures": [str(f) for f in self.figures]}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                        encoding="utf-8")
