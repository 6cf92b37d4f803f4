"""Results as plain numbers: numpy arrays in, records/JSON/CSV out. No models, no torch.

A `RunResult` is one variant (one Config, `seeds` networks). An `Experiment` is one or
more variants trained on identical data with identical seeds; it is what the CLI exports,
the store keeps and the page draws.

Metric arrays: scalar metrics have shape (seeds, epochs + 1), per-layer metrics
(seeds, epochs + 1, layers). Rows past `epochs_done`, or past a seed's divergence, are NaN.
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.config import Config, validate

SCALAR_METRICS = ("train_loss", "val_loss", "train_acc", "val_acc", "gap_loss", "gap_acc", "seconds")
LAYER_METRICS = ("dead", "revived", "negative", "saturated", "zero_frac", "act_zero_frac_train",
                 "dropout_zero_frac_train", "on_frac_train", "mask_flip", "mask_agreement")
METRICS = SCALAR_METRICS + LAYER_METRICS

# What each metric means, for README, captions and CSV readers.
METRIC_HELP = {
    "train_loss": "cross-entropy on the whole training set, eval mode (dropout off)",
    "val_loss": "cross-entropy on the validation set, eval mode",
    "train_acc": "accuracy on the whole training set, eval mode",
    "val_acc": "accuracy on the validation set, eval mode",
    "gap_loss": "val_loss - train_loss: how much worse the network does on unseen data",
    "gap_acc": "train_acc - val_acc",
    "seconds": "wall-clock seconds since the run started",
    "dead": "units whose output is exactly 0 for every training input (eval mode)",
    "revived": "units dead at the previous measured epoch and not dead now (a count, like dead); "
               "empty at epoch 0",
    "negative": "units whose pre-activation is <= 0 for every training input (= dead for ReLU)",
    "saturated": "units whose activation derivative is below 1% of its maximum on every training input",
    "zero_frac": "fraction of (input, unit) outputs exactly 0, eval mode",
    "act_zero_frac_train": "train mode: fraction of (input, unit) outputs zeroed by the activation",
    "dropout_zero_frac_train": "train mode: extra fraction zeroed by the dropout mask (activation was non-zero)",
    "on_frac_train": "train mode, first of the two probe passes: fraction of (input, unit) outputs that are "
                     "on (output > 0) before the dropout mask; not applicable (empty) for sigmoid",
    "mask_flip": "fraction of (input, unit) on/off states (on = output > 0, eval mode) on the probe that "
                 "changed since the previous measured epoch; empty at epoch 0; not applicable (empty) for "
                 "sigmoid, which is never off",
    "mask_agreement": "fraction of (input, unit) on/off states (on = output > 0 after dropout) that agree "
                      "between two train-mode passes over the probe with the same weights: 1 without dropout; "
                      "with dropout p, 1 - 2p(1-p) * on_frac_train in the first hidden layer, less deeper; "
                      "not applicable (empty) for sigmoid",
}


def _clean(x: Any) -> Any:
    """numpy scalar -> JSON scalar; NaN -> None (JSON has no NaN)."""
    x = float(x)
    return None if math.isnan(x) else x


@dataclass
class RunResult:
    config: Config
    name: str
    metrics: dict[str, np.ndarray]
    layers: int
    epochs_done: int = 0                   # rows 0..epochs_done-1 are measured
    diverged_at: list[int | None] = field(default_factory=list)  # per seed: epoch it went non-finite
    status: str = "running"                # running | ok | diverged | stopped
    seconds: float = 0.0
    artifacts: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    # A thinned view (core.serve.thin) keeps some epochs only: the epoch of each row. None: row i is epoch i.
    epoch_numbers: np.ndarray | None = None

    @classmethod
    def empty(cls, config: Config, name: str, layers: int) -> RunResult:
        s, e = config.seeds, config.epochs + 1
        metrics = {m: np.full((s, e), np.nan) for m in SCALAR_METRICS}
        metrics.update({m: np.full((s, e, layers), np.nan) for m in LAYER_METRICS})
        return cls(config, name, metrics, layers, diverged_at=[None] * s)

    @property
    def seeds(self) -> list[int]:
        return self.config.seed_list

    @property
    def last_epoch(self) -> int:
        """The last epoch measured (0 when none was)."""
        if self.epoch_numbers is not None and self.epochs_done:
            return int(self.epoch_numbers[self.epochs_done - 1])
        return max(0, self.epochs_done - 1)

    def epoch_of(self, row: int) -> int:
        return row if self.epoch_numbers is None else int(self.epoch_numbers[row])

    def curve(self, metric: str, layer: int | None = None) -> np.ndarray:
        """(seeds, epochs_done) for a scalar metric, or one layer of a per-layer metric."""
        a = self.metrics[metric][:, : self.epochs_done]
        return a if layer is None else a[..., layer]

    def final(self, metric: str) -> np.ndarray:
        """Each seed's last measured value (seeds,) or (seeds, layers); a diverged seed's last finite one."""
        a = self.metrics[metric][:, : self.epochs_done]
        out = []
        for row in a:
            finite = ~np.isnan(row.reshape(row.shape[0], -1)).all(axis=1)
            idx = np.nonzero(finite)[0]
            out.append(row[idx[-1]] if len(idx) else np.full(row.shape[1:], np.nan))
        return np.array(out)

    def records(self, variant: bool = True) -> list[dict[str, Any]]:
        """One record per seed and epoch, per-layer values as lists (first hidden layer first)."""
        out = []
        for i, seed in enumerate(self.seeds):
            for e in range(self.epochs_done):
                epoch = self.epoch_of(e)
                if self.diverged_at[i] is not None and epoch >= self.diverged_at[i]:
                    break  # its curve stops where it diverged
                rec: dict[str, Any] = {"variant": self.name} if variant else {}
                rec.update(seed=seed, epoch=epoch)
                for m in SCALAR_METRICS:
                    rec[m] = _clean(self.metrics[m][i, e])
                for m in LAYER_METRICS:
                    rec[m] = [_clean(v) for v in self.metrics[m][i, e]]
                out.append(rec)
        return out

    def to_dict(self) -> dict[str, Any]:
        d = {
            "name": self.name, "config": self.config.to_dict(), "status": self.status,
            "seconds": round(self.seconds, 4), "layers": self.layers, "epochs_done": self.epochs_done,
            "diverged_at": self.diverged_at, "messages": self.messages,
            "metrics": {k: np.where(np.isnan(v), None, v).tolist() for k, v in self.metrics.items()},
            "artifacts": {k: _jsonable(v) for k, v in self.artifacts.items()},
        }
        if self.epoch_numbers is not None:
            d["epoch_numbers"] = [int(e) for e in self.epoch_numbers]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        """The run `to_dict` wrote. A metric the run was stored without (it came later: `revived`
        and `on_frac_train` in engine 0.3.1) is all NaN, as if never measured."""
        config = config_from_dict(d["config"])
        metrics = cls.empty(config, d["name"], d["layers"]).metrics
        metrics.update({k: np.array(v, dtype=float) for k, v in d["metrics"].items()})
        arts = {k: _from_jsonable(v) for k, v in d.get("artifacts", {}).items()}
        epochs = d.get("epoch_numbers")
        return cls(config, d["name"], metrics, d["layers"], d["epochs_done"],
                   list(d["diverged_at"]), d["status"], d["seconds"], arts, list(d.get("messages", [])),
                   None if epochs is None else np.array(epochs, dtype=np.int64))


def exported_config(cfg: Config) -> dict[str, Any]:
    """A run's settings for a file someone else may read: a CSV's path becomes its file name
    (an upload's is its content hash), never the folder it sits in on this machine."""
    import os

    d = cfg.to_dict()
    if d.get("data_path"):
        d["data_path"] = os.path.basename(str(d["data_path"]))
    return d


def config_from_dict(d: dict[str, Any]) -> Config:
    """Settings of a stored run, validated again; a CSV run's file may be gone since it ran, so
    its path is not required to exist (nothing here reads it). A run stored before `scaling`
    existed (engine 0.2) was scaled as that engine did: digits globally, the rest per feature."""
    if "scaling" not in d:
        d = {**d, "scaling": "global" if d.get("dataset") == "digits" else "feature"}
    return validate(d)


# Byte-sized arrays (on/off rasters, the int8 unit pictures of core.units and core.snapshots) are
# kept as base64 of their bytes: about 1.3 characters a value instead of 3-6 in a JSON list.
_PACKED = ("bool", "int8", "uint8")
PACK_FROM = 256  # values; smaller arrays stay readable lists


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        if v.dtype.name in _PACKED and v.size >= PACK_FROM:
            return {"__bytes__": base64.b64encode(np.ascontiguousarray(v).tobytes()).decode("ascii"),
                    "dtype": v.dtype.name, "shape": list(v.shape)}
        return {"__array__": v.tolist(), "dtype": str(v.dtype)}
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v


def _from_jsonable(v: Any) -> Any:
    if isinstance(v, dict) and "__bytes__" in v:
        raw = base64.b64decode(v["__bytes__"])
        return np.frombuffer(raw, dtype=v["dtype"]).reshape(v["shape"]).copy()
    if isinstance(v, dict) and "__array__" in v:
        return np.array(v["__array__"], dtype=v["dtype"])
    if isinstance(v, dict):
        return {k: _from_jsonable(x) for k, x in v.items()}
    return v


@dataclass
class Experiment:
    """Variants compared on identical data and seeds. A plain run is an experiment of one variant."""

    base: Config
    runs: list[RunResult]
    title: str = ""
    preset: str = ""

    @property
    def status(self) -> str:
        states = {r.status for r in self.runs}
        for s in ("running", "stopped", "diverged"):
            if s in states:
                return s
        return "ok"

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.runs)

    def run(self, name: str) -> RunResult:
        return next(r for r in self.runs if r.name == name)

    def records(self) -> list[dict[str, Any]]:
        return [rec for r in self.runs for rec in r.records()]

    def export(self) -> dict[str, Any]:
        """The documented JSON export: config, status, seconds, variants and the long history.
        A CSV's path is the server's business: the export names the file only (exported_config).
        A thinned view says so: `epochs_shown` lists the epochs its history holds."""
        return {
            "config": exported_config(self.base), "status": self.status, "seconds": round(self.seconds, 4),
            "preset": self.preset, "title": self.title,
            "variants": [{"name": r.name, "config": exported_config(r.config), "status": r.status,
                          "seconds": round(r.seconds, 4), "diverged_at": r.diverged_at,
                          "messages": r.messages,
                          **({} if r.epoch_numbers is None else
                             {"epochs_shown": [int(e) for e in r.epoch_numbers[: r.epochs_done]]})}
                         for r in self.runs],
            "history": self.records(),
        }

    def to_frame(self):
        """The history as a long pandas table: one row per variant, seed, epoch and layer."""
        import pandas as pd

        rows = []
        for rec in self.records():
            layers = len(rec["dead"])
            for layer in range(layers):
                row = {k: v for k, v in rec.items() if not isinstance(v, list)}
                row["layer"] = layer
                row.update({m: rec[m][layer] for m in LAYER_METRICS})
                rows.append(row)
        cols = ["variant", "seed", "epoch", "layer", *SCALAR_METRICS, *LAYER_METRICS]
        return pd.DataFrame(rows, columns=cols)

    def to_csv(self, fh=None) -> str | None:
        """`to_frame()` as CSV text (or written to the open file `fh`), safe to open in a
        spreadsheet: a text cell that would run as a formula (a variant name like '=HYPERLINK(…)'
        from an older version) gets a leading apostrophe; numbers are written as they are."""
        from core.safetext import csv_safe

        return csv_safe(self.to_frame()).to_csv(fh, index=False)

    def to_dict(self) -> dict[str, Any]:
        """Everything, arrays and artifacts included: what the store keeps and reopens."""
        return {"base": self.base.to_dict(), "title": self.title, "preset": self.preset,
                "runs": [r.to_dict() for r in self.runs]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Experiment:
        return cls(config_from_dict(d["base"]), [RunResult.from_dict(r) for r in d["runs"]], d.get("title", ""), d.get("preset", ""))
