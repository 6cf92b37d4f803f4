"""The first screen in a real browser (issue 13): at 1366x768 the verdict strip and a chart are
fully inside the first viewport with no scrolling, on the default page and in seminar mode; the
network picture shows ReLU units and dropout's blackout; screenshots at 1366, 1920 and 390 px.

`streamlit run dashboard/app.py` + Debian's Chromium via Playwright (bench.harness). Skipped when
Chromium is missing, unless REQUIRE_BROWSER=1. Screenshots go to $LAB_SHOTS (default: the test's
temporary folder); they are for looking at, never compared.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.harness import CHART, close_sidebar, wait_drawn

pytestmark = pytest.mark.browser

STRIP = ".st-key-verdict_strip"
WIDTHS = ((1366, 768), (1920, 1080), (390, 844))


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    d = Path(os.environ.get("LAB_SHOTS") or tmp_path_factory.mktemp("shots"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _open(browser, url: str, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(STRIP, timeout=300_000)  # drawn once the run is trained (or served)
    page.wait_for_selector(CHART, timeout=60_000)
    wait_drawn(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    return page


def _inside(page, selector: str, width: int, height: int) -> dict:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box)
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)
    return box


def _first_screen(page, width: int, height: int) -> None:
    assert page.evaluate("() => window.scrollY") == 0
    strip = _inside(page, STRIP, width, height)
    chart = _inside(page, CHART, width, height)
    assert chart["y"] > strip["y"]  # the strip first, then the chart
    title = page.evaluate(f"() => document.querySelector('{CHART}').layout.title.text")
    assert title.replace("<b>", "").startswith("Boundaries, seed #1")  # the stage: every variant's boundary


@pytest.mark.parametrize(("mode", "query"), [("default", "/"), ("seminar", "/?mode=seminar")])
def test_the_verdict_strip_and_a_chart_are_on_the_first_screen(server, browser, shots, mode, query):
    for width, height in WIDTHS:
        page = _open(browser, server + query, width, height)
        try:
            if width == 1366:
                _first_screen(page, width, height)
            if width < 500:
                close_sidebar(page)
            page.screenshot(path=str(shots / f"{mode}-{width}.png"))
            if width == 1366:
                page.screenshot(path=str(shots / f"{mode}-{width}-full.png"), full_page=True)
        finally:
            page.close()


def test_the_network_picture_shows_half_planes_and_dropouts_blackout(server, browser):
    page = _open(browser, server + "/", 1366, 768)
    try:
        info = page.evaluate("""() => {
            // plotly sends arrays as {dtype, bdata}: decode them, or flatten plain nested arrays
            const dec = v => {
                if (v && v.bdata) {
                    const b = Uint8Array.from(atob(v.bdata), c => c.charCodeAt(0));
                    return Array.from(new ({f8: Float64Array, f4: Float32Array}[v.dtype])(b.buffer));
                }
                return Array.from(v).flatMap(r => (r && r.length !== undefined) ? Array.from(r) : [r]);
            };
            const finite = v => dec(v).filter(x => x !== null && !Number.isNaN(x));
            const g = Array.from(document.querySelectorAll('.js-plotly-plot'))
                .find(p => p.layout.title.text.includes("The network unit by unit"));
            return {title: g.layout.title.text,
                    dropped: g.data.filter(t => t.name.startsWith('dropped')).map(t => finite(t.z).length),
                    units: g.data.filter(t => t.name.startsWith('units')).map(t => finite(t.z))};
        }""")
        assert "ReLU + dropout 0.5" in info["title"].replace("<br>", " ")  # titles wrap (charts.style.wrap)
        assert info["dropped"][0] == 0 < info["dropped"][1]  # eval pass: none; train pass: some units black
        eval_values = info["units"][0]
        assert sum(v == 0 for v in eval_values) > 0 and max(eval_values) > 0  # ReLU: zeros on a half-plane, positive beside
    finally:
        page.close()


def test_the_summary_table_shows_every_column_at_1366(server, browser):
    """The table of final numbers spans the page, not the left column: there its last column (dead
    units, "52.3 ± 5.3 of 256") was cut off at 1366 px, with no sign that the grid scrolls."""
    page = _open(browser, server + "/", 1366, 768)
    try:
        grid = page.locator(".st-key-summary_table [data-testid='stDataFrame']")
        grid.scroll_into_view_if_needed()
        page.wait_for_selector(".st-key-summary_table .dvn-scroller", timeout=30_000)
        scroll, visible = page.evaluate("() => { const s = document.querySelector("
                                        "'.st-key-summary_table .dvn-scroller'); return [s.scrollWidth, s.clientWidth]; }")
        assert scroll <= visible, (scroll, visible)  # nothing to scroll sideways: every column is in view
        box = grid.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1366
    finally:
        page.close()
