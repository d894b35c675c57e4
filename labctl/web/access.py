"""Who may talk to ``labctl serve``: access tokens, the Host check, control requests.

Rules (checked on every request by :class:`AccessGuard`, an ASGI middleware):

* **Access tokens.** When the server has tokens (always when it listens on an address
  other than loopback), every request must carry one: ``Authorization: Bearer TOKEN``,
  or the cookie the server set after a visit to ``/?token=TOKEN`` (that visit is
  redirected to the same page without the token, so it leaves the address bar and the
  browser history). No token gives 401, a wrong one 403; both are logged with the client
  address. Tokens are compared in constant time.
* **Host header.** A server on a loopback address answers only requests addressed to a
  loopback name (``127.0.0.1``, ``localhost``, ``[::1]``), so a web page elsewhere cannot
  reach it through DNS rebinding.
* **Control requests** (POST) must also carry the header ``X-Labctl-Control: 1`` and, if
  the browser sends an ``Origin``, one equal to the server's own: a page of another site
  can neither set that header nor read the answer (no CORS), so it cannot press a
  button for the operator.

A token file holds one token per line, ``TOKEN`` or ``NAME TOKEN`` (``#`` starts a
comment); the name is the identity logged with each control request (the first 8 hex
digits of the token's SHA-256 otherwise). Tokens are 16..256 characters of
``A-Z a-z 0-9 - _ . ~``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import logging
import secrets
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

log = logging.getLogger(__name__)

#: the cookie that carries the token after a visit with ``?token=``
COOKIE = "labctl_token"
#: the header every control request carries
CONTROL_HEADER = "x-labctl-control"
#: token length limits (characters)
TOKEN_MIN, TOKEN_MAX = 16, 256
#: host names a loopback server answers to
#: characters a token may hold (safe in a cookie, a header and a URL)
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TokenFileError(ValueError):
    """A token file that cannot be used; the text names the file, line and rule."""


@dataclass(frozen=True)
class Token:
    """An access token and the ``name`` logged for requests that carry it."""

    value: str
    name: str


def is_loopback(host: str) -> bool:
    """True if ``host`` (an address or ``localhost``) only reaches this machine."""
    if host.strip("[]").lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def fingerprint(value: str) -> str:
    """A short, non-secret identity of a token: ``sha256:`` and 8 hex digits."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:8]


def _check_token(value: str, where: str) -> None:
    if not TOKEN_MIN <= len(value) <= TOKEN_MAX or not set(value) <= TOKEN_CHARS:
        raise TokenFileError(f"{where}: a token of {len(value)} characters; allowed "
                             f"{TOKEN_MIN}..{TOKEN_MAX} characters of A-Z a-z 0-9 - _ . ~")


def read_token_file(path: str | Path) -> list[Token]:
    """The tokens of a token file (see the module text); raises TokenFileError naming the
    file and line of the first problem, or if the file holds no token."""
    p = Path(path)
    try:
        if p.stat().st_size > 1_000_000:
            raise TokenFileError(f"--token-file {p}: {p.stat().st_size} bytes; allowed at "
                                 "most 1 MB")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise TokenFileError(f"--token-file {p}: cannot be read ({exc})") from None
    tokens: list[Token] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) > 2:
            raise TokenFileError(f"--token-file {p}, line {number}: {len(parts)} words; "
                                 "allowed TOKEN or NAME TOKEN")
        value = parts[-1]
        _check_token(value, f"--token-file {p}, line {number}")
        name = parts[0] if len(parts) == 2 else fingerprint(value)
        tokens.append(Token(value, name))
    if not tokens:
        raise TokenFileError(f"--token-file {p}: no token in it; allowed one token per "
                             "line (TOKEN or NAME TOKEN)")
    return tokens


def new_token() -> Token:
    """A fresh random token (32 URL-safe characters, 192 bits)."""
    value = secrets.token_urlsafe(24)
    return Token(value, fingerprint(value))


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def client_of(scope: Scope) -> str:
    """The client's address as ``host:port`` (``?`` if unknown)."""
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "?"


def _host_name(host_header: str) -> str:
    """The host part of a Host header (``[::1]:8765`` -> ``::1``)."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


async def _reply(send: Send, status: int, text: str,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class AccessGuard:
    """ASGI middleware enforcing the module's rules before ``app`` sees a request; sets
    ``scope["labctl.identity"]`` (who asked: token name and client address)."""

    def __init__(self, app: ASGIApp, tokens: list[Token], loopback_only: bool) -> None:
        self.app = app
        self.tokens = tokens
        self.loopback_only = loopback_only

    def _match(self, presented: str) -> Token | None:
        found = None
        for token in self.tokens:  # every token compared: no timing hint of which matched
            if hmac.compare_digest(token.value.encode(), presented.encode()):
                found = token
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return  # websockets are not served
        headers = _headers(scope)
        client = client_of(scope)
        if self.loopback_only and _host_name(headers.get("host", "")).lower() \
                not in LOOPBACK_NAMES:
            audit(f"refused {scope['method']} {scope['path']} from {client}: Host "
                  f"{headers.get('host', '')!r} is not a loopback name")
            await _reply(send, 403, "403 Forbidden: this server answers only to "
                         "127.0.0.1 / localhost\n")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        identity = client
        if self.tokens:
            presented = None
            auth = headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                presented = auth[7:].strip()
            elif "token" in query:
                presented = query["token"]
            elif COOKIE in headers.get("cookie", ""):
                cookie: SimpleCookie = SimpleCookie()
                try:
                    cookie.load(headers["cookie"])
                    presented = cookie[COOKIE].value if COOKIE in cookie else None
                except Exception:  # a malformed cookie header: as no token
                    presented = None
            if not presented:
                audit(f"refused {scope['method']} {scope['path']} from {client}: no "
                      "access token (401)")
                await _reply(send, 401, "401 Unauthorized: this labctl server needs its "
                             "access token (open the URL printed by `labctl serve`, or send "
                             "'Authorization: Bearer TOKEN')\n",
                             [(b"www-authenticate", b'Bearer realm="labctl"')])
                return
            token = self._match(presented)
            if token is None:
                audit(f"refused {scope['method']} {scope['path']} from {client}: wrong "
                      "access token (403)")
                await _reply(send, 403, "403 Forbidden: wrong access token\n")
                return
            identity = f"{token.name}@{client}"
            if "token" in query and scope["method"] == "GET":
                await self._set_cookie_and_redirect(scope, send, query, token)
                return
        if scope["method"] == "POST":
            origin = headers.get("origin")
            expected = {f"http://{headers.get('host', '')}"}
            if headers.get(CONTROL_HEADER) != "1" or (origin and origin not in expected):
                audit(f"refused POST {scope['path']} from {identity}: not a control "
                      "request of this server's page (missing X-Labctl-Control or foreign "
                      "Origin)")
                await _reply(send, 403, "403 Forbidden: control requests come from the "
                             "server's own page\n")
                return
        scope["labctl.identity"] = identity
        await self.app(scope, receive, send)

    async def _set_cookie_and_redirect(self, scope: Scope, send: Send, query: dict[str, str],
                                       token: Token) -> None:
        rest = {k: v for k, v in query.items() if k != "token"}
        location = scope["path"] + (f"?{urlencode(rest)}" if rest else "")
        cookie = f"{COOKIE}={token.value}; Path=/; HttpOnly; SameSite=Strict"
        await _reply(send, 303, "see other\n", [(b"location", location.encode()),
                                               (b"set-cookie", cookie.encode()),
                                               (b"referrer-policy", b"no-referrer")])


def audit(text: str) -> None:
    """An access or control decision: logged (``labctl.web.access``, WARNING) and, unless
    logging already goes to the terminal, printed on stderr with the time."""
    from labctl.logsetup import terminal_logging

    log.warning("%s", text)
    if not terminal_logging():
        from datetime import datetime

        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        with contextlib.suppress(OSError, ValueError):  # stderr closed
            print(f"{stamp} labctl serve: {text}", file=sys.stderr, flush=True)
