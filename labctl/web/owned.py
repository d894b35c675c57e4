"""The run a ``labctl serve`` process started itself (``--run PROTOCOL``), and the operator
commands the page may send to it with ``--allow-control``.

Only this run can be controlled: a run written by another process (``labctl run``, the
GUI) is watched read-only, since its bench belongs to that process. Every command is
logged with who asked (:func:`labctl.web.access.audit`: token name and client address)
and goes through the run session's front-end API, which queues it for the acquisition
thread (applied between DAQ blocks, every 0.1 s); the server never touches an
instrument itself. SAFE STATE aborts the run: the engine drives the bench safe (learning
off, sources 0 V, SMU output off) and closes the file as aborted with the reason.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labctl.runner.events import RunFinished, StateChanged
from labctl.web.access import audit

if TYPE_CHECKING:
    from labctl.runner.session import RunSession

#: the commands the page may send, and what each does
ACTIONS = {
    "pause": "pause (learning off, sources held)",
    "resume": "resume",
    "abort": "abort (bench driven safe, file closed as aborted)",
    "safe": "SAFE STATE (abort: learning off, sources 0 V, SMU off)",
}


class OwnedRun:
    """A :class:`RunSession` started by this server; ``control`` allows the commands."""

    def __init__(self, session: RunSession, control: bool) -> None:
        self.session = session
        self.control = control
        self.path = Path(session.path).resolve()
        self.state = "idle"
        self.state_reason = ""
        self._lock = threading.Lock()
        self._started = False
        # a small queue of its own: task-level and state events are kept, display events
        # (rows) may be dropped; the page reads rows from the file
        self._events = session.subscribe(maxsize=64, name="labctl serve")

    def start(self) -> None:
        """Start the run's acquisition thread."""
        self.session.start()
        self._started = True

    def _drain(self) -> None:
        with self._lock:
            for event in self._events.drain():
                if isinstance(event, StateChanged):
                    self.state, self.state_reason = event.state, event.reason
                elif isinstance(event, RunFinished):
                    self.state, self.state_reason = event.status, event.reason

    def status(self) -> dict[str, Any]:
        """What the page shows about it: engine state, whether control is allowed, and
        the commands available now."""
        self._drain()
        going = not self.session.finished
        actions = []
        if self.control and going:
            actions = ["resume" if self.state == "paused" else "pause", "abort", "safe"]
        return {"owned": True, "control": self.control, "state": self.state,
                "reason": self.state_reason, "finished": not going, "actions": actions}

    def command(self, action: str, who: str) -> str:
        """Apply ``action`` (a key of :data:`ACTIONS`) asked by ``who``; returns what was
        done. Raises PermissionError without ``--allow-control``, ValueError for an
        unknown action or a run that has ended."""
        if not self.control:
            audit(f"refused {action} of {self.path.name} asked by {who}: the server was "
                  "started without --allow-control")
            raise PermissionError("read-only server: start labctl serve with --allow-control")
        if action not in ACTIONS:
            raise ValueError(f"action {action!r}; allowed {', '.join(ACTIONS)}")
        if self.session.finished:
            raise ValueError(f"{self.path.name}: the run has ended; nothing to {action}")
        audit(f"{ACTIONS[action]} of {self.path.name} asked by {who}")
        if action == "pause":
            self.session.pause()
        elif action == "resume":
            self.session.resume()
        elif action == "abort":
            self.session.abort(f"aborted from the web page by {who}")
        else:
            self.session.abort(f"safe state requested from the web page by {who}")
        return ACTIONS[action]

    def stop(self, reason: str, timeout: float = 60.0) -> None:
        """Abort the run if it is still going (the server is stopping) and wait for the
        bench to be safe and the file closed."""
        if not self.session.finished:
            self.session.abort(reason)
        if self._started:
            self.session.wait_quietly(timeout)
        self._events.close()
