"""``labctl serve`` without a browser: bad input exits 2 with one line before anything
opens, token files, which names are run files, the access rules of the middleware."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from labctl.web.access import (
    AccessGuard,
    TokenFileError,
    is_loopback,
    new_token,
    read_token_file,
)
from labctl.web.runfiles import NotARunError, resolve_run


def serve(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labctl.cli", "serve", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("args", "words"), [
    (["{missing}"], ["RUNS_DIR", "not a folder"]),
    (["{runs}", "--allow-control"], ["--allow-control", "--run PROTOCOL"]),
    (["{runs}", "--clock", "paced"], ["--clock", "only with --run"]),
    (["{runs}", "--port", "70000"], ["--port", "0..65535"]),
    (["{runs}", "--token-file", "{missing}"], ["--token-file", "cannot be read"]),
    (["{runs}", "--token-file", "{short}"], ["line 1", "16..256"]),
    (["{runs}", "--host", "no.such.host.invalid"], ["--host", "no.such.host.invalid"]),
    (["{runs}", "--run", "{missing}"], ["missing"]),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str],
                                         words: list[str]) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    short = tmp_path / "short.txt"
    short.write_text("tooshort\n")
    names = {"runs": str(runs), "missing": str(tmp_path / "missing"), "short": str(short)}
    done = serve(*(a.format(**names) for a in args), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    for word in words:
        assert word in lines[0]
    assert list(runs.iterdir()) == []  # nothing written, no run started


def test_token_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# lab tokens\nalice  aaaaaaaaaaaaaaaaaaaa-1\nbbbbbbbbbbbbbbbbbbbb_2  # bob\n")
    tokens = read_token_file(path)
    assert [t.name for t in tokens] == ["alice", tokens[1].name]
    assert tokens[1].name.startswith("sha256:") and tokens[1].value == "bbbbbbbbbbbbbbbbbbbb_2"
    for text, words in (("", "no token"), ("a b c\n", "3 words"),
                        ("x" * 20 + ";\n", "A-Z a-z 0-9")):
        path.write_text(text)
        with pytest.raises(TokenFileError, match=words):
            read_token_file(path)
    assert len(new_token().value) >= 32 and new_token().value != new_token().value


def test_loopback_names() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.1.2.3"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "lab-pc"))


def test_only_run_files_inside_the_folder(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "a.h5").write_bytes(b"x")
    (runs / "notes.txt").write_text("x")
    (runs / "sub").mkdir()
    (runs / "sub" / "b.h5").write_bytes(b"x")
    (tmp_path / "out.h5").write_bytes(b"x")
    (runs / "link-out.h5").symlink_to(tmp_path / "out.h5")
    (runs / "link-in.h5").symlink_to(runs / "a.h5")
    os.mkfifo(runs / "fifo.h5")
    folder = runs.resolve()
    assert resolve_run(folder, "a.h5") == folder / "a.h5"
    assert resolve_run(folder, "link-in.h5") == folder / "a.h5"
    for name in ("../out.h5", "sub/b.h5", "notes.txt", "link-out.h5", ".hidden.h5", "fifo.h5",
                 "missing.h5", "..", "a.h5\x00", "sub\\b.h5", str(tmp_path / "out.h5")):
        with pytest.raises(NotARunError):
            resolve_run(folder, name)


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope.get("labctl.identity", "").encode()})


def _ask(guard: AccessGuard, method: str = "GET", path: str = "/", query: str = "",
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "method": method, "path": path, "client": ("10.0.0.7", 5000),
             "query_string": query.encode(),
             "headers": [(k.lower().encode(), v.encode())
                         for k, v in {"host": "127.0.0.1:8765", **(headers or {})}.items()]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    start = sent[0]
    head = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], head, b"".join(m.get("body", b"") for m in sent[1:])


def test_access_rules(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("alice aaaaaaaaaaaaaaaaaaaa-1\n")
    guard = AccessGuard(_ok, read_token_file(path), loopback_only=True)
    assert _ask(guard)[0] == 401
    assert _ask(guard, headers={"authorization": "Bearer aaaaaaaaaaaaaaaaaaaa-2"})[0] == 403
    status, _, body = _ask(guard, headers={"authorization": "Bearer aaaaaaaaaaaaaaaaaaaa-1"})
    assert status == 200 and body == b"alice@10.0.0.7:5000"
    status, head, _ = _ask(guard, path="/run/x.h5", query="token=aaaaaaaaaaaaaaaaaaaa-1&a=1")
    assert status == 303 and head["location"] == "/run/x.h5?a=1"
    assert "HttpOnly" in head["set-cookie"] and "SameSite=Strict" in head["set-cookie"]
    cookie = {"cookie": "labctl_token=aaaaaaaaaaaaaaaaaaaa-1"}
    assert _ask(guard, headers=cookie)[0] == 200
    # DNS rebinding: a loopback server answers only to loopback names
    assert _ask(guard, headers={**cookie, "host": "evil.example:8765"})[0] == 403
    # control requests: the header of the server's own page, no foreign Origin
    assert _ask(guard, "POST", headers=cookie)[0] == 403
    control = {**cookie, "x-labctl-control": "1"}
    assert _ask(guard, "POST", headers={**control, "origin": "http://evil.example"})[0] == 403
    assert _ask(guard, "POST", headers={**control, "origin": "http://127.0.0.1:8765"})[0] == 200
    # without tokens (a loopback server without --token-file) only the other rules apply
    open_guard = AccessGuard(_ok, [], loopback_only=True)
    assert _ask(open_guard)[0] == 200
    assert _ask(open_guard, "POST")[0] == 403
