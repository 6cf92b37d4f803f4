"""Memory calibration: the estimate (core.cost.estimate_memory_mb) against measured peaks.

    python -m bench.memcal            # the whole grid, a table of estimate / measured growth
    python -m bench.memcal --quick    # the grid tests/test_cost.py runs in `make test`

Each setting is served the way the hosted page serves it (core.serve.run_guarded: the job's
thread, its published snapshots, the result kept, encoded and put in a run store) in a child
forked from one warmed-up process, so every run starts from the same memory: torch and the data
sets loaded, the kernels' first calls paid (a server has done that at start). The figure is the
child's peak resident memory above what it held when it started (Linux's VmHWM, reset through
/proc/self/clear_refs), which is what the estimate promises to bound.

Linux only (it reads /proc). The parent is a fresh interpreter (`python -m bench.memcal
--worker`), never the caller's, so a test's own memory does not enter the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.procstat import proc_status

ROOT = Path(__file__).resolve().parents[1]

# Small but representative: every model, batch sizes from tiny to the whole set, measurement
# only (epochs 0), dropout and batch norm, many seeds with long histories (the kept results).
# Each run takes at most a few seconds on one core.
GRID: dict[str, dict] = {
    "mlp-moons": dict(width=256, depth=3, seeds=8, batch_size=64, epochs=3, dropout=0.5),
    "mlp-full-batch": dict(width=512, depth=2, seeds=8, n_samples=4000, batch_size=0, epochs=2),
    "mlp-tiny-batch": dict(width=512, depth=2, seeds=8, batch_size=2, epochs=1, n_samples=200, batchnorm=True),
    "mlp-measure-only": dict(width=1024, depth=2, seeds=8, n_samples=20000, epochs=0),
    "mlp-batchnorm-dropout": dict(width=256, depth=4, seeds=4, n_samples=5000, batch_size=256, epochs=2,
                                  batchnorm=True, dropout=0.3),
    "mlp-digits": dict(dataset="digits", width=512, depth=2, seeds=8, batch_size=0, epochs=2),
    "mlp-long-history": dict(width=8, depth=2, seeds=64, n_samples=200, batch_size=0, epochs=600),
    "cnn-small-batch": dict(dataset="digits", model="cnn", width=64, depth=2, seeds=2, batch_size=32, epochs=1),
    "cnn-full-batch": dict(dataset="digits", model="cnn", width=64, depth=2, seeds=1, n_samples=800,
                           batch_size=0, epochs=1),
    "cnn-measure-only": dict(dataset="digits", model="cnn", width=128, depth=2, seeds=1, epochs=0),
    "cnn-dropout-batchnorm": dict(dataset="digits", model="cnn", width=32, depth=3, seeds=4, batch_size=256,
                                  epochs=1, dropout=0.5, batchnorm=True),
    "cnn-many-seeds": dict(dataset="digits", model="cnn", width=16, depth=1, seeds=16, batch_size=128, epochs=2),
    "mlp-wide-probe": dict(width=1024, depth=1, seeds=16, batch_size=32, epochs=1),
    "mlp-deep-dropout": dict(width=128, depth=12, seeds=8, batch_size=128, epochs=2, dropout=0.2),
    "mlp-gelu-batchnorm-full": dict(width=256, depth=3, seeds=4, n_samples=6000, batch_size=0, epochs=1,
                                    batchnorm=True, activation="gelu"),
    "mlp-dropout-full": dict(width=512, depth=2, seeds=4, n_samples=6000, batch_size=0, epochs=1, dropout=0.5),
    "mlp-sgd-many-seeds": dict(width=64, depth=2, seeds=64, batch_size=64, epochs=5, optimizer="sgd"),
    "cnn-wide": dict(dataset="digits", model="cnn", width=128, depth=2, seeds=1, batch_size=256, epochs=1),
    "cnn-batchnorm-full": dict(dataset="digits", model="cnn", width=32, depth=2, seeds=2, n_samples=1000,
                               batch_size=0, epochs=1, batchnorm=True),
}
GRID["trivial"] = dict(width=4, depth=1, seeds=1, n_samples=100, epochs=1)
GRID["trivial-cnn"] = dict(dataset="digits", model="cnn", width=2, depth=1, seeds=1, n_samples=100, epochs=1)
QUICK = ("mlp-full-batch", "mlp-tiny-batch", "mlp-measure-only", "mlp-long-history", "cnn-small-batch",
         "cnn-full-batch", "cnn-measure-only", "cnn-dropout-batchnorm")
THREADS = 1  # the hosted mode's torch_threads: measuring runs in the training thread


def _child(settings: dict, threads: int | None) -> dict:
    """In the forked child: serve `settings` as the page would, from a fresh store."""
    from core.config import validate
    from core.cost import estimate_memory_mb
    from core.serve import JobRegistry, Limits, TrainingGate, run_guarded
    from core.store import RunStore

    base = validate(settings)
    before = proc_status()["VmRSS"]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS: the peak from here on
    with tempfile.TemporaryDirectory() as tmp:
        exp, _, _ = run_guarded(base, None, limits=Limits(torch_threads=threads), store=RunStore(Path(tmp) / "r.db"),
                                gate=TrainingGate(1, 1), jobs=JobRegistry())
        peak = proc_status()["VmHWM"]
    from core.cost import memory_terms

    return {"estimate_mb": estimate_memory_mb([base]), "growth_mb": (peak - before) / 2**20,
            "status": exp.status, "terms_mb": {k: v / 2**20 for k, v in memory_terms(base).items()}}


def _worker(names: list[str], threads: int | None) -> None:
    import torch

    torch.set_num_threads(1)  # no thread pool in the parent: forking after one is unsafe
    from core.config import validate
    from core.train import train

    for kw in (dict(n_samples=100, epochs=1, seeds=1, batch_size=32, dropout=0.5),
               dict(n_samples=100, epochs=1, seeds=1, batch_size=32, batchnorm=True, optimizer="momentum"),
               dict(dataset="digits", model="cnn", n_samples=100, width=2, depth=1, epochs=1, seeds=1,
                    batch_size=32, dropout=0.5, batchnorm=True)):
        train(validate(kw), max_threads=1)
    import gc

    gc.collect()
    for name in names:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: one run, its figures down the pipe, then out without cleanup
            os.close(r)
            try:
                res = _child(GRID[name], threads)
            except BaseException as e:  # noqa: BLE001 - reported as data to the parent
                res = {"error": f"{type(e).__name__}: {e}"}
            os.write(w, json.dumps(res).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            data = f.read()
        os.waitpid(pid, 0)
        print(json.dumps({"name": name, **json.loads(data or b'{"error": "no answer"}')}), flush=True)


def calibrate(names: tuple[str, ...] | list[str], threads: int | None = THREADS, timeout: float = 600) -> list[dict]:
    """Run `names` of GRID in a fresh worker process: one dict per setting (name, estimate_mb,
    growth_mb, status, or error)."""
    cmd = [sys.executable, "-m", "bench.memcal", "--worker", "--threads", str(threads or 0), *names]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        raise RuntimeError(f"memcal worker failed ({out.returncode}): {out.stderr[-2000:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the grid tests/test_cost.py runs")
    ap.add_argument("--threads", type=int, default=THREADS, help="torch threads per run (0: the engine's choice)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("names", nargs="*")
    a = ap.parse_args(argv)
    if a.worker:
        _worker(a.names, a.threads or None)
        return 0
    names = a.names or (QUICK if a.quick else tuple(GRID))
    print(f"{'setting':24} {'estimate MB':>12} {'measured MB':>12} {'ratio':>6}")
    bad = 0
    for r in calibrate(names, a.threads):
        if "error" in r:
            print(f"{r['name']:24} error: {r['error']}")
            bad += 1
            continue
        ratio = r["estimate_mb"] / max(r["growth_mb"], 1e-9)
        ok = 1 <= ratio <= 3
        bad += not ok
        print(f"{r['name']:24} {r['estimate_mb']:12.0f} {r['growth_mb']:12.0f} {ratio:6.2f}{'' if ok else '  FAIL'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
