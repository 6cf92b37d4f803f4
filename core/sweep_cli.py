"""`python -m core sweep`: train a sweep (core.sweep) and print its summary.

    python -m core sweep --preset dropout-sweep --seeds 5 --epochs 50 --csv s.csv
    python -m core sweep --grid dropout=0,0.2,0.4 --grid activation=relu,linear --dataset digits

Every settings field is a flag for the base settings, as in `run`. `--grid FIELD=V1,V2,...`
sweeps a field (a bare `--grid FIELD` takes core.sweep.GRID_DEFAULTS); with `--preset` a
`--grid` replaces the preset's grid of that field (or adds one), and a flag for a field the
preset sweeps fixes it (`--activation relu`: only ReLU's points). The same contract as `run`:
a bad field or value, or an output or store path that cannot be used, exits 2 with one line
before any training; files are written whole or not at all; Ctrl-C (130) writes nothing.
Finished sweeps are kept in the run store and served from it (`--store`, `--no-store`,
`--retrain` as for `run`).
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from typing import Any

from core.atomic import write_atomic
from core.cli import (
    add_setting_flags,
    add_store_flags,
    check_store_flags,
    one_line_errors,
    say_messages,
    say_warnings,
    setting_flags,
    waiting_line,
)
from core.config import ConfigError, validate
from core.runs_cli import OneLineParser, StoreUnusable, UsageError, check_writable, open_store, path_text
from core.safetext import terminal

# The columns of the printed table: metric -> short header (core.sweep.MAIN_METRICS has the labels).
TABLE = {"gap_loss": "loss gap", "gap_acc": "acc gap", "val_acc": "val acc", "zero_frac": "zero frac",
         "mask_agreement": "mask agree L1", "dead": "dead", "revived": "revived"}


def build_parser() -> argparse.ArgumentParser:
    from core.sweep import SWEEP_PRESETS

    p = OneLineParser(prog="python -m core sweep",
                      description="Train every point of a grid of settings, each with --seeds networks.")
    p.add_argument("--preset", help=f"start from a sweep preset: {', '.join(SWEEP_PRESETS)}")
    p.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help="a setting to sweep and its values (repeat for a cartesian product); "
                        "a bare FIELD takes the default values")
    p.add_argument("--json", metavar="PATH", help="write settings, grid, summary and the full history as JSON")
    p.add_argument("--csv", metavar="PATH", help="write the tidy table: one row per point, seed, epoch and layer")
    p.add_argument("--summary-csv", metavar="PATH", help="write the summary: mean and 95%% interval per point")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_store_flags(p, "finished sweeps are kept there and a sweep already in it is served from it, not trained",
                    "train even if the sweep is stored; the new one replaces it")
    add_setting_flags(p)
    return p


def resolve(args: argparse.Namespace):
    """The Sweep asked for: preset (if any), flags on its base, grids. ConfigError or UsageError."""
    from core.sweep import SWEEP_PRESETS, Sweep, parse_grid

    flags = setting_flags(args)
    grid = parse_grid(args.grid)
    both = sorted(set(grid) & set(flags))
    if both:
        raise ConfigError(both[0], flags[both[0]], f"either --grid {both[0]}=... or --{both[0].replace('_', '-')}, "
                                                   "not both")
    if args.preset is None:
        if not grid:
            raise UsageError("a sweep needs --grid FIELD=V1,V2,... (or --preset NAME)")
        return Sweep(validate(flags), tuple(grid.items()))
    if args.preset not in SWEEP_PRESETS:
        raise ConfigError("preset", args.preset, ", ".join(SWEEP_PRESETS))
    pre = SWEEP_PRESETS[args.preset]
    base = validate({**pre.base.to_dict(), **flags})
    merged = [(n, grid.pop(n, v)) for n, v in pre.grid if n not in flags] + list(grid.items())
    return Sweep(base, tuple(merged), pre.title, pre.preset)


def main(argv: list[str]) -> int:
    return one_line_errors(lambda: _run(build_parser().parse_args(argv)))


def _run(args: argparse.Namespace) -> int:
    from core.sweep import run_sweep

    check_store_flags(args)
    sweep = resolve(args)
    for path in (args.json, args.csv, args.summary_csv):
        if path:
            check_writable(path)
    store = None
    if not args.no_store:
        from core.serve.limits import Limits

        sweep.key()  # DataError for an unusable CSV, before the store is opened
        store = open_store(args.store, max_mb=Limits.from_env().store_max_mb)
    print(f"{sweep.label()}: {len(sweep.configs())} points × {sweep.base.seeds} seeds = {sweep.networks} networks",
          file=sys.stderr)
    bar = _progress(sweep, args.quiet)
    events: list[str] = []
    try:
        result = run_sweep(sweep, on_epoch=bar.on_epoch, store=store, retrain=args.retrain, events=events,
                           on_wait=waiting_line(store, "sweep"))
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return 130
    except sqlite3.Error as e:  # e.g. locked by another writer for longer than the busy timeout
        raise StoreUnusable(f"store {path_text(store.path) if store else '?'}: {e}") from None
    finally:
        bar.close()
    say_warnings(events)
    key = sweep.key()[:12]
    if store is not None:
        where = terminal(path_text(store.path))
        if result.served:
            print(f"served from the run store {where} (key {key}): this exact sweep was trained before; "
                  "--retrain trains it again, --no-store ignores the store", file=sys.stderr)
        elif result.kept:
            print(f"kept in the run store {where} (key {key})", file=sys.stderr)
        else:
            print(f"not kept in the run store: the sweep was {result.experiment.status}", file=sys.stderr)
    _report(result, args)
    return 0


class _progress:
    """A tqdm bar over every point's epochs (epoch 0 included), on stderr."""

    def __init__(self, sweep, quiet: bool):
        from tqdm import tqdm

        total = sum(c.epochs + 1 for c in sweep.configs())
        self.bar = tqdm(total=total, unit="epoch", file=sys.stderr, disable=quiet, dynamic_ncols=True)

    def on_epoch(self, exp, point: int, epoch: int) -> None:
        self.bar.set_description(terminal(exp.runs[point].name), refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def summary_text(result) -> str:
    """The summary as a terminal table: one row per point, one column per main metric, each the
    mean over seeds ± the half-width of its 95% t-interval."""
    import math

    summ = result.summary(TABLE)
    fields = list(result.sweep.fields)
    head = [*fields, *TABLE.values()]
    rows = [head]
    for p in result.sweep.points():
        cells = [terminal(str(v)) for v in p.values()]
        for m in TABLE:
            sel = summ[(summ["metric"] == m)]
            for f, v in p.items():
                sel = sel[sel[f] == v]
            r = sel.iloc[0]
            if r["n"] == 0:
                cells.append("n/a" if m == "mask_agreement" else "-")
            elif math.isnan(r["lo"]):
                cells.append(_num(r["mean"]))
            else:
                cells.append(f"{_num(r['mean'])}±{_num((r['hi'] - r['lo']) / 2)}")
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) if i >= len(fields) else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths,
                                                                                                   strict=True)))
             .rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"mean over {result.sweep.base.seeds} seeds at the last epoch ± half-width of the 95% t-interval; "
                 "dead: all layers; revived: all layers and epochs; zero frac: mean of layers; n/a: an activation "
                 "that is never off")
    return "\n".join(lines)


def _num(x: float) -> str:
    return f"{x:.3f}" if abs(x) < 100 else f"{x:.1f}"


def _report(result, args: argparse.Namespace) -> None:
    from core.safetext import csv_safe

    outputs: list[tuple[str, Any]] = []
    if args.json:
        doc = result.export()
        outputs.append((args.json, lambda fh: json.dump(doc, fh)))
    if args.csv:
        tidy = csv_safe(result.tidy())
        outputs.append((args.csv, lambda fh: tidy.to_csv(fh, index=False)))
    if args.summary_csv:
        summ = csv_safe(result.summary())
        outputs.append((args.summary_csv, lambda fh: summ.to_csv(fh, index=False)))
    for path, write in outputs:  # the files first: `| head` loses the table's tail, never results
        write_atomic(path, write)
        print(terminal(f"wrote {path_text(path)}"), file=sys.stderr)
    say_messages(result.experiment)
    print(summary_text(result))
