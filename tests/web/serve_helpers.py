"""Helpers of the ``labctl serve`` tests: waiting with deadlines, servers as real
processes on free ports (their protocols come from the ``web_protocol`` fixture). Every
wait polls with a generous deadline; nothing depends on how fast the machine is."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: deadline of every wait (s): generous, the machine may be loaded
DEADLINE_S = 180.0

def wait_for(what: str, check: Callable[[], Any], deadline_s: float = DEADLINE_S,
             every_s: float = 0.25) -> Any:
    """Poll ``check()`` until it returns a true value (returned); fail after the deadline."""
    end = time.monotonic() + deadline_s
    last_error: BaseException | None = None
    while time.monotonic() < end:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # a page not ready yet: try again
            last_error = exc
        time.sleep(every_s)
    pytest.fail(f"waited {deadline_s:g} s for {what}" +
                (f" (last error: {last_error})" if last_error else ""))


@dataclass
class Server:
    """A running ``labctl serve`` process."""

    proc: subprocess.Popen[str]
    url: str
    lines: list[str]

    def get(self, path: str, headers: dict[str, str] | None = None,
            method: str = "GET") -> tuple[int, bytes, Any]:
        """(status, body, headers: case-insensitive ``.get``) of one request (no redirects
        followed)."""
        request = urllib.request.Request(self.url.rstrip("/") + path, method=method,
                                         headers=headers or {})
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=60) as answer:
                return answer.status, answer.read(), answer.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), exc.headers


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def start_server(args: list[str], cwd: Path) -> Server:
    """Start ``labctl serve ARGS --port 0`` and wait for the URL it prints."""
    proc = subprocess.Popen([sys.executable, "-m", "labctl.cli", "serve", *args, "--port", "0"],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    assert proc.stdout is not None
    end = time.monotonic() + DEADLINE_S
    url = None
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"labctl serve: (http://\S+/)", line)
        if found:
            url = found.group(1)
            break
    if url is None:
        proc.kill()
        pytest.fail("labctl serve did not start:\n" + "".join(lines) +
                    (proc.stdout.read() if proc.stdout else ""))
    import threading

    def keep_reading() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)

    threading.Thread(target=keep_reading, daemon=True).start()
    return Server(proc, url.replace("0.0.0.0", "127.0.0.1"), lines)


def stop_server(server: Server) -> None:
    """SIGTERM, then wait (its own run is aborted and closed first)."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(120)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


