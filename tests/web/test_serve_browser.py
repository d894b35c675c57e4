"""``labctl serve`` in a real headless browser: the list page, a live run whose plotted
points grow while a paced run goes on, the controls of the server's own run (SAFE
STATE), a finished run with its analysis figures, the token, path traversal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import (
    DEADLINE_S,
    Server,
    start_server,
    stop_server,
    wait_for,
)

from labctl.store import open_run


@pytest.fixture(scope="module")
def control_server(runs_dir: Path, tmp_path_factory: pytest.TempPathFactory,
                   web_protocol: Callable[[Path, str, float], Path]) -> Iterator[Server]:
    """``labctl serve RUNS --allow-control --run PACED --clock paced``: its own paced run
    (2 tasks × 300 s of wall-clock learning, ended by the SAFE STATE test or at teardown)
    is live while the tests look at it, however slow the machine."""
    protocols = tmp_path_factory.mktemp("paced")
    paced = web_protocol(protocols, "paced", 300.0)
    server = start_server([str(runs_dir), "--allow-control", "--run", str(paced),
                           "--clock", "paced"], cwd=protocols)
    try:
        yield server
    finally:
        stop_server(server)


def owned_name(server: Server) -> str:
    """The run file name the server started (from its list)."""
    status, body, _ = server.get("/api/runs")
    assert status == 200
    owned = [r["name"] for r in json.loads(body)["runs"] if r["owned"]]
    assert owned, body
    return owned[0]


def _rows(driver: Any) -> dict[str, str]:
    # read in one script: the page re-renders its tables, so elements can go stale
    return dict(driver.execute_script(
        "return Array.from(document.querySelectorAll('#runs tbody tr'))"
        ".map(tr => [tr.dataset.name, tr.dataset.status]);"))


def texts(driver: Any, selector: str) -> list[str]:
    """The visible text of every element matching ``selector``, read in one script."""
    return list(driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText);",
        selector))


def test_list_page_shows_runs_with_status(control_server: Server, browser: Any,
                                          screenshot: Any) -> None:
    wait_for("the server's run to be listed", lambda: owned_name(control_server))
    live = owned_name(control_server)
    browser.get(control_server.url)
    rows = wait_for("both runs in the list", lambda: (lambda r: r if len(r) >= 2 and
                    r.get(live) == "live" else None)(_rows(browser)))
    assert rows["finished.h5"] == "completed"
    text = texts(browser, 'tr[data-name="finished.h5"]')[0]
    assert "2/2" in text and "quick" in text
    assert "µW" in text and "V²" in text  # headline results in SI units
    assert texts(browser, f'tr[data-name="{live}"] .badge.live') == ["LIVE"]
    screenshot(browser, "list")


def _points(driver: Any) -> int:
    return int(driver.execute_script(
        "const d = document.getElementById('plot-error').data;"
        "return d && d[0] ? d[0].x.length : 0;"))


def test_live_run_points_grow(control_server: Server, browser: Any, screenshot: Any) -> None:
    name = owned_name(control_server)
    browser.get(control_server.url + "run/" + name)
    first = wait_for("the first plotted points of the live run", lambda: _points(browser))
    grown = wait_for("more points while the paced run goes on",
                     lambda: (lambda n: n if n > first else None)(_points(browser)))
    assert grown > first
    with open_run(control_server_file(control_server, name)) as run:
        assert run.status == "running"  # still live: the points came from a growing file
    assert browser.find_element("id", "status").text == "LIVE"
    # every curve of the issue is there, and the network view has its 32 edges, 16 nodes
    for plot in ("plot-error", "plot-norm", "plot-power", "plot-lambda", "plot-energy"):
        assert browser.find_element("id", plot).get_attribute("class").startswith("plot")
    wait_for("the network view", lambda: len(browser.find_elements(
        "css selector", "#network line")) >= 32)
    assert len(browser.find_elements("css selector", "#network circle, #network rect")) >= 16
    wait_for("the event log", lambda: browser.find_elements("css selector", "#events tbody tr"))
    wait_for("a few more points for the screenshot", lambda: _points(browser) > first + 100)
    screenshot(browser, "live")


def control_server_file(server: Server, name: str) -> Path:
    _, body, _ = server.get("/api/runs")
    return Path(json.loads(body)["runs_dir"]) / name


def test_safe_state_button_aborts_own_run(control_server: Server, browser: Any) -> None:
    name = owned_name(control_server)
    browser.get(control_server.url + "run/" + name)
    button = wait_for("an enabled SAFE STATE button", lambda: (
        lambda b: b if b.is_displayed() and b.is_enabled() else None)(
        browser.find_element("id", "btn-safe")))
    button.click()
    wait_for("the run to end aborted", lambda: browser.find_element(
        "id", "status").text == "ABORTED")
    path = control_server_file(control_server, name)
    with open_run(path) as run:
        assert run.status == "aborted"
        assert "safe state requested from the web page by 127.0.0.1:" in run.abort_reason
    # the command is logged with who asked
    wait_for("the logged command", lambda: any(
        "SAFE STATE" in line and "asked by 127.0.0.1:" in line
        for line in control_server.lines))


def test_read_only_server_refuses_control(runs_dir: Path, tmp_path: Path) -> None:
    server = start_server([str(runs_dir)], cwd=tmp_path)
    try:
        status, body, _ = server.get("/api/run/finished.h5/control/abort", method="POST",
                                     headers={"X-Labctl-Control": "1"})
        assert status == 403 and b"not started by this server" in body
        status, _, _ = server.get("/api/run/finished.h5/control/abort", method="POST")
        assert status == 403  # not even a control request of its own page
    finally:
        stop_server(server)


def test_finished_run_page_with_figures(runs_dir: Path, browser: Any, screenshot: Any,
                                        tmp_path: Path) -> None:
    server = start_server([str(runs_dir)], cwd=tmp_path)
    try:
        browser.get(server.url + "run/finished.h5")
        wait_for("the completed status", lambda: browser.find_element(
            "id", "status").text == "COMPLETED")
        with open_run(runs_dir / "finished.h5") as run:
            n_rows = run.tasks[-1].n_rows
        # the last task is selected and every one of its rows is plotted
        wait_for("all rows of the last task plotted", lambda: _points(browser) == n_rows)
        tasks = texts(browser, "#tasks tbody tr")
        assert len(tasks) == 2 and all("COMPLETED" in t for t in tasks)
        assert re.search(r"\d [µm]W", tasks[0]) and re.search(r"\d [µm]J", tasks[0])
        figures = wait_for("the analysis figures", lambda: browser.find_elements(
            "css selector", "#figures img"), deadline_s=2 * DEADLINE_S, every_s=1.0)
        assert any("time_series" in f.get_attribute("src") for f in figures)
        wait_for("the figures to load", lambda: all(browser.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", f)
            for f in figures))
        screenshot(browser, "finished")
    finally:
        stop_server(server)


@pytest.fixture
def token_server(runs_dir: Path, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """A server on every address (0.0.0.0): it makes a token and prints it once."""
    server = start_server([str(runs_dir), "--host", "0.0.0.0"], cwd=tmp_path)
    try:
        token = wait_for("the printed token", lambda: next(
            (line.split(": ", 1)[1].strip() for line in server.lines
             if line.startswith("access token")), None))
        yield server, token
    finally:
        stop_server(server)


def test_request_without_token_refused(token_server: tuple[Server, str], browser: Any) -> None:
    server, token = token_server
    for path in ("/", "/api/runs", "/run/finished.h5", "/static/plotly.min.js",
                 "/api/run/finished.h5/rows?task=0"):
        status, body, headers = server.get(path)
        assert status == 401, path
        assert headers.get("WWW-Authenticate", "").startswith("Bearer")
        assert b"access token" in body and b"finished" not in body
    status, _, _ = server.get("/api/runs", headers={"Authorization": "Bearer wrong-token-1234567"})
    assert status == 403
    status, body, _ = server.get("/api/runs", headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and b"finished.h5" in body
    # the browser: refused without the token, in with the printed URL (cookie afterwards)
    browser.get(server.url)
    assert "401" in browser.find_element("tag name", "body").text
    browser.get(server.url + "?token=" + token)
    wait_for("the list behind the token", lambda: "finished.h5" in _rows(browser))
    assert "token" not in browser.current_url  # redirected away from the token URL
    assert any("no access token (401)" in line for line in server.lines)


def test_path_traversal_refused(runs_dir: Path, tmp_path: Path, browser: Any) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.h5"
    secret.write_bytes((runs_dir / "finished.h5").read_bytes())
    link = runs_dir / "link-out.h5"
    link.symlink_to(secret)
    server = start_server([str(runs_dir)], cwd=tmp_path)
    try:
        attempts = [
            "/api/run/..%2Foutside%2Fsecret.h5/meta",
            "/api/run/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd/meta",
            "/api/run/link-out.h5/meta",        # a symbolic link leading out of RUNS_DIR
            "/api/run/link-out.h5/rows?task=0",
            "/run/..%2Foutside%2Fsecret.h5",
            "/run/link-out.h5",
            "/static/..%2F..%2F..%2Fpyproject.toml",
            "/static/%2E%2E/app.py",
            "/api/run/finished.h5/figure/..%2F..%2Ffinished.h5",
            "/api/run/.labctl-runs-index.json/meta",
        ]
        for path in attempts:
            status, body, _ = server.get(path)
            assert status in (400, 403, 404), (path, status)
            assert b"HDF" not in body and b"[project]" not in body, path
        browser.get(server.url + "run/..%2Foutside%2Fsecret.h5")
        assert "Not Found" in browser.find_element("tag name", "body").text
    finally:
        stop_server(server)
        link.unlink()


def test_pages_load_nothing_from_elsewhere(runs_dir: Path, browser: Any,
                                           tmp_path: Path) -> None:
    """Every resource the run page loads comes from the server itself (offline lab)."""
    server = start_server([str(runs_dir)], cwd=tmp_path)
    try:
        browser.get(server.url + "run/finished.h5")
        wait_for("the plots", lambda: _points(browser) > 0)
        urls = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        assert urls and all(u.startswith(server.url) for u in urls), urls
        assert any(u.endswith("/static/plotly.min.js") for u in urls)
    finally:
        stop_server(server)


def test_missing_extra_one_line(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['starlette'] = None; from labctl.cli import main; "
            f"sys.exit(main(['serve', {str(tmp_path)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ})
    assert done.returncode == 2
    assert done.stderr.strip() == ("labctl serve needs the 'web' extra (missing: starlette): "
                                   "pip install 'labctl[web]'")
