"""The real page in a real browser: `streamlit run dashboard/app.py` + Debian's Chromium via Playwright.

Skipped when /usr/bin/chromium is missing, unless REQUIRE_BROWSER=1 (then it fails).
Prints the time from page load to the first chart and to all charts of the default preset.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dashboard import charts

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
ALL_CHARTS = len(charts.charts_for("2d"))  # the default preset trains on 2-D points (moons)


def _need_browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and REQUIRE_BROWSER=1")
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium to run the browser test")
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("playwright is not installed and REQUIRE_BROWSER=1")
        pytest.skip("playwright (python) is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    _need_browser()
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
            if proc.poll() is not None:
                pytest.fail("streamlit exited:\n" + (proc.stdout.read() if proc.stdout else ""))
        else:
            pytest.fail("streamlit did not become healthy within 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _charts(page) -> int:
    return page.locator(".js-plotly-plot").count()


def _open_and_wait(browser, server):
    """A new visitor opens the page: -> (page, seconds to the first chart, seconds to all charts)."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    t0 = time.perf_counter()
    page.goto(server + "/", wait_until="domcontentloaded")
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    first = time.perf_counter() - t0
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length >= {ALL_CHARTS}",
                           timeout=60_000)
    return page, first, time.perf_counter() - t0


def test_default_page_trains_and_draws(server, browser, tmp_path):
    page, first, all_ = _open_and_wait(browser, server)
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=30_000)
    print(f"\n[browser timing, cold server] page load -> first chart {first:.2f} s, -> all {ALL_CHARTS} charts {all_:.2f} s")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.wait_for_timeout(800)  # let plotly finish laying out before the picture
    shot = tmp_path / "lab-first-screen.png"
    page.screenshot(path=str(shot), full_page=False)
    page.screenshot(path=str(tmp_path / "lab-full.png"), full_page=True)
    if os.environ.get("LAB_SCREENSHOT_COPY"):
        shutil.copy(shot, os.environ["LAB_SCREENSHOT_COPY"])
        shutil.copy(tmp_path / "lab-full.png", os.environ["LAB_SCREENSHOT_COPY"].replace(".png", "-full.png"))
    assert shot.stat().st_size > 10_000
    page.close()
    # A second visitor on the now warm server (torch imported, engine warmed up).
    page, first, all_ = _open_and_wait(browser, server)
    print(f"[browser timing, warm server] page load -> first chart {first:.2f} s, -> all charts {all_:.2f} s")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_bad_link_warns_and_stop_keeps_partial(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    # A long run (bad lr falls back with a warning), stopped after the first live redraw.
    page.goto(server + "/?preset=relu-vs-dropout&epochs=3000&lr=abc", wait_until="domcontentloaded")
    page.wait_for_selector("text=lr: 'abc' is not allowed", timeout=60_000)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)  # live curves
    page.get_by_role("button", name="■ Stop").click()
    page.wait_for_selector("text=Stopped early", timeout=30_000)
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length >= {ALL_CHARTS}", timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_seminar_mode_renders(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(server + "/?mode=seminar&epochs=5", wait_until="domcontentloaded")
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length >= {ALL_CHARTS}", timeout=60_000)
    assert page.get_by_role("button", name="Memorizing random labels").count() == 1
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
