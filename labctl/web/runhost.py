"""The process that runs ``labctl serve --run PROTOCOL``'s run (``python -m
labctl.web.runhost``), commanded by the server through its standard input.

Why a process of its own: the run-file writer reopens the file to write the final
attributes when the run ends, and HDF5 refuses that while the same process holds the file
open for reading (the server's live view does); and acquisition should never share an
interpreter lock with a web server. The server reads the file read-only (SWMR) like any
other live run.

Protocol: one JSON object per line. In (standard input): ``{"action": "pause"}``,
``"resume"``, ``"abort"`` (with ``"reason"``); end of input (the server stopped or died)
aborts the run, so the bench always ends safe. Out (standard output): first
``{"event": "ready", "path": FILE}`` or ``{"event": "error", "text": ...}`` (exit 2), then
the run's task, state and finished events (:func:`labctl.runner.events.event_to_json`).
SIGINT is ignored (Ctrl-C in the server's terminal reaches the whole process group: the
server aborts the run through the pipe); SIGTERM aborts the run.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType
from typing import Any

#: events passed on to the server (rows and progress stay in the file)
FORWARDED = frozenset({"task_started", "task_finished", "state", "finished", "fault",
                       "recovered"})


def _say(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _commands(session: Any) -> None:
    """Apply the server's commands until its end of input, then abort the run."""
    for line in sys.stdin:
        try:
            command = json.loads(line)
            action = command["action"]
        except (ValueError, KeyError, TypeError):
            continue
        if action == "pause":
            session.pause()
        elif action == "resume":
            session.resume()
        elif action == "abort":
            session.abort(str(command.get("reason") or "aborted by operator"))
    session.abort("labctl serve stopped")


def main(argv: list[str] | None = None) -> int:
    """Run the protocol; 0 completed, 1 aborted, 2 bad input."""
    parser = argparse.ArgumentParser(prog="python -m labctl.web.runhost")
    parser.add_argument("protocol")
    parser.add_argument("--output", required=True)
    parser.add_argument("--bench")
    parser.add_argument("--clock", choices=("fast", "paced"))
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from labctl.bench.config import BenchFileError, load_bench
    from labctl.protocol import ProtocolError, load_protocol
    from labctl.runner.events import event_to_json

    try:
        bench = load_bench(args.bench) if args.bench else None
        protocol = load_protocol(args.protocol, bench)
        from labctl.runner.session import RunSession

        session = RunSession(protocol, args.output, clock=args.clock, seed=args.seed)
    except (ProtocolError, BenchFileError, ValueError, OSError) as exc:
        _say({"event": "error", "text": str(exc)})
        return 2

    def on_term(signum: int, frame: FrameType | None) -> None:
        session.abort("labctl serve's run process terminated (SIGTERM)")

    signal.signal(signal.SIGTERM, on_term)
    events = session.subscribe(maxsize=1000, name="labctl serve")
    _say({"event": "ready", "path": str(session.path)})
    threading.Thread(target=_commands, args=(session,), daemon=True,
                     name="labctl-serve-commands").start()
    session.start()
    while True:
        finished = session.wait_quietly(0.2)
        for event in events.drain():
            out = event_to_json(event)
            if out is not None and out["event"] in FORWARDED:
                _say(out)
        if finished:
            break
    result = session.wait()
    for event in events.drain():
        out = event_to_json(event)
        if out is not None and out["event"] in FORWARDED:
            _say(out)
    return 0 if result.status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
