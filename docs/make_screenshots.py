"""Make docs/first-screen.png, the README's picture of the lab: the default page as a visitor
sees it first on a laptop (1366×768), once its experiment is trained.

    .venv/bin/python docs/make_screenshots.py            # trains into a temporary run store
    .venv/bin/python docs/make_screenshots.py --store .data/runs.db --width 1366 --height 768

Starts the page and Debian's Chromium through bench.harness (as the browser tests do), waits
until every chart is drawn, and writes a small PNG: scaled to 1000 px wide and reduced to 256
colours, so the repository stays light. Nothing else is written.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "first-screen.png"


def shoot(url: str, out: Path, width: int, height: int, shown_width: int) -> None:
    from io import BytesIO

    from PIL import Image

    from bench.harness import ALL_CHARTS, chromium, wait_charts, wait_drawn

    with chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(url + "/", wait_until="domcontentloaded")
        wait_charts(page, ALL_CHARTS, timeout=600)  # the first visit trains the default preset
        page.wait_for_selector('[data-testid="stDataFrame"]', timeout=60_000)
        wait_drawn(page)
        png = page.screenshot()
        page.close()
    img = Image.open(BytesIO(png)).convert("RGB")
    img = img.resize((shown_width, round(img.height * shown_width / img.width)), Image.LANCZOS)
    img = img.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out, optimize=True)
    print(f"{out}: {img.width}×{img.height}, {out.stat().st_size // 1024} KB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", help="run store the page uses (default: a temporary one, trained afresh)")
    ap.add_argument("--width", type=int, default=1366)
    ap.add_argument("--height", type=int, default=768)
    ap.add_argument("--shown-width", type=int, default=1000, help="width of the PNG written")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    from bench.harness import browser_missing, lab_server

    if missing := browser_missing():
        print(f"cannot take screenshots: {missing}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="relu-lab-shots-") as tmp:
        store = args.store or os.path.join(tmp, "runs.db")
        with lab_server(env={"RELU_LAB_STORE": store}) as server:
            shoot(server.url, args.out, args.width, args.height, args.shown_width)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
