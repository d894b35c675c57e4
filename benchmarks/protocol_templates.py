"""The protocol texts of the benchmarks, each kind built in one place.

Every benchmark protocol is continuous learning on the simulated bench (η = 0.22) from
uniform gates, with one of two task tables: the bench's standard allostery task
(``corners``: sources 0 and 0.45 V on nodes 0 and 10, targets 0.091 and 0.363 V on nodes 5
and 15, one task per λ) or random two-source two-target tasks (``random_allostery``). What
differs between benchmarks (name, λ, durations, rates, seeds, counts) is a parameter.

The scripts are run as ``python benchmarks/NAME.py`` (Python puts this folder first on
``sys.path``), so they import this module as ``protocol_templates``.
"""

from __future__ import annotations

from collections.abc import Sequence

#: rows per second (Hz) of the λ trade-off campaign (bench_physics_campaign, bench_runner)
RECORD_RATE = 10.0

#: the bench's standard allostery task: sources 0 and 0.45 V, targets at 20/80 % (V)
CORNERS = """[[task]]
kind = "allostery"
name = "corners"
sources = { 0 = 0.0, 10 = 0.45 }
targets = { 5 = 0.091, 15 = 0.363 }"""

#: desired target voltage pairs (V) of the campaign's random tasks: 20/80 % and 10/90 %
CAMPAIGN_TARGETS = ((0.091, 0.363), (0.045, 0.408))


def random_tasks(count: int, seed: int, *, name: str = "ra",
                 targets: Sequence[tuple[float, float]] = ((0.091, 0.363),),
                 sources: tuple[float, float] = (0.0, 0.45)) -> str:
    """A ``[[task]]`` table of ``count`` random two-source two-target allostery tasks drawn
    with ``seed``: sources driven at ``sources`` (V), targets asked for one of the pairs
    of ``targets`` (V)."""
    pairs = ", ".join(f"[{low}, {high}]" for low, high in targets)
    return "\n".join([
        "[[task]]",
        'kind = "random_allostery"',
        f'name = "{name}"',
        f"count = {count}",
        f"seed = {seed}",
        f"source_voltages = [{sources[0]}, {sources[1]}]",
        f"target_voltages = [{pairs}]",
    ])


def protocol_text(name: str, *, duration: float, lam: float | Sequence[float],
                  tasks: str = CORNERS, record_rate: float = 50.0, seed: int | None = None,
                  cycle: bool = False, gate_voltage: float = 2.5,
                  description: str | None = None) -> str:
    """Text of a continuous-learning protocol on the simulated bench (η = 0.22).

    ``duration``: learning time of each task (s of bench time); ``lam``: one λ held fixed,
    or a sequence of λ values swept (every task at every λ, or with ``cycle`` the tasks
    take them in turn); ``tasks``: the ``[[task]]`` table(s); ``record_rate``: rows per
    second (Hz); ``seed``: the run's noise seed (None: the protocol default);
    ``gate_voltage``: the uniform initial gate voltage (V)."""
    lines = [f'name = "{name}"']
    if description is not None:
        lines.append(f'description = "{description}"')
    lines += ['bench = "sim"', "eta = 0.22", f"record_rate = {record_rate}"]
    if seed is not None:
        lines.append(f"seed = {seed}")
    if isinstance(lam, int | float):
        lines += ["[lambda]", 'mode = "fixed"', f"value = {float(lam)}"]
    else:
        lines += ["[lambda]", 'mode = "sweep"']
        if cycle:
            lines.append('assign = "cycle"')
        lines.append(f"values = {[float(v) for v in lam]}")
    lines += ["[learning]", 'mode = "continuous"', f"duration = {duration}",
              "[init]", f"gate_voltage = {gate_voltage}", tasks]
    return "\n" + "\n".join(lines) + "\n"


def lambda_spread(count: int, top: float = 0.055) -> list[float]:
    """``count`` λ values evenly spread over 0 … ``top`` (rounded to 1e-6)."""
    return [round(top * i / max(1, count - 1), 6) for i in range(count)]


def campaign_protocol(n_tasks: int, seconds: float, *, name: str = "campaign",
                      seed: int = 7, task_seed: int = 11, n_lambdas: int | None = None) -> str:
    """The λ trade-off campaign as a protocol: ``n_tasks`` random tasks of ``seconds`` s
    each, recorded at :data:`RECORD_RATE`, taking in turn ``n_lambdas`` (default
    ``n_tasks``) λ values spread over 0–0.055; ``seed`` is the run's noise seed,
    ``task_seed`` draws the tasks."""
    return protocol_text(name, duration=seconds, lam=lambda_spread(n_lambdas or n_tasks),
                         cycle=True, record_rate=RECORD_RATE, seed=seed,
                         tasks=random_tasks(n_tasks, task_seed, name="task",
                                            targets=CAMPAIGN_TARGETS))
