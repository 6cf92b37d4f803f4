"""Soak and fault checks for the hosted page's engine path.

    python -m bench.soak [--runs 200] [--warmup 20] [--skip-faults]

Soak: `--runs` tiny experiments in one process through the path the page uses
(dashboard.state.train_spec -> core.serve.run_guarded -> the run store), each with a fresh
seed so nothing is served from the store; this process's RSS is measured after `--warmup`
runs and at the end. Growth must stay under 100 MB.

Faults (printed figures, PASS/FAIL):
- kill -9 a process while it writes runs to the store, 5 times; afterwards every run that
  process reported finished is still readable;
- a damaged store file (one page overwritten): its readable runs salvaged into a fresh file,
  the damaged one kept aside, one warning; a file that is not a store is refused, untouched;
- a diverging run: status 'diverged', stored, with a note that its curves stop there.

Exit status 1 if any check fails. Everything lives in a temporary directory.
"""
from __future__ import annotations

import argparse
import gc
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GROWTH_LIMIT_MB = 100


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def soak(runs: int, warmup: int, store_path: Path) -> tuple[bool, str]:
    from core.config import validate
    from core.serve import Limits
    from core.store import RunStore
    from dashboard import state
    from dashboard.controls import NO_PRESET, Spec

    store = RunStore(store_path)
    limits = Limits.from_env({})
    session = state.Store()
    base = validate(dataset="moons", n_samples=120, epochs=4, seeds=1, width=16, depth=2, batch_size=32)
    variants = {"ReLU": {}, "dropout": {"dropout": 0.5}}
    draws = []
    t0 = time.perf_counter()
    rss_warm = None
    served = 0
    for i in range(runs):
        spec = Spec.make(base.replace(seed=i), variants, NO_PRESET)
        entry = state.train_spec(session, spec, on_epoch=lambda exp, vi, ep: draws.append(ep), runs=store,
                                 limits=limits)
        served += entry.from_store
        if i + 1 == warmup:
            gc.collect()
            rss_warm = _rss_mb()
            t_warm = time.perf_counter()
    gc.collect()
    rss_end = _rss_mb()
    total = time.perf_counter() - t0
    growth = rss_end - (rss_warm or rss_end)
    per_run = (time.perf_counter() - t_warm) / max(1, runs - warmup)
    print(f"soak: {runs} runs in {total:.1f} s ({per_run * 1000:.0f} ms per run after warm-up), "
          f"{served} served from the store, {len(session.entries)} kept in the session (cap {state.HISTORY_CAP}), "
          f"{len(store.list(limit=10_000))} in the store")
    print(f"soak: RSS after {warmup} warm-up runs {rss_warm:.0f} MB, after {runs} runs {rss_end:.0f} MB, "
          f"growth {growth:+.1f} MB (limit {GROWTH_LIMIT_MB} MB)")
    ok = growth < GROWTH_LIMIT_MB and served == 0
    return ok, f"RSS growth {growth:+.1f} MB over {runs - warmup} runs, {served} served from the store"


# A child that writes runs to the store as fast as it can and reports each finished key.
WRITER = r"""
import sys
from core.store import RunStore
store = RunStore(sys.argv[1])
payload = {"blob": "x" * 200_000}
i = 0
while True:
    key = f"{sys.argv[2]}-{i}"
    store.put(key, {**payload, "i": i}, {"title": key, "status": "ok"})
    print(key, flush=True)
    i += 1
"""


def kill9(store_path: Path, rounds: int = 5) -> tuple[bool, str]:
    from core.store import RunStore

    RunStore(store_path)  # create it
    finished: list[str] = []
    for r in range(rounds):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(store_path), f"round{r}"], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        seen = 0
        t_end = time.time() + 0.4 + 0.15 * r  # kill at a different moment each round
        assert proc.stdout is not None
        while time.time() < t_end:
            line = proc.stdout.readline()
            if not line:
                break
            finished.append(line.strip())
            seen += 1
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        print(f"faults: kill -9 round {r + 1}: writer killed after {seen} reported puts")
    events: list[str] = []
    store = RunStore(store_path, events=events)
    missing = [k for k in finished if (store.get(k, events) or {}).get("blob", "")[:1] != "x"]
    rows = len(store.list(limit=100_000, events=events))
    print(f"faults: kill -9 x{rounds}: {len(finished)} finished puts, {len(finished) - len(missing)} readable, "
          f"{rows} rows in the store, warnings {events or 'none'}")
    ok = not missing and not events and len(finished) > 0
    return ok, f"{len(finished) - len(missing)} of {len(finished)} finished runs readable after {rounds} kill -9"


def corrupt(store_path: Path) -> tuple[bool, str]:
    import sqlite3

    from core.store import NotAStore, RunStore

    store = RunStore(store_path)
    for i in range(40):
        store.put(f"k{i}", {"i": i, "blob": os.urandom(3000).hex()}, {"title": f"run {i}"})
    con = sqlite3.connect(store_path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    page = 4096
    data = bytearray(store_path.read_bytes())
    middle = len(data) // page // 2
    data[middle * page:(middle + 1) * page] = os.urandom(page)  # one page in the middle
    store_path.write_bytes(bytes(data))
    events: list[str] = []
    store = RunStore(store_path, events=events)
    moved = list(store_path.parent.glob(store_path.name + ".corrupt-*"))
    kept = len(store.list(limit=1000))
    store.put("after", {"ok": 1}, {"title": "after", "status": "ok"})
    fresh_ok = store.get("after") == {"ok": 1}
    foreign = store_path.with_name("not-a-store.txt")
    foreign.write_text("hostname\n")
    try:
        RunStore(foreign)
        refused = False
    except NotAStore:
        refused = foreign.read_text() == "hostname\n" and not list(foreign.parent.glob("not-a-store.txt?*"))
    print(f"faults: damaged store: warnings {events}; kept {kept} of 40; moved aside {[p.name for p in moved]}; "
          f"fresh store works: {fresh_ok}; a foreign file refused untouched: {refused}")
    ok = len(events) == 1 and bool(moved) and kept >= 38 and fresh_ok and refused
    return ok, f"salvaged {kept} of 40 runs with one warning, a foreign file untouched" if ok else "not handled"


def diverge(store_path: Path) -> tuple[bool, str]:
    from core.config import validate
    from core.serve import Limits, run_guarded
    from core.serve.notes import DIVERGED
    from core.store import RunStore

    store = RunStore(store_path)
    base = validate(optimizer="sgd", lr=10.0, depth=3, init="he", epochs=5)
    exp, from_store, notes = run_guarded(base, limits=Limits.from_env({}), store=store)
    stored = [r["status"] for r in store.list()]
    print(f"faults: diverging run (sgd, lr 10, depth 3, he): status {exp.status}, stored {stored}, "
          f"notes {[n.text for n in notes]}")
    ok = exp.status == "diverged" and stored == ["diverged"] and any(n.code == DIVERGED for n in notes)
    return ok, f"status {exp.status}, stored as {stored}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--skip-faults", action="store_true")
    args = ap.parse_args(argv)
    if not 1 <= args.warmup < args.runs <= 2000:
        ap.error("need 1 <= --warmup < --runs <= 2000")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    checks = []
    with tempfile.TemporaryDirectory(prefix="relu-lab-soak-") as tmp:
        tmp = Path(tmp)
        checks.append((f"soak: RSS growth < {GROWTH_LIMIT_MB} MB", *soak(args.runs, args.warmup, tmp / "soak.db")))
        if not args.skip_faults:
            checks.append(("faults: kill -9 during store writes", *kill9(tmp / "kill.db")))
            checks.append(("faults: damaged store file", *corrupt(tmp / "corrupt.db")))
            checks.append(("faults: diverging run", *diverge(tmp / "diverge.db")))
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
