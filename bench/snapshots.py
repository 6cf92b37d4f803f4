"""What the live/replay snapshots (core/snapshots.py) cost a training: the same runs with
snapshots on and off, alternating, medians. The issue's bound: at most 20% more time.

    python -m bench.snapshots            # the relu-vs-dropout preset and the W1 benchmark run, 5 rounds
    python -m bench.snapshots --rounds 3

Prints two figures per case. (1) Inside one run: the time spent in the snapshot calls (taking
and finishing) as a share of the run's time, on the wall clock and on this process's CPU clock;
this one does not depend on what else the machine runs. (2) Whole runs with snapshots on and off,
alternating, medians of CPU seconds (all threads of this process) and of wall seconds: on a
shared machine the wall figure swings by more than the snapshots cost.
"""
from __future__ import annotations

import argparse
import statistics
import time

from core import snapshots
from core.config import validate
from core.presets import PRESETS
from core.train import run_experiment, warmup

W1 = dict(dataset="moons", n_samples=1000, val_fraction=0.2, model="mlp", depth=2, width=64, activation="relu",
          dropout=0.5, optimizer="adam", lr=0.01, batch_size=64, epochs=200, seeds=5)


def _cases() -> dict[str, tuple]:
    p = PRESETS["relu-vs-dropout"]
    return {"relu-vs-dropout (4 variants x 3 seeds x 80 epochs)": (p.base_config(), p.variants),
            "W1 (5 seeds x 200 epochs, dropout 0.5)": (validate(**W1), None)}


def _seconds(base, variants, on: bool) -> tuple[float, float]:
    """(wall, CPU) seconds of one run."""
    snapshots.ENABLED = on
    try:
        t, c = time.perf_counter(), time.process_time()
        run_experiment(base, variants, max_threads=1)
        return time.perf_counter() - t, time.process_time() - c
    finally:
        snapshots.ENABLED = True


def inside(base, variants) -> tuple[float, float]:
    """One run with snapshots: (wall share, CPU share) of its time spent in Snapshots.take/finish."""
    spent = [0.0, 0.0]
    take, finish = snapshots.Snapshots.take, snapshots.Snapshots.finish

    def timed(fn):
        def wrapper(*a, **k):
            t, c = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **k)
            finally:
                spent[0] += time.perf_counter() - t
                spent[1] += time.process_time() - c
        return wrapper

    snapshots.Snapshots.take, snapshots.Snapshots.finish = timed(take), timed(finish)
    try:
        wall, cpu = _seconds(base, variants, True)
    finally:
        snapshots.Snapshots.take, snapshots.Snapshots.finish = take, finish
    return spent[0] / (wall - spent[0]), spent[1] / (cpu - spent[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    warmup()
    worst = 0.0
    for name, (base, variants) in _cases().items():
        wall_share, cpu_share = inside(base, variants)
        worst = max(worst, cpu_share)
        print(f"{name}\n  inside one run: snapshots took {100 * wall_share:+.1f}% wall, {100 * cpu_share:+.1f}% CPU "
              "of the training's own time")
        on, off = [], []
        for _ in range(args.rounds):
            off.append(_seconds(base, variants, False))
            on.append(_seconds(base, variants, True))
        (w_off, c_off), (w_on, c_on) = ([statistics.median(x) for x in zip(*runs, strict=True)] for runs in (off, on))
        print(f"  whole runs, median of {args.rounds}: CPU {c_off:.2f} s without, {c_on:.2f} s with "
              f"({100 * (c_on / c_off - 1):+.1f}%); wall {w_off:.2f} s without, {w_on:.2f} s with "
              f"({100 * (w_on / w_off - 1):+.1f}%)")
    print(("PASS" if worst <= 0.20 else "FAIL") + f": snapshots cost at most {100 * worst:+.1f}% of the CPU time "
          "(bound +20%)")
    return 0 if worst <= 0.20 else 1


if __name__ == "__main__":
    raise SystemExit(main())
