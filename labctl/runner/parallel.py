"""Simulated campaigns in parallel on Dask: each task on its own simulated bench.

A hardware bench is one physical network, so its tasks run one after the other; on the
simulated bench the tasks of a sweep are independent, so workers (a local Dask cluster,
or ``--scheduler ADDRESS``) each open a fresh simulated bench, execute one task plan with
the same :class:`~labctl.runner.executor.TaskExecutor` as a serial run, and return the
rows. The session's process keeps the only run-file writer and writes each task's rows
as its result arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from labctl.bench import open_bench
from labctl.bench.config import BenchConfig
from labctl.protocol.plan import TaskPlan
from labctl.runner.events import LogMessage, Progress, Rows, TaskFinished, TaskStarted
from labctl.runner.executor import TaskExecutor

if TYPE_CHECKING:
    from labctl.runner.session import RunSession
    from labctl.store import RunWriter


class CollectingSink:
    """A row sink that keeps one task's rows and events in memory (on a worker)."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, np.ndarray]] = []
        self.events: list[tuple[str, str]] = []
        self.final: dict[str, float] = {}

    def begin_task(self, index: int) -> None:
        """Nothing to prepare: rows are kept in memory."""

    def append(self, index: int, rows: Mapping[str, Any]) -> None:
        """Keep a block of rows."""
        self.blocks.append({k: np.asarray(v) for k, v in rows.items()})

    def end_task(self, index: int, status: str = "completed",
                 final: Mapping[str, float] | None = None) -> None:
        """Keep the final values."""
        self.final = dict(final or {})

    def log_event(self, kind: str, message: str = "", task: int = -1) -> None:
        """Keep an event for the run file."""
        self.events.append((kind, message))

    def rows(self) -> dict[str, np.ndarray]:
        """All rows of the task, concatenated per field."""
        if not self.blocks:
            return {}
        return {k: np.concatenate([b[k] for b in self.blocks]) for k in self.blocks[0]}


def run_task_on_sim(config: BenchConfig, plan: TaskPlan, seed: int
                    ) -> tuple[dict[str, np.ndarray], dict[str, float], list[tuple[str, str]]]:
    """Worker side: execute ``plan`` on a fresh simulated bench (fast clock) made from the
    run ``seed``.

    The bench is the run's chip (mismatch from ``seed``) and the task's random streams
    start from (``seed``, task index), exactly as on the serial bench, so the rows are
    bit-identical to a serial run's. Returns the task's rows, final values and events.
    The bench is closed (safe) whatever happens.
    """
    from labctl.runner.session import begin_task

    bench = open_bench(config, clock="fast", seed=seed)
    sink = CollectingSink()
    try:
        begin_task(bench, plan.index)
        TaskExecutor(bench, config, sink).run_task(plan)
    finally:
        bench.close()
    return sink.rows(), sink.final, sink.events


def run_parallel(session: RunSession, writer: RunWriter) -> None:
    """Run the session's remaining tasks on Dask; write each result as it arrives."""
    from dask.distributed import Client, LocalCluster, as_completed

    todo = [p for p in session.plans if p.index not in writer.completed]
    cluster = None
    if session.scheduler:
        client = Client(session.scheduler)
    else:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    session.events.put(LogMessage(f"Dask: {len(todo)} tasks on "
                                  f"{len(client.scheduler_info()['workers'])} workers"))
    done_s = sum(p.expected_duration_s for p in session.plans if p.index in writer.completed)
    pending: dict[Any, TaskPlan] = {}
    try:
        config = client.scatter(session.config, broadcast=True)
        for plan in todo:
            pending[client.submit(run_task_on_sim, config, plan, session.seed,
                                  pure=False)] = plan
        for fut in as_completed(list(pending)):
            session.control.check_abort()
            plan = pending.pop(fut)
            rows, final, events = fut.result()
            session.events.put(TaskStarted(plan.index, len(session.plans), plan.name,
                                           dict(plan.params), plan.expected_duration_s))
            writer.begin_task(plan.index)
            for kind, message in events:
                writer.log_event(kind, message, task=plan.index)
            if rows:
                writer.append(plan.index, rows)
                session.events.put(Rows(plan.index, rows))
            writer.end_task(plan.index, "completed", final)
            session.events.put(TaskFinished(plan.index, "completed", final))
            done_s += plan.expected_duration_s
            session.events.put(Progress(done_s, session.total_s, float("nan"),
                                        session.events.dropped, 0.0))
    finally:
        client.cancel(list(pending))
        client.close()
        if cluster is not None:
            cluster.close()
