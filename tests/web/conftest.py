"""Fixtures of the ``labctl serve`` tests: a runs folder with a finished run and a real
headless browser (Debian's chromium through chromium-driver, driven by selenium).

Screenshots go to ``$LABCTL_WEB_SCREENSHOTS`` when set (how docs/img/serve*.png are
made), else into the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import DEADLINE_S


@pytest.fixture(scope="session")
def web_protocol(protocols: Any) -> Callable[[Path, str, float], Path]:
    """``web_protocol(folder, name, duration_s)``: write ``folder/NAME.toml``, the bench's
    corners task at λ = 0 and 0.03 (two tasks) with ``duration_s`` seconds (s) of
    continuous learning each, recorded at 50 Hz, seed 1, gates at 2.5 V; returns its path.
    Built by the shared ``protocols`` kit of tests/conftest.py."""

    def write(folder: Path, name: str, duration_s: float) -> Path:
        return protocols.write(folder / f"{name}.toml", name=name, duration=duration_s,
                               lam=protocols.lambda_sweep([0.0, 0.03]), record_rate=50.0,
                               seed=1, gate_voltage=2.5)

    return write


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory,
             web_protocol: Callable[[Path, str, float], Path]) -> Path:
    """A runs folder holding one finished run, ``finished.h5`` (2 tasks of 2 s)."""
    folder = tmp_path_factory.mktemp("runs")
    protocols = tmp_path_factory.mktemp("protocols")
    quick = web_protocol(protocols, "quick", 2.0)
    done = subprocess.run([sys.executable, "-m", "labctl.cli", "run", str(quick), "-q",
                           "-o", str(folder / "finished.h5")], capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return folder


def _browser_paths() -> tuple[str, str] | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless chromium (1400×1800 px) driven by selenium."""
    paths = _browser_paths()
    if paths is None:
        message = ("chromium and chromium-driver are needed (apt-get install chromium "
                   "chromium-driver; tools/test.sh installs them)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1800", f"--user-data-dir={profile}",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    driver.set_page_load_timeout(DEADLINE_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Any, str], Path]:
    """``screenshot(driver, name)``: save the page as ``serve-NAME.png`` (full height)."""

    def save(driver: Any, name: str) -> Path:
        folder = Path(os.environ.get("LABCTL_WEB_SCREENSHOTS") or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        driver.set_window_size(1400, 700)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, max(700, min(int(height) + 140, 3000)))
        path = folder / f"serve-{name}.png"
        driver.save_screenshot(str(path))
        driver.set_window_size(1400, 1800)
        return path

    return save
