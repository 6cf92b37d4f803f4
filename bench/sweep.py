"""W2, a sweep: the issue's targets for `core.sweep`, measured side by side in one process.

    python -m bench.sweep            # W2 itself (several minutes on 2 idle cores)
    python -m bench.sweep --quick    # a small W2 of the same shape, for tests (seconds)

W2: digits (all 1,797 images), MLP 2×256 ReLU, Adam 1e-3, batch 64, 50 epochs, dropout p in
{0, 0.1, ..., 0.8} × 10 seeds = 90 networks, every metric every epoch. Timed three ways:
- the sweep (core.sweep.run_sweep: one experiment of its nine points, batched where the engine
  groups them),
- the nine points one after another through core.train.train (10 seeds each), as a user would
  run them, alternating with the sweep, medians of --reps (2) repetitions of each,
- the plain PyTorch loop (bench/baseline.py) over 2 seeds per point, scaled to 10 (each seed
  is its own network there, so its time is linear in seeds; said in the output).
Peak RSS is `python -m core sweep` on W2 in a fresh process (bench.__main__.peak_memory). The
sweep's numbers are compared with the one-after-another ones (largest difference of any figure).
`make bench` prints it after the W1 table (bench.__main__).
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.config import validate
from core.results import METRICS
from core.sweep import Sweep, run_sweep

W2: dict[str, Any] = dict(dataset="digits", n_samples=0, model="mlp", depth=2, width=256, activation="relu",
                          optimizer="adam", lr=1e-3, batch_size=64, epochs=50, seeds=10)
W2_GRID = (("dropout", tuple(round(0.1 * i, 1) for i in range(9))),)
# --quick: the same shape of experiment, small enough for a unit test.
QUICK: dict[str, Any] = dict(W2, n_samples=300, width=32, epochs=3, seeds=4)
QUICK_GRID = (("dropout", (0.0, 0.4, 0.8)),)
PLAIN_SEEDS = 2  # seeds per point of the plain loop, scaled to the sweep's seeds
REPS = 2  # repetitions of each side of a comparison, alternating; medians


def _timed(fn, *a, **k):
    t = time.perf_counter()
    out = fn(*a, **k)
    return time.perf_counter() - t, out


def max_difference(a_runs, b_runs) -> float:
    """The largest absolute difference of any figure (but seconds) of any point, seed and epoch;
    inf where one has a value and the other none."""
    diff = 0.0
    for a, b in zip(a_runs, b_runs, strict=True):
        for m in METRICS:
            if m == "seconds":
                continue
            x, y = a.metrics[m], b.metrics[m]
            if not np.array_equal(np.isnan(x), np.isnan(y)):
                return float("inf")
            diff = max(diff, float(np.nanmax(np.abs(x - y), initial=0.0)))
    return diff


def sweep_vs_points(sweep: Sweep, reps: int = REPS) -> dict[str, float]:
    """The sweep and its points one after another through core.train.train (what a user runs
    point by point), alternating, `reps` times each (the first of each pair switching), medians:
    a burst of load on a shared machine then falls on both, not on one."""
    from core.train import train

    # Warm both paths on a one-epoch, one-seed copy: whichever went first would pay first calls.
    warm = Sweep(sweep.base.replace(epochs=1, seeds=1), sweep.grid)
    run_sweep(warm)
    for c in warm.configs():
        train(c)

    def points():
        return [train(c, name=n) for n, c in zip(sweep.variants(), sweep.configs(), strict=True)]

    t_sweep, t_points, pairs = [], [], []
    for rep in range(reps):
        for which in (("sweep", "points") if rep % 2 == 0 else ("points", "sweep")):
            if which == "sweep":
                t, res = _timed(run_sweep, sweep)
                t_sweep.append(t)
            else:
                t, runs = _timed(points)
                t_points.append(t)
        pairs.append(t_points[-1] / t_sweep[-1])
    s, p = float(np.median(t_sweep)), float(np.median(t_points))
    return {"sweep_s": s, "points_s": p, "speedup": p / s, "reps": reps, "pair_ratios": pairs,
            "max_abs_diff": max_difference(res.experiment.runs, runs),
            "val_acc_p0": float(np.nanmean(res.experiment.runs[0].final("val_acc")))}


def training_threads(sweep: Sweep, reps: int = REPS) -> dict[str, Any]:
    """The engine's thread choice on W2's middle point (core.recorder.MeasurePolicy.training_threads):
    one training thread with measuring beside it (the default) against every core on each step
    and measuring between steps, alternating, medians, and the largest difference of any figure."""
    from core.recorder import MeasurePolicy
    from core.train import train

    name, cfg = list(zip(sweep.variants(), sweep.configs(), strict=True))[len(sweep.configs()) // 2]
    policies = {"one": MeasurePolicy(), "every": MeasurePolicy(one_training_thread=False)}
    times: dict[str, list[float]] = {"one": [], "every": []}
    last = {}
    for rep in range(reps):
        for key in (("one", "every") if rep % 2 == 0 else ("every", "one")):
            t, last[key] = _timed(train, cfg, measure=policies[key])
            times[key].append(t)
    a, b = float(np.median(times["one"])), float(np.median(times["every"]))
    return {"point": name, "one_thread_s": a, "every_core_s": b, "speedup": b / a, "reps": reps,
            "max_abs_diff": max_difference([last["one"]], [last["every"]])}


def plain_loop(sweep: Sweep, seeds: int = PLAIN_SEEDS) -> dict[str, float]:
    """bench/baseline.py over every point with `seeds` seeds, scaled to the sweep's seeds. The
    thread count is the faster of torch's default and one thread on the first point, each tried
    twice, alternating (one try each once picked two threads at a quiet moment of a loaded
    machine, which then ran the other points through a burst of load)."""
    from bench.baseline import train_plain
    from core.threads import CORES

    configs = [c.replace(seeds=seeds) for c in sweep.configs()]
    counts = sorted({CORES, 1})
    tried: dict[int, list[float]] = {n: [] for n in counts}
    for order in (counts, counts[::-1]):
        for threads in order:
            torch.set_num_threads(threads)
            tried[threads].append(_timed(train_plain, configs[0])[0])
    threads = min(tried, key=lambda n: float(np.median(tried[n])))
    torch.set_num_threads(threads)
    rest = sum(_timed(train_plain, c)[0] for c in configs[1:])
    measured = float(np.median(tried[threads])) + rest
    scale = sweep.base.seeds / seeds
    return {"plain_measured_s": measured, "plain_seeds": seeds, "plain_threads": threads,
            "plain_s": measured * scale, "scale": scale}


def peak_rss(settings: dict[str, Any], grid) -> dict[str, float]:
    from bench.__main__ import peak_memory

    flags = [a for k, v in settings.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    grids = [a for name, values in grid for a in ("--grid", f"{name}={','.join(str(v) for v in values)}")]
    return peak_memory(["sweep", "--quiet", "--no-store", *grids, *flags])


def scaling(settings: dict[str, Any], grid, quick: bool) -> pd.DataFrame:
    """Seconds of the sweep (W2 at 10 epochs) with its points or its seeds changed."""
    epochs = settings["epochs"] if quick else min(10, settings["epochs"])
    values = grid[0][1]
    name = grid[0][0]
    points = (1, len(values)) if quick else (1, 3, len(values))
    seeds = (1, settings["seeds"]) if quick else (1, 2, 5, settings["seeds"])
    rows = []
    for n in points:
        s = Sweep(validate({**settings, "epochs": epochs}), ((name, values[:n]),))
        t = _timed(run_sweep, s)[0]
        rows.append({"vary": "points", "points": n, "seeds": s.base.seeds, "networks": s.networks,
                     "seconds": round(t, 2), "s/network": round(t / s.networks, 3)})
    for k in seeds:
        s = Sweep(validate({**settings, "epochs": epochs, "seeds": k}), grid)
        t = _timed(run_sweep, s)[0]
        rows.append({"vary": "seeds", "points": len(values), "seeds": k, "networks": s.networks,
                     "seconds": round(t, 2), "s/network": round(t / s.networks, 3)})
    return pd.DataFrame(rows)


def targets_table(res: dict) -> pd.DataFrame:
    """W2's targets against this run's figures, with whether each was met."""
    s, p, m = res["sweep"], res["plain"], res["memory"]
    plain = p["plain_s"] / s["sweep_s"]
    rows = [
        ("W2 sweep against its points one after another", f"{s['points_s']:.2f} s / {s['sweep_s']:.2f} s",
         f"{s['speedup']:.2f}x, max diff {s['max_abs_diff']:g}", ">= 2x", s["speedup"] >= 2),
        ("W2 sweep against the plain loop", f"{p['plain_s']:.1f} s / {s['sweep_s']:.1f} s",
         f"{plain:.1f}x (plain loop: {p['plain_seeds']} seeds per point, x{p['scale']:g})", ">= 10x", plain >= 10),
        ("peak RSS of python -m core sweep on W2", "", f"{m['peak_rss_mb']:.0f} MB", "< 1.5 GB",
         m["peak_rss_mb"] < 1536),
    ]
    return pd.DataFrame(rows, columns=["target", "times", "measured", "wanted", "met"])


def floor(sweep: Sweep, res: dict) -> dict[str, Any]:
    """W2's arithmetic floor (bench.floor) against the time each speed target asks for."""
    from bench.floor import floor_seconds, matmul_rate, verdict, workload_macs

    rate = matmul_rate()
    floor_s = floor_seconds(sweep.configs(), rate["best"])
    lines = [f"arithmetic floor (bench.floor): {workload_macs(sweep.configs()):.3g} multiply-adds at least, "
             f"{floor_s:.3g} s at this machine's best matmul rate ({2 * rate['best'] / 1e9:.0f} GFLOP/s)",
             verdict("sweep >= 2x its points", res["sweep"]["points_s"] / 2, floor_s),
             verdict("sweep >= 10x the plain loop", res["plain"]["plain_s"] / 10, floor_s)]
    return {"floor_s": floor_s, "gflops": 2 * rate["best"] / 1e9, "lines": lines}


def run(quick: bool = False, memory: bool = True, epochs: int | None = None, reps: int = REPS) -> dict[str, Any]:
    """Every W2 figure (QUICK's with quick; W2 shortened to `epochs`; `reps` repetitions of each
    side of the engine's comparisons), printed as they come."""
    settings, grid = (QUICK, QUICK_GRID) if quick else (W2, W2_GRID)
    if epochs is not None:
        settings = {**settings, "epochs": epochs}
    sweep = Sweep(validate(settings), grid)
    print(f"W2{' (quick)' if quick else ''}: {settings}, {grid[0][0]} in {list(grid[0][1])}: "
          f"{sweep.networks} networks")
    res: dict[str, Any] = {"settings": settings, "grid": [[n, list(v)] for n, v in grid]}
    res["sweep"] = r = sweep_vs_points(sweep, reps)
    print(f"W2 sweep {r['sweep_s']:.2f} s; its points one after another through core.train {r['points_s']:.2f} s "
          f"(medians of {reps}, alternating; each pair {', '.join(f'{x:.2f}x' for x in r['pair_ratios'])}): "
          f"{r['speedup']:.2f}x (target >= 2x); largest difference of any figure {r['max_abs_diff']:g}")
    res["threads"] = r = training_threads(sweep, reps)
    print(f"engine on point {r['point']}: one training thread with measuring beside it {r['one_thread_s']:.2f} s, "
          f"every core on each step {r['every_core_s']:.2f} s: {r['speedup']:.2f}x (medians of {reps}); "
          f"largest difference {r['max_abs_diff']:g}")
    res["plain"] = r = plain_loop(sweep)
    print(f"plain loop (bench/baseline.py, {r['plain_threads']} thread(s)): {r['plain_measured_s']:.1f} s for "
          f"{r['plain_seeds']} seeds per point, scaled x{r['scale']:g} to {r['plain_s']:.1f} s")
    res["memory"] = peak_rss(settings, grid) if memory else {"peak_rss_mb": float("nan")}
    print(f"peak RSS of `python -m core sweep` on W2: {res['memory']['peak_rss_mb']:.0f} MB (target < 1.5 GB)\n")
    targets = targets_table(res)
    res["targets"] = targets.to_dict(orient="records")
    print(f"W2 targets (times from this run: medians of {reps} alternating repetitions; the plain loop once):")
    print(targets.to_string(index=False))
    res["floor"] = floor(sweep, res)
    print("\n".join(res["floor"]["lines"]), "\n")
    table = scaling(settings, grid, quick)
    res["scaling"] = table.to_dict(orient="records")
    print(f"sweep cost in points and seeds (W2 at {settings['epochs'] if quick else min(10, settings['epochs'])} "
          "epochs):")
    print(table.to_string(index=False))
    return res


def main(argv: list[str] | None = None) -> int:
    from core.train import warmup

    ap = argparse.ArgumentParser(prog="python -m bench.sweep")
    ap.add_argument("--quick", action="store_true", help="a small W2 of the same shape (seconds)")
    ap.add_argument("--epochs", type=int, default=None, help="W2 shortened to this many epochs (a loaded machine)")
    ap.add_argument("--reps", type=int, default=REPS, help="repetitions of each side of a comparison (medians)")
    args = ap.parse_args(argv)
    warmup()
    run(args.quick, epochs=args.epochs, reps=max(1, args.reps))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
