"""Operator commands to a running experiment, safe to call from any thread.

The GUI and the CLI's signal handlers call these; the acquisition thread, which alone
talks to the instruments, picks them up between DAQ blocks (every ~0.1 s).
"""

from __future__ import annotations

import queue
import threading


class AbortedError(Exception):
    """The run was aborted (operator, Ctrl-C, SIGTERM); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RunControl:
    """Pause/resume, abort and live η/λ changes, queued for the acquisition thread."""

    def __init__(self) -> None:
        self._resume = threading.Event()
        self._resume.set()
        self._abort_reason: str | None = None
        self._settings: queue.SimpleQueue[tuple[str, float]] = queue.SimpleQueue()
        self._wake = threading.Event()

    # -- called by front ends ------------------------------------------------------------
    def pause(self) -> None:
        """Ask for a pause: learning switch off, sources held, acquisition stopped."""
        self._resume.clear()

    def resume(self) -> None:
        """Resume a paused run."""
        self._resume.set()
        self._wake.set()

    def abort(self, reason: str = "aborted by operator") -> None:
        """Ask the run to stop; the engine drives the bench safe and closes the run file."""
        if self._abort_reason is None:
            self._abort_reason = reason
        self._resume.set()
        self._wake.set()

    def set_eta(self, eta: float) -> None:
        """Change η (in (0, 1]) live; the engine validates and applies it between blocks."""
        if not 0.0 < eta <= 1.0:
            raise ValueError(f"eta: allowed 0 < η <= 1, got {eta}")
        self._settings.put(("eta", float(eta)))

    def set_lambda(self, lam: float) -> None:
        """Change λ (in [0, 1)) live; overrides a λ controller until the next task."""
        if not 0.0 <= lam < 1.0:
            raise ValueError(f"lambda: allowed 0 <= λ < 1, got {lam}")
        self._settings.put(("lambda", float(lam)))

    # -- seen by the engine ------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """True while a pause is requested."""
        return not self._resume.is_set()

    @property
    def abort_reason(self) -> str | None:
        """Why the run should stop, or None."""
        return self._abort_reason

    def check_abort(self) -> None:
        """Raise :class:`AbortedError` if an abort was requested."""
        if self._abort_reason is not None:
            raise AbortedError(self._abort_reason)

    def wait_resumed(self, timeout: float = 0.1) -> bool:
        """Wait up to ``timeout`` s for a resume; True once resumed (or aborted)."""
        return self._resume.wait(timeout)

    def pending_settings(self) -> list[tuple[str, float]]:
        """Live η/λ changes queued since the last call, oldest first."""
        out: list[tuple[str, float]] = []
        while not self._settings.empty():  # the acquisition thread is the only consumer
            out.append(self._settings.get_nowait())
        return out
