"""The run a ``labctl serve`` process started itself (``--run PROTOCOL``), and the operator
commands the page may send to it with ``--allow-control``.

The run executes in a child process (:mod:`labctl.web.runhost`) that owns the bench; the
server writes commands on its standard input and reads its task and state events from
its standard output, and reads the run file read-only like any other. Only this run can
be controlled: a run written by another process (``labctl run``, the GUI) is watched
read-only, since its bench belongs to that process. Every command is logged with who
asked (:func:`labctl.web.access.audit`: token name and client address) and applied by the
run session's front-end API between DAQ blocks (every 0.1 s). SAFE STATE aborts the run:
the engine drives the bench safe (learning off, sources 0 V, SMU output off) and closes
the file as aborted, the reason naming who asked.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from labctl.web.access import audit

#: the commands the page may send, and what each does
ACTIONS = {
    "pause": "pause (learning off, sources held)",
    "resume": "resume",
    "abort": "abort (bench driven safe, file closed as aborted)",
    "safe": "SAFE STATE (abort: learning off, sources 0 V, SMU off)",
}


class RunStartError(RuntimeError):
    """The run process refused the protocol or could not start (text: why)."""


class OwnedRun:
    """The run process of ``--run``; ``control`` allows the commands of :data:`ACTIONS`."""

    def __init__(self, protocol: str, output: Path, *, control: bool,
                 bench: str | None = None, clock: str | None = None,
                 seed: int | None = None) -> None:
        self.control = control
        self.path = output.resolve()
        self.protocol = protocol
        self.state = "starting"
        self.state_reason = ""
        self.finished = False
        self._lock = threading.Lock()
        cmd = [sys.executable, "-m", "labctl.web.runhost", protocol, "--output", str(output)]
        for option, value in (("--bench", bench), ("--clock", clock), ("--seed", seed)):
            if value is not None:
                cmd += [option, str(value)]
        self._cmd = cmd
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 120.0) -> None:
        """Start the run process and wait until its run has started (RunStartError if it
        refused the protocol or ended first)."""
        self._proc = subprocess.Popen(self._cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, bufsize=1)
        assert self._proc.stdout is not None
        first = self._proc.stdout.readline()
        try:
            hello = json.loads(first)
        except ValueError:
            hello = {"event": "error", "text": f"the run process ended (exit "
                     f"{self._proc.wait(timeout)})"}
        if hello.get("event") != "ready":
            self._proc.wait(timeout)
            self.finished = True
            raise RunStartError(str(hello.get("text", hello)))
        self.state = "running"
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name="labctl-serve-run-events")
        self._reader.start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                event = json.loads(line)
                with self._lock:
                    if event["event"] == "state":
                        self.state, self.state_reason = event["state"], event["reason"] or ""
                    elif event["event"] == "finished":
                        self.state, self.state_reason = event["status"], event["reason"] or ""
        self._proc.wait()
        with self._lock:
            self.finished = True
            if self.state in ("running", "paused", "starting"):
                self.state = "ended"

    def status(self) -> dict[str, Any]:
        """What the page shows about it: engine state, whether control is allowed, and
        the commands available now."""
        with self._lock:
            state, reason, finished = self.state, self.state_reason, self.finished
        actions = []
        if self.control and not finished:
            actions = ["resume" if state == "paused" else "pause", "abort", "safe"]
        return {"owned": True, "control": self.control, "state": state, "reason": reason,
                "finished": finished, "actions": actions}

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
        if self.finished:
            raise ValueError(f"{self.path.name}: the run has ended; nothing to {action}")
        audit(f"{ACTIONS[action]} of {self.path.name} asked by {who}")
        reason = (f"safe state requested from the web page by {who}" if action == "safe"
                  else f"aborted from the web page by {who}")
        self._send({"action": "abort" if action == "safe" else action, "reason": reason})
        return ACTIONS[action]

    def _send(self, command: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(command) + "\n")
            self._proc.stdin.flush()
        except (OSError, ValueError):  # the process has ended
            raise ValueError(f"{self.path.name}: the run process has ended") from None

    def stop(self, timeout: float = 120.0) -> None:
        """Abort the run if it is still going (the server is stopping: the run process
        sees its input end) and wait for the bench to be safe and the file closed."""
        if self._proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.terminate()
            self._proc.wait(30)
        if self._reader is not None:
            self._reader.join(5)
