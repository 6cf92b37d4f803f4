"""Page timings in the real browser: Debian's Chromium driven by Playwright against `streamlit run`.

    python -m bench.page [--reps 3]

Prints, as medians over repetitions on a warm server (the one-time warm-up is done first):
- open: a new visitor opens the page -> first chart drawn, and -> every chart of the default
  four-variant comparison drawn;
- train: the visitor presses Train -> first live curve drawn, and -> every chart drawn again.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
ALL_CHARTS = 7
CHART = ".js-plotly-plot"
LIVE_CHART = '[class*="st-key-live_"] .js-plotly-plot'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def lab_server(env: dict | None = None):
    """`streamlit run dashboard/app.py` on a free loopback port; stopped on exit."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("streamlit did not start") from None
                time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_count(page, selector: str, n: int, timeout: float = 60.0) -> float:
    t0 = time.perf_counter()
    page.wait_for_function(f"document.querySelectorAll('{selector}').length >= {n}", timeout=timeout * 1000)
    return time.perf_counter() - t0


def wait_idle(page, timeout: float = 60.0) -> None:
    """Until no progress bar is shown and all charts are drawn."""
    page.wait_for_function(
        f"!document.querySelector('[data-testid=\"stProgress\"]') && "
        f"document.querySelectorAll('{CHART}').length >= {ALL_CHARTS}", timeout=timeout * 1000)


def measure(url: str, reps: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {"open_first": [], "open_all": [], "train_first": [], "train_all": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            warm = browser.new_page()
            warm.goto(url)
            wait_idle(warm, 120)
            warm.close()
            for _ in range(reps):
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                t0 = time.perf_counter()
                page.goto(url)
                page.wait_for_selector(CHART, timeout=60_000)
                out["open_first"].append(time.perf_counter() - t0)
                wait_idle(page)
                out["open_all"].append(time.perf_counter() - t0)
                # Press Train on the same settings: tick "Train again" first, or the press is
                # (rightly) served from the run store in a few milliseconds.
                page.get_by_text("Train again (even if stored)").click()
                page.wait_for_function(
                    "document.querySelector('.st-key-f_retrain input').checked", timeout=10_000)
                button = page.get_by_role("button", name="Train")
                t0 = time.perf_counter()
                button.first.click()
                page.wait_for_selector(LIVE_CHART, timeout=60_000)
                out["train_first"].append(time.perf_counter() - t0)
                page.wait_for_selector('[data-testid="stProgress"]', state="detached", timeout=60_000)
                wait_idle(page)
                out["train_all"].append(time.perf_counter() - t0)
                page.close()
        finally:
            browser.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.page")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} not found: apt-get install chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, \
            lab_server({"RELU_LAB_STORE": os.path.join(tmp, "runs.db")}) as (url, _):
        res = measure(url, args.reps)
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"page, default preset (4 variants), medians of {args.reps} on a warm server:")
    print(f"  open page -> first chart      {med['open_first']:.2f} s")
    print(f"  open page -> all charts       {med['open_all']:.2f} s")
    print(f"  press Train -> first curve    {med['train_first']:.2f} s   (target < 1 s)")
    print(f"  press Train -> all charts     {med['train_all']:.2f} s   (target < 5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
