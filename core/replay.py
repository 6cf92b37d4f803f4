"""Replaying a run: the experiment as it was at one of its snapshot epochs (core/snapshots.py).

`at_epoch(exp, epoch)` is a view in which every curve stops at `epoch` and the pictures
(boundary, on/off raster, unit pictures) are the last snapshot taken at or before it, so the
page's usual charts draw the run at that moment: an epoch slider and a Play button are a loop
over `replay_epochs(exp)`. Snapshots hold the first seed only (they are kept small), so the
replayed pictures are seed #1's; the curves keep every seed.

Pure numpy on results: no torch, no UI.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from core.results import Experiment, RunResult

REPLACED = ("boundary", "raster", "units")  # the final pictures a snapshot stands in for


def replay_epochs(exp: Experiment) -> list[int]:
    """Every epoch some variant has a snapshot of, in order ([] when none has: nothing to replay)."""
    seen: set[int] = set()
    for r in exp.runs:
        s = r.artifacts.get("snapshots")
        if s is not None:
            seen.update(int(e) for e in s["epochs"])
    return sorted(seen)


def _rows_until(run: RunResult, epoch: int) -> int:
    """How many measured rows have an epoch <= `epoch` (rows are in epoch order)."""
    rows = np.arange(run.epochs_done)
    epochs = rows if run.epoch_numbers is None else np.asarray(run.epoch_numbers[: run.epochs_done])
    return int((epochs <= epoch).sum())


def snapshot_pictures(snaps: dict[str, Any], k: int) -> dict[str, Any]:
    """Snapshot k as the final pictures' artifacts (one seed): boundary, raster and units."""
    x, y = np.asarray(snaps["x"]), np.asarray(snaps["y"])
    G = len(x)
    p1 = np.asarray(snaps["out_eval"][k], np.float32).reshape(1, G, G) / 255.0
    pred = np.asarray(snaps["pred"][k]).reshape(1, G, G) if "pred" in snaps else (p1 >= 0.5).astype(np.int8)
    return {
        "boundary": {"x": x, "y": y, "p1": p1.astype(np.float16), "pred": pred.astype(np.int8),
                     "conf": np.maximum(p1, 1 - p1).astype(np.float16)},
        "raster": np.asarray(snaps["raster"][k]).astype(bool)[None],  # (1, L, 3, P, U)
        "units": {"x": x, "y": y, "eval": snaps["eval"][k][None], "train": snaps["train"][k][None],
                  "scale": snaps["scale"][k][None], "kept": snaps["kept"][k][None],
                  "out_eval": snaps["out_eval"][k][None], "out_train": snaps["out_train"][k][None],
                  "width": snaps.get("width"), "seed": snaps.get("seed")},
    }


def at_epoch(exp: Experiment, epoch: int) -> Experiment:
    """A view of `exp` at `epoch`: curves cut there, pictures from the last snapshot at or before it
    (a variant with no such snapshot shows none). Shares the arrays; changes nothing in `exp`."""
    runs = []
    for r in exp.runs:
        arts = {k: v for k, v in r.artifacts.items() if k not in REPLACED and k != "snapshots"}
        s = r.artifacts.get("snapshots")
        if s is not None:
            taken = np.flatnonzero(np.asarray(s["epochs"]) <= epoch)
            if len(taken):
                arts.update(snapshot_pictures(s, int(taken[-1])))
                arts["shown_epoch"] = int(np.asarray(s["epochs"])[taken[-1]])
        rows = _rows_until(r, epoch)
        status = r.status if rows == r.epochs_done else "running"
        runs.append(replace(r, epochs_done=rows, artifacts=arts, status=status, metrics=dict(r.metrics),
                            diverged_at=list(r.diverged_at), messages=list(r.messages)))
    return Experiment(exp.base, runs, exp.title, exp.preset)
