"""bench/stack.py (make stack): PostgreSQL, a Ray head with two workers and two Streamlit replicas
behave as one lab. The same preset link opened on both replicas at once trains once (the other
page is served the stored result), both pages show it, and `down` stops every process it started.

Real processes and a real browser on loopback; every wait is bounded and ends on what the page
or the process shows."""
from __future__ import annotations

import os

import pytest

from bench import postgres, stack

LINK = "/?preset=relu-vs-dropout&epochs=20"
SERVED = "Served from the store"
PAGE_TIMEOUT_S = 180  # both pages drawn, or an error shown, within this (about 30-80 s here)
ERRORS = "[data-testid=\"stException\"], [data-testid=\"stAlertContentError\"]"


@pytest.fixture
def backends():
    """Skips where PostgreSQL's binaries or Ray are missing; fails instead where they are required (CI)."""
    why = postgres.missing()
    try:
        import ray  # noqa: F401
    except ImportError:
        why = why or "ray is not installed (requirements-scale.txt)"
    if why:
        if os.environ.get("REQUIRE_POSTGRES") == "1" or os.environ.get("REQUIRE_RAY") == "1":
            pytest.fail(why)
        pytest.skip(why)


@pytest.mark.slow
@pytest.mark.browser
def test_two_replicas_are_one_lab_and_down_stops_everything(tmp_path, backends, need_browser) -> None:
    from bench.harness import ALL_CHARTS, CHART, chromium
    from core.store import open_run_store

    folder = tmp_path / "stack"
    state = stack.up(replicas=2, workers=2, folder=folder, env={"RELU_LAB_HOSTED": "1"})  # as deployed
    pids = stack._pids(state)
    try:
        assert len(state["replicas"]) == 2 and len(state["ray"]["workers"]) == 2
        assert all(stack._alive(p) for p in pids)
        with chromium() as browser:
            pages = [browser.new_page(viewport={"width": 1280, "height": 900}) for _ in state["replicas"]]
            for page, replica in zip(pages, state["replicas"], strict=True):  # both at once
                page.evaluate("url => { window.location.href = url; }", replica["url"] + LINK)
            for page in pages:  # the charts, or an error at once (not the bound: #14's hang was one)
                try:
                    page.wait_for_function(f"document.querySelectorAll('{CHART}').length >= {ALL_CHARTS} || "
                                           f"document.querySelectorAll('{ERRORS}').length > 0",
                                           timeout=PAGE_TIMEOUT_S * 1000)
                except Exception as e:  # what the page and the replicas said, to find the cause
                    shown = [p.evaluate("() => document.body.innerText.slice(0, 1500)") for p in pages]
                    logs = {f.name: f.read_text(errors="replace")[-2000:] for f in (folder / "logs").glob("replica-*.log")}
                    pytest.fail(f"no charts within {PAGE_TIMEOUT_S} s ({type(e).__name__}); pages: {shown}; logs: {logs}")
            notes = [page.evaluate("() => Array.from(document.querySelectorAll('[data-testid=\"stAlertContentInfo\"]'))"
                                   ".map(e => e.innerText).join(' | ')") for page in pages]
            errors = [page.evaluate(f"() => Array.from(document.querySelectorAll('{ERRORS}'))"
                                    ".map(e => e.innerText).join(' | ')") for page in pages]
        assert errors == ["", ""], errors
        # One replica trained it (on Ray); the other waited for its claim and was served the result.
        assert sum(SERVED in n for n in notes) == 1, notes
        store = open_run_store(state["postgres"]["url"])
        try:
            [row] = store.list()
            assert row["status"] == "ok" and row["title"].startswith("Does ReLU do what dropout does?")
        finally:
            store.close()
        # The training ran in a Ray worker process under a worker node, not in a replica.
        import psutil

        ray_workers = [q.cmdline()[0] for pid in state["ray"]["workers"]
                       for q in psutil.Process(pid).children(recursive=True)
                       if q.cmdline() and q.cmdline()[0].startswith("ray::") and "Agent" not in q.cmdline()[0]]
        assert ray_workers, "no Ray worker process ran a task"
        parts = dict((name, mb) for name, _, mb in stack.memory(state))
        assert set(parts) == {"postgresql", "ray head (schedules, 0 CPUs)", "ray worker node 1 (1 CPU)",
                              "ray worker node 2 (1 CPU)", "streamlit replica 1", "streamlit replica 2"}
        assert all(mb > 0 for mb in parts.values())
    finally:
        stack.down(folder, quiet=True)
    assert not any(stack._alive(p) for p in pids)
    assert stack.load(folder) is None and not os.path.exists(state["postgres"]["folder"])
    assert (folder / "logs" / "replica-1.log").exists()  # the logs are kept
