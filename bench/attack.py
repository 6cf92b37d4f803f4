"""make attack: hostile links, CSV files, CLI values and store faults against the hosted lab.

    python -m bench.attack              # everything (a few minutes), Chromium on a real server included
    python -m bench.attack --quick      # a handful of each kind (tests/test_attack.py)
    python -m bench.attack --no-browser # skip the real server and its browser pages

Everything runs on loopback and in temporary folders: a hosted-mode environment (the default
limits with a 10 s time limit, so a link that gets through trains briefly) around a fresh run
store and upload folder. Kinds:

* links: each query string opens the Lab page (streamlit's AppTest, the page's own code in this
  process); then, unless --no-browser, a sample opens in Chromium on a real server started by
  bench/harness.py;
* csv: each file through the loader every entry point uses (core.csvdata.load_points), and a
  few through `python -m core run --dataset csv`;
* cli: each argument list through `python -m core` (its main, in this process);
* faults: the run store deleted, replaced by random bytes, damaged, made read-only (the CLI as
  the user nobody) while a server uses it, and a foreign file at the store path.

Handled means one clear message or the limited behaviour: no traceback, no exception element,
no server path shown (the repository, the store's or the uploads' folder), no markup or
terminal escape from the input left active. The table prints tried / handled per kind and the
first unhandled cases; the exit status is 1 if any case was not handled.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import attack_cases as cases
from bench import attack_faults as faults

ROOT = Path(__file__).resolve().parents[1]
MAX_MESSAGE = 400  # characters of a refusal: one sentence, never a dump


@dataclass
class Result:
    kind: str
    label: str
    handled: bool
    why: str = ""


def leaks(text: str, secrets: list[str]) -> str:
    """Why `text` is not a handled answer ('' if it is)."""
    if "Traceback (most recent call last)" in text or 'File "/' in text:
        return "traceback"
    for s in secrets:
        if s and s in text:
            return f"shows the server path {s}"
    return ""


@contextlib.contextmanager
def hosted_env(tmp: Path) -> Iterator[dict[str, str]]:
    """The hosted limits around a fresh store and upload folder; restored afterwards."""
    from dashboard import controls

    env = {"RELU_LAB_HOSTED": "1", "RELU_LAB_STORE": str(tmp / "store" / "runs.db"), "RELU_LAB_MAX_SECONDS": "10"}
    saved = {k: os.environ.get(k) for k in env}
    saved_dir = controls.UPLOAD_DIR
    os.environ.update(env)
    controls.UPLOAD_DIR = str(tmp / "uploads")
    try:
        yield {**env, "RELU_LAB_UPLOAD_DIR": controls.UPLOAD_DIR}
    finally:
        controls.UPLOAD_DIR = saved_dir
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _within(items: list, deadline: float, out: list[Result], kind: str) -> Iterator:
    """The items, until the time budget is spent; what is left is noted as not tried."""
    for i, item in enumerate(items):
        if time.perf_counter() > deadline:
            out.append(Result(kind, f"{len(items) - i} more", True, "not tried: the time budget was spent"))
            return
        yield item


# ------------------------------------------------------------------ links (the page, in-process)
def _page_text(at) -> str:
    parts = []
    for kind in ("title", "markdown", "error", "warning", "info", "caption", "success", "exception", "subheader"):
        parts += [str(e.value) for e in at.get(kind)]
    return "\n".join(parts)


def _markup_left(at) -> str:
    for el in at.get("plotly_chart"):
        text = json.dumps(json.loads(el.proto.spec), ensure_ascii=False)
        for bad in ("<a ", "<span", "\x1b"):
            if bad in text:
                return f"chart text holds {bad!r}"
    return ""


def attack_links(links: list[tuple[str, dict[str, str]]], secrets: list[str],
                 deadline: float = float("inf")) -> list[Result]:
    from streamlit.testing.v1 import AppTest

    app = str(ROOT / "dashboard" / "app.py")
    out = []
    for label, query in _within(links, deadline, out, "links"):
        at = AppTest.from_file(app, default_timeout=120)
        for k, v in query.items():
            at.query_params[k] = v
        try:
            at.run()
        except Exception as e:  # noqa: BLE001 - the page itself blew up: not handled
            out.append(Result("links", label, False, f"{type(e).__name__}: {str(e)[:80]}"))
            continue
        why = "exception element" if at.exception else leaks(_page_text(at), secrets) or _markup_left(at)
        if not why:
            why = next((f"{len(e.value)}-character error" for e in at.error if len(e.value) > MAX_MESSAGE), "")
        out.append(Result("links", label, not why, why))
    return out


# ------------------------------------------------------------------ CSV files
def attack_csv(files: list[tuple[str, bytes]], tmp: Path, secrets: list[str], via_cli: int) -> list[Result]:
    from core.csvdata import DataError, load_points

    out = []
    for i, (label, data) in enumerate(files):
        try:
            load_points(data)
            why = ""
        except DataError as e:
            msg = str(e)
            why = "message over one line" if "\n" in msg or len(msg) > MAX_MESSAGE else leaks(msg, secrets)
        except Exception as e:  # noqa: BLE001 - anything but DataError escapes the page's handler
            why = f"{type(e).__name__}: {str(e)[:80]}"
        if not why and i < via_cli:
            path = tmp / f"attack-{i}.csv"
            path.write_bytes(data)
            code, _, err = run_cli(["run", "--dataset", "csv", "--data-path", str(path), "--epochs", "1", "--seeds",
                                    "1", "--width", "4", "--no-store", "--quiet"])
            why = cli_verdict(code, "", err, [])
        out.append(Result("csv", label, not why, why))
    return out


# ------------------------------------------------------------------ CLI values
def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """`python -m core ARGV` in this process: (exit code, stdout, stderr)."""
    from core.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        except Exception:  # noqa: BLE001 - a traceback is exactly what the attack looks for
            import traceback

            traceback.print_exc()
            code = 1
    return int(code or 0), out.getvalue(), err.getvalue()


def cli_verdict(code: int, out: str, err: str, secrets: list[str]) -> str:
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip() and "epoch" not in ln and "%" not in ln]
    if code not in (0, 2):
        return f"exit {code}" + (": traceback" if "Traceback" in err else "")
    if "Traceback" in err or "Traceback" in out:
        return "traceback"
    if "\x1b" in out:
        return "raw terminal escape in stdout"
    if code == 2 and (len(lines) > 2 or any(len(ln) > MAX_MESSAGE for ln in lines)):
        return f"{len(lines)}-line message"
    return leaks(out + err, secrets)


def attack_cli(argvs: list[tuple[str, list[str]]], tmp: Path, deadline: float = float("inf")) -> list[Result]:
    out = []
    for label, argv in _within(argvs, deadline, out, "cli"):
        argv = [a.replace("{tmp}", str(tmp)) for a in argv]
        code, so, se = run_cli(argv)
        why = cli_verdict(code, so, se, [])
        out.append(Result("cli", label, not why, why))
    return out


# ------------------------------------------------------------------ the real server
def attack_server(links: list[tuple[str, dict[str, str]]], env: dict[str, str], secrets: list[str],
                  timeout: float = 90) -> list[Result]:
    """A sample of the links in Chromium, on a hosted server started by bench/harness.py."""
    from urllib.parse import urlencode

    from bench.harness import browser_missing, chromium, lab_server

    if browser_missing():
        return [Result("server", "Chromium", True, f"not tried: {browser_missing()}")]
    out = []
    with lab_server(env={k: v for k, v in env.items() if k.startswith("RELU_LAB_") and k != "RELU_LAB_UPLOAD_DIR"}) \
            as server, chromium(nice=True) as browser:
        for label, query in links:
            page = browser.new_page()
            try:
                page.goto(server.url + "/?" + urlencode(query), timeout=timeout * 1000)
                page.wait_for_function(
                    "document.querySelectorAll('.js-plotly-plot, [data-testid=\"stAlertContentError\"], "
                    "[data-testid=\"stException\"]').length > 0", timeout=timeout * 1000)
                text = page.inner_text("body")
                why = "exception element" if page.query_selector('[data-testid="stException"]') else leaks(text, secrets)
                if not why and page.query_selector("a[href*='evil.example']"):
                    why = "a link from the input is clickable"
            except Exception as e:  # noqa: BLE001 - a page that never settles: not handled
                why = f"{type(e).__name__}: {str(e)[:60]}"
            finally:
                page.close()
            out.append(Result("server", label, not why, why))
        if "Traceback" in server.output(100_000):
            out.append(Result("server", "server log", True, "tracebacks in the log (kept there, not shown)"))
    return out


# ------------------------------------------------------------------ the table
def table(results: list[Result], seconds: float) -> str:
    kinds: dict[str, list[Result]] = {}
    for r in results:
        kinds.setdefault(r.kind, []).append(r)
    lines = [f"{'kind':8} {'tried':>6} {'handled':>8}"]
    for kind, rs in kinds.items():
        lines.append(f"{kind:8} {len(rs):6d} {sum(r.handled for r in rs):8d}")
    lines.append(f"{'total':8} {len(results):6d} {sum(r.handled for r in results):8d}   ({seconds:.0f} s)")
    bad = [r for r in results if not r.handled]
    for r in bad[:25]:
        lines.append(f"NOT HANDLED  {r.kind:7} {r.label[:40]!r:44} {r.why}")
    if len(bad) > 25:
        lines.append(f"... and {len(bad) - 25} more")
    notes = [r for r in results if r.handled and r.why]
    lines += [f"note         {r.kind:7} {r.label[:40]!r:44} {r.why}" for r in notes[:10]]
    return "\n".join(lines)


def run_attack(quick: bool = False, browser: bool = True, log: Callable[[str], None] = print,
               budget_s: float = 1200) -> list[Result]:
    from core.serve.uploads import Uploads

    t0 = time.perf_counter()
    share = budget_s / 2  # links and CLI values each get half; the rest is quick
    tmp = Path(tempfile.mkdtemp(prefix="relu-lab-attack-"))
    results: list[Result] = []
    try:
        with hosted_env(tmp) as env:
            foreign, _ = Uploads(env["RELU_LAB_UPLOAD_DIR"], 24).save(_sample_csv(), owner="another visitor")
            secrets = [str(ROOT), str(tmp), str(Path(tempfile.gettempdir()) / "relu-dropout-lab-uploads")]
            links = cases.hostile_links(quick, foreign)
            log(f"links: {len(links)} through the page")
            results += attack_links(links, secrets, time.perf_counter() + share)
            csv = cases.hostile_csv(quick)
            log(f"csv: {len(csv)} files")
            results += attack_csv(csv, tmp, secrets, via_cli=3 if quick else 12)
            cli = cases.hostile_cli(quick)
            log(f"cli: {len(cli)} argument lists")
            results += attack_cli(cli, tmp, time.perf_counter() + share)
            log("faults")
            results += faults.attack_faults(tmp, quick, run_cli, cli_verdict)
            if browser and not quick:
                sample = [lk for lk in links if lk[0].startswith("issue:")][:6]
                log(f"server: {len(sample)} links in Chromium")
                results += attack_server(sample, env, secrets)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(table(results, time.perf_counter() - t0))
    return results


def _sample_csv() -> bytes:
    from core.csvdata import example_csv

    return example_csv().encode()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a handful of each kind (make test)")
    ap.add_argument("--no-browser", action="store_true", help="skip the real server and Chromium")
    ap.add_argument("--budget-s", type=float, default=1200, help="stop trying links and CLI values after this long")
    a = ap.parse_args(argv)
    results = run_attack(a.quick, browser=not a.no_browser, budget_s=a.budget_s)
    return 0 if all(r.handled for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
