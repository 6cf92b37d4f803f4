"""What the store keeps and under which key: the path, the experiment key, the summary."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

ENV_VAR = "RELU_LAB_STORE"
STORABLE = ("ok", "diverged")  # a diverged run is a result; a stopped or interrupted one is not


def is_url(location: Any) -> bool:
    """Whether a store location is a PostgreSQL URL (core.store.pg), else a SQLite file path."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def default_location() -> str:
    """$RELU_LAB_STORE as given (a path or a postgresql:// URL), else <repo root>/.data/runs.db."""
    env = os.environ.get(ENV_VAR)
    if env:
        return env if is_url(env) else str(Path(env).expanduser())
    return str(Path(__file__).resolve().parents[2] / ".data" / "runs.db")


def default_path() -> Path:
    """$RELU_LAB_STORE, else <repo root>/.data/runs.db (repo root = the parent of `core`). A
    PostgreSQL URL there is no path: ValueError (open it with core.store.open_run_store)."""
    location = default_location()
    if is_url(location):
        raise ValueError(f"{ENV_VAR} is a PostgreSQL URL, not a file path: open it with core.store.open_run_store")
    return Path(location)


def experiment_key(configs: list[Any], engine_version: str, extra: dict | None = None) -> str:
    """Canonical hash of what determines a result: the variants' settings, the engine, extras.

    Pass validated config dicts (or objects with `to_dict()`): 1 and 1.0 hash differently.
    """
    cfgs = [c.to_dict() if hasattr(c, "to_dict") else c for c in configs]
    blob = json.dumps({"configs": cfgs, "engine": engine_version, "extra": extra},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def store_key(configs: list[Any]) -> str:
    """The run-store key of an experiment (validated Configs). A CSV run is keyed by the file's
    content, not its (temporary, per-upload) path, so the same data uploaded twice is the same
    experiment."""
    import core
    from core.csvdata import csv_info

    dicts = [c.to_dict() for c in configs]
    extra = None
    if any(c.dataset == "csv" for c in configs):
        extra = {"csv_sha256": [csv_info(c.data_path).sha256 if c.dataset == "csv" else None for c in configs]}
        for d in dicts:
            if d["dataset"] == "csv":
                d["data_path"] = ""
    return experiment_key(dicts, core.__version__, extra)


def summarize(exp) -> dict[str, Any]:
    """What `list()` shows of a stored experiment; the page and the CLI store the same summary."""
    import numpy as np

    def final_val_acc(run) -> float | None:
        if run.epochs_done == 0:  # a variant that never started (RunResult.final cannot reshape it)
            return None
        v = run.final("val_acc")
        v = v[~np.isnan(v)]
        return round(float(v.mean()), 4) if len(v) else None

    return {"title": exp.title, "preset": exp.preset, "status": exp.status, "seconds": round(exp.seconds, 3),
            "variants": [r.name for r in exp.runs], "val_acc": {r.name: final_val_acc(r) for r in exp.runs}}
