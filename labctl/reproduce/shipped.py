"""The tables of shipped protocols in ``docs/PROTOCOLS.md``, generated from the files so the
documentation cannot drift from them.

``python3 -m labctl.reproduce.shipped docs/PROTOCOLS.md`` rewrites every
``<!-- shipped:bench -->…<!-- /shipped -->`` and ``<!-- shipped:papers -->…`` block;
``tests/test_reproduce.py`` checks that the file equals its rewrite.
"""

from __future__ import annotations

import sys
from pathlib import Path

from labctl.protocol import load_protocol
from labctl.protocol.doctables import rewrite_blocks, rewrite_files
from labctl.protocol.model import (
    ClassificationTask,
    LambdaControl,
    LambdaFixed,
    LambdaSweep,
    NonlinearRegressionTask,
    Protocol,
    RandomAllosteryTasks,
    RegressionTask,
)
from labctl.protocol.plan import plan_size
from labctl.reproduce.claims import CLAIMS, PROTOCOLS
from labctl.reproduce.simprotocol import load_sim_protocol


def _values(values: tuple[float, ...]) -> str:
    if len(values) <= 4:
        return "{" + ", ".join(f"{v:g}" for v in values) + "}"
    return f"{values[0]:g} … {values[-1]:g} ({len(values)} values)"


def _lambda(p: Protocol) -> str:
    lam = p.lam
    if isinstance(lam, LambdaFixed):
        return f"λ = {lam.value:g}"
    if isinstance(lam, LambdaSweep):
        how = "cycled over tasks" if lam.assign == "cycle" else "every task at each"
        return f"λ ∈ {_values(lam.values)}, {how}"
    assert isinstance(lam, LambdaControl)
    text = (f"λ control: L̃ = {lam.target_error:g} V², ρ = {lam.rho:g} s, p = {lam.p:g}, "
            f"λ0 = {lam.lam0:g}, ≤ {lam.lam_max:g}, {lam.update_rate:g} Hz")
    return text + (" + a λ = 0 baseline of every task" if lam.baseline else "")


def _tasks(p: Protocol) -> str:
    parts = []
    fixed = sum(1 for t in p.tasks if type(t).__name__ == "AllosteryTask")
    if fixed:
        parts.append(f"{fixed} allostery task{'s' if fixed > 1 else ''}")
    for t in p.tasks:
        if isinstance(t, RandomAllosteryTasks):
            parts.append(f"{t.count} random allostery tasks")
        elif isinstance(t, ClassificationTask):
            parts.append(f"{t.dataset} classification, {t.epochs} epochs of {t.epoch_steps} "
                         "steps")
        elif isinstance(t, RegressionTask | NonlinearRegressionTask):
            kind = "nonlinear regression" if isinstance(t, NonlinearRegressionTask) else \
                "regression"
            parts.append(f"{kind}, {t.n_train} examples × {t.epochs} epochs")
    init = p.init
    if init.kappas:
        parts.append(f"κ ∈ {_values(init.kappas)} S")
    elif len(init.gate_voltages) > 1:
        parts.append(f"gates ∈ {_values(init.gate_voltages)} V")
    if p.sim is not None:
        for name, vals, unit in (("α", p.sim.alpha, "/s"), ("γ", p.sim.gamma, "/s")):
            if vals:
                parts.append(f"{name} ∈ {_values(vals)} {unit}")
    return "; ".join(parts)


def bench_row(path: Path) -> tuple[str, ...]:
    """(file, experiment, λ, per task or example, task runs, bench time) of one protocol."""
    p = load_protocol(path)
    size = plan_size(p)
    learning = p.learning
    per = (f"{learning.duration:g} s" if hasattr(learning, "duration")
           else f"{learning.steps} steps")
    return (f"`{path.name}`", f"{p.description} ({_tasks(p)})", _lambda(p), per,
            str(size.task_runs), f"{size.bench_s:.0f} s")


def bench_table(folder: Path = PROTOCOLS) -> str:
    """Markdown table of every ``folder/*.toml`` bench protocol."""
    head = ("file", "experiment", "λ", "learning per task / example", "task runs",
            "bench time")
    rows = [bench_row(p) for p in sorted(folder.glob("*.toml"))]
    return _markdown(head, rows)


def papers_table(folder: Path = PROTOCOLS / "papers") -> str:
    """Markdown table of every simulation protocol in ``folder`` (full and --quick)."""
    head = ("file", "claim", "full run", "--quick changes")
    rows = []
    for path in sorted(folder.glob("*.toml")):
        sp = load_sim_protocol(path)
        full = ", ".join(f"{k} = {v:g}" if not isinstance(v, str) else f"{k} = {v}"
                         for k, v in sp.run.items())
        quick = ", ".join(f"{k} = {v:g}" if not isinstance(v, str) else f"{k} = {v}"
                          for k, v in sp.quick.items())
        rows.append((f"`papers/{path.name}`", sp.description, full, quick or "—"))
    return _markdown(head, rows)


def claims_table() -> str:
    """Markdown table: claim key, protocol, where the paper says it."""
    return _markdown(("claim", "protocol", "paper's statement"),
                     [(f"`{c.key}`", f"`{c.protocol}`", c.statement) for c in CLAIMS])


def _markdown(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


TABLES = {"bench": bench_table, "papers": papers_table, "claims": claims_table}


def update_doc(text: str) -> str:
    """``text`` with every ``<!-- shipped:NAME -->…<!-- /shipped -->`` block regenerated."""
    def render(name: str) -> str:
        if name not in TABLES:
            raise ValueError(f"<!-- shipped:{name} -->: unknown table; allowed "
                             f"{', '.join(TABLES)}")
        return TABLES[name]()
    return rewrite_blocks(text, "shipped", render)


def main(argv: list[str]) -> int:
    """Rewrite the shipped-protocol tables of the given Markdown files."""
    return rewrite_files(argv, update_doc)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
