"""The figures of ``labctl analyze`` for a finished run, made once per file version.

Made by ``python -m labctl.analysis.cli FILE -o DIR`` in a child process at low priority
(``nice``), so matplotlib and the fits neither share the server's interpreter lock nor
compete with an acquisition at normal priority; written into the server's own cache
folder (never into the runs folder), keyed by the file's name, size and modification
time. Only the PNG files the analysis wrote are served, by name from that list.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from labctl.extras import missing_modules

#: a figure name as served (what labctl analyze writes: ``time_series.png``, ...)
FIGURE_RE = re.compile(r"^[a-z0-9_]{1,64}\.png$")
#: the analysis of one run may take this long (s) before it is given up
ANALYZE_TIMEOUT_S = 600.0


class FigureCache:
    """Analysis figures of finished runs, made in the background on first request."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _key(path: Path) -> str:
        st = path.stat()
        return f"{path.stem[:80]}-{st.st_size}-{st.st_mtime_ns}"

    def status(self, path: Path) -> dict[str, Any]:
        """``{"state": "working" | "ready" | "failed" | "unavailable", "figures": [...],
        "message": ...}`` for run file ``path``; starts the analysis on first call."""
        missing = missing_modules(("matplotlib", "pandas", "xarray"))
        if missing:
            return {"state": "unavailable", "figures": [], "message": "the figures need "
                    f"the 'analysis' extra (missing: {', '.join(missing)}): pip install "
                    "'labctl[analysis]'"}
        key = self._key(path)
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                job = {"state": "working", "figures": [], "message": "", "dir": None}
                self._jobs[key] = job
                threading.Thread(target=self._make, args=(path, key, job), daemon=True,
                                 name="labctl-serve-figures").start()
            return {k: v for k, v in job.items() if k != "dir"}

    def _make(self, path: Path, key: str, job: dict[str, Any]) -> None:
        out = self.cache_dir / key
        cmd = [sys.executable, "-m", "labctl.analysis.cli", str(path), "-o", str(out)]
        if shutil.which("nice"):
            cmd = ["nice", "-n", "10", *cmd]
        env = {**os.environ, "MPLBACKEND": "Agg"}
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, env=env,
                                  timeout=ANALYZE_TIMEOUT_S, check=False)
            figures = sorted(p.name for p in out.glob("*.png")) if out.is_dir() else []
            with self._lock:
                if done.returncode == 0:
                    job.update(state="ready", figures=figures, dir=out)
                else:
                    lines = (done.stderr or done.stdout).strip().splitlines()
                    job.update(state="failed", message=lines[-1] if lines else
                               f"labctl analyze exited {done.returncode}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            with self._lock:
                job.update(state="failed", message=f"labctl analyze: {exc}")

    def figure(self, path: Path, name: str) -> Path | None:
        """The PNG ``name`` made for run file ``path``, or None if there is none."""
        if not FIGURE_RE.match(name):
            return None
        with self._lock:
            job = self._jobs.get(self._key(path))
            if job is None or job["state"] != "ready" or name not in job["figures"]:
                return None
            return Path(job["dir"]) / name
