"""The real page in a real browser: `streamlit run dashboard/app.py` + Debian's Chromium via Playwright
(both started by bench.harness).

Skipped when /usr/bin/chromium is missing, unless REQUIRE_BROWSER=1 (then it fails).
Prints the time from page load to the first chart and to all charts of the default preset.
Every wait is Playwright's own, on a condition in the page, with a timeout against hangs.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import time

import pytest

from bench.harness import ALL_CHARTS, CHART, wait_charts, wait_drawn

pytestmark = pytest.mark.browser


@contextlib.contextmanager
def visit(browser, url: str, width: int = 1400, height: int = 900):
    """A new visitor follows `url`; on leaving, the page must show no exception."""
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.goto(url, wait_until="domcontentloaded")
        yield page
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        page.close()


@contextlib.contextmanager
def open_default(browser, server):
    """A new visitor opens the page: yields (page, seconds to the first chart, seconds to all charts)."""
    t0 = time.perf_counter()
    with visit(browser, server + "/", 1600, 1000) as page:
        page.wait_for_selector(CHART, timeout=60_000)
        first = time.perf_counter() - t0
        wait_charts(page, ALL_CHARTS)
        yield page, first, time.perf_counter() - t0


def test_default_page_trains_and_draws(server, browser, tmp_path):
    with open_default(browser, server) as (page, first, all_):
        page.wait_for_selector('[data-testid="stDataFrame"] >> visible=true', timeout=30_000)  # the summary (the variants table is folded)
        print(f"\n[browser timing, cold server] page load -> first chart {first:.2f} s, -> all {ALL_CHARTS} charts {all_:.2f} s")
        wait_drawn(page)  # every chart laid out and painted before the picture
        shot = tmp_path / "lab-first-screen.png"
        page.screenshot(path=str(shot), full_page=False)
        page.screenshot(path=str(tmp_path / "lab-full.png"), full_page=True)
        if os.environ.get("LAB_SCREENSHOT_COPY"):
            shutil.copy(shot, os.environ["LAB_SCREENSHOT_COPY"])
            shutil.copy(tmp_path / "lab-full.png", os.environ["LAB_SCREENSHOT_COPY"].replace(".png", "-full.png"))
        assert shot.stat().st_size > 10_000
    # A second visitor on the now warm server (torch imported, engine warmed up).
    with open_default(browser, server) as (page, first, all_):
        print(f"[browser timing, warm server] page load -> first chart {first:.2f} s, -> all charts {all_:.2f} s")


def test_bad_link_warns_and_stop_keeps_partial(server, browser):
    # A long run (bad lr falls back with a warning), stopped after the first live redraw.
    with visit(browser, server + "/?preset=relu-vs-dropout&epochs=3000&lr=abc") as page:
        page.wait_for_selector("text=lr: 'abc' is not allowed", timeout=60_000)
        # 3,000 epochs of four variants is over the local budget (2e9): it asks first
        page.get_by_role("button", name="Train anyway").click()
        page.wait_for_selector(CHART, timeout=60_000)  # live curves
        page.get_by_role("button", name="■ Stop").click()
        page.wait_for_selector("text=Stopped early", timeout=30_000)
        wait_charts(page, ALL_CHARTS, timeout=30)


def test_seminar_mode_renders(server, browser):
    with visit(browser, server + "/?mode=seminar&epochs=5", 1280, 800) as page:
        wait_charts(page, ALL_CHARTS)
        assert page.get_by_role("button", name="Memorizing random labels").count() == 1


def test_a_link_streamlit_drops_for_its_size_is_warned_about(server, browser):
    # Over 1,000 parameters Streamlit drops the whole query string before the page runs: the
    # default experiment opens, and the page says why (dashboard.views.common.LONG_LINK_PROBE).
    probe = ".relu-lab-long-link"
    dropped = "&".join(["epochs=5"] + [f"x{i}=1" for i in range(1001)])
    with visit(browser, server + "/?" + dropped) as page:
        page.wait_for_selector(f"{probe}:has-text('1,002 parameters, more than the 1,000')", timeout=120_000)
        assert "none of its settings were read" in page.inner_text(probe)
        assert page.get_attribute(probe, "data-params") == "1002"
    with visit(browser, server + "/") as page:  # no query at all: the probe looks and stays hidden
        page.wait_for_selector(f"{probe}[data-params='0']", state="attached", timeout=120_000)
        assert not page.is_visible(probe)
    # A link the page reads (up to 100 parameters, the rest ignored with a warning of the page's
    # own): the probe is not even sent, since Streamlit kept the query.
    kept = "&".join(["epochs=5"] + [f"x{i}=1" for i in range(150)])
    with visit(browser, server + "/?" + kept) as page:
        page.wait_for_selector("text=only the first 100 are read", timeout=120_000)
        assert page.locator(probe).count() == 0
