"""The ``labctl serve`` web application (Starlette, ASGI): pages, JSON API, static files.

Pages (HTML shells whose scripts fetch the JSON API and draw with plotly.js):

* ``/``: the run catalog (``labctl.catalog.scan``) with status and headline results,
  re-read at most every :data:`SCAN_S` seconds however many pages are open;
* ``/run/NAME``: one run: status, tasks, live curves, the network view, the event log,
  controls (for the run this process started, with ``--allow-control``) and, once the run
  has ended, the figures of ``labctl analyze``.

API (JSON, SI units, NaN as ``null``): ``/api/runs``, ``/api/run/NAME/meta``,
``/api/run/NAME/rows?task=K&start=N`` (``&wait=1``: answered as soon as
the file holds a row beyond N, at most :data:`WAIT_S` later), ``/api/run/NAME/events?start=N``,
``/api/run/NAME/figures``, ``/api/run/NAME/figure/FIG.png``, and
``POST /api/run/NAME/control/ACTION`` (pause, resume, abort, safe).

Everything the browser loads comes from this package or from plotly's own package data
(``plotly.min.js``): nothing is fetched from the internet, so the pages work on an
isolated lab network. ``NAME`` must be a run file directly inside the runs folder
(:func:`labctl.web.runfiles.resolve_run`); any other name is 404.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from labctl.store.errors import RunFileError
from labctl.web.access import ASGIApp, Receive, Scope, Send
from labctl.web.figures import FigureCache
from labctl.web.follow import CURVES, MAX_POINTS, REFRESH_S, Followers
from labctl.web.owned import OwnedRun
from labctl.web.runfiles import NotARunError, resolve_run

#: the catalog is re-read at most this often (s)
SCAN_S = 5.0
#: a live page's request for new rows waits at most this long for them (s)
WAIT_S = 10.0
#: files of labctl/web/static served under /static/, with their content types
STATIC = {
    "list.html": "text/html; charset=utf-8",
    "run.html": "text/html; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "common.js": "text/javascript; charset=utf-8",
    "list.js": "text/javascript; charset=utf-8",
    "run.js": "text/javascript; charset=utf-8",
}
#: security headers on every answer
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self' "
     b"'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
     b"base-uri 'none'; frame-ancestors 'none'; form-action 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


@dataclass
class Asset:
    """A static file held in memory, with its gzip form."""

    body: bytes
    media_type: str
    gz: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.gz = gzip.compress(self.body, 6)


def _load_assets() -> dict[str, Asset]:
    here = resources.files("labctl.web") / "static"
    assets = {name: Asset((here / name).read_bytes(), kind) for name, kind in STATIC.items()}
    plotly_js = resources.files("plotly") / "package_data" / "plotly.min.js"
    assets["plotly.min.js"] = Asset(plotly_js.read_bytes(), "text/javascript; charset=utf-8")
    return assets


class Catalog:
    """The runs folder's catalog, scanned at most every :data:`SCAN_S` seconds."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self._lock = threading.Lock()
        self._when = -1e9
        self._entries: list[dict[str, Any]] = []

    def entries(self) -> list[dict[str, Any]]:
        """Every run file of the folder as ``CatalogEntry.to_json`` (without ``path``)."""
        from labctl.catalog import scan

        with self._lock:
            if time.monotonic() - self._when >= SCAN_S:
                found = scan(self.runs_dir)
                self._entries = []
                for e in found:
                    item = e.to_json(self.runs_dir)
                    item.pop("path", None)
                    self._entries.append(item)
                self._when = time.monotonic()
            return list(self._entries)


class WebState:
    """What the request handlers share: the runs folder, open files, the owned run."""

    def __init__(self, runs_dir: Path, owned: OwnedRun | None, cache_dir: Path) -> None:
        self.runs_dir = runs_dir.resolve()
        self.owned = owned
        self.catalog = Catalog(self.runs_dir)
        self.followers = Followers()
        self.figures = FigureCache(cache_dir)
        self.assets = _load_assets()

    def run_path(self, name: str) -> Path:
        """The run file NAME (NotARunError -> 404)."""
        return resolve_run(self.runs_dir, name)

    def owned_status(self, path: Path) -> dict[str, Any]:
        """The control panel's state for run file ``path``."""
        if self.owned is not None and self.owned.path == path:
            return self.owned.status()
        return {"owned": False, "control": False, "actions": []}


def _error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status)


def _int(request: Request, key: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{key}: {text[:40]!r} is not an integer; allowed {low}..{high}") \
            from None
    if not low <= value <= high:
        raise ValueError(f"{key}: {value}; allowed {low}..{high}")
    return value


def build_app(state: WebState) -> ASGIApp:
    """The Starlette application over ``state`` (wrap it in :class:`AccessGuard`)."""

    def asset(request: Request, name: str) -> Response:
        item = state.assets[name]
        headers = {"cache-control": "max-age=3600" if name == "plotly.min.js" else "no-cache"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["content-encoding"] = "gzip"
            return Response(item.gz, media_type=item.media_type, headers=headers)
        return Response(item.body, media_type=item.media_type, headers=headers)

    def list_page(request: Request) -> Response:
        return asset(request, "list.html")

    def run_page(request: Request) -> Response:
        try:
            state.run_path(request.path_params["name"])
        except NotARunError:
            return Response("404 Not Found: no such run file in this runs folder\n", 404,
                            media_type="text/plain")
        return asset(request, "run.html")

    def static(request: Request) -> Response:
        name = request.path_params["file"]
        if name not in state.assets:
            return Response("404 Not Found\n", 404, media_type="text/plain")
        return asset(request, name)

    def runs(request: Request) -> Response:
        from labctl.catalog import CatalogError

        try:
            entries = state.catalog.entries()
        except (CatalogError, OSError, ValueError) as exc:
            return _error(500, f"cannot list {state.runs_dir}: {exc}")
        owned = state.owned.path.name if state.owned is not None else None
        for e in entries:
            e["owned"] = e["name"] == owned
        return JSONResponse({"runs_dir": str(state.runs_dir), "runs": entries,
                             "refresh_s": SCAN_S})

    def with_run(handler: Any) -> Any:
        def wrapped(request: Request) -> Response:
            try:
                path = state.run_path(request.path_params["name"])
                return handler(request, path)
            except NotARunError:
                return _error(404, "no such run file in this runs folder")
            except RunFileError as exc:
                return _error(422, str(exc))
            except (ValueError, IndexError) as exc:
                return _error(400, str(exc))
        return wrapped

    @with_run
    def meta(request: Request, path: Path) -> Response:
        out = state.followers.get(path).meta()
        out["control"] = state.owned_status(path)
        out["curves"] = {k: {"label": v[0], "unit": v[1]} for k, v in CURVES.items()}
        return JSONResponse(out)

    async def rows(request: Request) -> Response:
        # a long poll: with wait=1 the answer comes as soon as the file holds rows beyond
        # `start` (checked every REFRESH_S), when the task or run ends, or after WAIT_S
        try:
            path = state.run_path(request.path_params["name"])
            task = _int(request, "task", 0, 0, 10**9)
            start = _int(request, "start", 0, 0, 10**12)
            points = _int(request, "max_points", MAX_POINTS, 100, MAX_POINTS)
            wait = _int(request, "wait", 0, 0, 1)
            follower = await run_in_threadpool(state.followers.get, path)
            end = time.monotonic() + WAIT_S
            while wait:
                n, task_state, run_status = await run_in_threadpool(follower.count, task)
                if (n > start or task_state != "running" or run_status != "running"
                        or time.monotonic() > end or await request.is_disconnected()):
                    break
                await asyncio.sleep(REFRESH_S)
            return JSONResponse(await run_in_threadpool(follower.rows, task, start, points))
        except NotARunError:
            return _error(404, "no such run file in this runs folder")
        except RunFileError as exc:
            return _error(422, str(exc))
        except (ValueError, IndexError) as exc:
            return _error(400, str(exc))

    @with_run
    def events(request: Request, path: Path) -> Response:
        start = _int(request, "start", 0, 0, 10**12)
        return JSONResponse(state.followers.get(path).events(start))

    @with_run
    def figures(request: Request, path: Path) -> Response:
        if not state.followers.get(path).finished:
            return JSONResponse({"state": "live", "figures": [],
                                 "message": "figures are made once the run has ended"})
        return JSONResponse(state.figures.status(path))

    @with_run
    def figure(request: Request, path: Path) -> Response:
        png = state.figures.figure(path, request.path_params["fig"])
        if png is None or not png.is_file():
            return _error(404, "no such figure")
        return FileResponse(png, media_type="image/png")

    @with_run
    def control(request: Request, path: Path) -> Response:
        who = request.scope.get("labctl.identity", "?")
        action = request.path_params["action"]
        if state.owned is None or state.owned.path != path:
            return _error(403, "this run was not started by this server: it can only be "
                          "watched (its bench belongs to the process that runs it)")
        try:
            done = state.owned.command(action, who)
        except PermissionError as exc:
            return _error(403, str(exc))
        return JSONResponse({"done": done, "control": state.owned.status()})

    def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    routes = [
        Route("/", list_page),
        Route("/favicon.ico", no_icon),
        Route("/run/{name}", run_page),
        Route("/static/{file}", static),
        Route("/api/runs", runs),
        Route("/api/run/{name}/meta", meta),
        Route("/api/run/{name}/rows", rows),
        Route("/api/run/{name}/events", events),
        Route("/api/run/{name}/figures", figures),
        Route("/api/run/{name}/figure/{fig}", figure),
        Route("/api/run/{name}/control/{action}", control, methods=["POST"]),
    ]
    return SecurityHeaders(Starlette(routes=routes))


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in SECURITY_HEADERS if k not in names)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
