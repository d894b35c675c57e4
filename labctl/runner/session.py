"""One run: a protocol on a bench, written to one HDF5 run file.

:class:`RunSession` is what the CLI and the GUI start. It compiles the protocol into task
plans, opens the bench and executes the plans on its own acquisition thread (which alone
owns the instruments), writes rows through the run-file writer thread and publishes
display events on a bounded queue. Whatever ends the run (completion, operator abort,
Ctrl-C, SIGTERM, an instrument error, a full disk), the same ``finally`` drives the bench
to its safe state (learning off, sources 0 V) and closes the run file with its status.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.bench import open_bench
from labctl.bench.interfaces import Bench, BenchError
from labctl.protocol import compile_plan
from labctl.protocol.model import Protocol
from labctl.protocol.plan import TaskPlan
from labctl.runner.control import AbortedError, RunControl
from labctl.runner.events import (
    EventQueue,
    LogMessage,
    RunFinished,
    StateChanged,
    Subscription,
    TaskFinished,
    TaskStarted,
)
from labctl.runner.executor import TaskExecutor, record_faults
from labctl.runner.outputs import RUNS_DIR, check_output_path, default_run_path, resumed_run_path
from labctl.runner.resume import ResumeSource, read_resume_source
from labctl.store import RunWriter, StoreError, check_free_space, estimate_run_bytes
from labctl.store.create import check_metadata
from labctl.store.paths import chunk_rows_for
from labctl.units import format_si

__all__ = ["MAX_LOCAL_WORKERS", "RUNS_DIR", "RunResult", "RunSession"]

#: most worker processes a local Dask cluster of ``--parallel`` may start
MAX_LOCAL_WORKERS = 256


@dataclass
class RunResult:
    """How a run ended: ``status`` ("completed" or "aborted"), why, and the run file."""

    status: str
    reason: str
    path: Path
    safe_state_failures: list[str]


class RunSession:
    """Runs ``protocol`` on its bench and writes ``output`` (an HDF5 run file).

    ``clock`` is the simulated bench's clock ("fast" or "paced"; ignored by hardware);
    ``seed`` the run seed (0..2**63-1): the simulated transistors' mismatch and, with each
    task's index, every random stream of that task derive from it alone, so a task's rows
    are the same serially, in parallel and after a resume. ``resume_from`` is an earlier
    run file of the same protocol (a path, checked completely here, or a
    :class:`ResumeSource`) whose completed tasks are carried over; the run then uses the
    seed and clock recorded in it (None = those; another value is refused).
    ``output`` None picks an unused name in :data:`RUNS_DIR` (next to the old file when
    resuming); any output is checked (:func:`check_output_path`) before anything opens.
    ``metadata`` (key -> text) is added to the protocol's ``[metadata]`` (and wins on
    equal keys) and stored in the run file. The disk must hold what the run will write
    (:func:`labctl.store.estimate_run_bytes`) plus the writer's closing reserve, else
    :class:`labctl.store.DiskSpaceError`. ``record_raw`` also stores the full-rate DAQ
    stream; ``parallel`` runs the tasks of a simulated campaign on Dask (see
    :mod:`labctl.runner.parallel`) with ``scheduler`` the address of a Dask scheduler
    (None = a local cluster of ``workers`` processes, default one per CPU; 1..
    :data:`MAX_LOCAL_WORKERS`). ``bench_faults`` injects simulated instrument failures;
    ``bench_opener`` replaces :func:`labctl.bench.open_bench` (called on the acquisition
    thread, which must own the instruments).

    Every problem with these arguments raises ValueError (or :class:`OutputPathError`,
    :class:`ResumeError`, both ValueErrors) here, before any instrument is opened.
    """

    def __init__(self, protocol: Protocol, output: str | Path | None = None, *,
                 clock: str | None = None, seed: int | None = None,
                 resume_from: str | Path | ResumeSource | None = None,
                 metadata: Mapping[str, str] | None = None,
                 record_raw: bool = False, parallel: bool = False,
                 scheduler: str | None = None, workers: int | None = None,
                 bench_faults: Any = None,
                 bench_opener: Callable[[], Bench] | None = None) -> None:
        self.protocol = protocol
        self.config = protocol.bench
        self.plans: list[TaskPlan] = compile_plan(protocol)
        self.resume_source: ResumeSource | None = None
        if resume_from is not None:
            self.resume_source = (resume_from if isinstance(resume_from, ResumeSource)
                                  else read_resume_source(resume_from))
            if protocol.text != self.resume_source.protocol_text:
                raise ValueError(f"resume_from: {self.resume_source.path} ran another "
                                 f"protocol text than {protocol.path}; allowed: the identical "
                                 "protocol")
            seed = _same("seed", seed, self.resume_source.seed, self.resume_source.path)
            clock = _same("clock", clock, self.resume_source.clock, self.resume_source.path)
        self.seed = 0 if seed is None else seed
        self.clock = "fast" if clock is None else clock
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) \
                or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed: {self.seed!r}; allowed an integer 0..2**63-1")
        if self.clock not in ("fast", "paced"):
            raise ValueError(f"clock: {self.clock!r}; allowed 'fast' or 'paced'")
        self.metadata = check_metadata({**protocol.metadata, **dict(metadata or {})})
        if output:
            self.path = check_output_path(output)
        elif self.resume_source is not None:
            self.path = check_output_path(resumed_run_path(self.resume_source.path))
        else:
            RUNS_DIR.mkdir(parents=True, exist_ok=True)
            self.path = check_output_path(default_run_path(protocol.name, RUNS_DIR))
        self.resume_from = None if self.resume_source is None else self.resume_source.path
        self.record_raw = record_raw
        self.expected_bytes = estimate_run_bytes(
            self.plans, self.config.network.n_edges, self.config.network.n_nodes,
            n_raw_channels=len(self.config.channel_names) if record_raw else 0,
            sample_rate_hz=float(self.config.sample_rate),
            text_bytes=len(protocol.text.encode()) + len(self.config.text.encode()))
        check_free_space(self.path, self.expected_bytes, len(self.plans))
        if parallel and self.config.backend != "sim":
            raise ValueError("parallel: only simulated campaigns run in parallel; "
                             "a hardware bench is one physical network")
        if parallel and bench_faults is not None:
            raise ValueError("bench_faults: faults are injected into one simulated bench; "
                             "a parallel run opens a fresh bench per task (run serially)")
        if workers is not None:
            if isinstance(workers, bool) or not isinstance(workers, int) \
                    or not 1 <= workers <= MAX_LOCAL_WORKERS:
                raise ValueError(f"workers: {workers!r}; allowed an integer "
                                 f"1..{MAX_LOCAL_WORKERS} (local Dask worker processes)")
            if not parallel or scheduler:
                raise ValueError("workers: the number of local Dask workers applies to "
                                 "--parallel on a local cluster only (a --scheduler's "
                                 "cluster has its own workers)")
        self.parallel = parallel
        self.scheduler = scheduler
        self.workers = workers
        self.bench_faults = bench_faults
        self.bench_opener = bench_opener or (
            lambda: open_bench(self.config, clock=self.clock, seed=self.seed,
                               faults=self.bench_faults))
        self.control = RunControl()
        self.events = EventQueue()
        self.state = "idle"
        self.result: RunResult | None = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self.total_s = sum(p.expected_duration_s for p in self.plans)

    # ------------------------------------------------------------------ front-end API
    def start(self) -> None:
        """Start the acquisition thread (returns at once)."""
        if self._thread is not None:
            raise RuntimeError("run already started")
        self._thread = threading.Thread(target=self._run, name="labctl-acquisition",
                                        daemon=True)
        self._set_state("running")
        self._thread.start()

    def run(self) -> RunResult:
        """Start and wait for the end (for scripts and the CLI)."""
        self.start()
        return self.wait()

    def wait(self, timeout: float | None = None) -> RunResult:
        """Wait for the run to end; returns its result (raises TimeoutError on timeout)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"run still going after {timeout} s")
        assert self.result is not None
        return self.result

    def wait_quietly(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the end; True once the run has ended."""
        return self._done.wait(timeout)

    @property
    def finished(self) -> bool:
        """True once the run file is closed and the bench left safe."""
        return self._done.is_set()

    def subscribe(self, maxsize: int = 20000, name: str = "") -> Subscription:
        """Follow this run: a consumer (a notebook, a notifier, a second window) with its
        own queue of at most ``maxsize`` waiting display events, receiving every event
        published from now on; it can never slow or block acquisition (display events
        beyond ``maxsize`` are dropped and counted). Subscribe before :meth:`start` to see
        the whole run; close the subscription when done."""
        return self.events.subscribe(maxsize, name)

    def pause(self) -> None:
        """Pause: learning off, sources held, acquisition stopped (see RunControl)."""
        self.control.pause()

    def resume(self) -> None:
        """Resume after a pause."""
        self.control.resume()

    def abort(self, reason: str = "aborted by operator") -> None:
        """Stop the run; the bench ends safe and the file is closed as aborted."""
        self.control.abort(reason)

    def set_eta(self, eta: float) -> None:
        """Change η live (validated, applied between DAQ blocks, logged in the file)."""
        self.control.set_eta(eta)

    def set_lambda(self, lam: float) -> None:
        """Change λ live (validated, applied between DAQ blocks, logged in the file)."""
        self.control.set_lambda(lam)

    # ------------------------------------------------------------------ the thread
    def _set_state(self, state: str, reason: str = "") -> None:
        self.state = state
        self.events.put(StateChanged(state, reason))

    def _open_writer(self, bench: Bench | None) -> RunWriter:
        backend = "sim" if self.config.backend == "sim" else "hardware"
        snapshots = bench.snapshot() if bench is not None else {"backend": backend}
        return RunWriter(
            self.path, self.plans, self.config.network,
            protocol_text=self.protocol.text, bench_text=self.config.text,
            backend=backend,
            snapshots={**snapshots, "protocol_path": str(self.protocol.path),
                       "clock": self.clock, "seed": self.seed},
            raw_channels=self.config.channel_names if self.record_raw else None,
            resume_from=self.resume_from, interrupt_check=self.control.check_abort,
            **self._writer_options())

    def _writer_options(self) -> dict[str, Any]:
        """Seed, clock and metadata to record, what the run will write (bytes), and rows
        per chunk to suit its longest task."""
        return {"seed": self.seed, "clock": self.clock, "metadata": self.metadata,
                "expected_bytes": self.expected_bytes,
                "chunk_rows": chunk_rows_for(self.plans)}

    def _run(self) -> None:
        status, reason = "aborted", "internal error"
        failures: list[str] = []
        bench: Bench | None = None
        writer: RunWriter | None = None
        try:
            if self.parallel:
                writer = self._open_writer(None)
                from labctl.runner.parallel import run_parallel

                run_parallel(self, writer)
            else:
                try:
                    bench = self.bench_opener()
                except Exception as exc:
                    writer = self._record_open_failure(exc)
                    raise
                writer = self._open_writer(bench)
                self._run_tasks(bench, writer)
            status, reason = "completed", ""
        except AbortedError as exc:
            reason = exc.reason
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            # an instrument or the disk failing is an event of the run, told in one line;
            # anything else is a defect of labctl, shown with its traceback
            expected = isinstance(exc, BenchError | StoreError | OSError)
            text = reason if expected else "".join(traceback.format_exception(exc))
            self.events.put(LogMessage(text, "error"))
        finally:
            if bench is not None:
                failures = bench.close()
            if writer is not None:
                if bench is not None:
                    with contextlib.suppress(Exception):  # the writer may be what failed
                        record_faults(bench.fault_log, writer)
                for failure in failures:
                    try:
                        writer.log_event("safe_state_failure", failure)
                    except Exception:  # the writer itself may be what failed
                        break
                try:
                    status = writer.close(status, reason)
                except Exception as exc:  # disk full: the file says aborted if it can
                    status, reason = "aborted", f"{reason}; {exc}".strip("; ")
            self.result = RunResult(status, reason, self.path, failures)
            self._set_state(status, reason)
            self.events.put(RunFinished(status, reason, str(self.path), failures))
            self._done.set()

    def _record_open_failure(self, exc: Exception) -> RunWriter | None:
        """The bench did not open: write a run file saying so (status aborted at close,
        the reason naming the instrument, its address and the cause) if the output can be
        created; None if not (the reason then reaches the result and the front end)."""
        try:
            writer = self._open_writer(None)
            writer.log_event("open_failure", f"{type(exc).__name__}: {exc}")
        except Exception:
            return None
        return writer

    def _run_tasks(self, bench: Bench, writer: RunWriter) -> None:
        executor = TaskExecutor(bench, self.config, writer, self.control, self.events,
                                total_s=self.total_s, on_state=self._set_state)
        skip = writer.completed
        executor.done_s = sum(p.expected_duration_s for p in self.plans if p.index in skip)
        if skip:
            self.events.put(LogMessage(f"resuming: {len(skip)} completed tasks carried over"))
        for plan in self.plans:
            if plan.index in skip:
                continue
            self.control.check_abort()
            t0 = time.monotonic()

            def attempt(plan: TaskPlan = plan) -> None:
                # every attempt (a retry too) starts the task afresh, also on display
                self.events.put(TaskStarted(plan.index, len(self.plans), plan.name,
                                            dict(plan.params), plan.expected_duration_s))
                begin_task(bench, plan.index)

            outcome = executor.run_task_with_policy(plan, before_attempt=attempt)
            final = outcome.final
            self.events.put(TaskFinished(plan.index, outcome.status, final))
            if outcome.status != "completed":  # skipped under on_task_fault = "skip"
                self.events.put(LogMessage(f"task {plan.index} ({plan.name}) failed and "
                                           f"was skipped: {outcome.reason}", "warning"))
                continue
            self.events.put(LogMessage(
                f"task {plan.index} ({plan.name}) done in {time.monotonic() - t0:.1f} s: "
                f"L/L0 = {format_si(final.get('error_normalized', float('nan')))}, "
                f"P_F = {format_si(final.get('power_free', float('nan')), 'W')}"))


def begin_task(bench: Bench, index: int) -> None:
    """Tell the bench that task ``index`` starts, before its first step.

    The simulated bench then restarts every random stream from (run seed, ``index``) and
    returns to its power-on physics, so the task's rows do not depend on how the run is
    executed (serially, on Dask workers, resumed); real instruments have nothing to do.
    """
    hook = getattr(bench.daq, "begin_task", None)
    if hook is not None:
        hook(index)


def _same(name: str, given: Any, recorded: Any, path: Path) -> Any:
    """The recorded value of a resumed run; a different explicit value is refused."""
    if given is not None and given != recorded:
        raise ValueError(f"{name}: {given!r}, but {path} ran with {name} {recorded!r}; a "
                         f"resumed run continues with the recorded {name} (leave it out)")
    return recorded
