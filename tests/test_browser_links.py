"""Safe links and seminar mode in a real browser (bench.harness: `streamlit run` + Chromium).

- The huge link of issue 13 in local mode shows its estimate and a confirmation, trains nothing,
  and the server's resident memory (VmRSS now, VmHWM its peak, from /proc) stays under 1 GB.
- Seminar mode at 1366×768: a large title (≥ 32 px), preset buttons with their whole titles
  (wrapped, none cut: scrollWidth ≤ clientWidth everywhere inside them), no developer menu, and
  `mode=seminar` kept through a round trip to About and back.
Screenshots go to /tmp/shots/honest/ (never into git).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.harness import chromium, lab_server, wait_charts, wait_drawn, wait_idle
from bench.procstat import proc_status
from core.presets import PRESETS
from core.serve.limits import ENV_VARS

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots/honest")
HUGE = "/?width=1024&depth=20&epochs=5000&seeds=64&n_samples=20000"
GB = 1024**3


@pytest.fixture(scope="module")
def local_server(need_browser, tmp_path_factory):
    """A server in local mode with its default budget (none of the RELU_LAB_* limits set), on a
    store of its own so nothing stored elsewhere answers the link."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS or k == "RELU_LAB_STORE"}
    env["RELU_LAB_STORE"] = str(tmp_path_factory.mktemp("links") / "runs.db")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # lab_server starts from this process's environment
    try:
        with lab_server() as s:
            yield s
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def browser(need_browser):
    with chromium() as b:
        yield b


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))


def _huge_estimate_gb() -> float:
    """The memory the page should quote for HUGE: core.cost's estimate of the link's experiment."""
    from urllib.parse import parse_qsl

    from core.cost import estimate_memory_mb
    from dashboard.controls import spec_from_query

    spec, _ = spec_from_query(dict(parse_qsl(HUGE.lstrip("/?"))))
    return estimate_memory_mb(spec.configs()) / 1024


def test_the_huge_link_asks_first_and_the_server_stays_under_1_gb(local_server, browser):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    try:
        page.goto(local_server.url + HUGE, wait_until="domcontentloaded")
        panel = page.locator(".st-key-confirm_panel")
        # the panel's caption is its last line: once it is drawn, so is the error or button above it
        panel.locator('[data-testid="stCaptionContainer"]').wait_for(timeout=90_000)
        text = panel.inner_text()
        assert "Confirm before training" in text and f"{_huge_estimate_gb():.1f} GB" in text, text
        assert "cannot be trained on this machine" in text
        assert page.locator(".st-key-confirm_train").count() == 0  # over the memory limit: no yes
        assert page.locator('[data-testid="stProgress"]').count() == 0  # nothing training
        assert page.locator('[data-testid="stAppDeployButton"]').count() == 0  # no Deploy, locally either
        panel.scroll_into_view_if_needed()
        _shot(page, "huge-link-1366.png")
        # The page is done (Streamlit's status widget idle): the script ended without training.
        wait_idle(page, 60)
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        page.close()
    mem = proc_status(local_server.proc.pid)
    print(f"\n[huge link, local mode] server VmRSS {mem['VmRSS'] / 2**20:.0f} MB, "
          f"peak VmHWM {mem['VmHWM'] / 2**20:.0f} MB")
    assert mem["VmHWM"] < GB, mem


def _truncated(page, selector: str) -> list[str]:
    """Texts of the elements inside `selector` whose content is wider than their box."""
    return page.evaluate("""sel => {
        const out = [];
        for (const b of document.querySelectorAll(sel)) {
            for (const e of [b, ...b.querySelectorAll('*')]) {
                if (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1) out.push(b.innerText);
            }
        }
        return out;
    }""", selector)


def test_seminar_mode_title_buttons_and_navigation(local_server, browser):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    try:
        page.goto(local_server.url + "/?mode=seminar", wait_until="domcontentloaded")
        wait_charts(page, 1, timeout=120)
        buttons = '[class*="st-key-sem_"] button'
        page.wait_for_selector(buttons, timeout=60_000)
        # Measured once the run has ended, its fonts are in and the page is painted: a full suite
        # on two shared cores once saw every button "truncated" while the layout was still moving.
        wait_idle(page)
        page.evaluate("() => document.fonts.ready.then(() => true)")
        wait_drawn(page)
        sizes = page.evaluate("""() => { const h = document.querySelector('h1');
            return [h, ...h.querySelectorAll('*')].filter(e => e.innerText && e.innerText.trim())
                   .map(e => parseFloat(getComputedStyle(e).fontSize)); }""")
        assert sizes and min(sizes) >= 32, sizes
        labels = page.locator(buttons).all_inner_texts()
        assert sorted(t.replace("\n", " ").strip() for t in labels) == sorted(p.title for p in PRESETS.values())
        assert _truncated(page, buttons) == []
        assert page.locator('[data-testid="stMainMenu"]').is_hidden()  # hidden, or not there at all
        assert page.locator('[data-testid="stAppDeployButton"]').count() == 0 or \
            page.locator('[data-testid="stAppDeployButton"]').is_hidden()
        _shot(page, "seminar-lab-1366.png")

        # The buttons sit below the evidence; a press shows the new experiment from its top.
        pick = PRESETS["dying-relu"]
        page.locator('[class*="st-key-sem_dying-relu"] button').scroll_into_view_if_needed()
        main_top = "() => document.querySelector('[data-testid=\"stMain\"]').scrollTop"
        assert page.evaluate(main_top) > 0
        page.locator('[class*="st-key-sem_dying-relu"] button').click()
        page.wait_for_function("t => document.querySelector('h1').innerText.includes(t)", arg=pick.title[:20],
                               timeout=60_000)
        page.wait_for_function(f"() => ({main_top})() === 0", timeout=30_000)
        _shot(page, "seminar-picked-1366.png")

        page.get_by_role("link", name="About").click()
        page.wait_for_url("**/about?*mode=seminar*", timeout=30_000)
        _shot(page, "seminar-about-1366.png")
        page.get_by_role("link", name="Lab").click()
        page.wait_for_url("**mode=seminar*", timeout=30_000)
        page.wait_for_selector(buttons, timeout=60_000)
        assert "mode=seminar" in page.url
        _shot(page, "seminar-back-1366.png")
    finally:
        page.close()


def _still(page, selector: str) -> None:
    """Until the element's box has not moved for ten animation frames (an expander opening and
    the charts above it settling move it): a click then lands where it was measured."""
    page.wait_for_function("""sel => { const e = document.querySelector(sel); if (!e) return false;
        const r = e.getBoundingClientRect(), k = [r.x, r.y, r.width, r.height].join();
        window.__stillN = window.__stillK === k ? (window.__stillN || 0) + 1 : 0; window.__stillK = k;
        return window.__stillN >= 10 && r.height > 0; }""", arg=selector, polling="raf", timeout=30_000)


def test_an_edit_in_the_variants_table_reaches_the_link(local_server, browser):
    """The variants table in the main area: a cell typed in the browser is checked, written to
    the variants that Train trains, and the link (vB=…) says so. Train is pressed as soon as the
    page shows the edit, while the edit's rerun may still be drawing the charts: that press once
    trained the table as it was before the edit (dashboard/views/variants.py says why)."""
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    try:
        page.goto(local_server.url + "/?epochs=3&seeds=1", wait_until="domcontentloaded")
        wait_charts(page, 1, timeout=120)
        wait_idle(page)  # trained and drawn: the layout holds still
        page.get_by_text("Variants: ReLU").click()
        selector = '.st-key-variants_table [data-testid="stDataFrameResizable"]'
        grid = page.locator(selector)
        grid.wait_for(timeout=30_000)
        grid.scroll_into_view_if_needed()  # below the first screen: the mouse only reaches the viewport
        _still(page, selector)
        box = grid.bounding_box()
        # dropout is the last column; row 2 is "ReLU + dropout 0.5" (rows and header ~35 px each)
        # select the cell; the locator's click waits until nothing covers the point it clicks
        grid.click(position={"x": box["width"] - 60, "y": 35 + 35 + 17})
        try:  # the grid took the click (else Enter would toggle whatever has the focus)
            page.wait_for_function(f"!!document.activeElement.closest('{selector}')", timeout=10_000)
        except Exception as e:
            _shot(page, "variants-click-missed-1366.png")
            raise AssertionError(f"the click at {box} did not reach the variants table") from e
        page.keyboard.press("Enter")  # and open its editor (the grid's keyboard way; a double click can land as two)
        cell = page.locator("#portal input, #portal textarea").first  # the grid's cell editor
        cell.wait_for(timeout=10_000)
        cell.fill("0.3")
        page.keyboard.press("Enter")
        page.get_by_text("These variants differ from the run on screen").wait_for(timeout=30_000)
        page.get_by_role("button", name="▶ Train").first.click()  # no waiting for the rerun to end
        want = "vB=ReLU+%2B+dropout+0.5%7Cactivation%3Arelu%2Cdropout%3A0.3"
        try:
            page.wait_for_function(f"location.search.includes('{want}')", timeout=60_000)
        except Exception as e:  # say what the link was instead
            _shot(page, "variants-edited-failed-1366.png")
            raise AssertionError(f"link {page.url!r} lacks {want!r}") from e
        _shot(page, "variants-edited-1366.png")
    finally:
        page.close()


def test_streamlits_header_stop_ends_the_run_and_the_next_run_shows_its_part(local_server, browser):
    """Streamlit's own Stop (its status widget, top right) while a run trains: the run ends (no
    more epochs: the job is stopped, not orphaned), and the next run of the page shows the part
    that was measured, marked stopped, instead of training again. 5,000 epochs (1.3e9 units of
    work, under the local budget): a loaded machine must not finish it before the click lands."""
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    try:
        page.goto(local_server.url + "/?epochs=5000&seeds=2&preset=none", wait_until="domcontentloaded")
        page.wait_for_selector('[data-testid="stProgress"]', timeout=60_000)
        page.wait_for_function("Array.from(document.querySelectorAll('[data-testid=\"stProgress\"]'))"
                               ".some(p => /epoch [1-9]/.test(p.innerText))", timeout=60_000)
        stop = page.locator('[data-testid="stStatusWidget"] button', has_text="Stop")
        stop.click()
        _shot(page, "header-stop-pressed-1366.png")
        wait_idle(page, 30)
        page.get_by_role("link", name="About").click()  # any next run of this session
        page.wait_for_url("**/about*", timeout=30_000)
        page.get_by_role("heading", name="Does ReLU produce the same effect as dropout?").wait_for(timeout=30_000)
        page.get_by_role("link", name="Lab").click()
        try:
            page.get_by_text("Stopped early").wait_for(timeout=60_000)
        except Exception:
            _shot(page, "header-stop-FAILED-1366.png")
            raise
        assert page.locator('[data-testid="stProgress"]').count() == 0  # shown, not trained again
        _shot(page, "header-stop-1366.png")
    finally:
        page.close()
