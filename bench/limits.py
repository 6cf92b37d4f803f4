"""How late runs of different shapes end after their time limit (the hosted page's path).

    python -m bench.limits                 # 8 s limit, four shapes
    python -m bench.limits --seconds 20

Each run goes through core.serve.run_guarded with hosted limits except the time limit (one torch
thread, the budget's piece check on), in a fresh store, one after another. Printed per shape:
the longest piece core.cost estimates, the longest gap the deadline saw between two checks, how
long the run held its slot and how far past the limit it ended (negative: before it).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

SHAPES = {
    "mlp, many small steps": dict(width=64, depth=2, seeds=5, n_samples=1000, batch_size=8, epochs=5000),
    "mlp, wide full batch": dict(width=1024, depth=2, seeds=1, n_samples=4000, batch_size=0, epochs=2000),
    "cnn, full batch": dict(dataset="digits", model="cnn", width=48, depth=2, seeds=2, batch_size=0, epochs=500),
    "cnn, measuring only": dict(dataset="digits", model="cnn", width=96, depth=2, seeds=1, epochs=0),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    a = ap.parse_args(argv)

    from core.config import validate
    from core.cost import longest_piece
    from core.serve import JobRegistry, Limits, TrainingGate, apply_process_settings, run_guarded
    from core.serve.deadline import Deadline
    from core.store import RunStore

    limits = replace(Limits.hosted_defaults(), max_seconds=a.seconds, max_work=None)
    apply_process_settings(limits)
    seen: list[Deadline] = []
    real_init = Deadline.__init__

    def spy(self, *args, **kw):  # the job's deadline, to read its gaps afterwards
        real_init(self, *args, **kw)
        seen.append(self)

    Deadline.__init__ = spy
    print(f"time limit {a.seconds:g} s")
    print(f"{'shape':24} {'piece est s':>11} {'longest gap s':>13} {'held s':>7} {'past limit s':>12} {'status':>8}")
    worst = -1e9
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, kw) in enumerate(SHAPES.items()):
            cfg = validate(kw)
            store = RunStore(Path(tmp) / f"r{i}.db")
            t0 = time.monotonic()
            exp, _, _ = run_guarded(cfg, None, limits=limits, store=store, gate=TrainingGate(1, 1), jobs=JobRegistry())
            held = time.monotonic() - (seen[-1].started if seen else t0)
            gap = seen[-1].longest_gap if seen else 0.0
            past = held - a.seconds
            worst = max(worst, past if exp.status == "stopped" else -1e9)
            print(f"{name:24} {longest_piece([cfg])[2]:11.2f} {gap:13.2f} {held:7.2f} {past:12.2f} {exp.status:>8}")
    print(f"latest end past the limit: {worst:.2f} s" if worst > -1e9 else "no run reached the limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
