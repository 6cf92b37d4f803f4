"""Page timings in the real browser: Debian's Chromium driven by Playwright against `streamlit run`.

    python -m bench.page [--reps 3]

Prints, as medians over repetitions on a warm server (the one-time warm-up is done first):
- open: a new visitor opens the page -> first chart drawn, and -> every chart of the default
  four-variant comparison drawn;
- train: the visitor presses Train -> first live curve drawn, and -> every chart drawn again.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from bench.harness import ALL_CHARTS, CHART, browser_missing, chromium, lab_server

LIVE_CHART = '[class*="st-key-live_"] .js-plotly-plot'


def wait_idle(page, timeout: float = 60.0) -> None:
    """Until no progress bar is shown and all charts are drawn."""
    page.wait_for_function(
        f"!document.querySelector('[data-testid=\"stProgress\"]') && "
        f"document.querySelectorAll('{CHART}').length >= {ALL_CHARTS}", timeout=timeout * 1000)


def measure(url: str, reps: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"open_first": [], "open_all": [], "train_first": [], "train_all": []}
    with chromium() as browser:
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
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.page")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    missing = browser_missing()
    if missing:
        print(f"{missing}: apt-get install chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, \
            lab_server({"RELU_LAB_STORE": os.path.join(tmp, "runs.db")}) as server:
        res = measure(server.url, args.reps)
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"page, default preset (4 variants), medians of {args.reps} on a warm server:")
    print(f"  open page -> first chart      {med['open_first']:.2f} s")
    print(f"  open page -> all charts       {med['open_all']:.2f} s")
    print(f"  press Train -> first curve    {med['train_first']:.2f} s   (target < 1 s)")
    print(f"  press Train -> all charts     {med['train_all']:.2f} s   (target < 5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
