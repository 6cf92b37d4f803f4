"""One visitor's heavy requests beside another's light one, on a hosted server (issue 15's `make load`).

    python -m bench.fair                    # the issue's six heavy CNN links, then the heaviest allowed
    python -m bench.fair --phase allowed --light 5   # only the allowed phase, five light samples
    python -m bench.fair --seconds 8 --heavy 3 --light 1   # shorter (tests/test_fair.py)

Starts a hosted server (RELU_LAB_HOSTED=1, the default limits unless --seconds, loopback, a fresh
store; bench.load's instrumented launcher, so the server logs every training it starts and ends)
and drives two visitors in one headless Chromium: visitor A (one browser context, so its tabs
share Streamlit's XSRF cookie: one visitor to the line) opens `--heavy` tabs of a heavy CNN link,
seeds 100, 101, ...; once they are in (a training started, or every tab answered), visitor B (its
own context) opens one light link. Two phases, each a fresh set of pages on the same server:

* `filed`: the issue's link (width 512: the budget estimates 1.1 GB and refuses it);
* `allowed`: the same link at width 128, the widest power of two the budget lets through; it needs
  about 130 s of one core, so it reaches the time limit: one tab trains, one waits for its turn,
  the others are told the visitor already has its share. Here the light link is opened `--light`
  times (default 3) one after another while A's first run trains: B1, B2, ... each a visitor of
  its own (its own browser context) with a seed of its own (so each trains), each opened once the
  one before is done. One sample cannot tell a figure that hovers near its target from noise.

Checks, each printed with met / not met: the server's peak memory (PSS of it and its children,
sampled every 0.2 s) stays under the configured total (core.serve.Limits.server_memory_mb); the
light page has its charts within 10 s of following its link, in the worst of its samples (every
one is printed with its stages); no training holds its slot more than 2 s past its time limit. Bounded: at most 8 heavy tabs, and every phase has a timeout after
which its pages are closed (their runs then stop). Exit status 1 when a target is not met.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import (
    ALL_CHARTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    _niced,
    browser_missing,
    demote_tree,
    lab_server,
    niced_pid,
    tracebacks,
)
from bench.load import FOREGROUND_ARGS, SERVER, MemorySampler

HEAVY = ("?preset=none&dataset=digits&model=cnn&width={width}&depth=2&seeds=1&n_samples=1797"
         "&batch_size=512&epochs=50&val_fraction=0.1&seed={seed}")
LIGHT = "?preset=none&epochs=30&seed={seed}"  # moons, a 64-wide MLP, 3 seeds: about a second of training
PHASES = {"filed": 512, "allowed": 128}  # the heavy link's width in each phase
LIGHT_SEEDS = {"alone": 1, "filed": 2, "allowed": 3}  # a light run of its own each time: it trains
LIGHT_SAMPLES = 3  # light links in the allowed phase (B1, B2, ...: seeds 3, 4, ...)
MAX_LIGHT = 10
LIGHT_TARGET_S = 10.0
LATE_TARGET_S = 2.0
MAX_HEAVY = 8

# Runs in every page: the wall-clock times (ms) at which the page is done, i.e. shows no progress
# bar and either an error or at least `need` charts (the light page: all of them), and of the
# stages before (the app's frame drawn, the script's first output, the first chart), to tell the
# server's share of a slow page from the browser's.
WATCH_JS = """(need) => {
  window.__at = {};
  const t = setInterval(() => {
    const at = window.__at, now = Date.now();
    const charts = document.querySelectorAll(".js-plotly-plot").length;
    const errors = document.querySelectorAll('[data-testid="stAlertContentError"],[data-testid="stException"]').length;
    if (!at.frame && document.querySelector('[data-testid="stMain"]')) at.frame = now;
    if (!at.output && document.querySelector('h1')) at.output = now;
    if (!at.chart && charts > 0) at.chart = now;
    if (!document.querySelector('[data-testid="stProgress"]') && (errors > 0 || charts >= need)) {
      window.__doneAt = now; clearInterval(t);
    }
  }, 100);
}"""
POLL_JS = """() => ({
  done: window.__doneAt || null,
  at: window.__at || {},
  charts: document.querySelectorAll('.js-plotly-plot').length,
  progress: !!document.querySelector('[data-testid="stProgress"]'),
  exception: document.querySelectorAll('[data-testid="stException"]').length,
  errors: Array.from(document.querySelectorAll('[data-testid="stAlertContentError"]')).map(e => e.innerText),
  notes: Array.from(document.querySelectorAll('[data-testid="stAlertContentInfo"],[data-testid="stAlertContentWarning"]'))
              .map(e => e.innerText),
})"""


@dataclass
class Tab:
    who: str            # "A1".. (the heavy visitor's tabs), "B1".. (the light visitors, one each)
    url: str
    need: int           # charts that make it done
    page: object = None
    started: float = 0.0
    done_at: float | None = None
    state: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        return None if self.done_at is None else self.done_at - self.started

    def outcome(self) -> str:
        s = self.state
        if s.get("exception"):
            return "exception"
        if s.get("errors"):
            text = " ".join(s["errors"])
            return ("refused: budget" if "memory" in text or "units of work" in text or "piece" in text else
                    "refused: visitor's share" if "as many as the demo allows one visitor" in text else
                    "error: " + text[:80])
        if self.done_at is None:
            return "waiting" if s.get("progress") else "not done"
        notes = " ".join(s.get("notes") or [])
        return "served, stopped at the time limit" if " s limit of the" in notes else "served"

    def stages(self) -> str:
        """Seconds from following the link to the app's frame, the script's first output, the
        first chart and done."""
        at = self.state.get("at") or {}
        parts = [f"{k} {at[k] / 1000.0 - self.started:.1f}" for k in ("frame", "output", "chart") if at.get(k)]
        return ", ".join(parts)


def _poll(tab: Tab) -> None:
    try:
        tab.state = tab.page.evaluate(POLL_JS)
    except Exception:  # noqa: BLE001 - the page is navigating: next round
        return
    if tab.state.get("done") and tab.done_at is None:
        tab.done_at = tab.state["done"] / 1000.0


def _open(context, tab: Tab) -> None:
    tab.page = context.new_page()
    tab.page.add_init_script(f"({WATCH_JS})({tab.need});")
    tab.started = time.time()
    tab.page.evaluate("url => { window.location.href = url; }", tab.url)


def _trainings(log: Path) -> list[list[str]]:
    return [ln.split() for ln in log.read_text().splitlines()] if log.exists() else []


@contextlib.contextmanager
def browsers() -> Iterator[tuple]:
    """(A's Chromium at the lowest priority, B's at normal priority, a callable that demotes A's
    processes again), under one Playwright: each visitor draws on its own machine, and B's page is
    what is timed (at nice 19 on a loaded machine it waited half a minute to draw charts the
    server had sent within seconds). A's renderers are demoted with their autogroups
    (harness.demote_tree): at plain nice 19 each of A's six tabs, an autogroup of its own, took as
    much CPU as the whole server."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="relu-lab-chromium-") as tmp, sync_playwright() as p:
        args = [*CHROMIUM_ARGS, *FOREGROUND_ARGS]
        heavy = p.chromium.launch(executable_path=_niced(tmp), args=args)
        try:
            light = p.chromium.launch(executable_path=CHROMIUM, args=args)
            try:
                yield heavy, light, lambda: demote_tree(niced_pid(tmp))
            finally:
                light.close()
        finally:
            heavy.close()


def light_alone(browser, url: str, timeout: float) -> Tab:
    """Visitor B's light link on an idle server: the reference for the phases' light figure."""
    b = browser.new_context()
    light = Tab("B", url + "/" + LIGHT.format(seed=LIGHT_SEEDS["alone"]), ALL_CHARTS)
    deadline = time.monotonic() + timeout
    try:
        _open(b, light)
        while light.done_at is None and time.monotonic() < deadline:
            light.page.wait_for_timeout(250)
            _poll(light)
        return light
    finally:
        b.close()


def _settled(tab: Tab) -> bool:
    return bool(tab.done_at) or tab.outcome().startswith(("refused", "error", "exception"))


def run_phase(browsers, url: str, name: str, heavy: int, log: Path, timeout: float, light: int = 1) -> list[Tab]:
    """Visitor A's heavy tabs, then once A's are in `light` light tabs B1, B2, ... one after
    another (each opened when the one before is done; each a visitor of its own, with a seed of
    its own); until every tab is done and every training started has ended, or the timeout. The
    pages are closed at the end. browsers: (A's, B's, a callable demoting A's processes)."""
    heavy_browser, light_browser, demote = browsers
    starts_before = sum(ln[0] == "start" for ln in _trainings(log))
    a = heavy_browser.new_context(viewport={"width": 1280, "height": 900})
    contexts = [a]
    tabs = [Tab(f"A{i + 1}", url + "/" + HEAVY.format(width=PHASES[name], seed=100 + i), 1) for i in range(heavy)]
    lights = [Tab(f"B{i + 1}", url + "/" + LIGHT.format(seed=LIGHT_SEEDS[name] + i), ALL_CHARTS) for i in range(light)]
    deadline = time.monotonic() + timeout
    try:
        # The first tab alone until the browser has its XSRF cookie: the others then share it, as
        # the tabs of a real visitor do (opened at the same instant, each could get its own).
        _open(a, tabs[0])
        while not any(c["name"] == "_streamlit_xsrf" for c in a.cookies()) and time.monotonic() < deadline:
            tabs[0].page.wait_for_timeout(100)
        for t in tabs[1:]:
            _open(a, t)
        demote()
        # B comes once A's requests are in: a training started, or every tab has its answer.
        while time.monotonic() < deadline:
            demote()  # renderers Chromium started or re-prioritised since
            for t in tabs:
                _poll(t)
            if sum(ln[0] == "start" for ln in _trainings(log)) > starts_before or all(t.done_at for t in tabs):
                break
            tabs[0].page.wait_for_timeout(250)
        everyone = [*tabs]
        for b in lights:  # one after another: each measures the server under A's load alone
            contexts.append(light_browser.new_context())
            _open(contexts[-1], b)
            everyone.append(b)
            while time.monotonic() < deadline and not _settled(b):
                demote()
                for t in everyone:
                    _poll(t)
                b.page.wait_for_timeout(100)
        while time.monotonic() < deadline:
            for t in everyone:
                _poll(t)
            lines = _trainings(log)
            running = sum(ln[0] == "start" for ln in lines) - sum(ln[0] == "end" for ln in lines)
            if running == 0 and all(_settled(t) for t in everyone):
                break
            lights[-1].page.wait_for_timeout(250)
        for t in everyone:
            _poll(t)
        return everyone
    finally:
        for c in contexts:
            c.close()


def run_fair(heavy: int = 6, seconds: float | None = None, phases: tuple[str, ...] = tuple(PHASES),
             timeout: float = 300.0, verbose: bool = True, light: int = LIGHT_SAMPLES) -> dict:
    """Both phases on one hosted server; returns {"checks": [(name, ok, detail)], "phases": {...}}.
    light: light links in the allowed phase (the filed one trains nothing heavy: one there). The
    server gets this process's environment too (RELU_LAB_* settings to compare)."""
    import os

    from core.serve import Limits

    missing = browser_missing()
    if missing:
        raise RuntimeError(missing)
    heavy, light = max(2, min(heavy, MAX_HEAVY)), max(1, min(light, MAX_LIGHT))
    env = {"RELU_LAB_HOSTED": "1"}
    if seconds is not None:
        env["RELU_LAB_MAX_SECONDS"] = f"{seconds:g}"
    limits = Limits.from_env({**os.environ, **env})  # what the server reads
    total_mb = limits.server_memory_mb()
    out: dict = {"phases": {}, "total_mb": total_mb, "max_seconds": limits.max_seconds}
    with tempfile.TemporaryDirectory(prefix="relu-lab-fair-") as tmp:
        log = Path(tmp) / "trainings.log"
        env |= {"RELU_LAB_STORE": str(Path(tmp) / "runs.db"), "RELU_LAB_LOAD_TRAIN_LOG": str(log)}
        with lab_server(env, launcher=[sys.executable, "-c", SERVER], log=Path(tmp) / "server.log") as server, \
                browsers() as (heavy_browser, light_browser, demote):
            out["alone"] = light_alone(light_browser, server.url, timeout)
            for name in phases:
                n_before = len(_trainings(log))
                sampler = MemorySampler(server.proc.pid)
                sampler.start()
                t0 = time.perf_counter()
                try:
                    tabs = run_phase((heavy_browser, light_browser, demote), server.url, name, heavy, log, timeout,
                                     light if name == "allowed" else 1)
                finally:
                    sampler.stop()
                out["phases"][name] = {"tabs": tabs, "lines": _trainings(log)[n_before:],
                                       "peak_mb": sampler.peak / 2**20, "wall_s": time.perf_counter() - t0}
        server_log = (Path(tmp) / "server.log").read_text(errors="replace")
    if verbose and tracebacks(server_log):
        print(tracebacks(server_log))
    out["checks"] = _checks(out, limits)
    if verbose:
        report(out, heavy)
    return out


def _checks(out: dict, limits) -> list[tuple[str, bool, str]]:
    checks = []
    peak = max(p["peak_mb"] for p in out["phases"].values())
    total = out["total_mb"]
    checks.append((f"peak server memory under the configured total ({total} MB)", total is None or 0 < peak < total,
                   f"peak {peak:.0f} MB PSS"))
    # Every light sample of every phase; the check is on the worst of them.
    samples = [(name, t) for name, p in out["phases"].items() for t in p["tabs"] if t.who.startswith("B")]
    light = [t.seconds for _, t in samples]
    served = [s for s in light if s is not None]
    detail = "; ".join(f"{name} {t.who} " + ("not served" if t.seconds is None else f"{t.seconds:.1f} s")
                       for name, t in samples)
    worst = "not served" if len(served) < len(light) else f"{max(served):.1f} s" if served else "no sample"
    checks.append((f"light request served within {LIGHT_TARGET_S:g} s (the worst of {len(light)})",
                   bool(served) and len(served) == len(light) and max(served) <= LIGHT_TARGET_S,
                   f"worst {worst}: {detail}"))
    # Each training that had a slot logs its own span (Job.slot_span, the end line's last two
    # fields): the line itself is written after the slot is given back and the result frozen.
    spans = [(ln[6], float(ln[7]), float(ln[8])) for p in out["phases"].values() for ln in p["lines"]
             if ln[0] == "end" and ln[5] != "-"]
    held = [t1 - t0 for _, t0, t1 in spans]
    limit = limits.max_seconds
    late = max((h - limit for h in held), default=None) if limit is not None else None
    checks.append((f"no run over its deadline by more than {LATE_TARGET_S:g} s",
                   late is None or late <= LATE_TARGET_S,
                   "no training" if not held else f"{len(held)} trainings held their slot "
                   f"{', '.join(f'{h:.1f}' for h in held)} s; limit {limit:g} s"
                   + (f", latest {late:+.1f} s" if late is not None else "")))
    most = max_slots_held(spans)
    share = limits.max_per_visitor
    checks.append((f"no visitor held more than its share of slots ({share})", share is None or most <= share,
                   f"at most {most} at once"))
    return checks


def max_slots_held(slots: list[tuple[str, float, float]]) -> int:
    """The most slots one visitor held at once, from (visitor, got the slot, gave it back) in
    seconds; one run's end and the next one's start at the same instant do not overlap."""
    most = 0
    for who in {v for v, _, _ in slots}:
        edges = sorted([(t0, 1) for v, t0, _ in slots if v == who] + [(t1, -1) for v, _, t1 in slots if v == who],
                       key=lambda e: (e[0], e[1]))  # an end before a start at the same time
        held = 0
        for _, step in edges:
            held += step
            most = max(most, held)
    return most


def light_trainings(lines: list[list[str]], tabs: list[Tab]) -> dict[str, dict[str, float]]:
    """Each light tab's training, in seconds from following its link: `asked` (the job asked the
    gate), `slot` and `freed` (it held a slot), `ended` (its result frozen: the server's share of
    the page's time); and `loaded`: whether A's heavy run still trained when the page was done.
    A's visitor is the one whose training started first (before B1's link); B_i's training is
    the first of another visitor asked between B_i's link and B_i+1's."""
    ends = {ln[1]: ln for ln in lines if ln[0] == "end" and len(ln) > 6}
    starts = sorted((float(ln[2]), ln[1]) for ln in lines if ln[0] == "start")
    lights = [t for t in tabs if t.who.startswith("B")]
    if not lights:
        return {}
    first = ends.get(starts[0][1]) if starts and starts[0][0] < lights[0].started else None
    heavy = first[6] if first is not None else None
    busy = [(float(ln[7]), float(ln[8])) for ln in ends.values() if ln[6] == heavy and len(ln) > 8]
    out: dict[str, dict[str, float]] = {}
    for i, b in enumerate(lights):
        until = lights[i + 1].started if i + 1 < len(lights) else float("inf")
        mine = [(t0, ends[k]) for t0, k in starts if k in ends and ends[k][6] != heavy and b.started <= t0 < until]
        if not mine:
            continue
        t0, ln = mine[0]
        row = {"asked": t0 - b.started, "ended": float(ln[2]) - b.started}
        if len(ln) > 8:
            row |= {"slot": float(ln[7]) - b.started, "freed": float(ln[8]) - b.started}
        if b.done_at is not None:
            row["loaded"] = float(any(s0 <= b.done_at <= s1 for s0, s1 in busy))
        out[b.who] = row
    return out


def report(out: dict, heavy: int) -> None:
    alone = out["alone"]
    print(f"light link alone on the idle server: done after "
          f"{'-' if alone.seconds is None else f'{alone.seconds:.1f} s'} ({alone.stages()}); {alone.outcome()}")
    for name, p in out["phases"].items():
        n = sum(t.who.startswith("B") for t in p["tabs"])
        print(f"\nphase {name}: {heavy} heavy tabs (width {PHASES[name]}) from visitor A, {n} light from B1..; "
              f"wall {p['wall_s']:.0f} s, peak {p['peak_mb']:.0f} MB PSS")
        print(f"  {'tab':4} {'done after':>10}  outcome")
        for t in p["tabs"]:
            secs = f"{t.seconds:8.1f} s" if t.seconds is not None else "         -"
            print(f"  {t.who:4} {secs:>10}  {t.outcome()} ({t.stages()})")
        light = next(t for t in p["tabs"] if t.who.startswith("B"))
        began = {ln[1]: float(ln[2]) for ln in p["lines"] if ln[0] == "start"}
        for ln in p["lines"]:  # times from the moment B followed its link
            if ln[0] != "end":
                continue
            t0, t1 = began.get(ln[1], float(ln[2])) - light.started, float(ln[2]) - light.started
            what = "refused in line (the visitor's share)" if ln[3] == "-" else \
                f"{ln[3]}, waited {ln[4]} s for a slot, held it {ln[5]} s"
            print(f"  training {ln[1][:8]} {t0:+7.1f} .. {t1:+7.1f} s: {what}")
        print("  (training times from the moment B1 followed its link)")
        ours = light_trainings(p["lines"], p["tabs"])
        for t in p["tabs"]:  # each light sample's stages, from its own link
            if not t.who.startswith("B"):
                continue
            r = ours.get(t.who, {})
            server = "no training found" if not r else \
                f"asked {r['asked']:.1f}" + (f", slot {r['slot']:.1f}..{r['freed']:.1f} (held {r['freed'] - r['slot']:.2f})"
                                              if "slot" in r else "") + f", result {r['ended']:.1f}"
            load = "" if "loaded" not in r else " [A trained throughout]" if r["loaded"] else " [A had ended]"
            print(f"  {t.who}: page {'-' if t.seconds is None else f'{t.seconds:.1f} s'} ({t.stages()}); "
                  f"server: {server}{load}")
    print()
    for name, ok, detail in out["checks"]:
        print(f"{'met    ' if ok else 'NOT MET'}  {name}: {detail}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fair", description=__doc__.split("\n\n")[0])
    ap.add_argument("--heavy", type=int, default=6, help=f"heavy tabs of visitor A (2..{MAX_HEAVY})")
    ap.add_argument("--seconds", type=float, default=None, help="the time limit (default: the hosted one)")
    ap.add_argument("--phase", "--phases", choices=list(PHASES), action="append", help="only these phases")
    ap.add_argument("--light", type=int, default=LIGHT_SAMPLES,
                    help=f"light links in the allowed phase, one after another (1..{MAX_LIGHT}); the check uses the worst")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per phase before its pages are closed")
    ap.add_argument("--engine-only", action="store_true",
                    help="no server, no browsers: the allowed phase's requests through run_guarded in threads")
    a = ap.parse_args(argv)
    if a.engine_only:
        from bench.fair_engine import engine_only

        engine_only(max(2, min(a.heavy, MAX_HEAVY)), a.seconds)
        return 0
    from bench.harness import checks_exit

    return checks_exit(lambda: run_fair(a.heavy, a.seconds, tuple(a.phase or PHASES), min(a.timeout, 600.0),
                                        light=a.light)["checks"], "NOT MET")


if __name__ == "__main__":
    sys.exit(main())
