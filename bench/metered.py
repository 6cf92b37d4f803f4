"""Opening a long stored run, before and after metered serving (core.serve.opened).

    python -m bench.metered                    # a 64-seed, 5,000-epoch run, opened by 4 visitors
    python -m bench.metered --epochs 2000      # shorter (tests/test_serve_opened.py)

A stored run of 64 seeds x 5,000 epochs (depth 2) is made without training (its numbers are
synthetic, rounded like measured fractions, so it compresses about like a real one) and put in a
fresh store. Then, in a fresh process each:

* before: the visitors open it at once (one thread each, as Streamlit runs sessions), each
  reading the document and drawing every chart from the whole history, as the page did
  (store.get, Experiment.from_dict, charts of all epochs);
* after: the same visitors go through core.serve.open_stored with the server's cache: one reads
  it while the others wait for that read, and all draw the charts of the thinned view.

Printed: the peak resident memory above the process's start (VmHWM, Linux), the seconds until
the first and the last visitor had their charts, and the estimate open_stored priced the read at.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.procstat import proc_status

ROOT = Path(__file__).resolve().parents[1]


def make_run(store_path: Path, seeds: int = 64, epochs: int = 5000, depth: int = 2) -> str:
    """Store a synthetic experiment of that size; returns its key."""
    import numpy as np

    from core.config import validate
    from core.results import Experiment, RunResult
    from core.store import RunStore, store_key, summarize

    cfg = validate(width=8, depth=depth, seeds=seeds, n_samples=100, epochs=epochs, batch_size=0)
    rng = np.random.default_rng(0)
    r = RunResult.empty(cfg, "run", cfg.depth)
    for v in r.metrics.values():
        v[...] = np.round(rng.random(v.shape), 4)
    r.metrics["mask_flip"][:, 0] = np.nan
    r.epochs_done, r.status = epochs + 1, "ok"
    exp = Experiment(cfg, [r], "long stored run")
    key = store_key([cfg])
    RunStore(store_path).put(key, exp.to_dict(), summarize(exp))
    return key


def _worker(store_path: str, key: str, mode: str, visitors: int) -> dict:
    import dashboard.charts as charts
    from core.config import validate  # noqa: F401 - imports paid before the baseline
    from core.results import Experiment
    from core.serve import Limits, RunCache, TrainingGate, open_stored
    from core.serve.opened import open_cost_mb
    from core.store import RunStore

    store, cache, gate = RunStore(store_path), RunCache(), TrainingGate(2, 50)
    before = proc_status()["VmRSS"]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    seconds: list[float] = []
    start = threading.Barrier(visitors)

    def visitor() -> None:  # one session: opens the run and draws its charts
        start.wait()
        t0 = time.perf_counter()
        if mode == "before":
            exp = Experiment.from_dict(store.get(key))
        else:
            exp = open_stored(store, key, limits=Limits(), gate=gate, cache=cache, visitor=None)
        for c in charts.shown(exp):
            c.figure(exp).to_json()
        seconds.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=visitor) for _ in range(visitors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds.sort()
    row = store.summary(key)
    return {"mode": mode, "growth_mb": (proc_status()["VmHWM"] - before) / 2**20, "first_s": seconds[0],
            "last_s": seconds[-1], "stored_mb": row["bytes"] / 2**20,
            "priced_mb": open_cost_mb(None, row["bytes"]), "cached_mb": cache.nbytes / 2**20}


def measure(store_path: Path, key: str, mode: str, visitors: int = 4, timeout: float = 900) -> dict:
    cmd = [sys.executable, "-m", "bench.metered", "--worker", str(store_path), key, mode, str(visitors)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        raise RuntimeError(f"metered worker failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=5000)
    ap.add_argument("--visitors", type=int, default=4)
    ap.add_argument("--worker", nargs=4, metavar=("STORE", "KEY", "MODE", "VISITORS"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        store_path, key, mode, visitors = a.worker
        print(json.dumps(_worker(store_path, key, mode, int(visitors))))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "runs.db"
        key = make_run(path, a.seeds, a.epochs)
        print(f"{a.seeds} seeds x {a.epochs} epochs, opened by {a.visitors} visitors in one server process")
        print(f"{'':8} {'stored MB':>10} {'priced MB':>10} {'peak MB':>8} {'first s':>8} {'last s':>8} {'cache MB':>9}")
        for mode in ("before", "after"):
            r = measure(path, key, mode, a.visitors)
            print(f"{mode:8} {r['stored_mb']:10.1f} {r['priced_mb']:10.0f} {r['growth_mb']:8.0f} {r['first_s']:8.2f} "
                  f"{r['last_s']:8.2f} {r['cached_mb']:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
