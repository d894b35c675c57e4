"""Simulated campaigns in parallel on Dask: each task on its own simulated bench.

A hardware bench is one physical network, so its tasks run one after the other; on the
simulated bench the tasks of a sweep are independent, so workers (a local Dask cluster,
or ``--scheduler ADDRESS``) each open a fresh simulated bench, execute one task plan with
the same :class:`~labctl.runner.executor.TaskExecutor` as a serial run, and return the
rows. The session's process keeps the only run-file writer and writes each task's rows
as its result arrives.

Task results come back pickled, so only a trusted scheduler may be used: a loopback
address as is, a remote one over mutual TLS (:func:`scheduler_access`) or with the
explicit ``--allow-insecure-scheduler`` opt-in.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labctl.bench import open_bench
from labctl.bench.config import BenchConfig
from labctl.protocol.plan import TaskPlan
from labctl.runner.events import LogMessage, Progress, Rows, TaskFinished, TaskStarted
from labctl.runner.executor import TaskExecutor
from labctl.store.paths import expected_rows, row_bytes
from labctl.store.writer import PRODUCER_BACKLOG_BYTES

if TYPE_CHECKING:
    from labctl.runner.session import RunSession
    from labctl.store import RunWriter


LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


class SchedulerAddressError(ValueError):
    """A ``--scheduler`` address that labctl will not connect to (the message says why
    and what is allowed)."""


@dataclass(frozen=True)
class SchedulerAccess:
    """How to reach a Dask scheduler: ``address`` and the dask ``Security`` to use (None =
    plain TCP, only for loopback addresses or with ``insecure`` opted in)."""

    address: str
    security: Any = None
    insecure: bool = False


def is_loopback(host: str) -> bool:
    """True if ``host`` is a loopback IP address or a loopback name (never resolved: a
    name the resolver maps to 127.0.0.1 is not trusted as local)."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def scheduler_access(address: str | SchedulerAccess, *, tls_ca_file: str | None = None,
                     tls_cert: str | None = None, tls_key: str | None = None,
                     allow_insecure: bool = False) -> SchedulerAccess:
    """Check ``--scheduler ADDRESS`` before anything connects.

    Results from a scheduler are unpickled in this process, so a scheduler that is not on
    this machine must prove who it is: ``tls://`` with a CA file and a client certificate
    (``tls_*`` arguments, or dask's ``distributed.comm.tls.ca-file`` /
    ``distributed.comm.tls.client.cert`` / ``.key`` configuration) – mutual TLS. A plain
    remote address needs the explicit ``allow_insecure`` opt-in. Loopback addresses are
    accepted as they are. Raises :class:`SchedulerAddressError`.
    """
    if isinstance(address, SchedulerAccess):
        return address
    from urllib.parse import urlsplit

    if not isinstance(address, str) or not address or len(address) > 1024:
        raise SchedulerAddressError(f"--scheduler: {address!r} is not a scheduler address; "
                               "allowed e.g. tcp://127.0.0.1:8786 or tls://host:8786")
    full = address if "://" in address else f"tcp://{address}"
    scheme = full.split("://", 1)[0].lower()
    try:
        host = urlsplit(full).hostname or ""
    except ValueError:
        host = ""
    if scheme not in ("tcp", "tls", "inproc") or (scheme != "inproc" and not host):
        raise SchedulerAddressError(f"--scheduler: {address!r}; allowed tcp://HOST:PORT or "
                               "tls://HOST:PORT")
    tls = {k: v for k, v in (("tls_ca_file", tls_ca_file), ("tls_client_cert", tls_cert),
                             ("tls_client_key", tls_key)) if v}
    for name, path in tls.items():
        if not Path(path).is_file():
            raise SchedulerAddressError(f"--scheduler: {name.replace('_', '-')} {path!r} is not "
                                   "a readable file")
    if scheme == "inproc" or (is_loopback(host) and scheme == "tcp"):
        return SchedulerAccess(full)
    if scheme == "tls":
        import dask
        import distributed  # noqa: F401  (registers the distributed.* configuration)
        from distributed.security import Security

        ca = tls.get("tls_ca_file") or dask.config.get("distributed.comm.tls.ca-file", None)
        cert = tls.get("tls_client_cert") or dask.config.get(
            "distributed.comm.tls.client.cert", None)
        if ca and cert:
            return SchedulerAccess(full, Security(require_encryption=True, **tls))
        raise SchedulerAddressError(
            f"--scheduler: {address!r} needs a CA file and a client certificate for TLS "
            "(--tls-ca-file, --tls-cert [--tls-key], or dask config "
            "distributed.comm.tls.ca-file / client.cert)")
    if allow_insecure:
        return SchedulerAccess(full, insecure=True)
    raise SchedulerAddressError(
        f"--scheduler: {address!r} is not on this machine and the connection would be "
        "neither encrypted nor authenticated (results are unpickled here); allowed: a "
        "loopback address, tls://HOST:PORT with --tls-ca-file and --tls-cert, or "
        "--allow-insecure-scheduler on a network you trust")


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
    (_index, rows, final, events), = run_chunk_on_sim(config, [plan], seed)
    return rows, final, events


TaskResult = tuple[int, dict[str, np.ndarray], dict[str, float], list[tuple[str, str]]]


def run_chunk_on_sim(config: BenchConfig, plans: Sequence[TaskPlan], seed: int
                     ) -> list[TaskResult]:
    """Worker side: execute ``plans`` one after the other on one fresh simulated bench
    (fast clock, the run ``seed``'s chip), each started with ``begin_task`` exactly as a
    serial run starts it, so every task's rows are bit-identical to the serial run's.
    Returns (task index, rows, final values, events) per plan, in order; the bench is
    closed (safe) whatever happens. Several short tasks per call spare the scheduler a
    round trip and the worker a bench opening per task."""
    from labctl.runner.session import begin_task

    bench = open_bench(config, clock="fast", seed=seed)
    out: list[TaskResult] = []
    try:
        for plan in plans:
            sink = CollectingSink()
            begin_task(bench, plan.index)
            TaskExecutor(bench, config, sink).run_task(plan)
            out.append((plan.index, sink.rows(), sink.final, sink.events))
    finally:
        bench.close()
    return out


def engine_versions() -> dict[str, str]:
    """The versions a task's rows depend on: labctl, NumPy and numba (numba's from its
    installed metadata: the writing process never loads it)."""
    from importlib.metadata import version

    import labctl

    return {"labctl": labctl.__version__, "numpy": np.__version__, "numba": version("numba")}


def prepare_worker() -> dict[str, str]:
    """Worker side, before the first task: load what a serial run has loaded before its
    first task, when it opened its bench (the run engine, the simulator's physics with
    NumPy, SciPy and numba), and return the worker's :func:`engine_versions`."""
    import labctl.physics.bench_model  # noqa: F401

    return engine_versions()


class WorkerMismatchError(RuntimeError):
    """A Dask worker runs other versions than this process: its rows could differ."""


def check_workers(client: Any) -> None:
    """Prepare every worker (:func:`prepare_worker`) and refuse one whose
    :func:`engine_versions` differ from this process's (its rows would not be a serial
    run's), naming the worker and both versions."""
    mine = engine_versions()
    for address, theirs in sorted(client.run(prepare_worker).items()):
        if theirs != mine:
            raise WorkerMismatchError(
                f"Dask worker {address} runs {theirs}, this process {mine}; install the "
                "same versions on every worker (its rows would differ from a serial run's)")


#: bench seconds of tasks one worker call executes at most (a chunk of short tasks)
CHUNK_BENCH_S = 300.0
#: bytes of rows one chunk's result holds at most (a worker's result waits whole in the
#: writing process, up to IN_FLIGHT_PER_WORKER of them per worker)
CHUNK_BYTES = 16 * 2**20
#: tasks one worker call executes at most
CHUNK_TASKS = 32
#: a chunk takes 1/CHUNK_GUIDE of the tasks left per worker (see chunk_plans)
CHUNK_GUIDE = 4
#: chunks submitted per worker ahead of the results written (the rest wait unsubmitted)
IN_FLIGHT_PER_WORKER = 2


def chunk_plans(plans: Sequence[TaskPlan], n_workers: int, bytes_per_row: int = 0
                ) -> list[list[TaskPlan]]:
    """Consecutive groups of ``plans`` for the workers, shrinking towards the end (guided
    scheduling): each group takes 1/:data:`CHUNK_GUIDE` of the tasks left per worker, at
    most :data:`CHUNK_TASKS` tasks, :data:`CHUNK_BENCH_S` bench seconds and, given the
    run file's ``bytes_per_row``, :data:`CHUNK_BYTES` of expected rows (a task beyond a
    cap goes alone). Early groups spare the scheduler round trips; the last ones are
    single tasks, so no worker idles long while another finishes a large group."""
    def cost(plan: TaskPlan) -> tuple[float, int]:
        rows = expected_rows(plan) * bytes_per_row if bytes_per_row else 0
        return plan.expected_duration_s, rows

    groups: list[list[TaskPlan]] = []
    share = CHUNK_GUIDE * max(1, n_workers)
    i = 0
    while i < len(plans):
        size = min(CHUNK_TASKS, max(1, -(-(len(plans) - i) // share)))
        group = [plans[i]]
        bench_s, nbytes = cost(plans[i])
        i += 1
        while len(group) < size and i < len(plans):
            more_s, more_bytes = cost(plans[i])
            if bench_s + more_s > CHUNK_BENCH_S or nbytes + more_bytes > CHUNK_BYTES:
                break
            bench_s, nbytes = bench_s + more_s, nbytes + more_bytes
            group.append(plans[i])
            i += 1
        groups.append(group)
    return groups


def local_workers(requested: int | None) -> int:
    """Worker processes of a local cluster: ``requested``, else one per CPU this process
    may use."""
    if requested is not None:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_parallel(session: RunSession, writer: RunWriter) -> None:
    """Run the session's remaining tasks on Dask and write each result as it arrives.

    Results are streamed, never gathered: at most :data:`IN_FLIGHT_PER_WORKER` chunks
    per worker are submitted ahead of the writing, and a result waits while the run-file
    writer holds more than :data:`~labctl.store.writer.PRODUCER_BACKLOG_BYTES` queued, so
    the memory of this process (the single writer) does not grow with the number of
    tasks."""
    from dask.distributed import Client, LocalCluster, as_completed

    todo = [p for p in session.plans if p.index not in writer.completed]
    cluster = None
    if session.scheduler:
        access = scheduler_access(session.scheduler)  # refuses an unprotected remote one
        client = Client(access.address, security=access.security)
    else:
        cluster = LocalCluster(n_workers=local_workers(getattr(session, "workers", None)),
                               threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    futures: Any = None
    inputs: dict[str, Any] = {}  # task key -> its scattered plans, released with its result
    try:
        check_workers(client)
        n_workers = len(client.scheduler_info()["workers"])
        network = session.config.network
        chunks = chunk_plans(todo, n_workers, row_bytes(network.n_edges, network.n_nodes))
        session.events.put(LogMessage(f"Dask: {len(todo)} tasks in {len(chunks)} chunks on "
                                      f"{n_workers} workers"))
        done_s = sum(p.expected_duration_s for p in session.plans
                     if p.index in writer.completed)
        by_index = {p.index: p for p in todo}
        waiting = iter(chunks)
        config = client.scatter(session.config, broadcast=True)

        def submit() -> bool:
            chunk = next(waiting, None)
            if chunk is None:
                return False
            # the plans go to a worker as scattered data, not inside the task: the
            # scheduler keeps what a submitted task carries after it is released (about
            # 4 KiB per task of plans, measured), a scattered chunk is freed with it
            [plans] = client.scatter([chunk], hash=False)
            future = client.submit(run_chunk_on_sim, config, plans, session.seed, pure=False)
            inputs[future.key] = plans
            futures.add(future)
            return True

        futures = as_completed()
        for _ in range(IN_FLIGHT_PER_WORKER * max(1, n_workers)):
            if not submit():
                break
        for fut in futures:
            session.control.check_abort()
            results = fut.result()
            fut.release()
            inputs.pop(fut.key).release()
            submit()  # keep the workers busy while this chunk is written
            for index, rows, final, events in results:
                plan = by_index[index]
                _write_result(session, writer, plan, rows, final, events)
                done_s += plan.expected_duration_s
                session.events.put(Progress(done_s, session.total_s, float("nan"),
                                            session.events.dropped, 0.0))
            del results
    finally:
        if futures is not None:
            client.cancel(list(futures.futures))
        client.close()
        if cluster is not None:
            cluster.close()


def _write_result(session: RunSession, writer: RunWriter, plan: TaskPlan,
                  rows: dict[str, np.ndarray], final: dict[str, float],
                  events: list[tuple[str, str]]) -> None:
    """Write one task's result into the run file (after waiting for room in the writer's
    queue) and tell the front ends."""
    writer.wait_for_room(PRODUCER_BACKLOG_BYTES)
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
