"""Thinned views of long histories: what the page draws and keeps of a run.

A chart of 5,000 epochs draws no better than one of 500, but costs ten times as much to build,
send and keep in every session that opens it. `thin(exp)` keeps at most about MAX_EPOCHS rows
per variant (every k-th epoch, and always the last one measured); each row keeps its epoch
number (RunResult.epoch_numbers), so charts, exports and final figures stay exact for the rows
kept. Seeds are all kept: the charts draw their mean and min–max band, a few numbers per epoch
whatever their count. Pictures (boundary, raster) are final-epoch figures and are kept as they
are. Arrays are sliced copies, so a thinned view holds no reference to the full history.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from core.results import Experiment, RunResult

MAX_EPOCHS = 500


def kept_rows(epochs_done: int, max_epochs: int = MAX_EPOCHS) -> np.ndarray:
    """The rows a thinned view keeps: 0, k, 2k, ... and the last, k the smallest step that keeps
    at most max_epochs of them before the last."""
    if epochs_done <= max_epochs + 1:
        return np.arange(epochs_done)
    k = math.ceil(epochs_done / max_epochs)
    rows = np.arange(0, epochs_done, k)
    return rows if rows[-1] == epochs_done - 1 else np.append(rows, epochs_done - 1)


def thin_run(r: RunResult, max_epochs: int = MAX_EPOCHS) -> RunResult:
    if r.epochs_done <= max_epochs + 1:
        return r
    rows = kept_rows(r.epochs_done, max_epochs)
    epochs = rows if r.epoch_numbers is None else np.asarray(r.epoch_numbers)[rows]
    return replace(r, metrics={k: v[:, rows].copy() for k, v in r.metrics.items()}, epochs_done=len(rows),
                   epoch_numbers=np.asarray(epochs, dtype=np.int64), diverged_at=list(r.diverged_at),
                   messages=list(r.messages), artifacts=dict(r.artifacts))


def thin(exp: Experiment, max_epochs: int = MAX_EPOCHS) -> Experiment:
    """A view of `exp` with at most about max_epochs rows per variant (the experiment itself if
    nothing is longer)."""
    runs = [thin_run(r, max_epochs) for r in exp.runs]
    if all(a is b for a, b in zip(runs, exp.runs, strict=True)):
        return exp
    return Experiment(exp.base, runs, exp.title, exp.preset)


def is_thinned(exp: Experiment) -> bool:
    return any(r.epoch_numbers is not None for r in exp.runs)


def shown_note(exp: Experiment) -> str:
    """One sentence for a thinned view ('' if it is whole)."""
    runs = [r for r in exp.runs if r.epoch_numbers is not None]
    if not runs:
        return ""
    r = max(runs, key=lambda x: x.last_epoch)
    return (f"Long history: the charts and downloads show {r.epochs_done} of its {r.last_epoch + 1} measured "
            f"epochs (one in {int(r.epoch_numbers[1] - r.epoch_numbers[0])}, and the last).")
