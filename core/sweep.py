"""Sweeps: the cartesian product of grids over schema fields, each point trained `seeds` times.

A sweep is one experiment (core.train.run_experiment) whose variants are its points: point name
-> the grid values as overrides of the base settings. So a sweep trains exactly as that
experiment does: points that share shapes and data train as slices of one batched model
(core.groups, where the engine has it), points that change shapes as separate groups; every
point's numbers are the numbers of its settings trained alone.

    sweep = Sweep(validate(dataset="digits", seeds=5), parse_grid(["dropout=0,0.2,0.4"]))
    result = run_sweep(sweep, store=open_run_store())   # served from the store when kept
    result.tidy()      # one row per point, seed, epoch and layer; grid fields as columns
    result.summary()   # per point and main metric: final mean and 95% t-interval over seeds

`sweep_work` and `check_sweep` (core.serve.budget's limits, for a whole sweep) let a server
refuse a sweep before training; a stored sweep is served whatever its size.
"""
from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.config import FIELD, FIELDS, Config, ConfigError
from core.results import Experiment

# Every schema field but the ones that make a point's replicates (seeds, seed: the sweep's
# seeds are the base's) and a CSV's path (a file, not a setting one compares along an axis).
SWEEPABLE: tuple[str, ...] = tuple(f.name for f in FIELDS if f.name not in ("seeds", "seed", "data_path"))

_P = tuple(round(0.1 * i, 1) for i in range(9))  # dropout 0, 0.1, ..., 0.8
GRID_DEFAULTS: dict[str, tuple] = {
    "dataset": ("moons", "circles", "spirals", "xor", "gaussians", "digits"),
    "n_samples": (100, 200, 500, 1000),
    "noise": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    "label_noise": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    "val_fraction": (0.1, 0.2, 0.3, 0.4, 0.5),
    "scaling": ("feature", "global", "none"),
    "model": ("mlp", "cnn"),
    "depth": (1, 2, 3, 4, 6, 8),
    "width": (4, 8, 16, 32, 64, 128, 256),
    "activation": ("relu", "linear"),
    "init": ("default", "he", "xavier"),
    "dropout": _P,
    "weight_decay": (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1),
    "batchnorm": (False, True),
    "optimizer": ("sgd", "momentum", "adam"),
    "lr": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1),
    "batch_size": (16, 32, 64, 128, 256, 0),
    "epochs": (25, 50, 100, 200),
}
MAX_POINTS = 512  # a grid beyond this is a typo more often than a plan; each point is a variant

# The summary's metrics, each one number per seed at the last epoch (how a per-layer metric
# becomes one number is in its label, as in the CLI's run table): metric -> label.
MAIN_METRICS: dict[str, str] = {
    "gap_loss": "loss gap (val - train)",
    "gap_acc": "accuracy gap (train - val)",
    "val_acc": "validation accuracy",
    "train_loss": "training loss",
    "val_loss": "validation loss",
    "zero_frac": "zero fraction (mean of layers)",
    "mask_agreement": "mask agreement, layer 1",
    "mask_flip": "mask flip, layer 1",
    "dead": "dead units (all layers)",
    "revived": "revived units (all layers and epochs)",
}
# (how, as core.cli.per_seed reads it): "final" scalars, "mean"/"sum" over layers, "L1" layer 1,
# "total" every layer and every epoch.
_HOW = {"gap_loss": "final", "gap_acc": "final", "val_acc": "final", "train_loss": "final", "val_loss": "final",
        "zero_frac": "mean", "mask_agreement": "L1", "mask_flip": "L1", "dead": "sum", "revived": "total"}


def _allowed_fields() -> str:
    return ", ".join(SWEEPABLE)


def parse_values(name: str, values: Iterable[Any]) -> tuple:
    """The checked values of one grid field (each through the schema), in the order given.
    ConfigError naming the field and the value: not sweepable, a bad value, a repeat, none."""
    if name not in SWEEPABLE:
        why = "the sweep's replicates are --seeds from --seed" if name in ("seeds", "seed") else \
            "not a setting" if name not in FIELD else "not sweepable"
        raise ConfigError("grid", name, f"one of the settings {_allowed_fields()}", why)
    out: list[Any] = []
    for raw in values:
        v = FIELD[name].parse(raw)
        if v in out:
            raise ConfigError(name, raw, f"{FIELD[name].allowed()}, each value once", "repeated")
        out.append(v)
    if not out:
        raise ConfigError(name, "", f"one or more values: {FIELD[name].allowed()}", "no values")
    return tuple(out)


def parse_grid(items: Iterable[str]) -> dict[str, tuple]:
    """["dropout=0,0.1", "activation=relu,linear"] -> {"dropout": (0.0, 0.1), "activation": (...)}.

    A bare field name ("dropout") takes GRID_DEFAULTS. Values are read by the schema, as flags
    and links are (core.config.Field.parse). ConfigError names the field and the value."""
    grid: dict[str, tuple] = {}
    for item in items:
        name, eq, text = str(item).partition("=")
        name = name.strip().replace("-", "_")
        if name in grid:
            raise ConfigError("grid", item, "each field in one --grid only", f"{name} is given twice")
        if not eq:
            if name not in GRID_DEFAULTS:
                raise ConfigError("grid", item, f"FIELD=V1,V2,... with FIELD one of {_allowed_fields()}")
            grid[name] = parse_values(name, GRID_DEFAULTS[name])
            continue
        values = [v.strip() for v in text.split(",")]
        if any(v == "" for v in values):
            if name in SWEEPABLE:
                raise ConfigError(name, text, f"comma-separated values: {FIELD[name].allowed()}", "an empty value")
        grid[name] = parse_values(name, values)
    _check_size(grid)
    return grid


def _check_size(grid: Mapping[str, tuple]) -> None:
    n = math.prod(len(v) for v in grid.values())
    if n > MAX_POINTS:
        raise ConfigError("grid", f"{n} points", f"at most {MAX_POINTS} points (the product of the grids' sizes)")


def value_text(v: Any) -> str:
    """A grid value as a point's name shows it: short, and read back as the same value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        short = f"{v:g}"
        return short if float(short) == v else repr(v)
    return str(v)


def point_name(point: Mapping[str, Any]) -> str:
    """"dropout 0.3, activation relu": plain text (core.config's variant-name alphabet), unique
    within a sweep, since each value's text reads back as that value."""
    return ", ".join(f"{k} {value_text(v)}" for k, v in point.items()) or "base"


@dataclass(frozen=True)
class Sweep:
    """base settings (its seeds and seed are every point's) and the grids, in order: the first
    grid varies slowest. `grid` may be given as a mapping; it is kept as a tuple of (field,
    values) pairs, each value checked by the schema, so a Sweep is hashable and valid."""

    base: Config
    grid: tuple[tuple[str, tuple], ...] = ()
    title: str = ""
    preset: str = ""
    _configs: tuple[Config, ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self):
        pairs = self.grid.items() if isinstance(self.grid, Mapping) else self.grid
        grid = tuple((name, parse_values(name, values)) for name, values in pairs)
        names = [n for n, _ in grid]
        if len(set(names)) != len(names):
            raise ConfigError("grid", ", ".join(names), "each field in one grid only")
        _check_size(dict(grid))
        object.__setattr__(self, "grid", grid)
        # Every point validated now (rules between fields: a cnn needs digits...), naming the point.
        configs = []
        for p in self.points():
            try:
                configs.append(self.base.replace(**p))
            except ConfigError as e:
                raise ConfigError(e.field, e.value, f"{e.allowed} (at sweep point {point_name(p)})",
                                  e.reason) from None
        object.__setattr__(self, "_configs", tuple(configs))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.grid)

    def points(self) -> list[dict[str, Any]]:
        """Each point's grid values, in grid order (the first field varies slowest)."""
        names = self.fields
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(v for _, v in self.grid))]

    def variants(self) -> dict[str, dict[str, Any]]:
        """point name -> overrides of the base: core.train.run_experiment's variants."""
        return {point_name(p): p for p in self.points()}

    def configs(self) -> list[Config]:
        """Each point's validated settings, in point order."""
        return list(self._configs)

    def key(self) -> str:
        """The store key: the points' settings in order and the engine version (as the run store
        keys experiments, a CSV by its content), marked as a sweep, so it never equals the key of
        an experiment of the same variants."""
        from core.store import store_key

        return hashlib.sha256(f"sweep:{store_key(self.configs())}".encode()).hexdigest()[:32]

    @property
    def networks(self) -> int:
        """Networks trained: points × seeds."""
        return len(self._configs) * self.base.seeds

    def label(self) -> str:
        """The title, or one made from the grid: "sweep: dropout (9) × activation (2), 5 seeds"."""
        if self.title:
            return self.title
        axes = " × ".join(f"{n} ({len(v)})" for n, v in self.grid) or "base settings"
        return f"sweep: {axes}, {self.base.seeds} seeds"

    def to_dict(self) -> dict[str, Any]:
        """The grid as JSON-able data (stored with the sweep; `from_dict` reads it back)."""
        return {"grid": [[n, list(v)] for n, v in self.grid], "title": self.title, "preset": self.preset}

    def groups(self) -> list:
        """The sweep as batched groups, each with a stable `key` (core.groups.Group), for backends
        that train groups elsewhere and merge by each config's index. Without core.groups (an
        engine before batched groups), every point is its own group."""
        try:
            from core.groups import group_configs
        except ImportError:
            return [_SoloGroup((c,), (i,)) for i, c in enumerate(self.configs())]
        return group_configs(self.configs())


@dataclass(frozen=True)
class _SoloGroup:
    """One point alone: core.groups.Group's fields, for an engine without groups."""

    configs: tuple[Config, ...]
    indices: tuple[int, ...]

    @property
    def key(self) -> str:
        from core.store import store_key

        return hashlib.sha256(f"group:{store_key(list(self.configs))}".encode()).hexdigest()[:32]


def sweep_from_dict(base: Config, d: Mapping[str, Any]) -> Sweep:
    return Sweep(base, tuple((n, tuple(v)) for n, v in d.get("grid", [])), d.get("title", ""), d.get("preset", ""))


def sweep_work(sweep: Sweep) -> int:
    """The budget's unit of work (core.cost.work) of the whole sweep: every point, every seed."""
    from core.cost import work

    return work(sweep.configs())


@dataclass
class SweepResult:
    """A trained (or served) sweep: `experiment` holds one run per point, in point order."""

    sweep: Sweep
    experiment: Experiment
    served: bool = False  # read from the store, not trained now
    kept: bool = False    # trained now and kept in the store
    MAIN_METRICS = MAIN_METRICS

    def tidy(self):
        """One row per point, seed, epoch and layer: the grid fields, `point` (its name), seed,
        epoch, layer and every metric (scalar metrics repeat on each layer's row)."""
        import pandas as pd

        frame = self.experiment.to_frame().rename(columns={"variant": "point"})
        grid = pd.DataFrame([{**p, "point": point_name(p)} for p in self.sweep.points()],
                            columns=[*self.sweep.fields, "point"])
        out = grid.merge(frame, on="point", how="inner", validate="one_to_many")
        return out.reset_index(drop=True)

    def per_seed(self, metric: str):
        """(points, seeds) array: each seed's final figure of a MAIN_METRICS metric (NaN: none)."""
        import numpy as np

        from core.cli import per_seed
        from core.registry import mask_note

        rows = []
        for r in self.experiment.runs:
            if r.epochs_done == 0 or (metric in ("mask_agreement", "mask_flip") and mask_note(r.config.activation)):
                rows.append(np.full(r.config.seeds, np.nan))
            else:
                rows.append(per_seed(r, metric, _HOW[metric]))
        return np.array(rows, dtype=float)

    def summary(self, metrics: Iterable[str] | None = None):
        """Per point and metric: the mean over seeds of the final figure, its 95% t-interval
        (lo, hi; NaN with fewer than two seeds) and n, the seeds with a figure. Columns:
        [*grid fields, "metric", "mean", "lo", "hi", "n"]."""
        import numpy as np
        import pandas as pd
        from scipy import stats

        metrics = list(metrics or MAIN_METRICS)
        points = self.sweep.points()
        rows = []
        for m in metrics:
            vals = self.per_seed(m)
            for p, v in zip(points, vals, strict=True):
                v = v[~np.isnan(v)]
                n = len(v)
                mean = float(v.mean()) if n else math.nan
                if n >= 2:
                    half = float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n))
                    lo, hi = mean - half, mean + half
                else:
                    lo = hi = math.nan
                rows.append({**p, "metric": m, "mean": mean, "lo": lo, "hi": hi, "n": n})
        return pd.DataFrame(rows, columns=[*self.sweep.fields, "metric", "mean", "lo", "hi", "n"])

    def export(self) -> dict[str, Any]:
        """The JSON export: the experiment's (core.results) plus the grid and the summary."""
        doc = self.experiment.export()
        summ = self.summary()
        doc["sweep"] = {**self.sweep.to_dict(), "points": self.sweep.points(), "networks": self.sweep.networks,
                        "summary": summ.astype(object).where(summ.notna(), None).to_dict("records")}
        return doc


OnEpoch = Callable[[Experiment, int, int], None]


def run_sweep(sweep: Sweep, on_epoch: OnEpoch | None = None, should_stop: Callable[[], bool] | None = None,
              store=None, retrain: bool = False, events: list[str] | None = None,
              on_wait: Callable[[str], Any] | None = None) -> SweepResult:
    """Train the sweep, or serve it from `store` (a run store) when kept there and not `retrain`.

    on_epoch(experiment, point_index, epoch) as core.train.run_experiment calls it. A finished
    sweep (ok or diverged) is kept in `store` under sweep.key(), marked as a sweep in its
    summary. The same sweep asked for by several processes on one store trains once
    (core.store.claims): the others wait, on_wait(owner) while they do, and are served its
    result. Warnings from the store go to `events`. `.served` says whether it was trained now."""
    from core.store import STORABLE, claim_or_wait

    key = sweep.key()
    claim, kept = None, False
    if store is not None and not retrain:
        turn = claim_or_wait(store, key, on_wait=on_wait, should_stop=should_stop, events=events)
        if turn.doc is not None:
            served = _from_doc(sweep, turn.doc)
            if served is not None:
                return SweepResult(sweep, served, served=True)
        elif turn.claim is None:  # stopped while another process trained it
            return SweepResult(sweep, _untrained(sweep))
        claim = turn.claim
        if claim is not None:
            claim.keep_alive()
    try:
        exp = train_sweep(sweep, on_epoch, should_stop)
        if store is not None and exp.status in STORABLE:
            doc = exp.to_dict()
            doc["sweep"] = sweep.to_dict()
            kept = bool(store.put(key, doc, sweep_summary(sweep, exp), events))
            exp = Experiment.from_dict(doc)  # as stored: the same numbers as when served later
    finally:
        if claim is not None:
            claim.release()
    return SweepResult(sweep, exp, kept=kept)


def _untrained(sweep: Sweep) -> Experiment:
    from core.results import RunResult

    runs = [RunResult.empty(c, name, c.depth) for name, c in zip(sweep.variants(), sweep.configs(), strict=True)]
    for r in runs:
        r.status = "stopped"
    return Experiment(sweep.base, runs, sweep.label(), sweep.preset)


def train_sweep(sweep: Sweep, on_epoch: OnEpoch | None = None,
                should_stop: Callable[[], bool] | None = None, **kw: Any) -> Experiment:
    """The sweep as one experiment of its points (core.train.run_experiment; kw passed on)."""
    from core.train import run_experiment

    return run_experiment(sweep.base, sweep.variants(), on_epoch=on_epoch, should_stop=should_stop,
                          title=sweep.label(), preset=sweep.preset, **kw)


def _from_doc(sweep: Sweep, doc: dict) -> Experiment | None:
    """A stored sweep shown as this request asks for it (names, settings, title); None if this
    engine cannot read it (it is trained again)."""
    try:
        exp = Experiment.from_dict(doc)
    except Exception:  # noqa: BLE001 - a document from an older engine, or a damaged one
        return None
    if len(exp.runs) != len(sweep.configs()):
        return None
    exp.base, exp.title, exp.preset = sweep.base, sweep.label(), sweep.preset
    for r, (name, cfg) in zip(exp.runs, zip(sweep.variants(), sweep.configs(), strict=True), strict=True):
        r.name, r.config = name, cfg
    return exp


def sweep_summary(sweep: Sweep, exp: Experiment) -> dict[str, Any]:
    """The store's summary of a sweep (what `runs list` and History read): the run summary
    (core.store.summarize), kind "sweep", the grid and the size."""
    from core.store import summarize

    return {**summarize(exp), "kind": "sweep", "grid": {n: list(v) for n, v in sweep.grid},
            "points": len(sweep.configs()), "networks": sweep.networks}


def stored_sweep(store, sweep: Sweep, events: list[str] | None = None) -> bool:
    """Whether `store` holds this sweep (a summary read, no document)."""
    return store is not None and store.summary(sweep.key(), events) is not None


def check_sweep(sweep: Sweep, limits, store=None) -> None:
    """Raise core.serve.BudgetError (one sentence with advice) if the whole sweep is over the
    limits; a sweep kept in `store` is served whatever its size, so it passes."""
    from core.serve.budget import check_sweep_budget

    if stored_sweep(store, sweep):
        return
    check_sweep_budget(sweep, limits)


def _preset_sweeps() -> dict[str, Sweep]:
    from core.config import validate

    dropout_base = validate(dataset="moons", n_samples=200, noise=0.3, val_fraction=0.4, model="mlp", depth=2,
                            width=128, optimizer="adam", lr=0.01, batch_size=32, epochs=80, seeds=5)
    lr_base = validate(dataset="moons", n_samples=600, noise=0.2, scaling="feature", depth=4, width=32,
                       optimizer="adam", batch_size=32, epochs=60, seeds=5, init="he")
    return {
        "dropout-sweep": Sweep(dropout_base, (("dropout", _P), ("activation", ("relu", "linear"))),
                               "Dropout p from 0 to 0.8, ReLU and linear: gap, zeros and agreement",
                               "dropout-sweep"),
        "dying-relu-lr": Sweep(lr_base, (("lr", (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)),
                                         ("activation", ("relu", "leaky_relu"))),
                               "Adam learning rate, ReLU and leaky ReLU: dead and revived units",
                               "dying-relu-lr"),
    }


SWEEP_PRESETS: dict[str, Sweep] = _preset_sweeps()
# What each preset is for: the metrics its page draws first.
PRESET_METRICS: dict[str, tuple[str, ...]] = {
    "dropout-sweep": ("gap_loss", "zero_frac", "mask_agreement"),
    "dying-relu-lr": ("dead", "revived", "val_acc"),
}
