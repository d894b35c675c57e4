"""One run: a protocol on a bench, written to one HDF5 run file.

:class:`RunSession` is what the CLI and the GUI start. It compiles the protocol into task
plans, opens the bench and executes the plans on its own acquisition thread (which alone
owns the instruments), writes rows through the run-file writer thread and publishes
display events on a bounded queue. Whatever ends the run (completion, operator abort,
Ctrl-C, SIGTERM, an instrument error, a full disk), the same ``finally`` drives the bench
to its safe state (learning off, sources 0 V) and closes the run file with its status.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from labctl.bench import open_bench
from labctl.bench.interfaces import Bench
from labctl.protocol import compile_plan
from labctl.protocol.model import Protocol
from labctl.protocol.plan import TaskPlan
from labctl.runner.control import AbortedError, RunControl
from labctl.runner.events import (
    EventQueue,
    LogMessage,
    RunFinished,
    StateChanged,
    TaskFinished,
    TaskStarted,
)
from labctl.runner.executor import TaskExecutor
from labctl.store import RunWriter

RUNS_DIR = Path(__file__).resolve().parents[2] / "data" / "runs"


def default_run_path(protocol: Protocol) -> Path:
    """``data/runs/<protocol name>-<UTC time>.h5``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return RUNS_DIR / f"{protocol.name}-{stamp}.h5"


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
    ``resume_from`` is an earlier run file of the same protocol whose completed tasks are
    carried over; ``record_raw`` also stores the full-rate DAQ stream; ``parallel`` runs
    the tasks of a simulated campaign on Dask (see :mod:`labctl.runner.parallel`) with
    ``scheduler`` the address of a Dask scheduler (None = a local cluster).
    ``bench_faults`` injects simulated instrument failures; ``bench_opener`` replaces
    :func:`labctl.bench.open_bench` (called on the acquisition thread, which must own the
    instruments).
    """

    def __init__(self, protocol: Protocol, output: str | Path | None = None, *,
                 clock: str = "fast", seed: int = 0, resume_from: str | Path | None = None,
                 record_raw: bool = False, parallel: bool = False,
                 scheduler: str | None = None, bench_faults: Any = None,
                 bench_opener: Callable[[], Bench] | None = None) -> None:
        self.protocol = protocol
        self.config = protocol.bench
        self.plans: list[TaskPlan] = compile_plan(protocol)
        self.path = Path(output) if output else default_run_path(protocol)
        self.clock = clock
        self.seed = seed
        self.resume_from = resume_from
        self.record_raw = record_raw
        if parallel and self.config.backend != "sim":
            raise ValueError("parallel: only simulated campaigns run in parallel; "
                             "a hardware bench is one physical network")
        self.parallel = parallel
        self.scheduler = scheduler
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
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
        snapshots = bench.snapshot() if bench is not None else {"backend": "sim"}
        return RunWriter(
            self.path, self.plans, self.config.network,
            protocol_text=self.protocol.text, bench_text=self.config.text,
            backend="sim" if self.config.backend == "sim" else "hardware",
            snapshots={**snapshots, "protocol_path": str(self.protocol.path),
                       "clock": self.clock, "seed": self.seed},
            raw_channels=self.config.channel_names if self.record_raw else None,
            resume_from=self.resume_from)

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
                bench = self.bench_opener()
                writer = self._open_writer(bench)
                self._run_tasks(bench, writer)
            status, reason = "completed", ""
        except AbortedError as exc:
            reason = exc.reason
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            self.events.put(LogMessage("".join(traceback.format_exception(exc)), "error"))
        finally:
            if bench is not None:
                failures = bench.close()
            if writer is not None:
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
            self.events.put(TaskStarted(plan.index, len(self.plans), plan.name,
                                        dict(plan.params), plan.expected_duration_s))
            t0 = time.monotonic()
            final = executor.run_task(plan)
            self.events.put(TaskFinished(plan.index, "completed", final))
            self.events.put(LogMessage(
                f"task {plan.index} ({plan.name}) done in {time.monotonic() - t0:.1f} s: "
                f"L/L0 = {final.get('error_normalized', float('nan')):.3g}, "
                f"P_F = {final.get('power_free', float('nan')):.3g} W"))
