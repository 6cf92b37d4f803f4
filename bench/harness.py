"""The real page for benchmarks and browser tests: a Streamlit server and Debian's Chromium.

One place for what bench/page.py, bench/load.py, tests/test_browser.py and tests/test_load.py
all need: a free loopback port, `streamlit run dashboard/app.py` on it (waited for until its
health endpoint answers, stopped on exit), and Chromium driven by Playwright. Chromium is the
system's /usr/bin/chromium (Debian's package); Playwright's own browser download is never used.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dashboard import charts

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# Headless, no sandbox (containers have no user namespaces), no GPU, and nothing that phones home
# or updates itself while a test runs.
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync")
# The default page (a comparison on 2-D points) draws every chart of the table for 2-D data.
ALL_CHARTS = len(charts.charts_for("2d"))
CHART = ".js-plotly-plot"
START_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_missing() -> str | None:
    """Why the browser checks cannot run here (no Chromium, no Playwright), or None if they can."""
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (install Debian's chromium package)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (python) is not installed"
    return None


def streamlit_flags(port: int) -> list[str]:
    """`streamlit run`'s arguments: the app, on loopback only, headless, no telemetry, no reloads."""
    return ["dashboard/app.py", "--server.port", str(port), "--server.address", "127.0.0.1",
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none"]


class ServerError(RuntimeError):
    """The server exited or never answered; the message ends with the tail of its output."""


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path

    def output(self, tail: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-tail:]
        except OSError:
            return ""


def wait_healthy(server: Server, timeout: float = START_TIMEOUT_S) -> None:
    """Until GET /_stcore/health answers 200; ServerError if the process exits or the deadline
    passes first. Between tries it waits on the process itself, so a crash ends the wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(server.url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise ServerError(f"streamlit did not become healthy within {timeout:g} s:\n{server.output()}")
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.proc.wait(timeout=0.2)
        if server.proc.poll() is not None:
            raise ServerError(f"streamlit exited with status {server.proc.returncode}:\n{server.output()}")


def stop(proc: subprocess.Popen) -> None:
    """Terminate, then kill if it has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def lab_server(env: dict[str, str] | None = None, launcher: list[str] | None = None,
               log: Path | None = None, timeout: float = START_TIMEOUT_S) -> Iterator[Server]:
    """`python -m streamlit run dashboard/app.py` on a free loopback port, healthy; stopped on exit.

    env: added to this process's environment. launcher: the command before streamlit's arguments
    (default `python -m streamlit run`; bench.load runs a script that instruments the server).
    log: where the server's output goes (default: a temporary file, deleted on exit)."""
    port = free_port()
    cmd = [*(launcher or [sys.executable, "-m", "streamlit", "run"]), *streamlit_flags(port)]
    with tempfile.TemporaryDirectory(prefix="relu-lab-server-") as tmp:
        log = log or Path(tmp) / "server.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, **(env or {})})
        server = Server(f"http://127.0.0.1:{port}", proc, log)
        try:
            wait_healthy(server, timeout)
            yield server
        finally:
            stop(proc)


def _niced(folder: str) -> str:
    """A launcher for Chromium at the lowest CPU priority (its page processes inherit it); it
    leaves its process id (Chromium's, after exec) in `folder`/chromium.pid for demote_tree."""
    path = os.path.join(folder, "chromium-niced")
    with open(path, "w") as fh:
        fh.write(f'#!/bin/sh\necho $$ > {os.path.join(folder, "chromium.pid")}\nexec nice -n 19 {CHROMIUM} "$@"\n')
    os.chmod(path, 0o755)
    return path


def niced_pid(folder: str) -> int | None:
    """The process id a browser started by _niced(folder) left, if any."""
    try:
        with open(os.path.join(folder, "chromium.pid")) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def _autogroup(pid: int | str) -> str | None:
    try:
        with open(f"/proc/{pid}/autogroup") as fh:
            return fh.read().split()[0]
    except (OSError, IndexError):
        return None


def demote_tree(pid: int | None) -> int:
    """The lowest CPU priority for a process and its descendants, and for their autogroups: how
    many were demoted. Under Linux's autogroup scheduling (on by default) each session shares the
    CPU with the others as one, and Chromium starts its renderers in sessions of their own (and
    resets their nice): each tab of a browser started at nice 19 still took as much CPU as the
    whole server. An autogroup's nice is written to /proc/PID/autogroup (`man 7 sched`), only for
    groups other than this process's own (never the benchmark's or a server's it started). Call
    it again after a browser opens tabs: their renderers are new processes. Best effort: where a
    step is refused or not there, that step is skipped."""
    import psutil

    if pid is None:
        return 0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    own, n = _autogroup("self"), 0
    for p in procs:
        try:
            os.setpriority(os.PRIO_PROCESS, p.pid, 19)
            group = _autogroup(p.pid)
            if group is not None and group != own:
                with open(f"/proc/{p.pid}/autogroup", "w") as fh:
                    fh.write("19")
            n += 1
        except OSError:
            continue
    return n


@contextlib.contextmanager
def chromium(extra_args: tuple[str, ...] = (), nice: bool = False) -> Iterator:
    """Debian's Chromium under Playwright (a playwright Browser); closed on exit.
    nice: run it at nice 19, so many pages rendering do not starve a server on the same cores."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="relu-lab-chromium-") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_niced(tmp) if nice else CHROMIUM,
                                    args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


def wait_charts(page, n: int = ALL_CHARTS, selector: str = CHART, timeout: float = 60.0) -> None:
    """Until the page shows at least n elements matching selector (plotly charts by default)."""
    page.wait_for_function(f"document.querySelectorAll('{selector}').length >= {n}", timeout=timeout * 1000)


def wait_drawn(page, timeout: float = 30.0) -> None:
    """Until every plotly chart on the page has laid itself out and the browser has painted it:
    each chart has its layout and its SVG, then two animation frames (one full paint) pass."""
    page.wait_for_function(
        f"Array.from(document.querySelectorAll('{CHART}'))"
        ".every(g => g._fullLayout && g.querySelector('.main-svg'))", timeout=timeout * 1000)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def wait_idle(page, timeout: float = 120.0) -> None:
    """Until this session's script run has ended (Streamlit's status widget is gone)."""
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout * 1000)


def close_sidebar(page, timeout: float = 30.0) -> None:
    """On a phone-sized window the sidebar opens over the page: close it, as a visitor would, then
    wait until it is gone and the charts are drawn again."""
    button = page.locator('[data-testid="stSidebarCollapseButton"] button')
    if button.count() and button.first.is_visible():
        button.first.click()
        page.wait_for_function("() => { const s = document.querySelector('[data-testid=stSidebar]');"
                               " return !s || s.getBoundingClientRect().right <= 1; }", timeout=timeout * 1000)
        wait_drawn(page)


def checks_exit(run: Callable[[], list], fail: str) -> int:
    """A benchmark's exit code from its checks, [(name, ok, detail)] returned by `run`: 0 if every
    check held, 1 if one did not (or there were none), 2 after one line `{fail}  {why}` on stderr
    if it could not run at all (a RuntimeError: a server that did not start, a page that did not
    draw)."""
    try:
        checks = run()
    except RuntimeError as e:
        print(f"{fail}  {e}", file=sys.stderr)
        return 2
    return 0 if checks and all(ok for _, ok, _ in checks) else 1


def tracebacks(log: str, chars: int = 4000) -> str | None:
    """What a failed run prints of its server's log: the first traceback whole (its cause; the
    tail of a long log had cut it to its last line in CI), and how many there were. None if none."""
    n = log.count("Traceback (most recent call last)")
    if not n:
        return None
    start = log.index("Traceback (most recent call last)")
    return f"--- {n} traceback(s) in the server log; the first:\n" + log[start:start + chars]
