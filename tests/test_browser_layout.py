"""Legible charts in a real browser: at a laptop's, a large screen's and a phone's width, no text
of a plotly chart (titles, axis titles, tick labels, legend entries, panel titles) overlaps
another or leaves its chart's picture. The default page, then History (with its overlay of a
run picked in the table) and About, each in the same browser session.

Skipped when /usr/bin/chromium is missing, unless REQUIRE_BROWSER=1 (then it fails).
Screenshots go to /tmp/shots/legible/ (never into git): open them and look.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.harness import ALL_CHARTS, CHART, close_sidebar, wait_charts, wait_drawn

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots/legible")
SIZES = ((1366, 768), (1920, 1080), (390, 844))
TEXT = (".gtitle", ".g-xtitle", ".g-ytitle", ".xtick text", ".ytick text", ".legendtext", ".annotation-text")

# For every chart: its text elements' boxes (non-empty ones), the box of its picture, and every
# pair of boxes that overlap by more than a pixel each way, plus every box that leaves the picture.
PROBLEMS_JS = """(sels) => {
  const out = [];
  const box = (e) => { const r = e.getBoundingClientRect(); return {l: r.left, t: r.top, r: r.right, b: r.bottom}; };
  document.querySelectorAll('.js-plotly-plot').forEach((plot, n) => {
    const svg = plot.querySelector('svg.main-svg');
    if (!svg) return;
    const frame = box(svg);
    const title = (plot.querySelector('.gtitle') || {}).textContent || ('chart ' + n);
    const items = [];
    for (const sel of sels) {
      plot.querySelectorAll(sel).forEach((e) => {
        const b = box(e);
        if (b.r - b.l < 1 || b.b - b.t < 1 || !e.textContent.trim()) return;
        items.push({sel, text: e.textContent.trim().slice(0, 60), ...b});
      });
    }
    for (const a of items) {
      if (a.l < frame.l - 1 || a.t < frame.t - 1 || a.r > frame.r + 1 || a.b > frame.b + 1)
        out.push(`${title}: ${a.sel} "${a.text}" leaves the chart`);
    }
    for (let i = 0; i < items.length; i++) for (let j = i + 1; j < items.length; j++) {
      const a = items[i], b = items[j];
      const w = Math.min(a.r, b.r) - Math.max(a.l, b.l), h = Math.min(a.b, b.b) - Math.max(a.t, b.t);
      if (w > 1 && h > 1) out.push(`${title}: ${a.sel} "${a.text}" overlaps ${b.sel} "${b.text}"`);
    }
  });
  return out;
}"""


def problems(page) -> list[str]:
    return page.evaluate(PROBLEMS_JS, list(TEXT))


def _shot(page, name: str) -> None:
    """The viewport, and each chart on its own (the page scrolls inside Streamlit's main block,
    so a full-page screenshot would show the first screen only)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    for n, chart in enumerate(page.locator(CHART).all()):
        chart.scroll_into_view_if_needed()
        chart.screenshot(path=str(SHOTS / f"{name}-chart{n + 1}.png"))


def _pick_first_history_row(page) -> bool:
    """Tick the first row of History's session table (a canvas grid: click its checkbox column)."""
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    if box is None:
        return False
    page.mouse.click(box["x"] + 14, box["y"] + 35 + 17)  # header row, then the middle of row 1
    try:
        page.wait_for_selector(CHART, timeout=60_000)
    except Exception:  # noqa: BLE001 - the grid did not take the click: no overlay to check
        return False
    return True


@pytest.mark.parametrize("width,height", SIZES, ids=lambda v: str(v))
def test_no_chart_text_overlaps_or_leaves_its_chart(server, browser, width, height):
    page = browser.new_page(viewport={"width": width, "height": height})
    found: dict[str, list[str]] = {}
    try:
        page.goto(server + "/", wait_until="domcontentloaded")
        wait_charts(page, ALL_CHARTS, timeout=300)  # the first visitor trains it: slow on a busy machine
        page.wait_for_selector('[data-testid="stDataFrame"]', timeout=60_000)
        if width < 640:  # a phone opens with the sidebar closed ("auto"), the page in view
            right = page.evaluate("() => { const s = document.querySelector('[data-testid=stSidebar]');"
                                  " return s ? s.getBoundingClientRect().right : 0; }")
            assert right <= 1, f"the sidebar covers the phone's page (its right edge at {right:.0f} px)"
            close_sidebar(page)
        wait_drawn(page)
        found["lab"] = problems(page)
        _shot(page, f"lab-{width}")
        page.get_by_role("link", name="History").first.dispatch_event("click")  # on a phone it is in the closed sidebar
        page.wait_for_selector("text=History of this session", timeout=30_000)
        overlay = _pick_first_history_row(page)
        if overlay:
            wait_charts(page, 1)
            wait_drawn(page)
        found["history"] = problems(page)
        _shot(page, f"history-{width}")
        page.get_by_role("link", name="About").first.dispatch_event("click")
        page.wait_for_selector("text=What the charts measure", timeout=30_000)
        _shot(page, f"about-{width}")
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        page.close()
    bad = {k: v for k, v in found.items() if v}
    assert not bad, "\n".join(f"{k}: {p}" for k, v in bad.items() for p in v)


def test_seminar_charts_at_the_projector_font_do_not_overlap(server, browser):
    """Seminar mode draws every chart with a larger font: the same check at a laptop's size."""
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    try:
        page.goto(server + "/?mode=seminar", wait_until="domcontentloaded")
        wait_charts(page, ALL_CHARTS, timeout=300)
        wait_drawn(page)
        found = problems(page)
        _shot(page, "seminar-1366")
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        page.close()
    assert not found, "\n".join(found)


# Each chart's modebar icons (when shown) against its title: the boxes that overlap.
MODEBAR_JS = """() => {
  const out = [];
  const box = (e) => e.getBoundingClientRect();
  document.querySelectorAll('.js-plotly-plot').forEach((plot) => {
    const bar = plot.querySelector('.modebar'), title = plot.querySelector('.gtitle');
    if (!bar || !title || !bar.offsetParent || getComputedStyle(bar).opacity === '0') return;
    const a = box(bar), b = box(title);
    const w = Math.min(a.right, b.right) - Math.max(a.left, b.left), h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (w > 1 && h > 1) out.push(title.textContent.trim().slice(0, 60));
  });
  return out;
}"""


def test_on_a_touch_phone_no_modebar_sits_on_a_chart_title(server, browser):
    """A touch screen has no hover: plotly showed every modebar at once, on the titles of a 390 px
    page (walk of 2026-11-30, /tmp/shots/walk2/15_phone_top.png)."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    try:
        page.goto(server + "/?preset=linear-is-not-enough", wait_until="domcontentloaded")
        wait_charts(page, 4, timeout=300)
        close_sidebar(page)
        wait_drawn(page)
        covered = page.evaluate(MODEBAR_JS)
        _shot(page, "touch-390")
    finally:
        ctx.close()
    assert not covered, f"modebar icons on the titles of: {covered}"
