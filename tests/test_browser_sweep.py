"""The Sweep page in a real browser: `streamlit run dashboard/app.py` + Debian's Chromium via
Playwright (bench.harness). The dropout sweep at small settings draws every main metric with its
error bands; the URL the page wrote, opened by a new visitor, serves the same sweep from the store.

Skipped when /usr/bin/chromium is missing, unless REQUIRE_BROWSER=1 (then it fails). Screenshots
at 1366×768, 1920×1080 and 390×844 (and the bottom of the page) go to $SWEEP_SHOTS (default /tmp/shots/sweeppage), never git.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from bench.harness import CHART, wait_charts, wait_drawn
from core.sweep import MAIN_METRICS

pytestmark = pytest.mark.browser

SMALL = {"preset": "dropout-sweep", "epochs": "10", "seeds": "3", "n_samples": "240", "width": "16"}
N_CHARTS = len(MAIN_METRICS) + 1  # every main metric, and the learning curves of the picked point
SIZES = ((1366, 768), (1920, 1080), (390, 844))


def _bands(page) -> int:
    """Filled areas drawn by plotly (the 95% CI bands) over all charts on the page."""
    return page.evaluate(f"document.querySelectorAll('{CHART} path.js-fill').length")


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator("text=Traceback").count() == 0


def test_dropout_sweep_draws_error_bands_and_a_copied_link_reopens_it(server, browser):
    shots = Path(os.environ.get("SWEEP_SHOTS", "/tmp/shots/sweeppage"))
    shots.mkdir(parents=True, exist_ok=True)
    query = "&".join(f"{k}={v}" for k, v in SMALL.items())
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    try:
        page.goto(f"{server}/sweep?{query}", wait_until="domcontentloaded")
        wait_charts(page, N_CHARTS, timeout=240)
        wait_drawn(page)
        _no_exception(page)
        # dropout 0..0.8 for relu and linear: two bands per chart (mask figures of linear too)
        assert _bands(page) >= 2 * len(MAIN_METRICS) - 2
        assert page.locator("text=18 points × 3 seeds = 54 networks").count() == 1
        for w, h in SIZES:
            page.set_viewport_size({"width": w, "height": h})
            wait_drawn(page)
            page.screenshot(path=str(shots / f"sweep-{w}x{h}.png"), full_page=False)
            assert (shots / f"sweep-{w}x{h}.png").stat().st_size > 10_000
        # Further down: the point picker with its learning curves, and the downloads.
        page.set_viewport_size({"width": 1366, "height": 768})
        page.locator('[data-testid="stDownloadButton"]').first.scroll_into_view_if_needed()
        wait_drawn(page)
        page.screenshot(path=str(shots / "sweep-1366x768-bottom.png"), full_page=False)
        copied = page.url  # what a visitor copies from the address bar
    finally:
        page.close()
    q = parse_qs(urlparse(copied).query)
    assert urlparse(copied).path.endswith("/sweep")
    assert {k: v[-1] for k, v in q.items()} == SMALL  # the whole sweep, and nothing more: the preset's grid

    again = browser.new_page(viewport={"width": 1366, "height": 768})
    try:
        again.goto(copied, wait_until="domcontentloaded")
        again.wait_for_selector("text=Served from the store", timeout=120_000)
        wait_charts(again, N_CHARTS, timeout=120)
        wait_drawn(again)
        _no_exception(again)
        assert _bands(again) >= 2 * len(MAIN_METRICS) - 2
        again.screenshot(path=str(shots / "sweep-reopened-1366x768.png"), full_page=False)
    finally:
        again.close()


def test_stop_keeps_the_points_measured_so_far(server, browser):
    long = "preset=dropout-sweep&grid=dropout:0,0.5&grid2=none&epochs=4000&seeds=2&n_samples=200&width=16&seed=3"
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    try:
        page.goto(f"{server}/sweep?{long}", wait_until="domcontentloaded")
        page.wait_for_selector("text=epochs over", timeout=120_000)  # the live progress bar
        page.wait_for_selector(CHART, timeout=120_000)                 # and its live chart
        page.get_by_role("button", name="■ Stop").click()
        page.wait_for_selector("text=Stopped early", timeout=60_000)
        wait_charts(page, N_CHARTS, timeout=60)
        _no_exception(page)
    finally:
        page.close()
