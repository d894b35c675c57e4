"""How fast ``labctl serve`` shows a live run, what following it costs the server, and
whether following a run slows the run.

1. **Latency, file row -> browser.** A paced simulated run (``labctl run --clock paced``)
   writes its file; this script follows the file itself (SWMR, every ``--watch-ms``) and
   notes when each row count first became readable; a headless chromium shows the run's
   page from ``labctl serve``, whose script records ``[wall time, rows shown]`` after each
   update (``window.labctlStats``). Latency of an update = when the page showed it − when
   the file first held the oldest row new in it (same machine clock): every row of the
   update waited at most that long.
2. **Server CPU.** CPU time (user + system, /proc) of the server process while the page
   alone follows the run, against the same server idle (no page open) for as long, and
   against the writing run process itself. (Then a client asking what the page asks,
   without rendering, joins: its latency is the server's share of the page's.)
3. **Does following slow the run?** The same fast-clock run (CPU-bound), timed alone and
   while the server serves a client asking what a run page asks (the browser itself
   runs on another computer in use), alternately ``--repeats`` times.

Run: ``python3 benchmarks/bench_serve.py`` (about 3-4 minutes; needs the ``web`` extra,
selenium, chromium and chromium-driver). Numbers depend on machine load; the ratios come
from the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from protocol_templates import protocol_text


def serve_protocol(name: str, lambdas: list[float], duration: float) -> str:
    """The corners task at each λ of ``lambdas``, ``duration`` s of learning each, 50 rows/s,
    seed 1."""
    return protocol_text(name, duration=duration, lam=lambdas, seed=1,
                         description="bench_serve: allostery tasks on the simulated bench")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time (s) of process ``pid`` and its waited-for children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def start_server(runs: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "labctl.cli", "serve", str(runs),
                             "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"labctl serve: (http://\S+/)", line)
        if found:
            threading.Thread(target=lambda: [None for _ in proc.stdout],  # type: ignore[union-attr]
                             daemon=True).start()
            return proc, found.group(1)
    raise SystemExit("labctl serve did not start")


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1800"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"),
                            options=options)


class FileWatcher(threading.Thread):
    """Notes when each row count of each task first became readable in the run file."""

    def __init__(self, path: Path, every_s: float) -> None:
        super().__init__(daemon=True)
        self.path, self.every_s = path, every_s
        self.first_seen: dict[tuple[int, int], float] = {}  # (task, rows) -> unix time
        self.stop = threading.Event()

    def run(self) -> None:
        from labctl.store import open_run

        while not self.path.exists() and not self.stop.is_set():
            time.sleep(0.05)
        run = None
        while run is None and not self.stop.is_set():
            try:
                run = open_run(self.path)
            except Exception:  # not complete yet
                time.sleep(0.1)
        seen = {}
        while run is not None and not self.stop.is_set():
            run.refresh()
            now = time.time()
            for t in run.tasks:
                n = t.n_rows
                for k in range(seen.get(t.index, 0) + 1, n + 1):
                    self.first_seen[(t.index, k)] = now
                seen[t.index] = max(seen.get(t.index, 0), n)
            if run.recorded_status != "running":
                break
            time.sleep(self.every_s)
        if run is not None:
            run.close()


def _latency(what: str, updates: list[tuple[float, int, int]],
             first_seen: dict[tuple[int, int], float],
             last: dict[int, int] | None = None) -> None:
    """Print the latency of each update: when it was shown - when the oldest row new in
    it was first readable in the file (so every row of the update waited at most that)."""
    latencies = []
    last = dict(last or {})  # task -> rows already shown
    for t_shown, task, n in updates:
        oldest = (task, last.get(task, 0) + 1)
        if n > last.get(task, 0) and oldest in first_seen:
            latencies.append(t_shown - first_seen[oldest])
        last[task] = max(last.get(task, 0), n)
    if not latencies:
        print(f"   {what}: no update seen")
        return
    latencies.sort()
    q95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 20 else latencies[-1]
    print(f"   {what}: {len(latencies)} updates, median {statistics.median(latencies):.2f} s, "
          f"95th percentile {q95:.2f} s, max {latencies[-1]:.2f} s; "
          f"{100 * sum(x <= 2.0 for x in latencies) / len(latencies):.0f} % within 2 s")


def latency_and_cpu(work: Path, duration: float, watch_ms: float) -> None:
    runs = work / "runs"
    runs.mkdir()
    protocol = work / "paced.toml"
    protocol.write_text(serve_protocol("paced", [0.0, 0.03], duration))
    live = runs / "live.h5"
    server, url = start_server(runs)
    # baseline: the idle server for as long as the measurement below
    print(f"server idle for {duration:g} s (baseline)…", flush=True)
    c0 = cpu_seconds(server.pid)
    time.sleep(duration)
    idle_cpu = cpu_seconds(server.pid) - c0
    run = subprocess.Popen([sys.executable, "-m", "labctl.cli", "run", str(protocol), "-q",
                            "--clock", "paced", "-o", str(live)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    watcher = FileWatcher(live, watch_ms / 1000)
    watcher.start()
    driver = browser()
    client = PageLike(url, "live.h5")  # the same requests without a browser's rendering
    try:
        while not live.exists():
            time.sleep(0.1)
        driver.get(url + "run/live.h5")
        # wait for the first rows on the page, then measure for `duration` seconds
        end = time.monotonic() + 300
        while time.monotonic() < end and not driver.execute_script(
                "return window.labctlStats && window.labctlStats.rowsShown"):
            time.sleep(0.2)
        samples: list[tuple[float, int, int]] = []
        render_ms: list[float] = []

        def watch_page(seconds: float) -> float:
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds and run.poll() is None:
                time.sleep(1.0)
                stats = driver.execute_script("return window.labctlStats")
                samples.extend((t / 1000, task, n) for t, n, task in stats["updates"])
                render_ms.extend(stats["renderMs"])
                driver.execute_script("window.labctlStats.updates = []; "
                                      "window.labctlStats.renderMs = []")
            return time.monotonic() - t0

        # the first load brings the rows written before the page opened: not a latency
        shown = driver.execute_script(
            "const s = window.labctlStats; const out = [s.task, s.rowsShown];"
            "s.updates = []; s.renderMs = []; return out;")
        # first the page alone (the server's CPU while a page follows the run) ...
        c_server, c_run = cpu_seconds(server.pid), cpu_seconds(run.pid)
        wall = watch_page(0.8 * duration)
        follow_cpu = cpu_seconds(server.pid) - c_server
        run_cpu = cpu_seconds(run.pid) - c_run
        # ... then also a client asking what the page asks, without rendering
        client.start()
        watch_page(0.8 * duration)
    finally:
        client.stop.set()
        driver.quit()
        run.terminate()
        run.wait()
        watcher.stop.set()
        server.terminate()
        server.wait()
    t_end = time.time()
    print(f"\n1. update latency, row readable in the file -> shown (file watched every "
          f"{watch_ms:g} ms; the issue asks <= 2 s):")
    _latency("on the page in chromium", samples, watcher.first_seen,
             last={shown[0]: shown[1]})
    # (its first answer brings the rows written before it joined: not a latency)
    _latency("in the JSON answer of a client asking as the page does",
             [u for u in client.updates[1:] if u[0] <= t_end], watcher.first_seen,
             last={client.updates[0][1]: client.updates[0][2]} if client.updates else None)
    if render_ms:
        print(f"   the page's own work per update (plots and network view): median "
              f"{statistics.median(render_ms):.0f} ms, max {max(render_ms):.0f} ms")
    print(f"2. server CPU: {follow_cpu:.2f} s over {wall:.0f} s following the live run "
          f"({100 * follow_cpu / wall:.1f} % of one core); idle baseline "
          f"{100 * idle_cpu / duration:.2f} %; the run process writing the file "
          f"{100 * run_cpu / wall:.1f} % (server/run ratio {follow_cpu / max(run_cpu, 1e-9):.2f})")


class PageLike(threading.Thread):
    """Asks the server what a run page asks (status every second, rows by long poll), as
    a browser on another computer would; the rendering is not on this machine."""

    def __init__(self, url: str, name: str) -> None:
        super().__init__(daemon=True)
        self.url, self.name = url, name
        self.stop = threading.Event()
        self.requests = 0
        self.updates: list[tuple[float, int, int]] = []  # (unix time, task, rows)

    def _get(self, path: str) -> dict[str, Any]:
        import json
        import urllib.request

        with urllib.request.urlopen(self.url + path, timeout=60) as answer:
            self.requests += 1
            return json.loads(answer.read())

    def run(self) -> None:
        import urllib.error

        api = f"api/run/{self.name}"
        task, start, last_meta = 0, 0, 0.0
        while not self.stop.is_set():
            try:
                if time.monotonic() - last_meta > 1.0:
                    meta = self._get(f"{api}/meta")
                    last_meta = time.monotonic()
                    running = [t["index"] for t in meta["tasks"] if t["status"] == "running"]
                    if running and running[0] != task:
                        task, start = running[0], 0
                    if meta["recorded_status"] != "running":
                        return
                start = self._get(f"{api}/rows?task={task}&start={start}&wait=1")["next"]
                self.updates.append((time.time(), task, start))
            except (urllib.error.URLError, OSError, ValueError):
                time.sleep(0.2)  # the file is not there or not verified yet


def slowdown(work: Path, repeats: int, duration: float) -> None:
    protocol = work / "fast.toml"
    protocol.write_text(serve_protocol("fast", [0.0, 0.01, 0.02, 0.03], duration))
    runs = work / "fast-runs"
    runs.mkdir()
    alone, followed, cpu_share = [], [], []
    cpu_alone: list[float] = []
    cpu_followed: list[float] = []
    server, url = start_server(runs)
    try:
        for i in range(repeats):
            for mode in ("alone", "followed"):
                out = runs / f"{mode}-{i}.h5"
                c0, t0 = cpu_seconds(server.pid), time.monotonic()
                run = subprocess.Popen([sys.executable, "-m", "labctl.cli", "run",
                                        str(protocol), "-q", "-o", str(out)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                page = None
                if mode == "followed":
                    while not out.exists() and run.poll() is None:
                        time.sleep(0.05)
                    page = PageLike(url, out.name)
                    page.start()
                _, status, usage = os.wait4(run.pid, 0)  # reaped here: its CPU time too
                run.returncode = os.waitstatus_to_exitcode(status)
                wall = time.monotonic() - t0
                (cpu_alone if mode == "alone" else cpu_followed).append(
                    usage.ru_utime + usage.ru_stime)
                if page is not None:
                    page.stop.set()
                    page.join(70)
                    cpu_share.append((cpu_seconds(server.pid) - c0) / wall)
                (alone if mode == "alone" else followed).append(wall)
    finally:
        server.terminate()
        server.wait()
    a, f = statistics.median(alone), statistics.median(followed)
    print(f"3. fast-clock run of 4 × {duration:g} s tasks (CPU-bound): alone median {a:.1f} s "
          f"{[round(x, 1) for x in alone]}; followed by the server and a page-like client "
          f"(long-polling rows, status every 1 s) median {f:.1f} s "
          f"{[round(x, 1) for x in followed]}: ratio {f / a:.2f}; server CPU meanwhile "
          f"{100 * statistics.median(cpu_share):.1f} % of one core")
    ca, cf = statistics.median(cpu_alone), statistics.median(cpu_followed)
    print(f"   CPU time of the run process (less sensitive to machine load than wall time): "
          f"alone median {ca:.1f} s {[round(x, 1) for x in cpu_alone]}, followed median "
          f"{cf:.1f} s {[round(x, 1) for x in cpu_followed]}: ratio {cf / ca:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0,
                        help="paced task length (s); each measuring window is 0.8 of it")
    parser.add_argument("--watch-ms", type=float, default=20.0,
                        help="how often this script reads the file (ms)")
    parser.add_argument("--repeats", type=int, default=3, help="fast runs per mode")
    parser.add_argument("--fast-duration", type=float, default=5.0,
                        help="bench time per task of the fast runs (s)")
    parser.add_argument("--skip-slowdown", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        latency_and_cpu(work, args.duration, args.watch_ms)
        if not args.skip_slowdown:
            slowdown(work, args.repeats, args.fast_duration)
    print(f"(load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
