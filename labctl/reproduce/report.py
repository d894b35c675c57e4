"""The claim table (terminal) and the Markdown report with figures (``DIR/REPORT.md``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from labctl.reproduce.result import RELATIVE_TOLERANCE, ClaimResult

HEADER = ("claim", "paper's statement (where)", "measured ± uncertainty", "pass/fail")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def claim_table(results: Sequence[ClaimResult]) -> str:
    """Markdown table: claim | paper's statement and where | measured ± uncertainty |
    pass/fail (the terminal prints the same table)."""
    rows = [HEADER, tuple("---" for _ in HEADER)]
    for r in results:
        measured = r.measured if not r.error else f"could not run: {r.error}"
        rows.append((r.title + (" (quick)" if r.quick else ""), r.paper, measured, r.verdict))
    return "\n".join("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows) + "\n"


def write_report(results: Sequence[ClaimResult], out_dir: Path, command: str,
                 wall_s: float) -> Path:
    """Write ``out_dir/REPORT.md``: how it was made, the claim table, then per claim its
    protocol, details and figures (linked relative to the report)."""
    quick = any(r.quick for r in results)
    lines = [
        "# labctl reproduce: the papers' claims" + (" (quick run)" if quick else ""), "",
        f"Command: `{command}`; wall time {wall_s:.0f} s "
        f"({os.cpu_count()} CPUs visible).", "",
        "Agreement with a paper's number: |measured − paper| ≤ 2σ (combined with the paper's "
        f"own spread when it gives one) + {RELATIVE_TOLERANCE:.0%} of the paper's value. "
        "Trend claims use one-sided tests at p < 0.01. `n/a`: the statistic could not be "
        "computed (too few usable points — no number is given). "
        + ("A quick run uses reduced protocols (fewer tasks, steps or epochs, stated per "
           "claim): its verdicts are indicative only." if quick else ""), "",
        claim_table(results), ""]
    for r in results:
        lines += [f"## {r.title}", "",
                  f"- paper: {r.paper}",
                  f"- protocol: `{r.protocol}`" + (" (reduced by --quick)" if r.quick else ""),
                  f"- measured: {r.measured or '—'}",
                  f"- verdict: **{r.verdict}** ({r.wall_s:.0f} s)"]
        if r.error:
            lines.append(f"- error: `{r.error}`")
        lines += [f"  - {d}" for d in r.details]
        lines.append("")
        for fig in r.figures:
            rel = os.path.relpath(fig, out_dir)
            lines += [f"![{r.title}]({rel})", ""]
    path = out_dir / "REPORT.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
